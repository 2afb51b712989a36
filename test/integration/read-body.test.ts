/** readBodyText against real Node requests on 127.0.0.1: what a body that never completes turns into. */
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerError } from '../../src/broker/errors.js';
import { readBodyText } from '../../src/broker/http/read-body.js';

let server: Server | undefined;

afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

/** Starts a server whose only job is to read one body; resolves with how that read ended. */
async function readOneBody(send: (port: number) => void): Promise<PromiseSettledResult<string>> {
  let settle: (result: PromiseSettledResult<string>) => void = () => undefined;
  const outcome = new Promise<PromiseSettledResult<string>>((resolve) => (settle = resolve));
  server = createServer((request, response) => {
    void Promise.allSettled([
      readBodyText(request, 1024, () => new BrokerError('payload_too_large', 'too large')),
    ]).then(([result]) => {
      settle(result!);
      response.end();
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  send((server.address() as AddressInfo).port);
  return outcome;
}

describe('readBodyText', () => {
  it('a client gone before the declared length arrived is an error, never the part it sent', async () => {
    // What did arrive is valid JSON on its own: taking it as the body would run a request nobody finished.
    const result = await readOneBody((port) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(
          'POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"complete":"json"}',
        );
        setImmediate(() => socket.destroy());
      });
    });
    expect(result.status).toBe('rejected');
    const error = (result as PromiseRejectedResult).reason as BrokerError;
    expect(error).toBeInstanceOf(BrokerError);
    expect(error.code).toBe('invalid_request');
    expect(error.message).toMatch(/^the request body could not be read: /);
  });

  it('reads a whole body', async () => {
    const result = await readOneBody((port) => {
      void fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: '{"a":"ü"}' });
    });
    expect(result).toEqual({ status: 'fulfilled', value: '{"a":"ü"}' });
  });
});
