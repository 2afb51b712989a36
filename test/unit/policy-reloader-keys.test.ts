/**
 * The policy reloader also watches the policy's pinned-key files (jwks_file), wherever they are: a key removed
 * from the file (a compromised one) takes effect without touching the policy or sending SIGHUP.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CompiledPolicy } from '../../src/broker/policy/compiled-policy.js';
import { loadPolicyFile } from '../../src/broker/policy/load-policy.js';
import { PolicyReloader, type ReloadResult } from '../../src/broker/policy/policy-reloader.js';
import { createLogger } from '../../src/broker/logger.js';
import { eventually } from '../helpers/eventually.js';

const publicKey = (kid: string) => ({
  ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }),
  kid,
  alg: 'ES256',
});

let directory: string | undefined;
let reloader: PolicyReloader | undefined;

afterEach(async () => {
  reloader?.stop();
  if (directory !== undefined) await rm(directory, { recursive: true, force: true });
});

describe('pinned-key files are watched', () => {
  it('reloads when a jwks_file in another directory changes, and not when nothing changed', async () => {
    directory = await mkdtemp(join(tmpdir(), 'reloader-keys-'));
    await mkdir(join(directory, 'policy'));
    await mkdir(join(directory, 'keys'));
    const keysFile = join(directory, 'keys', 'ghes.jwks.json');
    const policyFile = join(directory, 'policy', 'policy.yaml');
    await writeFile(keysFile, JSON.stringify({ keys: [publicKey('old'), publicKey('compromised')] }));
    await writeFile(
      policyFile,
      `version: 1
audience: https://secrets.example.com
issuers:
  ghes:
    url: https://ghes.example.com/_services/token
    algorithms: [ES256]
    jwks_file: ../keys/ghes.jwks.json
rules: []
`,
    );
    const applied: CompiledPolicy[] = [];
    const results: ReloadResult[] = [];
    const initial = await loadPolicyFile(policyFile);
    reloader = new PolicyReloader(
      policyFile,
      (policy) => applied.push(policy),
      (result) => results.push(result),
      createLogger('silent'),
    );
    await reloader.start(initial);
    // Nothing changed: a forced check of an unchanged state applies nothing new.
    expect(await reloader.reload(false)).toEqual({ ok: true, changed: false });

    await writeFile(keysFile, JSON.stringify({ keys: [publicKey('old')] }));
    const reloaded = await eventually(
      async () => applied.at(-1),
      10_000,
      'a reload after the key file changed',
    );
    const kids = reloaded.issuers.get('ghes')?.pinnedKeys?.keys.map((key) => key.kid);
    expect(kids).toEqual(['old']);
    expect(results.at(-1)).toEqual({ ok: true, changed: true });
  });

  it('compares the key files with what the serving policy compiled, not with a later read', async () => {
    directory = await mkdtemp(join(tmpdir(), 'reloader-keys-'));
    const keysFile = join(directory, 'keys.json');
    const policyFile = join(directory, 'policy.yaml');
    await writeFile(keysFile, JSON.stringify({ keys: [publicKey('old'), publicKey('compromised')] }));
    await writeFile(
      policyFile,
      `version: 1
audience: https://secrets.example.com
issuers:
  ghes:
    url: https://ghes.example.com/_services/token
    algorithms: [ES256]
    jwks_file: keys.json
rules: []
`,
    );
    const serving = await loadPolicyFile(policyFile);
    // The file changes after the serving policy compiled it and before the reloader starts.
    await writeFile(keysFile, JSON.stringify({ keys: [publicKey('old')] }));
    const applied: CompiledPolicy[] = [];
    reloader = new PolicyReloader(
      policyFile,
      (policy) => applied.push(policy),
      () => undefined,
      createLogger('silent'),
    );
    await reloader.start(serving);
    expect(await reloader.reload(false)).toEqual({ ok: true, changed: true });
    expect(
      applied
        .at(-1)
        ?.issuers.get('ghes')
        ?.pinnedKeys?.keys.map((key) => key.kid),
    ).toEqual(['old']);
    expect(await reloader.reload(false)).toEqual({ ok: true, changed: false });
  });
});
