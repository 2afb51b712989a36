/**
 * The broker's services as `startBroker` creates them (`createServices`), on an in-memory SQLite store, with the
 * issuers' discovery documents and JWKS served in-process through the issuer-keys `getJson` option: driven with
 * `app.request()` or direct calls, no socket involved.
 */
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { BOOTSTRAP_TOKEN_VARIABLE } from '../../src/broker/config.js';
import type { Clock } from '../../src/broker/exchange/clock.js';
import { createLogger } from '../../src/broker/logger.js';
import { DEFAULT_ISSUER_KEYS_OPTIONS } from '../../src/broker/oidc/issuer-keys.js';
import { parsePolicy } from '../../src/broker/policy/load-policy.js';
import { PolicyHolder } from '../../src/broker/policy/policy-holder.js';
import { createServices, type Services } from '../../src/broker/services.js';
import { openSqliteStores } from '../../src/broker/sqlite/open-sqlite-stores.js';
import type { Stores } from '../../src/broker/store/interfaces.js';
import { KeyRing } from '../../src/broker/store/key-ring.js';
import { KeyRotation } from '../../src/broker/store/key-rotation.js';
import { masterKeyFromBytes } from '../../src/broker/store/master-key.js';
import { SecretVault } from '../../src/broker/store/secret-vault.js';
import { BoundedRequestError } from '../../src/protocol/bounded-request.js';
import { TEST_AUDIENCE, testPolicy } from './broker-harness.js';
import { githubClaims, type Claims } from './oidc-issuer.js';

export const IN_MEMORY_GITHUB = 'https://github-issuer.test.example';
export const IN_MEMORY_GITLAB = 'https://gitlab-issuer.test.example';
const KID = 'in-memory-key';

export interface InMemoryBroker {
  readonly services: Services;
  readonly policy: PolicyHolder;
  readonly stores: Stores;
  /** The owner token the services take from their configuration, as from SECRETS_BROKER_BOOTSTRAP_TOKEN. */
  readonly ownerToken: string;
  /** Every log line the services wrote. */
  readonly logs: string[];
  /** A GitHub-shaped token for this broker's audience, signed with the key the in-process JWKS serves. */
  githubToken(overrides?: Claims): Promise<string>;
  close(): Promise<void>;
}

/**
 * `policy` maps the test policy's text (as the harness writes it for these issuer URLs) to the one to serve;
 * `openStores` gives another store than the in-memory SQLite one; `options.clock` the time conditions are decided by.
 */
export async function startInMemoryBroker(
  policy: (text: string) => string = (text) => text,
  openStores: () => Stores = () => openSqliteStores(':memory:'),
  options: { readonly clock?: Clock } = {},
): Promise<InMemoryBroker> {
  const issuerKeys = await generateKeyPair('RS256');
  const publicJwk: JWK = { ...(await exportJWK(issuerKeys.publicKey)), kid: KID, alg: 'RS256', use: 'sig' };
  const getJson = (url: string): Promise<Record<string, unknown>> => {
    const { origin, pathname } = new URL(url);
    if (pathname === '/.well-known/openid-configuration')
      return Promise.resolve({ issuer: origin, jwks_uri: `${origin}/jwks` });
    if (pathname === '/jwks') return Promise.resolve({ keys: [publicJwk] });
    return Promise.reject(new BoundedRequestError('status', `no document at ${url}`));
  };
  const logs: string[] = [];
  const logger = createLogger('debug', { write: (line: string) => void logs.push(line) });
  const stores = openStores();
  const masterKey = masterKeyFromBytes(randomBytes(32));
  const keyRing = new KeyRing(masterKey, [], await KeyRotation.storedVersion(stores.meta));
  const ownerToken = `in-memory-owner-${randomBytes(24).toString('hex')}`;
  const holder = new PolicyHolder(
    parsePolicy(policy(testPolicy(IN_MEMORY_GITHUB, IN_MEMORY_GITLAB)), 'policy.yaml'),
  );
  const services = await createServices(
    { adminToken: ownerToken, adminTokenVariable: BOOTSTRAP_TOKEN_VARIABLE },
    { logger, issuerKeys: { ...DEFAULT_ISSUER_KEYS_OPTIONS, getJson }, ...options },
    holder,
    stores,
    { current: masterKey, old: undefined, keyRing, vault: new SecretVault(stores.secrets, keyRing) },
  );
  return {
    services,
    policy: holder,
    stores,
    ownerToken,
    logs,
    githubToken: (overrides = {}) =>
      new SignJWT(githubClaims(IN_MEMORY_GITHUB, TEST_AUDIENCE, overrides))
        .setProtectedHeader({ alg: 'RS256', kid: KID, typ: 'JWT' })
        .setExpirationTime('5m')
        .sign(issuerKeys.privateKey),
    close: async () => {
      services.verifier.stop();
      await services.sealer.close();
      await stores.close();
    },
  };
}
