// The crypto floor of one exchange, in tight loops on one thread, measured twice:
// - jose: the token verified with jose's jwtVerify (WebCrypto, as the broker does);
// - node: the token verified with node:crypto's verify on a KeyObject (synchronous, no WebCrypto job), then
//   its claims parsed and iss, aud and exp checked: a lower cost, so a higher rate and the stricter floor.
// Both then do per secret one data-key unwrap + AES-256-GCM decrypt and one crypto_box_seal, with the
// broker's own compiled functions.
import { Buffer } from 'node:buffer';
import { createPublicKey, verify } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { importJWK, jwtVerify } from 'jose';
import { decryptValue } from '../lib/broker/store/envelope.js';
import { sealPayload } from '../lib/broker/sealing.js';

const { token, publicJwk, issuer, audience, secrets, kek, recipient, iterations } = workerData;
const joseKey = await importJWK(publicJwk, 'RS256');
const nodeKey = createPublicKey({ key: publicJwk, format: 'jwk' });
const wrappingKey = Buffer.from(kek, 'base64');
const recipientKey = Buffer.from(recipient, 'base64');
const encrypted = secrets.map((secret) => ({
  ...secret,
  wrappedKey: Buffer.from(secret.wrappedKey, 'base64'),
  nonce: Buffer.from(secret.nonce, 'base64'),
  ciphertext: Buffer.from(secret.ciphertext, 'base64'),
}));

function sealAll() {
  for (const secret of encrypted) {
    const value = decryptValue(secret, secret.name, secret.version, wrappingKey).toString('utf8');
    sealPayload({ name: secret.name, version: secret.version, value }, recipientKey);
  }
}

function verifyWithNodeCrypto() {
  const [header, payload, signature] = token.split('.');
  if (JSON.parse(Buffer.from(header, 'base64url').toString('utf8')).alg !== 'RS256')
    throw new Error('unexpected algorithm');
  if (!verify('sha256', Buffer.from(`${header}.${payload}`), nodeKey, Buffer.from(signature, 'base64url')))
    throw new Error('bad signature');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  if (claims.iss !== issuer || claims.aud !== audience || claims.exp * 1000 < Date.now())
    throw new Error('claims do not match');
}

async function joseLoop(count) {
  for (let index = 0; index < count; index += 1) {
    await jwtVerify(token, joseKey, { issuer, audience, algorithms: ['RS256'] });
    sealAll();
  }
}

// Several exchanges in flight, as in the broker: jose verifies on libuv's thread pool, and one exchange at a
// time would leave this thread idle while it waits, which would understate the floor.
const CONCURRENCY = 4;
let started = performance.now();
await Promise.all(Array.from({ length: CONCURRENCY }, () => joseLoop(iterations / CONCURRENCY)));
const joseSeconds = (performance.now() - started) / 1000;

started = performance.now();
for (let index = 0; index < iterations; index += 1) {
  verifyWithNodeCrypto();
  sealAll();
}
const nodeSeconds = (performance.now() - started) / 1000;
parentPort.postMessage({ joseSeconds, nodeSeconds });
