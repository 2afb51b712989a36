/**
 * GitHub's ID token request endpoint (ACTIONS_ID_TOKEN_REQUEST_URL), emulated on loopback: it checks the
 * request token and mints a GitHub-shaped token through the test issuer for the requested audience.
 */
import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { githubClaims, type Claims, type TestIssuer } from './oidc-issuer.js';

export class TokenEndpoint {
  readonly requestToken = randomBytes(16).toString('hex');
  readonly audiences: string[] = [];
  claims: Claims = {};
  private server: Server | undefined;

  constructor(private readonly issuer: TestIssuer) {}

  async start(): Promise<this> {
    this.server = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      if (request.headers.authorization !== `Bearer ${this.requestToken}`) {
        response
          .writeHead(401, { 'content-type': 'application/json' })
          .end('{"message":"bad request token"}');
        return;
      }
      const audience = url.searchParams.get('audience') ?? 'https://github.com/acme';
      this.audiences.push(audience);
      void this.issuer.token(githubClaims(this.issuer.url, audience, this.claims)).then((value) => {
        response
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ count: 1, value }));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  /** As the runner sets it: with a query already, so the client appends "&audience=…". */
  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/_apis/distributedtask/idtoken?api-version=2.0`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server?.close(() => resolve());
      this.server?.closeAllConnections();
    });
  }
}
