/**
 * The crypto floor of the exchange bench: the cryptographic work of one exchange for the workload's secrets,
 * in tight loops in worker threads (floor-worker.mjs), with nothing else: no HTTP, JSON, policy or store.
 */
import { cpus } from 'node:os';
import { Worker } from 'node:worker_threads';
import { encryptValue } from '../src/broker/store/envelope.js';
import { KeyRing } from '../src/broker/store/key-ring.js';
import { parseMasterKey } from '../src/broker/store/master-key.js';
import { recipientKey, type Workload } from './workload.js';

export const FLOOR_THREADS = Math.min(2, cpus().length);

/** Exchanges a second on all floor threads, the token verified by jose and by node:crypto. */
export interface FloorRates {
  readonly jose: number;
  readonly node: number;
}

export interface FloorOptions {
  readonly workload: Workload;
  readonly secrets: number;
  readonly masterKeyHex: string;
  /** The issuer of the sample token, its public JWK and the audience it is minted for. */
  readonly issuerUrl: string;
  readonly publicJwk: object;
  readonly audience: string;
  /** Exchanges per thread and measurement. */
  readonly iterations: number;
}

/** A function that measures the floor once (in FLOOR_THREADS threads at once) each time it is called. */
export function floorMeasurer(options: FloorOptions): () => Promise<FloorRates> {
  const ring = new KeyRing(parseMasterKey(options.masterKeyHex, 'bench'));
  const kek = ring.wrappingKey(ring.currentKeyId)!;
  const secrets = options.workload.sampleSecrets(options.secrets).map(({ name, value }) => {
    const encrypted = encryptValue(Buffer.from(value), name, 1, ring.currentKeyId, kek);
    return {
      name,
      version: 1,
      keyId: encrypted.keyId,
      wrappedKey: encrypted.wrappedKey.toString('base64'),
      nonce: encrypted.nonce.toString('base64'),
      ciphertext: encrypted.ciphertext.toString('base64'),
    };
  });
  const { iterations } = options;
  return async () => {
    // A token of the workload's shape and size, minted now: a whole run outlasts a token's five minutes.
    const token = await options.workload.sampleToken();
    const runs = await Promise.all(
      Array.from(
        { length: FLOOR_THREADS },
        () =>
          new Promise<{ joseSeconds: number; nodeSeconds: number }>((resolve, reject) => {
            const worker = new Worker(new URL('./floor-worker.mjs', import.meta.url), {
              workerData: {
                token,
                publicJwk: options.publicJwk,
                issuer: options.issuerUrl,
                audience: options.audience,
                secrets,
                kek: kek.toString('base64'),
                recipient: recipientKey(),
                iterations,
              },
            });
            worker.once('message', resolve);
            worker.once('error', reject);
          }),
      ),
    );
    return {
      jose: runs.reduce((sum, run) => sum + iterations / run.joseSeconds, 0),
      node: runs.reduce((sum, run) => sum + iterations / run.nodeSeconds, 0),
    };
  };
}
