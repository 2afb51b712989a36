/**
 * The clients' side of cross-job outputs, against a fake broker: the wire shapes checked strictly, the sealed box
 * libsodium opens, the `put-outputs` lines and `--output` flags refused clearly (by name, never by value), values
 * read from the environment only, and the broker's answer checked against what was put.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import sodium from 'sodium-native';
import { describe, expect, it } from 'vitest';
import { parseInputs } from '../../src/action/inputs.js';
import { ResponseIntegrityError } from '../../src/client/errors.js';
import { putOutputs } from '../../src/client/output-client.js';
import { parseOutputFlags, parseOutputInputLines, readOutputValues } from '../../src/client/output-lines.js';
import { newRecipientKeyPair, openSealedBox, sealBox } from '../../src/client/sealed-box.js';
import { InputError } from '../../src/client/secret-lines.js';
import { hasUnprintable } from '../../src/protocol/printable.js';
import { parseOutputsResponse, parseOutputTtl, parseRunOutputKey } from '../../src/protocol/wire-shapes.js';
import { withFakeServer } from '../helpers/fake-server.js';
import { fetchInProcess } from '../helpers/fetch-in-process.js';

interface RunKey {
  readonly publicKey: Buffer;
  readonly secretKey: Buffer;
  readonly id: string;
}

function newRunKey(): RunKey {
  const publicKey = Buffer.alloc(sodium.crypto_box_PUBLICKEYBYTES);
  const secretKey = Buffer.alloc(sodium.crypto_box_SECRETKEYBYTES);
  sodium.crypto_box_keypair(publicKey, secretKey);
  return { publicKey, secretKey, id: 'k1' };
}

function sodiumOpen(sealed: Buffer, key: RunKey): Buffer | undefined {
  if (sealed.length < sodium.crypto_box_SEALBYTES) return undefined;
  const message = Buffer.alloc(sealed.length - sodium.crypto_box_SEALBYTES);
  return sodium.crypto_box_seal_open(message, sealed, key.publicKey, key.secretKey) ? message : undefined;
}

interface Put {
  readonly authorization: string | undefined;
  readonly body: { outputs: { name: string; sealed: string; ttl?: string }[] };
  /** Each box opened with the run-output key. */
  readonly opened: unknown[];
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const json = (response: ServerResponse, status: number, body: unknown): void => {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
};

interface FakeBrokerOptions {
  readonly info?: Record<string, unknown>;
  /** The 200 answer to a put; by default one entry per output put. */
  readonly answer?: (put: Put) => unknown;
  /** /v1/info answers 503 this many times first. */
  readonly infoFailures?: number;
}

/** A broker with one run-output key: /v1/info publishes it, POST /v1/outputs opens and records every box. */
function fakeBroker(key: RunKey, puts: Put[], options: FakeBrokerOptions = {}) {
  let infoFailures = options.infoFailures ?? 0;
  return (request: IncomingMessage, response: ServerResponse): void => {
    if (request.method === 'GET' && request.url === '/v1/info') {
      if (infoFailures > 0) {
        infoFailures -= 1;
        json(response, 503, { title: 'x', status: 503, code: 'unavailable', detail: 'starting' });
        return;
      }
      json(
        response,
        200,
        options.info ?? {
          service: 'secrets-broker',
          audience: 'aud',
          run_output_key: key.publicKey.toString('base64'),
          run_output_key_id: key.id,
        },
      );
      return;
    }
    if (request.method === 'POST' && request.url === '/v1/outputs') {
      void readBody(request).then((text) => {
        const body = JSON.parse(text) as Put['body'];
        const opened = body.outputs.map((output) => {
          const message = sodiumOpen(Buffer.from(output.sealed, 'base64'), key);
          return message === undefined ? undefined : (JSON.parse(message.toString('utf8')) as unknown);
        });
        const put = { authorization: request.headers.authorization, body, opened };
        puts.push(put);
        json(
          response,
          200,
          options.answer?.(put) ?? {
            request_id: 'req-put',
            outputs: body.outputs.map((output) => ({
              name: output.name,
              expires_at: '2030-01-01T06:00:00.000Z',
            })),
          },
        );
      });
      return;
    }
    json(response, 404, { title: 'x', status: 404, code: 'not_found', detail: 'no such route' });
  };
}

function putTo(
  url: string,
  outputs: { name: string; value: string }[],
  extra: { ttl?: string; retries?: number } = {},
) {
  let token = 0;
  return putOutputs({
    brokerUrl: url,
    outputs,
    getToken: () => Promise.resolve(`token-${(token += 1)}`),
    timeoutMs: 5_000,
    retries: extra.retries ?? 0,
    sleep: () => Promise.resolve(),
    ...(extra.ttl === undefined ? {} : { ttl: extra.ttl }),
  });
}

describe('the outputs wire shapes', () => {
  it('takes exactly {request_id, outputs: [{name, expires_at}]}', () => {
    const good = { request_id: 'r', outputs: [{ name: 'db/url', expires_at: '2030-01-01T00:00:00Z' }] };
    expect(parseOutputsResponse(good)).toEqual(good);
    expect(parseOutputsResponse({ ...good, extra: 1 })).toBeUndefined();
    expect(
      parseOutputsResponse({ request_id: 'r', outputs: [{ name: 'a', expires_at: 'soon' }] }),
    ).toBeUndefined();
    expect(
      parseOutputsResponse({
        request_id: 'r',
        outputs: [{ name: 'a', expires_at: '2030-01-01T00:00:00Z', value: 'x' }],
      }),
    ).toBeUndefined();
    expect(parseOutputsResponse({ outputs: [] })).toBeUndefined();
  });

  it('takes a run-output key of exactly 32 bytes in canonical base64 with a short id', () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    expect(parseRunOutputKey({ run_output_key: key, run_output_key_id: 'ab12' })).toEqual({
      run_output_key: key,
      run_output_key_id: 'ab12',
    });
    expect(parseRunOutputKey({ run_output_key: key })).toBeUndefined();
    expect(
      parseRunOutputKey({ run_output_key: Buffer.alloc(31).toString('base64'), run_output_key_id: 'a' }),
    ).toBeUndefined();
    expect(
      parseRunOutputKey({ run_output_key: key.replace(/=$/, ''), run_output_key_id: 'a' }),
    ).toBeUndefined();
    expect(parseRunOutputKey({ run_output_key: key, run_output_key_id: 'a b' })).toBeUndefined();
    expect(parseRunOutputKey({ run_output_key: key, run_output_key_id: 'x'.repeat(65) })).toBeUndefined();
  });

  it('reads TTLs of 1m to 24h, with units, and says why others are refused', () => {
    expect(parseOutputTtl('90s')).toBe(90);
    expect(parseOutputTtl('10m')).toBe(600);
    expect(parseOutputTtl('6h')).toBe(21_600);
    expect(parseOutputTtl('1d')).toBe(86_400);
    expect(parseOutputTtl('1h30m')).toBe(5_400);
    for (const bad of ['', '60', '1x', 'h', '1m1h', '6 h'])
      expect(parseOutputTtl(bad)).toMatch(/not a duration/);
    expect(parseOutputTtl('59s')).toMatch(/at least 60 s/);
    expect(parseOutputTtl('2d')).toMatch(/at most 86400 s/);
  });
});

describe('the client seals as libsodium does', () => {
  it('seals boxes libsodium opens, and that open with our own open', async () => {
    const key = newRunKey();
    for (const size of [0, 1, 100, 65_536]) {
      const message = Buffer.alloc(size, 0x61);
      const box = Buffer.from(await sealBox(message, key.publicKey));
      expect(box.length).toBe(size + sodium.crypto_box_SEALBYTES);
      expect(sodiumOpen(box, key)?.equals(message)).toBe(true);
    }
    const ours = await newRecipientKeyPair();
    const box = await sealBox(Buffer.from('hello'), ours.publicKey);
    expect(Buffer.from(openSealedBox(box, ours.publicKey, ours.privateKey)).toString()).toBe('hello');
  });

  it('uses a fresh ephemeral key for every box, and refuses a small-order or short key', async () => {
    const key = newRunKey();
    const first = Buffer.from(await sealBox(Buffer.from('same'), key.publicKey));
    const second = Buffer.from(await sealBox(Buffer.from('same'), key.publicKey));
    expect(first.subarray(0, 32).equals(second.subarray(0, 32))).toBe(false);
    await expect(sealBox(Buffer.from('x'), new Uint8Array(32))).rejects.toThrow(/not a usable X25519/);
    await expect(sealBox(Buffer.from('x'), new Uint8Array(31))).rejects.toThrow(/32 bytes/);
  });
});

describe('put-outputs lines and --output flags', () => {
  it('reads NAME and NAME=ENV_VAR, skipping blank lines and comments', () => {
    expect(parseOutputInputLines('DB_URL\n\n# note\n  db/password = PW \n')).toEqual([
      { where: 'put-outputs line 1', name: 'DB_URL', envVar: 'DB_URL' },
      { where: 'put-outputs line 4', name: 'db/password', envVar: 'PW' },
    ]);
    expect(parseOutputInputLines('')).toEqual([]);
    expect(parseOutputFlags(['A', 'b=B'])).toEqual([
      { where: '--output #1', name: 'A', envVar: 'A' },
      { where: '--output #2', name: 'b', envVar: 'B' },
    ]);
  });

  it('names every bad line at once, with how to fix it', () => {
    let message = '';
    try {
      parseOutputInputLines(
        ['db/url', 'run/TOKEN', 'a*b=X', 'OK=1X', 'OK2=', 'DUP', 'DUP=OTHER', 'bad\u001b[31m'].join('\n'),
      );
    } catch (error) {
      expect(error).toBeInstanceOf(InputError);
      message = (error as Error).message;
    }
    const lines = message.split('\n');
    expect(lines[0]).toBe(
      'put-outputs line 1 ("db/url"): NAME alone reads the variable of that name, and "db/url" cannot be a variable name: write db/url=ENV_VAR',
    );
    expect(lines[1]).toBe(
      'put-outputs line 2 ("run/TOKEN"): write the name without "run/": the output TOKEN is read back as run/TOKEN',
    );
    expect(lines[2]).toMatch(
      /^put-outputs line 3 \("a\*b=X"\): the segment "a\*b" has a character .* secret-name rules\)$/,
    );
    expect(lines[3]).toBe(
      'put-outputs line 4 ("OK=1X"): "1X" is not a variable name (letters, digits and "_", not starting with a digit)',
    );
    expect(lines[4]).toMatch(/^put-outputs line 5 \("OK2="\): "" is not a variable name/);
    expect(lines[5]).toBe(
      'put-outputs line 7: the output "DUP" is already put by put-outputs line 6; put each name once',
    );
    expect(lines[6]).toMatch(/^put-outputs line 8/);
    expect(lines).toHaveLength(7);
    expect(hasUnprintable(message.replaceAll('\n', ''))).toBe(false);
  });

  it('refuses more than 20 outputs and no --output at all', () => {
    const many = Array.from({ length: 21 }, (_, index) => `O${index}`).join('\n');
    expect(() => parseOutputInputLines(many)).toThrow('21 outputs are named; one put takes at most 20');
    expect(() => parseOutputFlags([])).toThrow(/no --output given/);
  });

  it('reads values from the environment, naming every unset, empty or too large variable and no value', () => {
    const lines = parseOutputInputLines('A\nB=BEE\nC\nD');
    const secret = 'v'.repeat(65_537);
    let message = '';
    try {
      readOutputValues(lines, { A: 'a-value', BEE: '', D: secret }, 'HOW TO SET');
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message.split('\n')).toEqual([
      'put-outputs line 2: the output "B" reads the variable BEE, which is empty; an output needs a value',
      'put-outputs line 3: the output "C" reads the variable C, which is not set (HOW TO SET)',
      'put-outputs line 4: the output "D" reads the variable D, which holds 65537 bytes; an output holds at most 65536',
    ]);
    expect(message).not.toContain('a-value');
    expect(readOutputValues(lines.slice(0, 1), { A: 'a-value' }, '')).toEqual([
      { name: 'A', value: 'a-value' },
    ]);
  });
});

describe('putOutputs', () => {
  it('seals each {name, value} to the run-output key and sends it with a token, the ttl alongside', async () => {
    const key = newRunKey();
    const puts: Put[] = [];
    const result = await withFakeServer(fakeBroker(key, puts), (url) =>
      putTo(
        url,
        [
          { name: 'db/url', value: 'postgres://u:p@h/db' },
          { name: 'TOKEN', value: 'line one\nline two' },
        ],
        { ttl: '2h' },
      ),
    );
    expect(result).toEqual({
      requestId: 'req-put',
      keyId: 'k1',
      outputs: [
        { name: 'db/url', expires_at: '2030-01-01T06:00:00.000Z' },
        { name: 'TOKEN', expires_at: '2030-01-01T06:00:00.000Z' },
      ],
    });
    expect(puts).toHaveLength(1);
    const [put] = puts as [Put];
    expect(put.authorization).toBe('Bearer token-1');
    expect(put.body.outputs.map((output) => Object.keys(output).sort())).toEqual([
      ['name', 'sealed', 'ttl'],
      ['name', 'sealed', 'ttl'],
    ]);
    expect(put.body.outputs.map((output) => [output.name, output.ttl])).toEqual([
      ['db/url', '2h'],
      ['TOKEN', '2h'],
    ]);
    expect(put.opened).toEqual([
      { name: 'db/url', value: 'postgres://u:p@h/db' },
      { name: 'TOKEN', value: 'line one\nline two' },
    ]);
    expect(JSON.stringify(put.body)).not.toContain('postgres://');
  });

  it('sends no ttl when none is given, and retries /v1/info after a 5xx', async () => {
    const key = newRunKey();
    const puts: Put[] = [];
    await withFakeServer(fakeBroker(key, puts, { infoFailures: 1 }), (url) =>
      putTo(url, [{ name: 'A', value: 'x' }], { retries: 2 }),
    );
    expect(Object.keys(puts[0]?.body.outputs[0] ?? {}).sort()).toEqual(['name', 'sealed']);
  });

  it('refuses a broker without a run-output key, or with a malformed one, before any token is spent', async () => {
    const key = newRunKey();
    const puts: Put[] = [];
    await withFakeServer(fakeBroker(key, puts, { info: { service: 'secrets-broker' } }), async (url) => {
      await expect(putTo(url, [{ name: 'A', value: 'x' }])).rejects.toThrow(
        /publishes no run-output key, so this broker does not take outputs/,
      );
    });
    await withFakeServer(
      fakeBroker(key, puts, { info: { run_output_key: 'AAAA', run_output_key_id: 'k' } }),
      async (url) => {
        await expect(putTo(url, [{ name: 'A', value: 'x' }])).rejects.toBeInstanceOf(ResponseIntegrityError);
      },
    );
    expect(puts).toHaveLength(0);
  });

  it('refuses an answer that does not confirm exactly the outputs put', async () => {
    const key = newRunKey();
    for (const outputs of [[], [{ name: 'B', expires_at: '2030-01-01T00:00:00Z' }]]) {
      await withFakeServer(
        fakeBroker(key, [], { answer: () => ({ request_id: 'r', outputs }) }),
        async (url) => {
          await expect(putTo(url, [{ name: 'A', value: 'x' }])).rejects.toThrow(
            /the broker confirmed the outputs .*, not the ones put \("A"\)/,
          );
        },
      );
    }
    await withFakeServer(fakeBroker(key, [], { answer: () => ({ request_id: 'r' }) }), async (url) => {
      await expect(putTo(url, [{ name: 'A', value: 'x' }])).rejects.toThrow(/not an outputs response/);
    });
  });

  it('refuses what the broker would refuse before asking it anything', async () => {
    await expect(putTo('http://127.0.0.1:1', [])).rejects.toThrow('a put takes 1 to 20 outputs, not 0');
    await expect(putTo('http://127.0.0.1:1', [{ name: 'A', value: '' }])).rejects.toThrow(/holds 0 bytes/);
    await expect(putTo('http://127.0.0.1:1', [{ name: 'A', value: 'x' }], { ttl: '1w' })).rejects.toThrow(
      /the ttl "1w": it is not a duration/,
    );
  });
});

describe('the action inputs with put-outputs', () => {
  const inputs = (values: Record<string, string>) => parseInputs((name) => values[name] ?? '');

  it('makes secrets optional when only putting, and keeps the ttl', () => {
    const parsed = inputs({
      'broker-url': 'https://b.example',
      'put-outputs': 'A\nB=X',
      'put-outputs-ttl': '1h',
    });
    expect(parsed.lines).toEqual([]);
    expect(parsed.putOutputs.map((line) => line.name)).toEqual(['A', 'B']);
    expect(parsed.putOutputsTtl).toBe('1h');
    expect(inputs({ 'broker-url': 'https://b.example', secrets: 'run/A' }).putOutputs).toEqual([]);
  });

  it('refuses what a put-only step cannot do, and a ttl without outputs', () => {
    const base = { 'broker-url': 'https://b.example', 'put-outputs': 'A' };
    expect(() => inputs({ ...base, run: 'echo' })).toThrow(
      /the run input uses fetched secrets, and the secrets input is empty/,
    );
    expect(() => inputs({ ...base, file: 'x.env' })).toThrow(/the file input uses fetched secrets/);
    expect(() => inputs({ ...base, 'list-only': 'true' })).toThrow(/list-only fetches and puts no value/);
    expect(() => inputs({ ...base, 'put-outputs-ttl': '25h' })).toThrow(
      /put-outputs-ttl input "25h": .*at most/,
    );
    expect(() =>
      inputs({ 'broker-url': 'https://b.example', secrets: 'A', 'put-outputs-ttl': '1h' }),
    ).toThrow(/put-outputs names no output/);
    expect(() => inputs({ 'broker-url': 'https://b.example' })).toThrow(/the secrets input names no secret/);
  });

  it('takes run/NAME as an ordinary entry, its variable the last segment', () => {
    const [line] = inputs({ 'broker-url': 'https://b.example', secrets: 'run/db/url' }).lines;
    expect(line?.entry.alternatives).toEqual([{ name: 'run/db/url', version: undefined }]);
    expect(line?.envName).toBeUndefined();
  });
});

describe('secrets-fetch put', () => {
  const putWith = (argv: string[], environment: Record<string, string>) =>
    fetchInProcess(['put', ...argv, '--token-env', 'T1'], { T1: 'token-1', ...environment });

  it('puts values from the environment and prints run/NAME and until when', async () => {
    const key = newRunKey();
    const puts: Put[] = [];
    await withFakeServer(fakeBroker(key, puts), async (url) => {
      const run = await putWith(
        ['--broker', url, '--output', 'db/url=DB_URL', '--output', 'TOKEN', '--ttl', '30m'],
        {
          DB_URL: 'postgres://x',
          TOKEN: 'tok',
        },
      );
      expect(run.stderr).toBe('secrets-fetch: put 2 output(s) (request id req-put)\n');
      expect(run.code).toBe(0);
      expect(run.stdout).toBe('run/db/url 2030-01-01T06:00:00.000Z\nrun/TOKEN 2030-01-01T06:00:00.000Z\n');
      const asJson = await putWith(['--broker', url, '--output', 'TOKEN', '--json'], { TOKEN: 'tok' });
      expect(JSON.parse(asJson.stdout)).toEqual({
        request_id: 'req-put',
        outputs: [{ name: 'TOKEN', expires_at: '2030-01-01T06:00:00.000Z' }],
      });
    });
    expect(puts[0]?.opened).toEqual([
      { name: 'db/url', value: 'postgres://x' },
      { name: 'TOKEN', value: 'tok' },
    ]);
    expect(puts[0]?.body.outputs.map((output) => output.ttl)).toEqual(['30m', '30m']);
  });

  it('refuses bad flags with exit 2 and escaped messages, spending no token', async () => {
    const cases: [string[], RegExp][] = [
      [['--output', 'A', '--secret', 'x'], /--secret does not go with put/],
      [['--output', 'A', '--out', 'f'], /--out does not go with put/],
      [[], /no --output given/],
      [
        ['--output', 'MISSING'],
        /the variable MISSING, which is not set \(export it before secrets-fetch runs; values are never taken from arguments\)/,
      ],
      [['--output', 'A', '--ttl', '5'], /--ttl "5": it is not a duration/],
      [['--output', 'bad\u001b]0;x\u0007'], /--output #1 \("bad\\x1b\]0;x\\x07"\): the segment/],
    ];
    for (const [argv, expected] of cases) {
      const run = await putWith(['--broker', 'http://127.0.0.1:1', ...argv], { A: 'a' });
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toMatch(expected);
      expect(hasUnprintable(run.stderr.replaceAll('\n', ''))).toBe(false);
    }
    const withoutPut = await fetchInProcess([
      '--broker',
      'http://127.0.0.1:1',
      '--secret',
      'A',
      '--output',
      'A',
    ]);
    expect(withoutPut.code).toBe(2);
    expect(withoutPut.stderr).toMatch(/--output goes with the put verb/);
  });
});
