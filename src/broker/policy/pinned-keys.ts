/**
 * Issuer keys pinned in the policy (`jwks_file` / `jwks`): read and checked when the policy loads, used instead
 * of discovery, so the broker sends no request to that issuer at all.
 */
import { createHash, createPublicKey, X509Certificate, type JsonWebKey, type KeyObject } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { JWK } from 'jose';
import { printable } from '../../protocol/printable.js';
import { quoted } from '../../protocol/quoted.js';

/** One pinned public key and the validity its file declares (seconds since the epoch), when it declares one. */
export interface PinnedKey {
  readonly kid: string | undefined;
  readonly jwk: JWK;
  readonly notBefore: number | undefined;
  readonly notAfter: number | undefined;
}

export interface PinnedKeySet {
  /** Where the keys came from, for messages: `jwks_file /etc/secrets-broker/ghes.jwks.json` or `inline jwks`. */
  readonly source: string;
  /** The JWKS file the keys were read from (resolved), when they came from one: the reloader watches it. */
  readonly file?: string;
  /** SHA-256 (hex) of that file's text as compiled: the reloader compares it with what the file holds now. */
  readonly fileSha256?: string;
  readonly keys: readonly PinnedKey[];
  /** Where a new key of the issuer goes, for hints: `jwks_file` or `jwks`. */
  readonly field: 'jwks_file' | 'jwks';
}

/** Where an issuer's pinned keys are: a file (relative to the policy file's directory) or inline in the YAML. */
export type PinnedKeysSpec = { readonly file: string } | { readonly inline: unknown };

/** A JWKS is a few KiB; the limit keeps a wrong path (a log, a disk image) from being read whole at load. */
export const MAX_JWKS_FILE_BYTES = 256 * 1024;
/** An issuer publishes two or three keys at a time; more is a wrong file, and each key costs work at load. */
export const MAX_PINNED_KEYS = 100;
const MIN_RSA_BITS = 2048;
/** Problems shown for one key set: enough to fix a file, never a flood from a hostile one. */
const MAX_PROBLEMS = 20;

/** Members that only a private or symmetric key has: pinning one would put key material in the policy. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;
const STRING_MEMBERS = ['kty', 'kid', 'alg', 'use', 'crv', 'n', 'e', 'x', 'y'] as const;
const PUBLIC_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  RSA: ['n', 'e'],
  EC: ['crv', 'x', 'y'],
  OKP: ['crv', 'x'],
};
const ALGORITHMS_BY_KTY: Readonly<Record<string, readonly string[]>> = {
  RSA: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
  EC: ['ES256', 'ES384', 'ES512'],
  OKP: ['EdDSA', 'Ed25519'],
};
const SIGNING_CURVES: Readonly<Record<string, readonly string[]>> = {
  EC: ['P-256', 'P-384', 'P-521'],
  // Ed448 is left out: jose verifies EdDSA with Ed25519 keys only, so an Ed448 key could never verify a token.
  OKP: ['Ed25519'],
};
/** Standard base64 (x5c is not base64url), checked without backtracking. */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const DIGITS = /^[0-9]{1,11}$/;
const MAX_EPOCH_SECONDS = 99_999_999_999;
/** A path is shown whole in messages (the default cut of quoted() would hide which file). */
const MAX_PATH_SHOWN = 4096;

const INLINE = { source: 'inline jwks', where: 'the inline jwks', field: 'jwks' } as const;

type Problems = string[];
type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The pinned keys, checked, or every problem found (each a message saying what is wrong and how to fix it). */
export function compilePinnedKeys(
  spec: PinnedKeysSpec,
  policyFile: string,
): PinnedKeySet | { readonly problems: readonly string[] } {
  if ('file' in spec) {
    const path = resolve(dirname(policyFile), spec.file);
    const read = readJwksFile(path);
    if ('problem' in read) return { problems: [read.problem] };
    const parsed = parseJson(read.text, `the JWKS file ${quoted(path, MAX_PATH_SHOWN)}`);
    if ('problem' in parsed) return { problems: [parsed.problem] };
    const checked = checkKeySet(parsed.value, {
      source: `jwks_file ${path}`,
      where: `the JWKS file ${quoted(path, MAX_PATH_SHOWN)}`,
      field: 'jwks_file',
      yamlScalars: false,
    });
    return 'problems' in checked ? checked : { ...checked, file: path, fileSha256: sha256Hex(read.text) };
  }
  if (typeof spec.inline === 'string') {
    const parsed = parseJson(spec.inline, INLINE.where);
    if ('problem' in parsed) return { problems: [parsed.problem] };
    return checkKeySet(parsed.value, { ...INLINE, yamlScalars: false });
  }
  // A YAML map: the policy is read with the failsafe schema, so "exp: 1767225600" arrives as a string.
  return checkKeySet(spec.inline, { ...INLINE, yamlScalars: true });
}

/**
 * What a JWKS file holds now, for noticing that it changed (the reloader): the SHA-256 of its text, comparable
 * with a compiled set's fileSha256, or why it cannot be read. Read as compilePinnedKeys reads it (bounded, never
 * blocking on a FIFO).
 */
export function jwksFileDigest(path: string): string {
  const read = readJwksFile(path);
  return 'problem' in read ? `unreadable: ${read.problem}` : sha256Hex(read.text);
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The keys of the set valid at `nowSeconds` by the validity their file declares. */
export function keysValidAt(set: PinnedKeySet, nowSeconds: number): PinnedKey[] {
  return set.keys.filter(
    (key) =>
      (key.notBefore === undefined || nowSeconds >= key.notBefore) &&
      (key.notAfter === undefined || nowSeconds < key.notAfter),
  );
}

/** The earliest declared end of validity among `keys` (seconds since the epoch), or undefined when none declares one. */
export function earliestNotAfter(keys: readonly PinnedKey[]): number | undefined {
  const ends = keys.flatMap((key) => (key.notAfter === undefined ? [] : [key.notAfter]));
  return ends.length === 0 ? undefined : Math.min(...ends);
}

/** What to do when the issuer signs with a key the policy does not pin. */
export function addKeyHint(set: PinnedKeySet): string {
  return `add the issuer's new public key to the issuer's ${set.field} in the policy (keep the old one until its tokens are gone), then reload the policy`;
}

/** Seconds since the epoch as ISO 8601, for messages. */
export function isoDate(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}

/**
 * The file's text, read synchronously (policies load synchronously) but bounded: opened without blocking (a FIFO
 * would hang the load), checked to be a regular file of at most MAX_JWKS_FILE_BYTES, and read no further.
 */
function readJwksFile(path: string): { text: string } | { problem: string } {
  const where = `the JWKS file ${quoted(path, MAX_PATH_SHOWN)}`;
  let descriptor: number;
  try {
    descriptor = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : printable((error as Error).message);
    return {
      problem: `cannot read ${where}: ${reason}; give the path of a JSON file {"keys": [...]} (a relative path is relative to the policy file's directory)`,
    };
  }
  try {
    const stat = fstatSync(descriptor);
    if (stat.isDirectory())
      return { problem: `${where} is a directory; give the path of a JSON file {"keys": [...]}` };
    if (!stat.isFile())
      return { problem: `${where} is not a regular file; give the path of a JSON file {"keys": [...]}` };
    if (stat.size > MAX_JWKS_FILE_BYTES) return { problem: tooLarge(where) };
    const buffer = Buffer.alloc(MAX_JWKS_FILE_BYTES + 1);
    let length = 0;
    for (;;) {
      const read = readSync(descriptor, buffer, length, buffer.length - length, null);
      if (read === 0) break;
      length += read;
      // The file grew after fstat: refuse it rather than read on.
      if (length > MAX_JWKS_FILE_BYTES) return { problem: tooLarge(where) };
    }
    try {
      return { text: new TextDecoder('utf-8', { fatal: true }).decode(buffer.subarray(0, length)) };
    } catch {
      return { problem: `${where} is not UTF-8 text; it must hold a JSON object {"keys": [...]}` };
    }
  } catch (error) {
    return { problem: `cannot read ${where}: ${printable((error as Error).message)}` };
  } finally {
    closeSync(descriptor);
  }
}

function tooLarge(where: string): string {
  return `${where} is larger than ${MAX_JWKS_FILE_BYTES / 1024} KiB; a JWKS holds a few keys (a few KiB): check the path, and pin only the issuer's public signing keys`;
}

function parseJson(text: string, where: string): { value: unknown } | { problem: string } {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (error) {
    // Only where it fails: V8's message quotes the text there, which may be key material.
    const position = /at position (\d+)/.exec((error as Error).message)?.[1];
    const at = position === undefined ? '' : ` (${lineAndColumn(text, Number(position))})`;
    return { problem: `${where} is not valid JSON${at}; it must be a JSON object {"keys": [...]}` };
  }
}

function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `line ${line}, column ${offset - before.lastIndexOf('\n')}`;
}

interface SetContext {
  readonly source: string;
  /** The set, as problems name it. */
  readonly where: string;
  readonly field: 'jwks_file' | 'jwks';
  /** Every scalar is a string (a YAML map read with the failsafe schema): `exp`/`nbf` digits count as numbers. */
  readonly yamlScalars: boolean;
}

function checkKeySet(
  document: unknown,
  context: SetContext,
): PinnedKeySet | { readonly problems: readonly string[] } {
  const { where } = context;
  if (!isObject(document)) return { problems: [`${where} must be a JSON object {"keys": [...]}`] };
  const list = Object.hasOwn(document, 'keys') ? document.keys : undefined;
  if (!Array.isArray(list))
    return { problems: [`${where} has no "keys" list; it must be a JSON object {"keys": [...]}`] };
  if (list.length === 0)
    return {
      problems: [`${where} has an empty "keys" list; pin at least one of the issuer's public signing keys`],
    };
  if (list.length > MAX_PINNED_KEYS)
    return {
      problems: [
        `${where} holds ${list.length} keys; at most ${MAX_PINNED_KEYS} can be pinned: pin only the issuer's current and next signing keys`,
      ],
    };
  const problems: Problems = [];
  const keys: PinnedKey[] = [];
  list.forEach((raw, index) => {
    const key = checkKey(raw, `${where} keys[${index}]`, context, problems);
    if (key !== undefined) keys.push(key);
  });
  checkKeyIds(list, where, problems);
  if (problems.length > 0) return { problems: capped(problems) };
  return { source: context.source, field: context.field, keys };
}

function capped(problems: Problems): string[] {
  if (problems.length <= MAX_PROBLEMS) return problems;
  return [
    ...problems.slice(0, MAX_PROBLEMS),
    `and ${problems.length - MAX_PROBLEMS} more problems with the same keys`,
  ];
}

/** Several keys must each name their key id, once: a token names the key it was signed with by its kid. */
function checkKeyIds(list: readonly unknown[], where: string, problems: Problems): void {
  const seen = new Map<string, number>();
  list.forEach((raw, index) => {
    if (!isObject(raw)) return;
    const kid = Object.hasOwn(raw, 'kid') ? raw.kid : undefined;
    if (kid === undefined) {
      if (list.length > 1)
        problems.push(
          `${where} keys[${index}] has no "kid": with several pinned keys each needs the key id the issuer's tokens name it by`,
        );
      return;
    }
    if (typeof kid !== 'string') return;
    const first = seen.get(kid);
    if (first !== undefined)
      problems.push(
        `${where} keys[${index}] has the same kid ${quoted(kid)} as keys[${first}]; each pinned key needs its own key id`,
      );
    else seen.set(kid, index);
  });
}

function checkKey(
  raw: unknown,
  where: string,
  context: SetContext,
  problems: Problems,
): PinnedKey | undefined {
  if (!isObject(raw)) {
    problems.push(
      `${where} is not an object; each key is a JSON Web Key such as {"kty": "RSA", "kid": "...", "n": "...", "e": "AQAB"}`,
    );
    return undefined;
  }
  const before = problems.length;
  const kty = Object.hasOwn(raw, 'kty') ? raw.kty : undefined;
  if (kty === 'oct') {
    problems.push(
      `${where} is a symmetric key (kty "oct"): issuers sign ID tokens with a private key and publish its public half; pin only the issuer's public RSA, EC or OKP keys`,
    );
    return undefined;
  }
  const privateMembers = PRIVATE_MEMBERS.filter((member) => Object.hasOwn(raw, member));
  if (privateMembers.length > 0) {
    // The members are named, never their values.
    problems.push(
      `${where} holds private key material (${privateMembers.map((member) => `"${member}"`).join(', ')}): pin only public keys; remove those members (and treat that private key as exposed)`,
    );
    return undefined;
  }
  for (const member of STRING_MEMBERS) {
    if (Object.hasOwn(raw, member) && typeof raw[member] !== 'string')
      problems.push(`${where} "${member}" must be a string, not ${quoted(raw[member])}`);
  }
  if (problems.length > before) return undefined;
  const kid = raw.kid as string | undefined;
  if (typeof kty !== 'string') {
    problems.push(`${where} has no "kty"; it must say RSA, EC or OKP`);
    return undefined;
  }
  const publicMembers = PUBLIC_MEMBERS[kty];
  if (publicMembers === undefined) {
    problems.push(`${where} has kty ${quoted(kty)}; only RSA, EC and OKP public keys can be pinned`);
    return undefined;
  }
  checkUse(raw, where, problems);
  checkAlgorithm(raw.alg as string | undefined, kty, where, problems);
  // Only the public members the key needs are kept: nothing else of the file reaches jose.
  const members: Record<string, string> = { kty };
  for (const member of ['kid', 'alg', ...publicMembers]) {
    const value = raw[member];
    if (typeof value === 'string') members[member] = value;
  }
  const jwk = members as JWK;
  const keyObject = publicKeyOf(jwk, kty, where, problems);
  const declared = declaredValidity(raw, where, context, problems);
  const certified =
    keyObject === undefined ? undefined : certificateValidity(raw, keyObject, where, problems);
  if (problems.length > before || keyObject === undefined) return undefined;
  const notBefore = later(declared.notBefore, certified?.notBefore);
  const notAfter = earlier(declared.notAfter, certified?.notAfter);
  if (notBefore !== undefined && notAfter !== undefined && notAfter <= notBefore) {
    problems.push(
      `${where} is never valid: its declared validity ends (${isoDate(notAfter)}) before it starts (${isoDate(notBefore)})`,
    );
    return undefined;
  }
  return { kid, jwk, notBefore, notAfter };
}

function checkUse(raw: JsonObject, where: string, problems: Problems): void {
  if (Object.hasOwn(raw, 'use') && raw.use !== 'sig')
    problems.push(
      `${where} has use ${quoted(raw.use)}; a key that verifies ID tokens has use "sig" (or none)`,
    );
  if (!Object.hasOwn(raw, 'key_ops')) return;
  const operations = raw.key_ops;
  if (
    !Array.isArray(operations) ||
    !operations.every((operation) => typeof operation === 'string') ||
    !operations.includes('verify')
  )
    problems.push(`${where} "key_ops" must be a list of strings that includes "verify" (or be left out)`);
}

function checkAlgorithm(alg: string | undefined, kty: string, where: string, problems: Problems): void {
  const allowed = ALGORITHMS_BY_KTY[kty] ?? [];
  if (alg !== undefined && !allowed.includes(alg))
    problems.push(
      `${where} has alg ${quoted(alg)}, which a ${kty} key cannot sign with; use one of ${allowed.join(', ')} (or leave alg out)`,
    );
}

/** The key as node:crypto reads it (which checks its members), with the size and curve the broker accepts. */
function publicKeyOf(jwk: JWK, kty: string, where: string, problems: Problems): KeyObject | undefined {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  } catch (error) {
    problems.push(`${where} is not a valid ${kty} public key (${printable((error as Error).message)})`);
    return undefined;
  }
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (kty === 'RSA' && (bits === undefined || bits < MIN_RSA_BITS)) {
    problems.push(
      `${where} is an RSA key of ${bits ?? 'unknown'} bits; pinned RSA keys need at least ${MIN_RSA_BITS} bits`,
    );
    return undefined;
  }
  const curves = SIGNING_CURVES[kty];
  if (curves !== undefined && !curves.includes(jwk.crv ?? '')) {
    problems.push(
      `${where} has crv ${quoted(jwk.crv)}, which does not sign ID tokens; use one of ${curves.join(', ')}`,
    );
    return undefined;
  }
  return key;
}

interface Validity {
  readonly notBefore: number | undefined;
  readonly notAfter: number | undefined;
}

/** `nbf` and `exp` members of the key, in seconds since the epoch. */
function declaredValidity(raw: JsonObject, where: string, context: SetContext, problems: Problems): Validity {
  const seconds = (member: 'nbf' | 'exp'): number | undefined => {
    if (!Object.hasOwn(raw, member)) return undefined;
    const value = raw[member];
    if (typeof value === 'number' && Number.isInteger(value) && value > 0 && value <= MAX_EPOCH_SECONDS)
      return value;
    if (context.yamlScalars && typeof value === 'string' && DIGITS.test(value) && Number(value) > 0)
      return Number(value);
    problems.push(
      `${where} "${member}" must be a time in seconds since the epoch (such as 1767225600), not ${quoted(value)}`,
    );
    return undefined;
  };
  return { notBefore: seconds('nbf'), notAfter: seconds('exp') };
}

/** The notBefore/notAfter of the key's first x5c certificate, which must certify this very key. */
function certificateValidity(
  raw: JsonObject,
  key: KeyObject,
  where: string,
  problems: Problems,
): Validity | undefined {
  if (!Object.hasOwn(raw, 'x5c')) return undefined;
  const chain = raw.x5c;
  if (!Array.isArray(chain) || chain.length === 0 || !chain.every((entry) => typeof entry === 'string')) {
    problems.push(`${where} "x5c" must be a list of base64 DER certificates, the key's own first`);
    return undefined;
  }
  const first = chain[0] as string;
  let certificate: X509Certificate;
  try {
    if (first.length % 4 !== 0 || !BASE64.test(first)) throw new Error('not base64');
    certificate = new X509Certificate(Buffer.from(first, 'base64'));
  } catch {
    problems.push(`${where} x5c[0] is not a certificate (a base64 DER X.509 certificate is expected)`);
    return undefined;
  }
  if (!certificate.publicKey.equals(key)) {
    problems.push(
      `${where} x5c[0] certifies another key than the one the JWK holds; pin the key together with its own certificate`,
    );
    return undefined;
  }
  const notBefore = certificateTime(certificate.validFrom);
  const notAfter = certificateTime(certificate.validTo);
  if (notBefore === undefined || notAfter === undefined) {
    problems.push(
      `${where} x5c[0] has a validity period that cannot be read (years before 1950 are refused: X.509 writes them ambiguously)`,
    );
    return undefined;
  }
  return { notBefore, notAfter };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const CERTIFICATE_TIME = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{1,4}) GMT$/;

/**
 * A certificate time as Node writes it ("Dec 31 23:59:59 2049 GMT"), in seconds since the epoch. Read strictly:
 * Date.parse takes a year below 100 as 19xx or 20xx, so a certificate ending in year 49 would look valid until
 * 2049. Years before 1950 are refused.
 */
export function certificateTime(text: string): number | undefined {
  const match = CERTIFICATE_TIME.exec(text);
  if (match === null) return undefined;
  const [, month, day, hour, minute, second, year] = match as unknown as [string, ...string[]];
  const monthIndex = MONTHS.indexOf(month as string);
  const fullYear = Number(year);
  if (monthIndex === -1 || fullYear < 1950) return undefined;
  const date = new Date(0);
  date.setUTCFullYear(fullYear, monthIndex, Number(day));
  date.setUTCHours(Number(hour), Number(minute), Number(second), 0);
  return Math.floor(date.getTime() / 1000);
}

function earlier(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}

function later(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.max(a, b);
}
