/**
 * An OIDC issuer on 127.0.0.1 whose discovery document or JWKS can misbehave: trickle one byte at a time,
 * flood, declare a huge Content-Length, answer with any status or headers. It records every response it
 * starts (body bytes handed to the socket, whether the client closed the connection first), so tests bound
 * the broker's work by counting what the server wrote instead of by wall-clock time.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import type { Claims } from './oidc-issuer.js';

export const DISCOVERY_PATH = '/.well-known/openid-configuration';
export const JWKS_PATH = '/jwks';
const KID = 'hostile-key-1';

export type Behaviour =
  /** The real document; `padTo` pads it with trailing whitespace (still valid JSON) to exactly that many bytes. */
  | { readonly kind: 'normal'; readonly contentType?: string; readonly padTo?: number }
  /** Headers at once, then one body byte every `intervalMs`, forever. */
  | { readonly kind: 'trickle'; readonly intervalMs?: number }
  /**
   * `totalBytes` of body written as fast as the socket takes them (respecting backpressure). `declareLength`
   * sends a Content-Length; `end: false` keeps the response open after the last byte (a body that never ends).
   */
  | {
      readonly kind: 'flood';
      readonly totalBytes: number;
      readonly declareLength?: boolean;
      readonly end?: boolean;
    }
  /** Headers with this Content-Length and no body byte, the connection left open. */
  | { readonly kind: 'declare-only'; readonly contentLength: number }
  /** Any status, headers and (small) body. */
  | {
      readonly kind: 'custom';
      readonly status: number;
      readonly headers?: Record<string, string>;
      readonly body?: string;
    };

export interface ResponseRecord {
  readonly path: string;
  /** Body bytes handed to the socket (never more than the kernel took plus one write's worth). */
  bodyBytes: number;
  /** The connection closed before the server ended the response: the client gave up. */
  closedByClient: boolean;
  /** The response (or the connection) is over. */
  closed: boolean;
}

const FLOOD_CHUNK = Buffer.alloc(64 * 1024, ' ');

export class HostileIssuer {
  discovery: Behaviour = { kind: 'normal' };
  jwks: Behaviour = { kind: 'normal' };
  readonly responses: ResponseRecord[] = [];
  private server: Server | undefined;
  private privateKey: CryptoKey | undefined;
  private publicJwk: JWK | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Called after every trickled byte, so a test can wait on "N more bytes" instead of on a clock. */
  onByte: () => void = () => undefined;

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async start(): Promise<this> {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    this.privateKey = privateKey;
    this.publicJwk = { ...(await exportJWK(publicKey)), kid: KID, alg: 'RS256', use: 'sig' };
    this.server = createServer((request, response) => this.handle(request, response));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers.clear();
    await new Promise<void>((resolve) => {
      this.server?.close(() => resolve());
      this.server?.closeAllConnections();
    });
  }

  /** How many requests reached the issuer (all paths). */
  get requestCount(): number {
    return this.responses.length;
  }

  responsesFor(path: string): ResponseRecord[] {
    return this.responses.filter((record) => record.path === path);
  }

  /** A token signed by the key this issuer publishes (when its JWKS behaves), valid for five minutes. */
  async token(claims: Claims): Promise<string> {
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: KID, typ: 'JWT' })
      .setExpirationTime('5m')
      .sign(this.privateKey!);
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const path = request.url ?? '';
    const record: ResponseRecord = { path, bodyBytes: 0, closedByClient: false, closed: false };
    this.responses.push(record);
    response.on('close', () => {
      record.closed = true;
      record.closedByClient = !response.writableFinished;
    });
    const behaviour = path === DISCOVERY_PATH ? this.discovery : path === JWKS_PATH ? this.jwks : undefined;
    if (behaviour === undefined) {
      response.writeHead(404).end();
      return;
    }
    const document =
      path === DISCOVERY_PATH
        ? { issuer: this.url, jwks_uri: `${this.url}${JWKS_PATH}` }
        : { keys: [this.publicJwk] };
    this.respond(behaviour, document, response, record);
  }

  private respond(
    behaviour: Behaviour,
    document: unknown,
    response: ServerResponse,
    record: ResponseRecord,
  ): void {
    switch (behaviour.kind) {
      case 'normal': {
        const json = JSON.stringify(document);
        const body = json.padEnd(behaviour.padTo ?? json.length, ' ');
        record.bodyBytes = Buffer.byteLength(body);
        response.writeHead(200, { 'content-type': behaviour.contentType ?? 'application/json' }).end(body);
        return;
      }
      case 'custom':
        record.bodyBytes = Buffer.byteLength(behaviour.body ?? '');
        response.writeHead(behaviour.status, behaviour.headers ?? {}).end(behaviour.body ?? '');
        return;
      case 'declare-only':
        response.writeHead(200, {
          'content-type': 'application/json',
          'content-length': String(behaviour.contentLength),
        });
        response.flushHeaders();
        return;
      case 'trickle': {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.flushHeaders();
        const timer = setInterval(() => {
          if (response.destroyed) return;
          response.write(record.bodyBytes === 0 ? '{' : ' ');
          record.bodyBytes += 1;
          this.onByte();
        }, behaviour.intervalMs ?? 50);
        this.timers.add(timer);
        response.on('close', () => {
          clearInterval(timer);
          this.timers.delete(timer);
        });
        return;
      }
      case 'flood':
        this.flood(behaviour, response, record);
        return;
    }
  }

  private flood(
    behaviour: Extract<Behaviour, { kind: 'flood' }>,
    response: ServerResponse,
    record: ResponseRecord,
  ): void {
    response.writeHead(200, {
      'content-type': 'application/json',
      ...(behaviour.declareLength === true ? { 'content-length': String(behaviour.totalBytes) } : {}),
    });
    const pump = (): void => {
      while (!response.destroyed && record.bodyBytes < behaviour.totalBytes) {
        const piece = FLOOD_CHUNK.subarray(
          0,
          Math.min(FLOOD_CHUNK.length, behaviour.totalBytes - record.bodyBytes),
        );
        record.bodyBytes += piece.length;
        if (!response.write(piece)) {
          response.once('drain', pump);
          return;
        }
      }
      if (!response.destroyed && behaviour.end !== false) response.end();
    };
    pump();
  }
}
