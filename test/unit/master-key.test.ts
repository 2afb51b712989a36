import { mkdtemp, readFile, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadMasterKeys, MasterKeyError, parseMasterKey } from '../../src/broker/store/master-key.js';

const HEX = 'ab'.repeat(32);
/** A database that holds nothing yet, so a key may be generated for it. */
const emptyDatabase = async (): Promise<undefined> => undefined;

describe('master key', () => {
  it('parses 64 hex digits or base64, with surrounding whitespace', () => {
    const fromHex = parseMasterKey(`${HEX}\n`, 'test');
    const fromBase64 = parseMasterKey(Buffer.from(HEX, 'hex').toString('base64'), 'test');
    expect(fromHex.material.equals(fromBase64.material)).toBe(true);
    expect(fromHex.fingerprint).toMatch(/^[0-9a-f]{16}$/);
  });

  it('refuses anything else and says how to make a key, without echoing it', () => {
    for (const bad of ['', 'short', 'ab'.repeat(31), 'zz'.repeat(32), Buffer.alloc(31).toString('base64')]) {
      expect(() => parseMasterKey(bad, 'SECRETS_BROKER_MASTER_KEY')).toThrow(
        /SECRETS_BROKER_MASTER_KEY is not a 32-byte key.*openssl rand -hex 32/,
      );
    }
    try {
      parseMasterKey('not-a-key-but-secret-looking', 'X');
    } catch (error) {
      expect((error as Error).message).not.toContain('not-a-key-but-secret-looking');
    }
  });

  it('generates a 0600 key file on first use and reuses it', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'mk-')), 'data');
    const first = await loadMasterKeys({}, dir, emptyDatabase);
    expect(first.generatedNow).toBe(true);
    expect((await stat(first.generatedFile!)).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    const second = await loadMasterKeys({}, dir, emptyDatabase);
    expect(second.generatedNow).toBe(false);
    expect(second.current.material.equals(first.current.material)).toBe(true);
  });

  it('tightens a key file that others can read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mk-'));
    await writeFile(join(dir, 'master.key'), HEX);
    await chmod(join(dir, 'master.key'), 0o644);
    await loadMasterKeys({}, dir, emptyDatabase);
    expect((await stat(join(dir, 'master.key'))).mode & 0o777).toBe(0o600);
  });

  it('reads the key and the old key from the environment or files, and refuses both forms at once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mk-'));
    const file = join(dir, 'key');
    await writeFile(file, HEX);
    const keys = await loadMasterKeys(
      { SECRETS_BROKER_MASTER_KEY_FILE: file, SECRETS_BROKER_MASTER_KEY_OLD: 'cd'.repeat(32) },
      dir,
      emptyDatabase,
    );
    expect(keys.current.material.toString('hex')).toBe(HEX);
    expect(keys.old!.material.toString('hex')).toBe('cd'.repeat(32));
    expect(keys.generatedFile).toBeUndefined();
    await expect(
      loadMasterKeys(
        { SECRETS_BROKER_MASTER_KEY: HEX, SECRETS_BROKER_MASTER_KEY_FILE: file },
        dir,
        emptyDatabase,
      ),
    ).rejects.toThrow('both SECRETS_BROKER_MASTER_KEY and SECRETS_BROKER_MASTER_KEY_FILE are set');
    await expect(
      loadMasterKeys({ SECRETS_BROKER_MASTER_KEY_FILE: join(dir, 'missing') }, dir, emptyDatabase),
    ).rejects.toThrow(/cannot read.*ENOENT/);
    await expect(
      loadMasterKeys({ SECRETS_BROKER_MASTER_KEY: 'x' }, dir, emptyDatabase),
    ).rejects.toBeInstanceOf(MasterKeyError);
    expect(await readFile(file, 'utf8')).toBe(HEX);
  });
});
