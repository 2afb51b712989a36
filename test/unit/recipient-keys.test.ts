/**
 * The run's X25519 key pair under garbage-collection pressure. On Node.js 20, exporting a generated key as JWK
 * deadlocks the process for good when a collection during the export frees the generation's job (a job
 * hung in CI until killed); the key pair is taken from the generation already encoded instead.
 */
import { expect, it } from 'vitest';
import { REPO_ROOT, run } from '../helpers/child-process.js';
import { describeEachNode } from '../helpers/node-binaries.js';

const KEY_PAIRS = 20_000;
/** Far beyond what KEY_PAIRS take (about a second); only a hung process gets near it. */
const HUNG_AFTER_MS = 120_000;

const script = `
import { newRecipientKeyPair } from ${JSON.stringify(`${REPO_ROOT}src/client/sealed-box.ts`)};
const kept = [];
for (let index = 0; index < ${KEY_PAIRS}; index += 1) {
  const pair = await newRecipientKeyPair();
  if (pair.publicKey.length !== 32 || pair.privateKey.length !== 32) throw new Error('not a raw X25519 key pair');
  kept.push({ index });
  if (kept.length > 1000) kept.length = 0;
}
process.stdout.write('made ' + ${KEY_PAIRS});
`;

describeEachNode('recipient key pairs', (node) => {
  it(
    'are made many times over with garbage collections all along, and the process ends',
    async () => {
      // A one-MiB young generation: a collection every few hundred key pairs, during whatever runs then.
      const result = await run(node, [
        '--max-semi-space-size=1',
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        script,
      ]);
      expect(result.stderr).toBe('');
      expect(result.stdout).toBe(`made ${KEY_PAIRS}`);
      expect(result.code).toBe(0);
    },
    HUNG_AFTER_MS,
  );
});
