// The crypto floor of one exchange, in tight loops on one thread: one RS256 verification, and per secret one
// data-key unwrap + AES-256-GCM decrypt and one crypto_box_seal. Uses the broker's own compiled functions.
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { importJWK, jwtVerify } from 'jose';
import { decryptValue } from '../lib/broker/store/envelope.js';
import { sealPayload } from '../lib/broker/sealing.js';

const { token, publicJwk, issuer, audience, secrets, kek, recipient, iterations } = workerData;
const key = await importJWK(publicJwk, 'RS256');
const wrappingKey = Buffer.from(kek, 'base64');
const recipientKey = Buffer.from(recipient, 'base64');
const encrypted = secrets.map((secret) => ({
  ...secret,
  wrappedKey: Buffer.from(secret.wrappedKey, 'base64'),
  nonce: Buffer.from(secret.nonce, 'base64'),
  ciphertext: Buffer.from(secret.ciphertext, 'base64'),
}));

async function loop(count) {
  for (let index = 0; index < count; index += 1) {
    await jwtVerify(token, key, { issuer, audience, algorithms: ['RS256'] });
    for (const secret of encrypted) {
      const value = decryptValue(secret, secret.name, secret.version, wrappingKey).toString('utf8');
      sealPayload({ name: secret.name, version: secret.version, value }, recipientKey);
    }
  }
}
// Several exchanges in flight, as in the broker: jose verifies on libuv's thread pool, and one exchange at a
// time would leave this thread idle while it waits, which would understate the floor.
const CONCURRENCY = 4;
const started = performance.now();
await Promise.all(Array.from({ length: CONCURRENCY }, () => loop(iterations / CONCURRENCY)));
parentPort.postMessage({ seconds: (performance.now() - started) / 1000 });
