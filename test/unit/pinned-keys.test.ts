/** Pinned issuer keys (`jwks_file` / `jwks`): read, checked and refused at policy load; verified with no request. */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SignJWT, type JWK } from 'jose';
import { parsePolicy, PolicyError } from '../../src/broker/policy/load-policy.js';
import {
  certificateTime,
  compilePinnedKeys,
  MAX_JWKS_FILE_BYTES,
  type PinnedKeySet,
} from '../../src/broker/policy/pinned-keys.js';
import { selfSignedCertificate } from '../helpers/tls-certificate.js';
import type { CompiledPolicy, IssuerConfig } from '../../src/broker/policy/compiled-policy.js';
import { TokenVerifier, verifyPinnedSignature } from '../../src/broker/oidc/token-verifier.js';
import { DEFAULT_ISSUER_KEYS_OPTIONS } from '../../src/broker/oidc/issuer-keys.js';
import { createLogger } from '../../src/broker/logger.js';
import { BrokerError } from '../../src/broker/errors.js';

const ISSUER = 'https://ghes.example.com/_services/token';
const DAY = 24 * 3600;

interface TestKey {
  readonly privateKey: KeyObject;
  readonly jwk: JWK;
}

function ecKey(kid?: string): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' }) as JWK;
  return { privateKey, jwk: kid === undefined ? jwk : { ...jwk, kid } };
}

let directory: string;
let policyFile: string;
let rsa2048: TestKey;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'pinned-keys-'));
  policyFile = join(directory, 'policy.yaml');
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  rsa2048 = { privateKey, jwk: { ...(publicKey.export({ format: 'jwk' }) as JWK), kid: 'rsa-1' } };
});

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

/** A policy whose one issuer carries `keysYaml` (indented under the issuer). */
function policyText(keysYaml: string, algorithms = '[ES256, RS256]'): string {
  return `version: 1
audience: https://secrets.example.com
issuers:
  ghes:
    url: ${ISSUER}
    algorithms: ${algorithms}
${keysYaml}
rules:
  - name: deploy
    issuer: ghes
    claims:
      repository_id: "1"
    secrets: [prod/*]
`;
}

function load(keysYaml: string): CompiledPolicy {
  return parsePolicy(policyText(keysYaml), policyFile);
}

function loadProblems(keysYaml: string): string[] {
  try {
    load(keysYaml);
  } catch (error) {
    if (error instanceof PolicyError)
      return error.problems.map((problem) => `${problem.line}: ${problem.path}: ${problem.message}`);
    throw error;
  }
  throw new Error('the policy loaded');
}

async function fileProblems(content: string | Buffer): Promise<string[]> {
  await writeFile(join(directory, 'keys.json'), content);
  return loadProblems('    jwks_file: keys.json');
}

const jwks = (...keys: unknown[]): string => JSON.stringify({ keys });

function pinned(policy: CompiledPolicy): PinnedKeySet {
  const set = policy.issuers.get('ghes')?.pinnedKeys;
  if (set === undefined) throw new Error('no pinned keys');
  return set;
}

describe('compilePinnedKeys: good key sets', () => {
  it('reads jwks_file relative to the policy file, keeping only the public members', async () => {
    const key = ecKey('ec-1');
    await mkdir(join(directory, 'keys'), { recursive: true });
    await writeFile(
      join(directory, 'keys', 'ghes.json'),
      jwks({ ...key.jwk, use: 'sig', alg: 'ES256', x5t: 'ignored' }, rsa2048.jwk),
    );
    const set = pinned(load('    jwks_file: keys/ghes.json'));
    expect(set.source).toBe(`jwks_file ${join(directory, 'keys', 'ghes.json')}`);
    expect(set.field).toBe('jwks_file');
    expect(set.keys.map((each) => each.kid)).toEqual(['ec-1', 'rsa-1']);
    expect(set.keys[0]?.jwk).toEqual({
      kty: 'EC',
      kid: 'ec-1',
      alg: 'ES256',
      crv: 'P-256',
      x: key.jwk.x,
      y: key.jwk.y,
    });
    expect(set.keys[0]).toMatchObject({ notBefore: undefined, notAfter: undefined });
  });

  it('takes inline jwks as a JSON string, and as a YAML map whose exp and nbf digits are numbers', () => {
    const key = ecKey('ec-1');
    const fromJson = pinned(load(`    jwks: '${jwks({ ...key.jwk, exp: 1_900_000_000 })}'`));
    expect(fromJson.source).toBe('inline jwks');
    expect(fromJson.keys[0]?.notAfter).toBe(1_900_000_000);
    const fromYaml = pinned(
      load(`    jwks:
      keys:
        - kty: EC
          kid: ec-1
          crv: P-256
          x: ${key.jwk.x}
          y: ${key.jwk.y}
          nbf: 1700000000
          exp: 1900000000`),
    );
    expect(fromYaml.keys[0]).toMatchObject({
      kid: 'ec-1',
      notBefore: 1_700_000_000,
      notAfter: 1_900_000_000,
    });
  });

  it("a key's validity: its exp and nbf, and its x5c certificate's, the narrower of both", async () => {
    const { certFile } = await selfSignedCertificate(directory, {
      days: 20,
      subject: '/CN=issuer signing key',
    });
    const pem = await readFile(certFile, 'utf8');
    const der = pem.replace(/-----[A-Z ]+-----|\s/g, '');
    const certificate = new X509Certificate(pem);
    const jwk = certificate.publicKey.export({ format: 'jwk' }) as JWK;
    const notAfter = Math.floor(Date.parse(certificate.validTo) / 1000);
    const notBefore = Math.floor(Date.parse(certificate.validFrom) / 1000);

    const certified = pinned(load(`    jwks: '${jwks({ ...jwk, kid: 'c', x5c: [der] })}'`));
    expect(certified.keys[0]).toMatchObject({ notBefore, notAfter });
    const narrower = pinned(
      load(`    jwks: '${jwks({ ...jwk, kid: 'c', x5c: [der], exp: notAfter - DAY })}'`),
    );
    expect(narrower.keys[0]?.notAfter).toBe(notAfter - DAY);
    const wider = pinned(
      load(
        `    jwks: '${jwks({ ...jwk, kid: 'c', x5c: [der], exp: notAfter + DAY, nbf: notBefore - DAY })}'`,
      ),
    );
    expect(wider.keys[0]).toMatchObject({ notBefore, notAfter });
    expect(loadProblems(`    jwks: '${jwks({ ...ecKey().jwk, kid: 'c', x5c: [der] })}'`)).toEqual([
      expect.stringContaining('x5c[0] certifies another key than the one the JWK holds'),
    ]);
  });
});

describe('compilePinnedKeys: hostile and wrong key sets are load errors with the line', () => {
  const key = (): JWK => ecKey('ec-1').jwk;

  it('a missing file, a directory, a FIFO and a device', async () => {
    expect(loadProblems('    jwks_file: nowhere.json')).toEqual([
      expect.stringMatching(
        /^7: issuers\.ghes\.jwks_file: cannot read the JWKS file ".*nowhere\.json": no such file; .*relative to the policy file's directory/,
      ),
    ]);
    await mkdir(join(directory, 'a-directory'), { recursive: true });
    expect(loadProblems('    jwks_file: a-directory')).toEqual([expect.stringMatching(/is a directory/)]);
    execFileSync('mkfifo', [join(directory, 'a-fifo')]);
    // Opened without blocking: a FIFO with no writer does not hang the load.
    expect(loadProblems('    jwks_file: a-fifo')).toEqual([expect.stringMatching(/is not a regular file/)]);
    expect(loadProblems('    jwks_file: /dev/zero')).toEqual([
      expect.stringMatching(/is not a regular file/),
    ]);
  });

  it('a file over 256 KiB, read no further than the limit', async () => {
    const big = Buffer.alloc(MAX_JWKS_FILE_BYTES + 1, 0x20);
    expect(await fileProblems(big)).toEqual([
      expect.stringMatching(/is larger than 256 KiB; .*check the path/),
    ]);
    const content = jwks(key());
    const exactly = Buffer.concat([
      Buffer.from(content),
      Buffer.alloc(MAX_JWKS_FILE_BYTES - content.length, 0x20),
    ]);
    expect(exactly.length).toBe(MAX_JWKS_FILE_BYTES);
    await writeFile(join(directory, 'exact.json'), exactly);
    expect(pinned(load('    jwks_file: exact.json')).keys).toHaveLength(1);
  });

  it.each([
    ['not JSON', '{"keys": [', /is not valid JSON/],
    ['not UTF-8', Buffer.from([0x7b, 0xff, 0x7d]), /is not UTF-8 text/],
    ['a list', '[]', /must be a JSON object \{"keys": \[\.\.\.\]\}/],
    ['no keys', '{"Keys": []}', /has no "keys" list/],
    ['keys not a list', '{"keys": {}}', /has no "keys" list/],
    ['empty keys', '{"keys": []}', /has an empty "keys" list; pin at least one/],
  ])('%s', async (_name, content, message) => {
    expect(await fileProblems(content)).toEqual([expect.stringMatching(message)]);
  });

  it('broken JSON is refused without quoting the text (it may be key material), with where it breaks', async () => {
    const found = await fileProblems('{\n  "keys": [{"kty": "EC", "d": "SECRET-D-VALUE" x}]\n}');
    expect(found).toEqual([expect.stringMatching(/is not valid JSON \(line 2, column \d+\); it must be/)]);
    expect(found.join('')).not.toContain('SECRET-D-VALUE');
    const unexpected = await fileProblems('{"keys": [{"d": "SECRET-D-VALUE"}]]');
    expect(unexpected.join('')).not.toContain('SECRET-D-VALUE');
  });

  it('more than 100 keys', async () => {
    const many = Array.from({ length: 1000 }, (_, index) => ({ ...key(), kid: `k${index}` }));
    expect(await fileProblems(jwks(...many))).toEqual([
      expect.stringMatching(/holds 1000 keys; at most 100 can be pinned/),
    ]);
  });

  it('private key material: refused, the members named and their values never shown', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const secret = privateKey.export({ format: 'jwk' }) as JWK;
    const found = await fileProblems(jwks({ ...secret, kid: 'leaked' }));
    expect(found).toEqual([
      expect.stringMatching(/keys\[0\] holds private key material \("d"\): pin only public keys/),
    ]);
    expect(found.join('\n')).not.toContain(secret.d as string);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      format: 'jwk',
    }) as JWK;
    const rsaFound = await fileProblems(jwks(rsa));
    expect(rsaFound).toEqual([expect.stringContaining('("d", "p", "q", "dp", "dq", "qi")')]);
    for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const)
      expect(rsaFound.join('\n')).not.toContain(rsa[member] as string);
  });

  it.each([
    [
      'a symmetric key',
      { kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ' },
      /symmetric key \(kty "oct"\).*pin only the issuer's public/,
    ],
    ['an unknown kty', { kty: 'AKP', kid: 'pq' }, /has kty "AKP"; only RSA, EC and OKP/],
    ['no kty', { kid: 'x' }, /has no "kty"/],
    [
      'a number where a string belongs',
      { kty: 'EC', kid: 5, crv: 'P-256', x: 'a', y: 'b' },
      /"kid" must be a string, not 5/,
    ],
    [
      'a list where a string belongs',
      { kty: 'RSA', n: ['x'], e: 'AQAB' },
      /"n" must be a string, not a list/,
    ],
    ['an invalid EC point', { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' }, /is not a valid EC public key/],
    [
      'an encryption curve',
      () => generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' }),
      /crv "X25519", which does not sign/,
    ],
    [
      'secp256k1',
      () => generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey.export({ format: 'jwk' }),
      /crv "secp256k1"/,
    ],
    [
      'RSA under 2048 bits',
      () => generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }),
      /RSA key of 1024 bits; pinned RSA keys need at least 2048/,
    ],
    [
      'use enc',
      () => ({ ...ecKey().jwk, use: 'enc' }),
      /use "enc"; a key that verifies ID tokens has use "sig"/,
    ],
    [
      'key_ops without verify',
      () => ({ ...ecKey().jwk, key_ops: ['encrypt'] }),
      /"key_ops" must be a list of strings that includes "verify"/,
    ],
    [
      'an alg the key cannot sign with',
      () => ({ ...ecKey().jwk, alg: 'RS256' }),
      /alg "RS256", which a EC key cannot sign with/,
    ],
    [
      'exp not a time',
      () => ({ ...ecKey().jwk, exp: '2030-01-01' }),
      /"exp" must be a time in seconds since the epoch/,
    ],
    ['exp before nbf', () => ({ ...ecKey().jwk, nbf: 1_900_000_000, exp: 1_800_000_000 }), /is never valid/],
    [
      'x5c not a certificate',
      () => ({ ...ecKey().jwk, x5c: ['bm90IGEgY2VydGlmaWNhdGU='] }),
      /x5c\[0\] is not a certificate/,
    ],
    ['x5c not base64', () => ({ ...ecKey().jwk, x5c: ['%%%%'] }), /x5c\[0\] is not a certificate/],
    [
      'x5c not a list of strings',
      () => ({ ...ecKey().jwk, x5c: [1] }),
      /"x5c" must be a list of base64 DER certificates/,
    ],
    ['a key that is not an object', 'RSA', /keys\[0\] is not an object/],
  ])('%s', async (_name, raw, message) => {
    const value = typeof raw === 'function' ? raw() : raw;
    expect(await fileProblems(jwks(value))).toEqual([expect.stringMatching(message)]);
  });

  it('duplicate key ids, and keys without kid when there are several', async () => {
    expect(await fileProblems(jwks(ecKey('same').jwk, ecKey('same').jwk))).toEqual([
      expect.stringMatching(/keys\[1\] has the same kid "same" as keys\[0\]/),
    ]);
    expect(await fileProblems(jwks(ecKey().jwk, ecKey('b').jwk))).toEqual([
      expect.stringMatching(/keys\[0\] has no "kid": with several pinned keys each needs the key id/),
    ]);
    expect(pinned(load(`    jwks: '${jwks(ecKey().jwk)}'`)).keys[0]?.kid).toBeUndefined();
  });

  it('reports every problem of a file, each naming its key, but not a flood', async () => {
    const broken = Array.from({ length: 60 }, (_, index) => ({ kty: 'EC', kid: index }));
    const found = await fileProblems(jwks(...broken));
    expect(found).toHaveLength(21);
    expect(found[0]).toMatch(/keys\[0\] "kid" must be a string/);
    expect(found[20]).toMatch(/and 40 more problems/);
  });

  it('escapes what it shows of a hostile file', async () => {
    const found = await fileProblems(jwks({ kty: '\u001b[31mRSA\u202e' }));
    expect(found).toEqual([expect.stringContaining('has kty "\\u001b[31mRSA\\u202e"')]);
    expect(found.join('')).not.toContain('\u001b');
    expect(found.join('')).not.toContain('\u202e');
  });

  it('refuses jwks and jwks_file together, and a wrong inline shape', () => {
    expect(loadProblems(`    jwks_file: keys.json\n    jwks: '${jwks(ecKey().jwk)}'`)).toEqual([
      expect.stringMatching(/jwks_file or jwks, not both/),
    ]);
    expect(loadProblems("    jwks: 'not json'")).toEqual([
      expect.stringMatching(/^7: issuers\.ghes\.jwks: the inline jwks is not valid JSON/),
    ]);
    expect(loadProblems('    jwks:\n      keys: []')).toEqual([
      expect.stringMatching(/the inline jwks has an empty "keys" list/),
    ]);
    expect(compilePinnedKeys({ inline: ['a'] }, policyFile)).toEqual({
      problems: [expect.stringMatching(/must be a JSON object/)],
    });
  });
});

/** An issuer of the compiled policy, with the pinned keys given. */
function issuerWith(keys: readonly unknown[]): IssuerConfig {
  const policy = load(`    jwks: '${jwks(...keys)}'`);
  return policy.issuers.get('ghes') as IssuerConfig;
}

async function sign(key: TestKey, kid: string | undefined): Promise<string> {
  const header = kid === undefined ? { alg: 'ES256' } : { alg: 'ES256', kid };
  return new SignJWT({ iss: ISSUER }).setProtectedHeader(header).sign(key.privateKey);
}

async function refusal(
  token: string,
  issuer: IssuerConfig,
  kid: string | undefined,
  now: number,
): Promise<BrokerError> {
  const error = await verifyPinnedSignature(token, issuer, issuer.pinnedKeys as PinnedKeySet, kid, now).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof BrokerError)) throw new Error(`not refused with a BrokerError: ${String(error)}`);
  return error;
}

describe('verifyPinnedSignature', () => {
  const now = 1_800_000_000;

  it('verifies a token signed by a pinned key valid now', async () => {
    const key = ecKey('a');
    const issuer = issuerWith([{ ...key.jwk, nbf: now - DAY, exp: now + DAY }, ecKey('b').jwk]);
    await expect(
      verifyPinnedSignature(await sign(key, 'a'), issuer, issuer.pinnedKeys as PinnedKeySet, 'a', now),
    ).resolves.toBeUndefined();
  });

  it('refuses a key id not pinned, and a token signed by another key under a pinned key id', async () => {
    const key = ecKey('a');
    const issuer = issuerWith([key.jwk]);
    const unknown = await refusal(await sign(ecKey(), 'rotated'), issuer, 'rotated', now);
    expect(unknown.code).toBe('invalid_token');
    expect(unknown.message).toBe(
      'the token\'s key id "rotated" is not among the keys pinned for issuer "ghes" (its keys are pinned in the policy, never fetched)',
    );
    expect(unknown.hint).toMatch(/^add the issuer's new public key to the issuer's jwks in the policy/);
    const forged = await refusal(await sign(ecKey(), 'a'), issuer, 'a', now);
    expect(forged.code).toBe('invalid_token');
    expect(forged.message).toBe(
      'the token\'s signature does not verify with the keys pinned for issuer "ghes"',
    );
  });

  it('refuses a key past its declared validity, or before it, and fails closed when no key is valid', async () => {
    const old = ecKey('old');
    const next = ecKey('next');
    const issuer = issuerWith([
      { ...old.jwk, exp: now - 1 },
      ecKey('current').jwk,
      { ...next.jwk, nbf: now + DAY },
    ]);
    const expired = await refusal(await sign(old, 'old'), issuer, 'old', now);
    expect(expired.code).toBe('invalid_token');
    expect(expired.message).toBe(
      `the token's key id "old" names a key pinned for issuer "ghes" whose declared validity ended at ${new Date((now - 1) * 1000).toISOString()}`,
    );
    expect(expired.hint).toMatch(/^add the issuer's new public key/);
    const early = await refusal(await sign(next, 'next'), issuer, 'next', now);
    expect(early.code).toBe('invalid_token');
    expect(early.message).toMatch(/whose declared validity starts at/);
    await expect(
      verifyPinnedSignature(
        await sign(next, 'next'),
        issuer,
        issuer.pinnedKeys as PinnedKeySet,
        'next',
        now + DAY,
      ),
    ).resolves.toBeUndefined();

    const onlyOld = issuerWith([{ ...old.jwk, exp: now - 1 }]);
    const none = await refusal(await sign(old, 'old'), onlyOld, 'old', now);
    expect(none.code).toBe('unavailable');
    expect(none.message).toBe(
      `every key pinned for issuer "ghes" is outside the validity the policy declares for it (the last ended at ${new Date((now - 1) * 1000).toISOString()}), so none of its tokens can be verified`,
    );
    expect(none.hint).toMatch(/^an operator must add the issuer's new public key/);
  });

  it('a single pinned key without kid verifies whatever key id the token names; several need one', async () => {
    const key = ecKey();
    const issuer = issuerWith([key.jwk]);
    const keys = issuer.pinnedKeys as PinnedKeySet;
    await expect(
      verifyPinnedSignature(await sign(key, 'any'), issuer, keys, 'any', now),
    ).resolves.toBeUndefined();
    await expect(
      verifyPinnedSignature(await sign(key, undefined), issuer, keys, undefined, now),
    ).resolves.toBeUndefined();
    const two = issuerWith([ecKey('a').jwk, ecKey('b').jwk]);
    const guess = await refusal(await sign(key, undefined), two, undefined, now);
    expect(guess.message).toMatch(/names no key id and several keys are pinned/);
  });

  it("keeps to the issuer's algorithms", async () => {
    const policy = parsePolicy(policyText(`    jwks: '${jwks(rsa2048.jwk)}'`, '[ES256]'), policyFile);
    const issuer = policy.issuers.get('ghes') as IssuerConfig;
    const token = await new SignJWT({ iss: ISSUER })
      .setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' })
      .sign(rsa2048.privateKey);
    const refused = await refusal(token, issuer, 'rsa-1', now);
    expect(refused.code).toBe('invalid_token');
  });
});

describe('TokenVerifier with pinned keys', () => {
  const discoveredPolicy = (): CompiledPolicy => parsePolicy(policyText(''), policyFile);

  function verifier(): { verifier: TokenVerifier; fetched: string[]; logs: string[] } {
    const fetched: string[] = [];
    const logs: string[] = [];
    const getJson = (url: string): Promise<Record<string, unknown>> => {
      fetched.push(url);
      return Promise.reject(new Error('no network in this test'));
    };
    const logger = createLogger('info', { write: (line: string) => void logs.push(line) });
    return {
      verifier: new TokenVerifier(logger, () => undefined, { ...DEFAULT_ISSUER_KEYS_OPTIONS, getJson }),
      fetched,
      logs,
    };
  }

  it('tracks a pinned issuer without fetching, and lists it in keyStatus with its earliest declared end', () => {
    const { verifier: keys, fetched } = verifier();
    const soon = Math.floor(Date.now() / 1000) + 10 * DAY;
    keys.track(load(`    jwks: '${jwks({ ...ecKey('a').jwk, exp: soon }, ecKey('b').jwk)}'`));
    expect(fetched).toEqual([]);
    expect(keys.keyStatus()).toEqual([
      {
        issuer: ISSUER,
        source: 'pinned',
        loaded: true,
        keyCount: 2,
        fetchedAt: undefined,
        lastError: undefined,
        validUntil: new Date(soon * 1000).toISOString(),
      },
    ]);
    keys.stop();
  });

  it('follows a reload from discovered to pinned (refresh stopped) and refuses to fetch for a policy it no longer tracks', async () => {
    const { verifier: keys, fetched } = verifier();
    keys.track(discoveredPolicy());
    await vi.waitFor(() => expect(fetched).toHaveLength(1));
    expect(keys.keyStatus().map((status) => status.source)).toEqual(['discovery']);
    const key = ecKey('a');
    keys.track(load(`    jwks: '${jwks(key.jwk)}'`));
    expect(keys.keyStatus().map((status) => status.source)).toEqual(['pinned']);
    // A request still deciding by the policy before the reload: no fetch for an issuer the policy now pins.
    const token = await new SignJWT({ iss: ISSUER, aud: 'https://secrets.example.com' })
      .setProtectedHeader({ alg: 'ES256', kid: 'a' })
      .setIssuedAt()
      .setExpirationTime('5m')
      .setJti('j')
      .sign(key.privateKey);
    const refused = await keys.verify(token, discoveredPolicy()).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(BrokerError);
    expect((refused as BrokerError).code).toBe('unavailable');
    expect((refused as BrokerError).message).toMatch(/now pins the keys of issuer "ghes"/);
    expect(fetched).toHaveLength(1);
    keys.stop();
  });

  it('logs an error when every pinned key of an issuer is past its declared validity', () => {
    const { verifier: keys, logs } = verifier();
    keys.track(load(`    jwks: '${jwks({ ...ecKey('a').jwk, exp: 1_600_000_000 })}'`));
    expect(logs.join('\n')).toContain('no pinned key of the issuer is within its declared validity now');
    expect(keys.keyStatus()[0]).toMatchObject({ loaded: false, keyCount: 0, lastError: expect.any(String) });
  });
});

describe('review findings', () => {
  it('reads certificate times strictly: a two-digit year is refused, never taken as 19xx or 20xx', () => {
    expect(certificateTime('Dec 31 23:59:59 2049 GMT')).toBe(Date.UTC(2049, 11, 31, 23, 59, 59) / 1000);
    expect(certificateTime('Jan  1 00:00:00 2026 GMT')).toBe(Date.UTC(2026, 0, 1) / 1000);
    for (const text of [
      'Dec 31 23:59:59 49 GMT',
      'Dec 31 23:59:59 0049 GMT',
      'Dec 31 23:59:59 1949 GMT',
      'Foo 31 23:59:59 2049 GMT',
      '2049-12-31T23:59:59Z',
      '',
    ])
      expect(certificateTime(text), text).toBeUndefined();
  });

  it('refuses Ed448 keys (jose verifies EdDSA with Ed25519 only) and a zero exp in a YAML map', () => {
    const ed448 = generateKeyPairSync('ed448').publicKey.export({ format: 'jwk' });
    const found = compilePinnedKeys({ inline: { keys: [{ ...ed448, kid: 'e' }] } }, policyFile);
    expect('problems' in found && found.problems.join('\n')).toMatch(/Ed448/);
    const ec = ecKey().jwk;
    const zero = compilePinnedKeys({ inline: { keys: [{ ...ec, kid: 'z', exp: '0' }] } }, policyFile);
    expect('problems' in zero && zero.problems.join('\n')).toMatch(/"exp" must be a time in seconds/);
  });
});

describe('a stopped discovery refresh', () => {
  it('makes no further request once stopped (a reload that pins the issuer)', async () => {
    const requested: string[] = [];
    let releaseDiscovery: (() => void) | undefined;
    const getJson = async (url: string): Promise<Record<string, unknown>> => {
      requested.push(url);
      if (url.endsWith('/openid-configuration')) {
        await new Promise<void>((resolve) => (releaseDiscovery = resolve));
        return {
          issuer: 'https://ghes.example.com/_services/token',
          jwks_uri: 'https://ghes.example.com/jwks',
        };
      }
      return { keys: [] };
    };
    const { IssuerKeys } = await import('../../src/broker/oidc/issuer-keys.js');
    const quiet = createLogger('info', { write: () => undefined });
    const keys = new IssuerKeys('https://ghes.example.com/_services/token', quiet, () => undefined, {
      ...DEFAULT_ISSUER_KEYS_OPTIONS,
      getJson,
    });
    const refreshed = keys.refresh();
    await vi.waitFor(() => expect(releaseDiscovery).toBeDefined());
    keys.stop();
    releaseDiscovery?.();
    expect(await refreshed).toBe(false);
    expect(requested).toEqual(['https://ghes.example.com/_services/token/.well-known/openid-configuration']);
    expect(await keys.refresh()).toBe(false);
    expect(requested).toHaveLength(1);
  });
});
