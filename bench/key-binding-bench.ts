/**
 * What key binding and pinned keys cost on the broker's event loop, per request, and on the client: the bound
 * audience check of an exchange (audienceForm + digest compare), a list's or put's key proof verified against 1
 * and 3 held run-output keys (X25519 + HMAC each), the client's proof, and a signature verified with pinned keys
 * (jose, RS256 and ES256). Prints microseconds per operation, the median of BENCH_ROUNDS (5) rounds. Figures are
 * this machine's, printed for comparison; nothing is asserted.
 *
 * Run: npx tsx bench/key-binding-bench.ts
 */
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT, importJWK, type JWK } from 'jose';
import sodium from 'sodium-native';
import { audienceForm } from '../src/broker/oidc/token-checks.js';
import { verifyPinnedSignature } from '../src/broker/oidc/token-verifier.js';
import type { IssuerConfig } from '../src/broker/policy/compiled-policy.js';
import { compilePinnedKeys, type PinnedKeySet } from '../src/broker/policy/pinned-keys.js';
import { keyProofHeader } from '../src/client/key-binding.js';
import { newRecipientKeyPair } from '../src/client/sealed-box.js';
import { formatTable } from '../src/cli/format-table.js';
import {
  boundAudience,
  digestNamesKey,
  keyProof,
  parseKeyProofHeader,
  type ProvenRequest,
} from '../src/protocol/key-binding.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const ROUND_MS = 300;
const AUDIENCE = 'https://secrets.example.com';

async function perOperation(run: () => unknown | Promise<unknown>): Promise<number> {
  const rounds: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    let count = 0;
    const started = process.hrtime.bigint();
    const until = started + BigInt(ROUND_MS * 1e6);
    while (process.hrtime.bigint() < until) {
      await run();
      count += 1;
    }
    rounds.push(Number(process.hrtime.bigint() - started) / 1e3 / count);
  }
  rounds.sort((a, b) => a - b);
  return rounds[Math.floor(rounds.length / 2)] as number;
}

function brokerKeys(count: number): { publicKey: Buffer; secretKey: Buffer }[] {
  return Array.from({ length: count }, () => {
    const publicKey = Buffer.alloc(32);
    const secretKey = Buffer.alloc(32);
    sodium.crypto_box_keypair(publicKey, secretKey);
    return { publicKey, secretKey };
  });
}

/** The broker's proof check as RunOutputKeys does it: each held key, the matching one last (the worst case). */
function verifyWith(
  keys: { publicKey: Buffer; secretKey: Buffer }[],
  header: string,
  request: ProvenRequest,
) {
  const parsed = parseKeyProofHeader(header);
  if (parsed === undefined) throw new Error('bad header');
  const shared = Buffer.alloc(32);
  for (const key of keys) {
    sodium.crypto_scalarmult(shared, key.secretKey, parsed.jobKey);
    if (keyProof(shared, parsed.jobKey, key.publicKey, request).equals(parsed.proof)) return true;
  }
  return false;
}

async function pinnedCase(alg: 'RS256' | 'ES256'): Promise<() => Promise<void>> {
  const pair =
    alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...(pair.publicKey.export({ format: 'jwk' }) as JWK), kid: 'k1', alg };
  const set = compilePinnedKeys({ inline: { keys: [jwk] } }, '/tmp/policy.yaml');
  if ('problems' in set) throw new Error(set.problems.join('\n'));
  const issuer = {
    name: 'ghes',
    line: 1,
    url: 'https://ghes.example.com/_services/token',
    algorithms: [alg],
    maxTokenAgeSeconds: 600,
    replayKey: 'jti',
    audience: AUDIENCE,
    keyBinding: 'optional',
    pinnedKeys: set as PinnedKeySet,
  } satisfies IssuerConfig;
  const signer = await importJWK(pair.privateKey.export({ format: 'jwk' }) as JWK, alg);
  const token = await new SignJWT({ sub: 'x', aud: AUDIENCE })
    .setProtectedHeader({ alg, kid: 'k1' })
    .setIssuer(issuer.url)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(signer);
  const now = Math.floor(Date.now() / 1000);
  return () => verifyPinnedSignature(token, issuer, set as PinnedKeySet, 'k1', now);
}

async function main(): Promise<void> {
  const job = await newRecipientKeyPair();
  const aud = boundAudience(AUDIENCE, job.publicKey);
  const request: ProvenRequest = {
    method: 'POST',
    path: '/v1/list',
    token: 'x'.repeat(1200),
    body: Buffer.from('{}'),
  };
  const one = brokerKeys(1);
  const three = brokerKeys(3);
  const headerForOne = keyProofHeader(job, one[0]!.publicKey, request);
  const headerForLast = keyProofHeader(job, three[2]!.publicKey, request);
  const rows: [string, string][] = [
    [
      'exchange: bound audience check (audienceForm + digest compare)',
      (
        await perOperation(() => {
          const form = audienceForm(aud, AUDIENCE);
          if (form.kind !== 'bound' || !digestNamesKey(form.digest, AUDIENCE, job.publicKey))
            throw new Error('x');
        })
      ).toFixed(1),
    ],
    [
      'list/put: key proof verified, 1 held run-output key',
      (await perOperation(() => verifyWith(one, headerForOne, request))).toFixed(1),
    ],
    [
      'list/put: key proof verified, 3 held keys (match last)',
      (await perOperation(() => verifyWith(three, headerForLast, request))).toFixed(1),
    ],
    [
      'client: key proof header (X25519 + HMAC)',
      (await perOperation(() => keyProofHeader(job, one[0]!.publicKey, request))).toFixed(1),
    ],
    ['pinned RS256 signature (jose)', (await perOperation(await pinnedCase('RS256'))).toFixed(1)],
    ['pinned ES256 signature (jose)', (await perOperation(await pinnedCase('ES256'))).toFixed(1)],
  ];
  for (const line of formatTable([['operation', 'us per operation'], ...rows])) console.log(line);
}

await main();
