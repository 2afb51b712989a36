/** boundedGetJson (and so boundedRequest) against real loopback servers: every way a response can be refused, and the deadline. */
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import {
  createServer as createTcpServer,
  type AddressInfo,
  type Server as TcpServer,
  type Socket,
} from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  boundedGetJson,
  BoundedRequestError,
  type BoundedGetJsonOptions,
} from '../../src/protocol/bounded-request.js';
import { freePort } from '../helpers/free-port.js';

const OPTIONS: BoundedGetJsonOptions = {
  what: 'the document',
  timeoutMs: 10 * 60_000,
  maxBytes: 1024,
};

const servers: (Server | TcpServer)[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const server of servers.splice(0)) {
    await new Promise((resolve) => {
      server.close(resolve);
      if ('closeAllConnections' in server) server.closeAllConnections();
    });
  }
});

async function serve(handler: RequestListener): Promise<string> {
  const server = createHttpServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/doc`;
}

async function failure(
  url: string,
  options: Partial<BoundedGetJsonOptions> = {},
): Promise<BoundedRequestError> {
  const error = await boundedGetJson(url, { ...OPTIONS, ...options }).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(BoundedRequestError);
  return error as BoundedRequestError;
}

describe('boundedGetJson', () => {
  it('returns the body of a 200 JSON answer', async () => {
    const url = await serve((_request, response) =>
      response.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end('{"a":1}'),
    );
    expect(await boundedGetJson(url, OPTIONS)).toEqual({ a: 1 });
  });

  it('takes any JSON media type, and refuses a body that is not a JSON object', async () => {
    let body = '{"keys":[]}';
    const url = await serve((_request, response) =>
      response.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(body),
    );
    expect(await boundedGetJson(url, OPTIONS)).toEqual({ keys: [] });
    for (body of ['[1,2]', 'not json', '"text"']) {
      const error = await failure(url);
      expect(error.reason).toBe('not_json');
      expect(error.message).toBe(`the document at ${url} is not a JSON object`);
    }
  });

  it('sends the Accept header and no Accept-Encoding', async () => {
    let headers: Record<string, unknown> = {};
    const url = await serve((request, response) => {
      headers = request.headers;
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    await boundedGetJson(url, OPTIONS);
    expect(headers.accept).toBe('application/json');
    expect(headers['accept-encoding']).toBeUndefined();
  });

  it('names the status of an error answer and never quotes its body', async () => {
    const url = await serve((_request, response) => response.writeHead(500).end('secret-ish body'));
    const error = await failure(url);
    expect(error.reason).toBe('status');
    expect(error.status).toBe(500);
    expect(error.message).toBe(`the document at ${url} answered HTTP 500`);
  });

  it('refuses a redirect and shows where it pointed, escaped', async () => {
    const url = await serve((_request, response) =>
      // \x9b is a C1 control: a terminal reads it as the start of an escape sequence.
      response.writeHead(301, { location: 'https://elsewhere.example/\x9b31mdoc' }).end(),
    );
    const error = await failure(url);
    expect(error.message).toBe(
      `the document at ${url} answered HTTP 301, a redirect to "https://elsewhere.example/\\x9b31mdoc"; redirects are not followed`,
    );
  });

  it('refuses a missing content type', async () => {
    const url = await serve((_request, response) => response.writeHead(200).end('{}'));
    const error = await failure(url);
    expect(error.reason).toBe('content_type');
    expect(error.message).toBe(
      `the document at ${url} has content-type none; expected JSON (application/json or application/*+json)`,
    );
  });

  it('refuses a compressed body', async () => {
    const url = await serve((_request, response) =>
      response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end('x'),
    );
    const error = await failure(url);
    expect(error.reason).toBe('encoding');
    expect(error.message).toContain('content-encoding "gzip"');
  });

  it('reports a body cut off before its Content-Length', async () => {
    const url = await serve((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      response.write('{"partial":', () => response.destroy());
    });
    const error = await failure(url);
    expect(error.reason).toBe('network');
    expect(error.message).not.toContain('partial');
  });

  it('names the network error when nothing listens', async () => {
    const url = `http://127.0.0.1:${await freePort()}/doc`;
    const error = await failure(url);
    expect(error.message).toBe(`fetching the document at ${url} failed: ECONNREFUSED`);
  });

  it('refuses a URL that is not http(s)', async () => {
    expect((await failure('file:///etc/passwd')).message).toBe(
      'the document at file:///etc/passwd is not an http(s) URL',
    );
  });

  it('applies the deadline to a server that accepts the connection and never answers', async () => {
    // Reads (so it sees the client's close) but never writes a byte.
    const server = createTcpServer((socket) => {
      sockets.push(socket);
      socket.resume();
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/doc`;
    const closed = new Promise<void>((resolve) =>
      server.on('connection', (socket) => socket.on('close', () => resolve())),
    );
    const error = await failure(url, { timeoutMs: 200 });
    expect(error.reason).toBe('deadline');
    expect(error.message).toBe(
      `the document at ${url} did not arrive within the 200 ms deadline, which covers connecting, the response headers and the whole body`,
    );
    await closed;
  });

  it('accepts a body of exactly the limit and refuses one byte more', async () => {
    let size = 1024;
    const url = await serve((_request, response) =>
      // A JSON object of exactly `size` bytes.
      response.writeHead(200, { 'content-type': 'application/json' }).end(`{"a":"${'x'.repeat(size - 8)}"}`),
    );
    expect(((await boundedGetJson(url, OPTIONS)).a as string).length).toBe(1024 - 8);
    size = 1025;
    const error = await failure(url);
    expect(error.reason).toBe('too_large');
  });
});
