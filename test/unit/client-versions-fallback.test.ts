/**
 * The clients' side of versions (`NAME@3`), alternatives (`a|b`, first granted and stored wins) and discovery
 * (POST /v1/list), against a fake broker that seals what each test says: every answer item mapped to the entry
 * that takes it, anything no entry takes refused, and the list checked as strictly as an exchange.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { parseInputs } from '../../src/action/inputs.js';
import { ResponseIntegrityError } from '../../src/client/errors.js';
import { fetchSecrets, type FetchSecretsResult } from '../../src/client/exchange-client.js';
import { fallbackNotes, planExports } from '../../src/client/export-plan.js';
import { listSecrets } from '../../src/client/list-client.js';
import { parseListFlags, parseListLines, parseSecretFlags } from '../../src/client/secret-lines.js';
import { fetchInProcess } from '../helpers/fetch-in-process.js';
import { sealPayload } from '../../src/broker/sealing.js';
import { hasUnprintable } from '../../src/protocol/printable.js';
import { withFakeServer } from '../helpers/fake-server.js';

interface Stored {
  readonly name: string;
  readonly version: number;
  readonly value?: string;
}

interface Seen {
  readonly path: string;
  readonly authorization: string | undefined;
  readonly body: Record<string, unknown>;
}

async function readBody(request: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
}

/** A broker that answers every exchange with `items` sealed to the request's recipient, and records requests. */
function sealingBroker(items: readonly Stored[], seen: Seen[] = []) {
  return (request: IncomingMessage, response: ServerResponse): void => {
    void readBody(request).then((body) => {
      seen.push({ path: request.url ?? '', authorization: request.headers.authorization, body });
      const recipient = Buffer.from(body.recipient as string, 'base64');
      const secrets = items.map(({ name, version, value }) => ({
        name,
        version,
        sealed: sealPayload(
          { name, version, value: value ?? `value of ${name}@${version}` },
          recipient,
        ).toString('base64'),
      }));
      response
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ request_id: 'req-1', secrets }));
    });
  };
}

function fetchFrom(brokerUrl: string, entries: string[]): Promise<FetchSecretsResult> {
  let token = 0;
  return fetchSecrets({
    brokerUrl,
    entries,
    getToken: () => Promise.resolve(`token-${(token += 1)}`),
    timeoutMs: 5_000,
    retries: 0,
  });
}

/** Fetches `flags` as secrets-fetch reads them from a broker answering `items`, and plans the exports. */
async function planned(flags: string[], items: readonly Stored[]) {
  const lines = parseSecretFlags(flags);
  return withFakeServer(sealingBroker(items), async (url) => {
    const released = await fetchFrom(
      url,
      lines.map((line) => line.entry.raw),
    );
    return planExports(lines, released.secrets);
  });
}

describe('versions', () => {
  it('NAME@3 takes version 3 and is exported under the name of NAME', async () => {
    const items = await planned(['prod/api/DB_PASSWORD@3'], [{ name: 'prod/api/DB_PASSWORD', version: 3 }]);
    expect(items).toMatchObject([
      {
        secretName: 'prod/api/DB_PASSWORD',
        version: 3,
        envName: 'DB_PASSWORD',
        value: 'value of prod/api/DB_PASSWORD@3',
      },
    ]);
  });

  it('one name at two versions: the versioned entry takes its version, the plain one the highest returned', async () => {
    const items = await planned(
      ['OLD=prod/api/KEY@1', 'prod/api/KEY'],
      [
        { name: 'prod/api/KEY', version: 1 },
        { name: 'prod/api/KEY', version: 4 },
      ],
    );
    expect(items.map(({ envName, version }) => [envName, version])).toEqual([
      ['OLD', 1],
      ['KEY', 4],
    ]);
  });

  it('two versions of one name under one variable are refused, naming both versions', async () => {
    await expect(
      planned(
        ['prod/api/KEY@1', 'prod/api/KEY'],
        [
          { name: 'prod/api/KEY', version: 1 },
          { name: 'prod/api/KEY', version: 4 },
        ],
      ),
    ).rejects.toThrow('"prod/api/KEY version 1" and "version 4" would both be KEY');
  });

  it('a pattern takes the highest version of each name it matches', async () => {
    const items = await planned(
      ['OLD=prod/api/KEY@1', 'prod/api/*'],
      [
        { name: 'prod/api/KEY', version: 1 },
        { name: 'prod/api/KEY', version: 2 },
        { name: 'prod/api/DB_PASSWORD', version: 7 },
      ],
    );
    // KEY is named on its own line, so the pattern leaves it out, at every version.
    expect(items.map(({ envName, version }) => [envName, version])).toEqual([
      ['OLD', 1],
      ['DB_PASSWORD', 7],
    ]);
  });

  it('refuses an answer at another version than the one asked for', async () => {
    await expect(planned(['prod/api/KEY@3'], [{ name: 'prod/api/KEY', version: 2 }])).rejects.toThrow(
      '"prod/api/KEY" version 2, which was not requested',
    );
  });

  it('refuses one name at one version twice, and accepts it at two versions', async () => {
    await expect(
      planned(
        ['A=prod/api/KEY@1', 'B=prod/api/KEY'],
        [
          { name: 'prod/api/KEY', version: 1 },
          { name: 'prod/api/KEY', version: 1 },
        ],
      ),
    ).rejects.toThrow('the broker returned "prod/api/KEY" version 1 twice');
  });
});

describe('alternatives', () => {
  const entry = 'DB_PASSWORD=prod/api/DB_PASSWORD|shared/DB_PASSWORD';

  it('takes the first alternative the answer holds and says which one was used', async () => {
    const second = await planned([entry], [{ name: 'shared/DB_PASSWORD', version: 2 }]);
    expect(second).toMatchObject([{ secretName: 'shared/DB_PASSWORD', envName: 'DB_PASSWORD', version: 2 }]);
    expect(fallbackNotes(second)).toEqual([
      'DB_PASSWORD from shared/DB_PASSWORD (prod/api/DB_PASSWORD not granted or not stored)',
    ]);
    const first = await planned([entry], [{ name: 'prod/api/DB_PASSWORD', version: 1 }]);
    expect(fallbackNotes(first)).toEqual([
      'DB_PASSWORD from prod/api/DB_PASSWORD (the first of 2 alternatives)',
    ]);
  });

  it('an alternative that did not win is still exported by a pattern that matches it', async () => {
    const items = await planned(
      ['KEY=prod/API_KEY|shared/API_KEY', 'shared/*'],
      [
        { name: 'prod/API_KEY', version: 1 },
        { name: 'shared/API_KEY', version: 2 },
      ],
    );
    expect(items.map(({ envName, secretName }) => [envName, secretName])).toEqual([
      ['KEY', 'prod/API_KEY'],
      ['API_KEY', 'shared/API_KEY'],
    ]);
  });

  it('an entry without alternatives has no note', async () => {
    const items = await planned(['prod/api/DB_PASSWORD'], [{ name: 'prod/api/DB_PASSWORD', version: 1 }]);
    expect(fallbackNotes(items)).toEqual([]);
  });

  it('alternatives with versions: the version named, or the highest returned', async () => {
    const items = await planned(['K=a/KEY@2|b/KEY'], [{ name: 'b/KEY', version: 5 }]);
    expect(items).toMatchObject([{ secretName: 'b/KEY', version: 5 }]);
    expect(fallbackNotes(items)).toEqual(['K from b/KEY (a/KEY@2 not granted or not stored)']);
  });

  it('refuses an answer holding a later alternative as well as the one released', async () => {
    await expect(
      planned(
        [entry],
        [
          { name: 'prod/api/DB_PASSWORD', version: 1 },
          { name: 'shared/DB_PASSWORD', version: 1 },
        ],
      ),
    ).rejects.toThrow('"shared/DB_PASSWORD" version 1, which was not requested');
  });

  it('refuses an answer lacking a required entry, naming all its alternatives', async () => {
    await expect(planned([entry], [])).rejects.toThrow(
      `the broker's answer lacks "prod/api/DB_PASSWORD|shared/DB_PASSWORD"`,
    );
    await expect(planned([`${entry}?`], [])).resolves.toEqual([]);
  });

  it('sends each entry to the broker as written', async () => {
    const seen: Seen[] = [];
    await withFakeServer(sealingBroker([{ name: 'shared/DB_PASSWORD', version: 2 }], seen), (url) =>
      fetchFrom(url, [`${entry}?`.slice('DB_PASSWORD='.length), 'x/Y@3?']),
    );
    expect(seen[0]?.body.secrets).toEqual(['prod/api/DB_PASSWORD|shared/DB_PASSWORD?', 'x/Y@3?']);
  });

  it('without ENV= the alternatives must share their last segment, which names the variable', () => {
    expect(parseSecretFlags(['prod/api/DB_PASSWORD|shared/db-password'])[0]?.envName).toBeUndefined();
    expect(() => parseSecretFlags(['prod/api/DB_PASSWORD|shared/DB_PASS'])).toThrow(
      'its alternatives would be exported under different names (DB_PASSWORD, DB_PASS), depending on which one is released: name the variable for all of them, e.g. DB_PASSWORD=prod/api/DB_PASSWORD|shared/DB_PASS',
    );
  });

  it('a box swapped between alternatives is refused', async () => {
    const swapped = (request: IncomingMessage, response: ServerResponse): void => {
      void readBody(request).then((body) => {
        const recipient = Buffer.from(body.recipient as string, 'base64');
        const sealed = sealPayload({ name: 'prod/api/DB_PASSWORD', version: 1, value: 'v' }, recipient);
        response.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            request_id: 'r',
            secrets: [{ name: 'shared/DB_PASSWORD', version: 1, sealed: sealed.toString('base64') }],
          }),
        );
      });
    };
    await expect(
      withFakeServer(swapped, (url) => fetchFrom(url, ['prod/api/DB_PASSWORD|shared/DB_PASSWORD'])),
    ).rejects.toThrow(ResponseIntegrityError);
  });
});

/** A broker whose /v1/list answers `answers` in turn (status and body), recording each request. */
function listingBroker(answers: readonly { status: number; body: unknown }[], seen: Seen[]) {
  return (request: IncomingMessage, response: ServerResponse): void => {
    void readBody(request).then((body) => {
      seen.push({ path: request.url ?? '', authorization: request.headers.authorization, body });
      const answer = answers[Math.min(seen.length - 1, answers.length - 1)] as {
        status: number;
        body: unknown;
      };
      response
        .writeHead(answer.status, {
          'content-type': answer.status === 200 ? 'application/json' : 'application/problem+json',
          'retry-after': '0',
        })
        .end(JSON.stringify(answer.body));
    });
  };
}

function listFrom(url: string, entries: string[], retries = 0) {
  let token = 0;
  return listSecrets({
    brokerUrl: url,
    entries,
    getToken: () => Promise.resolve(`token-${(token += 1)}`),
    timeoutMs: 5_000,
    retries,
    sleep: () => Promise.resolve(),
  });
}

const LISTED = {
  secrets: [
    { name: 'prod/api/A', version: 2 },
    { name: 'prod/api/B', version: 1 },
  ],
};

describe('listSecrets', () => {
  it('posts {} with the token to /v1/list and returns the names and versions', async () => {
    const seen: Seen[] = [];
    const listed = await withFakeServer(listingBroker([{ status: 200, body: LISTED }], seen), (url) =>
      listFrom(url, []),
    );
    expect(listed).toEqual(LISTED.secrets);
    expect(seen).toEqual([{ path: '/v1/list', authorization: 'Bearer token-1', body: {} }]);
  });

  it('narrows with the entries given, and retries a 503 with a fresh token', async () => {
    const seen: Seen[] = [];
    const unavailable = { title: 'Unavailable', status: 503, code: 'unavailable', detail: 'down' };
    const listed = await withFakeServer(
      listingBroker(
        [
          { status: 503, body: unavailable },
          { status: 200, body: LISTED },
        ],
        seen,
      ),
      (url) => listFrom(url, ['prod/api/*', 'prod/api/B'], 1),
    );
    expect(listed).toEqual(LISTED.secrets);
    expect(seen.map(({ authorization, body }) => [authorization, body])).toEqual([
      ['Bearer token-1', { secrets: ['prod/api/*', 'prod/api/B'] }],
      ['Bearer token-2', { secrets: ['prod/api/*', 'prod/api/B'] }],
    ]);
  });

  it("takes the broker's refusal as an exchange does", async () => {
    const problem = { title: 'Invalid token', status: 401, code: 'invalid_token', detail: 'expired' };
    await expect(
      withFakeServer(listingBroker([{ status: 401, body: problem }], []), (url) => listFrom(url, [])),
    ).rejects.toMatchObject({ code: 'invalid_token' });
  });

  it('refuses an answer that is not exactly a list of names and versions', async () => {
    const bad: [unknown, string][] = [
      [{ secrets: [{ name: 'prod/api/A', version: 1, value: 'x' }] }, 'not a list response'],
      [{ secrets: [{ name: 'prod/api/A', version: 0 }] }, 'not a list response'],
      [{ secrets: [], request_id: 'r' }, 'not a list response'],
      [{ secrets: [{ name: 'a\u001b[2J', version: 1 }] }, 'not a valid secret name'],
      [
        {
          secrets: [
            { name: 'prod/api/A', version: 1 },
            { name: 'prod/api/A', version: 2 },
          ],
        },
        'listed "prod/api/A" twice',
      ],
    ];
    for (const [body, message] of bad)
      await expect(
        withFakeServer(listingBroker([{ status: 200, body }], []), (url) => listFrom(url, [])),
        JSON.stringify(body),
      ).rejects.toThrow(message);
    await expect(
      withFakeServer(listingBroker([{ status: 200, body: LISTED }], []), (url) =>
        listFrom(url, ['prod/api/A']),
      ),
    ).rejects.toThrow('the broker listed "prod/api/B", which no entry asked for');
  });

  it('refuses versions and alternatives before any token is spent', async () => {
    for (const entry of ['prod/api/A@2', 'prod/api/A|prod/api/B'])
      await expect(listFrom('http://127.0.0.1:9', [entry])).rejects.toThrow(
        'a list takes names and patterns: versions (NAME@N) and alternatives (a|b) are for fetching',
      );
  });
});

describe('list entries in the words of each client', () => {
  it('the action: names and patterns a line, none at all lists everything', () => {
    expect(parseListLines('# all\n\n')).toEqual([]);
    expect(parseListLines('prod/api/*\nprod/web/KEY').map((entry) => entry.raw)).toEqual([
      'prod/api/*',
      'prod/web/KEY',
    ]);
    expect(() => parseListLines('prod/api/*\nX=prod/a')).toThrow(
      'secrets line 2 ("X=prod/a"): a list sets no variable, so ENV= has nothing to name',
    );
    expect(() => parseListLines('prod/a@2')).toThrow(
      'secrets line 1 ("prod/a@2"): a list takes names and patterns',
    );
  });

  it('secrets-fetch: --secret flags, escaped', () => {
    expect(parseListFlags([])).toEqual([]);
    expect(() => parseListFlags(['prod/*', ' '])).toThrow(`--secret #2 ' ': is empty`);
    expect(() => parseListFlags(['a|b\u001b'])).toThrow(`--secret #1 'a|b\\x1b'`);
  });
});

describe('the action input list-only', () => {
  const inputs = (values: Record<string, string>) =>
    parseInputs((name) => ({ 'broker-url': 'https://broker.example', ...values })[name] ?? '');

  it('makes secrets optional: patterns to narrow the list', () => {
    expect(inputs({ 'list-only': 'true' })).toMatchObject({ listOnly: true, lines: [], listEntries: [] });
    expect(inputs({ 'list-only': 'true', secrets: 'prod/*' }).listEntries.map((entry) => entry.raw)).toEqual([
      'prod/*',
    ]);
    expect(inputs({ secrets: 'prod/a/B' })).toMatchObject({ listOnly: false, listEntries: [] });
    expect(() => inputs({})).toThrow('the secrets input names no secret');
  });

  it('refuses run and file, which would have no value to use', () => {
    expect(() => inputs({ 'list-only': 'true', run: 'make' })).toThrow(
      'list-only fetches no value, so the run input has nothing to use',
    );
    expect(() => inputs({ 'list-only': 'true', file: 'x.env' })).toThrow(
      'list-only fetches no value, so the file input has nothing to use',
    );
    expect(() => inputs({ 'list-only': 'yes' })).toThrow(
      'the list-only input must be true or false, not "yes"',
    );
  });
});

/** Runs secrets-fetch in-process with the token T1. */
const fetchWith = (argv: string[]) => fetchInProcess([...argv, '--token-env', 'T1'], { T1: 'token-1' });

describe('secrets-fetch', () => {
  it('list prints NAME VERSION lines, or JSON with --json', async () => {
    const seen: Seen[] = [];
    await withFakeServer(listingBroker([{ status: 200, body: LISTED }], seen), async (url) => {
      const lines = await fetchWith(['list', '--broker', url]);
      expect(lines).toEqual({ code: 0, stdout: 'prod/api/A 2\nprod/api/B 1\n', stderr: '' });
      const json = await fetchWith(['list', '--broker', url, '--json', '--secret', 'prod/api/*']);
      expect(json.code).toBe(0);
      expect(JSON.parse(json.stdout)).toEqual(LISTED.secrets);
    });
    expect(seen.map(({ body }) => body)).toEqual([{}, { secrets: ['prod/api/*'] }]);
  });

  it('says on stderr which alternative was used', async () => {
    await withFakeServer(
      sealingBroker([{ name: 'shared/DB_PASSWORD', version: 2, value: 'pw' }]),
      async (url) => {
        const result = await fetchWith([
          '--broker',
          url,
          '--secret',
          'DB_PASSWORD=prod/api/DB_PASSWORD|shared/DB_PASSWORD',
        ]);
        expect(result.code, result.stderr).toBe(0);
        expect(result.stdout).toBe("DB_PASSWORD='pw'\n");
        expect(result.stderr).toContain(
          'secrets-fetch: DB_PASSWORD from shared/DB_PASSWORD (prod/api/DB_PASSWORD not granted or not stored)\n',
        );
      },
    );
  });

  it('refuses list with --format or --out, --json without list, and a list entry with a version', async () => {
    const runs: [string[], string][] = [
      [['list', '--broker', 'https://b.example', '--format', 'json'], '--format does not go with list'],
      [['list', '--broker', 'https://b.example', '--out', 'x'], '--out does not go with list'],
      [['--broker', 'https://b.example', '--secret', 'a/B', '--json'], '--json goes with list'],
      [['list', '--broker', 'https://b.example', '--secret', 'a/B@2'], 'a list takes names and patterns'],
      [['list', 'more', '--broker', 'https://b.example'], 'unexpected argument "more"'],
    ];
    for (const [argv, shows] of runs) {
      const result = await fetchWith(argv);
      expect(result.code, argv.join(' ')).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain(shows);
      for (const line of result.stderr.split('\n')) expect(hasUnprintable(line)).toBe(false);
    }
  });
});
