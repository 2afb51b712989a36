import { CodedError } from '../../protocol/coded-error.js';
import { createHash, hkdfSync } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { printable } from '../../protocol/printable.js';

export const MASTER_KEY_BYTES = 32;
export const GENERATED_KEY_FILE = 'master.key';

export class MasterKeyError extends CodedError {
  readonly code: string = 'master_key_invalid';
  override name = 'MasterKeyError';
  constructor(message: string, hint?: string) {
    super(message, { hint });
  }
}

/** A 32-byte master key and its fingerprint (a hash prefix that identifies it without revealing it). */
/** The 32-byte key for `purpose`, derived from the master key (HKDF-SHA-256): one key per purpose label. */
export function derivedKey(master: MasterKey, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', master.material, Buffer.alloc(0), purpose, 32));
}

export interface MasterKey {
  readonly material: Buffer;
  readonly fingerprint: string;
}

export function masterKeyFromBytes(material: Buffer): MasterKey {
  if (material.length !== MASTER_KEY_BYTES) {
    throw new MasterKeyError(`a master key is ${MASTER_KEY_BYTES} bytes; this one is ${material.length}`);
  }
  const fingerprint = createHash('sha256')
    .update('secrets-broker master key fingerprint\0')
    .update(material)
    .digest('hex');
  return { material, fingerprint: fingerprint.slice(0, 16) };
}

/** Parses 32 bytes written as 64 hex digits or as base64 (padded or not). `source` names where it came from. */
export function parseMasterKey(text: string, source: string): MasterKey {
  const trimmed = text.trim();
  let material: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) material = Buffer.from(trimmed, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)) material = Buffer.from(trimmed, 'base64');
  if (material?.length !== MASTER_KEY_BYTES) {
    throw new MasterKeyError(
      `${source} is not a 32-byte key: write it as 64 hex digits or 44 base64 characters (generate one with: openssl rand -hex 32)`,
    );
  }
  return masterKeyFromBytes(material);
}

type Environment = Readonly<Record<string, string | undefined>>;

/**
 * Reads `${prefix}` or `${prefix}_FILE` from the environment; both set is an error (which one wins would be a guess).
 */
export async function readKeyFromEnvironment(
  environment: Environment,
  prefix: string,
): Promise<MasterKey | undefined> {
  const inline = environment[prefix];
  const file = environment[`${prefix}_FILE`];
  if (inline !== undefined && inline !== '' && file !== undefined && file !== '') {
    throw new MasterKeyError(`both ${prefix} and ${prefix}_FILE are set; set only one`);
  }
  if (inline !== undefined && inline !== '') return parseMasterKey(inline, prefix);
  if (file !== undefined && file !== '') {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new MasterKeyError(
        `cannot read ${prefix}_FILE (${file}): ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
    }
    return parseMasterKey(text, `${prefix}_FILE (${file})`);
  }
  return undefined;
}

export interface LoadedMasterKeys {
  readonly current: MasterKey;
  readonly old: MasterKey | undefined;
  /** Set when the key was generated or read from the data directory instead of configured. */
  readonly generatedFile: string | undefined;
  readonly generatedNow: boolean;
}

/**
 * The current key comes from SECRETS_BROKER_MASTER_KEY(_FILE); without it, from `<dataDir>/master.key`, which is
 * generated (mode 0600) on first use. The old key (rotation) only ever comes from the environment.
 *
 * A key is generated only for a database that holds nothing: `storedData` names what the database holds (or
 * answers undefined). A new key could open none of it, so with data and no key file nothing is written and the
 * error says where the key was expected.
 */
export async function loadMasterKeys(
  environment: Environment,
  dataDir: string,
  storedData: () => Promise<string | undefined>,
): Promise<LoadedMasterKeys> {
  const old = await readKeyFromEnvironment(environment, 'SECRETS_BROKER_MASTER_KEY_OLD');
  const configured = await readKeyFromEnvironment(environment, 'SECRETS_BROKER_MASTER_KEY');
  if (configured !== undefined)
    return { current: configured, old, generatedFile: undefined, generatedNow: false };

  const file = join(dataDir, GENERATED_KEY_FILE);
  try {
    const info = await stat(file);
    if ((info.mode & 0o077) !== 0) await chmod(file, 0o600);
    return {
      current: parseMasterKey(await readFile(file, 'utf8'), file),
      old,
      generatedFile: file,
      generatedNow: false,
    };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const held = await storedData();
  if (held !== undefined) throw missingKeyFileError(file, held);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const material = randomBytes(MASTER_KEY_BYTES);
  // "wx": never overwrite a key another process wrote a moment ago.
  await writeFile(file, `${material.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  return { current: masterKeyFromBytes(material), old, generatedFile: file, generatedNow: true };
}

function missingKeyFileError(file: string, held: string): MasterKeyError {
  return new MasterKeyError(
    `the master key file ${printable(file)} is missing, but the database already holds ${held}, written ` +
      'with a master key. A new key could not read it, so none was generated and nothing was changed.',
    `restore ${GENERATED_KEY_FILE} from your backup to ${printable(file)}; or point SECRETS_BROKER_MASTER_KEY_FILE ` +
      '(or SECRETS_BROKER_MASTER_KEY) at the key this database was created with; or, if the key lives in ' +
      'another data directory, give that one with --data-dir (SECRETS_BROKER_DATA_DIR)',
  );
}
