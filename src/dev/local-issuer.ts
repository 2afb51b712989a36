import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';

type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

/** Claims like a GitHub Actions ID token for a push to main of acme/demo; `overrides` replace them. */
export function localWorkloadClaims(overrides: Readonly<Record<string, string>>): Record<string, string> {
  return {
    sub: 'repo:acme/demo:ref:refs/heads/main',
    repository: 'acme/demo',
    repository_id: '100',
    repository_owner: 'acme',
    repository_owner_id: '10',
    ref: 'refs/heads/main',
    ref_type: 'branch',
    event_name: 'push',
    workflow_ref: 'acme/demo/.github/workflows/demo.yml@refs/heads/main',
    job_workflow_ref: 'acme/demo/.github/workflows/demo.yml@refs/heads/main',
    actor: 'octocat',
    run_id: '1',
    run_attempt: '1',
    runner_environment: 'self-hosted',
    ...overrides,
  };
}

/**
 * A local OIDC issuer for trying the action on one machine: discovery, JWKS (one RS256 key), and GitHub's ID
 * token request endpoint (GET ?audience=…, bearer request token) minting tokens with the configured claims.
 * Loopback only; its keys live in memory and die with it.
 */
export class LocalIssuer {
  readonly requestToken = randomBytes(16).toString('hex');
  private server: Server | undefined;
  private privateKey: SigningKey | undefined;
  private jwk: JWK | undefined;
  private issuerUrl = '';

  constructor(private readonly claims: Readonly<Record<string, string>>) {}

  get url(): string {
    return this.issuerUrl;
  }

  /** As GitHub sets ACTIONS_ID_TOKEN_REQUEST_URL: with a query, so clients append "&audience=…". */
  get tokenRequestUrl(): string {
    return `${this.issuerUrl}/token?api-version=2.0`;
  }

  async start(host: string, port: number): Promise<void> {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    this.privateKey = privateKey;
    this.jwk = {
      ...(await exportJWK(publicKey)),
      kid: randomBytes(8).toString('hex'),
      alg: 'RS256',
      use: 'sig',
    };
    this.server = createServer((request, response) => {
      void this.handle(request.url ?? '/', request.headers.authorization).then(({ status, body }) => {
        response
          .writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
          .end(JSON.stringify(body));
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(port, host, resolve);
    });
    const address = this.server.address() as AddressInfo;
    this.issuerUrl = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server?.close(() => resolve());
      this.server?.closeAllConnections();
    });
  }

  /** Mints a token for `audience`, as the token endpoint does. */
  async mint(audience: string): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ ...this.claims })
      .setProtectedHeader({ alg: 'RS256', kid: this.jwk?.kid as string, typ: 'JWT' })
      .setIssuer(this.issuerUrl)
      .setAudience(audience)
      .setIssuedAt(now)
      .setNotBefore(now - 5)
      .setExpirationTime(now + 300)
      .setJti(randomUUID())
      .sign(this.privateKey as SigningKey);
  }

  private async handle(
    path: string,
    authorization: string | undefined,
  ): Promise<{ status: number; body: unknown }> {
    const url = new URL(path, this.issuerUrl);
    switch (url.pathname) {
      case '/.well-known/openid-configuration':
        return {
          status: 200,
          body: {
            issuer: this.issuerUrl,
            jwks_uri: `${this.issuerUrl}/jwks`,
            subject_types_supported: ['public'],
            response_types_supported: ['id_token'],
            id_token_signing_alg_values_supported: ['RS256'],
            claims_supported: ['sub', 'aud', 'exp', 'iat', 'iss', 'jti', 'nbf', ...Object.keys(this.claims)],
          },
        };
      case '/jwks':
        return { status: 200, body: { keys: [this.jwk] } };
      case '/token': {
        if (authorization !== `Bearer ${this.requestToken}`)
          return { status: 401, body: { message: 'bad request token' } };
        const audience = url.searchParams.get('audience');
        if (audience === null || audience === '')
          return { status: 400, body: { message: 'audience is required' } };
        return { status: 200, body: { count: 1, value: await this.mint(audience) } };
      }
      default:
        return { status: 404, body: { message: 'not found' } };
    }
  }
}
