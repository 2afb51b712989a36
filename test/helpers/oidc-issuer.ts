/**
 * A real OIDC issuer for tests: oauth2-mock-server's issuer and service (discovery, JWKS, RS256 signing)
 * behind our own loopback HTTP server, so tests can count requests and take the issuer down.
 */
import { createServer, type Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { exportSPKI, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { OAuth2Issuer, OAuth2Service } from 'oauth2-mock-server';

export type Claims = Record<string, unknown>;

export class TestIssuer {
  readonly issuer = new OAuth2Issuer();
  readonly requests: string[] = [];
  /** While true, every request is answered 503 (an outage). */
  down = false;
  private server: Server | undefined;
  private kids: string[] = [];

  get url(): string {
    return this.issuer.url as string;
  }

  async start(): Promise<this> {
    await this.addKey();
    const service = new OAuth2Service(this.issuer);
    const handler = service.requestHandler;
    this.server = createServer((request, response) => {
      this.requests.push(request.url ?? '');
      if (this.down) {
        response.writeHead(503).end();
        return;
      }
      handler(request, response);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.issuer.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server?.close(() => resolve());
      this.server?.closeAllConnections();
    });
  }

  /** Adds a signing key (a key rotation); new tokens are signed with it. */
  async addKey(algorithm: 'RS256' | 'ES256' = 'RS256'): Promise<string> {
    const kid = `key-${this.kids.length + 1}`;
    await this.issuer.keys.generate(algorithm, { kid });
    this.kids.push(kid);
    return kid;
  }

  get currentKid(): string {
    return this.kids[this.kids.length - 1] as string;
  }

  /** Signs a token with the issuer's current key; `claims` replace the defaults, undefined values delete. */
  async token(
    claims: Claims,
    options: { expiresIn?: number; header?: Record<string, unknown> } = {},
  ): Promise<string> {
    return this.issuer.buildToken({
      kid: this.currentKid,
      expiresIn: options.expiresIn ?? 300,
      scopesOrTransform: (header, payload) => {
        Object.assign(header, options.header ?? {});
        for (const [key, value] of Object.entries(claims)) {
          if (value === undefined) Reflect.deleteProperty(payload, key);
          else payload[key] = value;
        }
      },
    });
  }

  /** The public half of the current key as PEM (what an HS256 key-confusion attack would use as the secret). */
  async publicKeyPem(): Promise<string> {
    const jwk = this.issuer.keys.get(this.currentKid) as JWK;
    const { kty, n, e } = jwk;
    return exportSPKI(
      (await importJWK({ kty, n, e, alg: 'RS256' }, 'RS256', { extractable: true })) as Parameters<
        typeof exportSPKI
      >[0],
    );
  }
}

/** A token signed by a key the issuer never published, under a key id it does not have. */
export async function tokenFromForeignKey(claims: Claims, kid = 'not-published'): Promise<string> {
  const { privateKey } = await generateKeyPair('RS256');
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' }).sign(privateKey);
}

export function unsignedToken(claims: Claims): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`;
}

export async function hs256Token(claims: Claims, secret: string, kid: string): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', kid, typ: 'JWT' })
    .sign(new TextEncoder().encode(secret));
}

const now = (): number => Math.floor(Date.now() / 1000);

/** Claims shaped like a GitHub Actions ID token (every claim a string). */
export function githubClaims(issuerUrl: string, audience: string, overrides: Claims = {}): Claims {
  const iat = now();
  return {
    jti: randomUUID(),
    sub: 'repo:acme/api:environment:production',
    aud: audience,
    ref: 'refs/heads/main',
    sha: 'd6a8c5f0a2b4c1e3f5a7b9c0d2e4f6a8b0c2d4e6',
    repository: 'acme/api',
    repository_owner: 'acme',
    repository_owner_id: '1234',
    repository_id: '98765',
    repository_visibility: 'private',
    run_id: '1234567890',
    run_number: '42',
    run_attempt: '1',
    actor: 'octocat',
    actor_id: '583231',
    workflow: 'deploy',
    workflow_ref: 'acme/api/.github/workflows/deploy.yml@refs/heads/main',
    workflow_sha: 'd6a8c5f0a2b4c1e3f5a7b9c0d2e4f6a8b0c2d4e6',
    job_workflow_ref: 'acme/api/.github/workflows/deploy.yml@refs/heads/main',
    event_name: 'push',
    ref_type: 'branch',
    ref_protected: 'true',
    environment: 'production',
    runner_environment: 'github-hosted',
    iss: issuerUrl,
    iat,
    nbf: iat - 5,
    ...overrides,
  };
}

/** Claims shaped like a GitLab CI id_tokens token (every claim a string). */
export function gitlabClaims(issuerUrl: string, audience: string, overrides: Claims = {}): Claims {
  const iat = now();
  return {
    jti: randomUUID(),
    sub: 'project_path:acme/web:ref_type:branch:ref:main',
    aud: audience,
    namespace_id: '77',
    namespace_path: 'acme',
    project_id: '4242',
    project_path: 'acme/web',
    user_id: '501',
    user_login: 'alice',
    user_email: 'alice@example.com',
    pipeline_id: '9001',
    pipeline_source: 'push',
    job_id: '120034',
    ref: 'main',
    ref_type: 'branch',
    ref_path: 'refs/heads/main',
    ref_protected: 'true',
    environment: 'production',
    environment_protected: 'true',
    deployment_tier: 'production',
    runner_id: '12',
    runner_environment: 'gitlab-hosted',
    ci_config_ref_uri: 'gitlab.example.com/acme/web//.gitlab-ci.yml@refs/heads/main',
    iss: issuerUrl,
    iat,
    nbf: iat - 5,
    ...overrides,
  };
}
