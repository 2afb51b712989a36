/** No page of the dashboard, for any view, ever holds a stored secret value. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BrokerHarness, TEST_AUDIENCE } from '../helpers/broker-harness.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { githubClaims } from '../helpers/oidc-issuer.js';

let harness: BrokerHarness;
const planted: Record<string, string> = {
  'prod/api/DB_PASSWORD': canary('db'),
  'prod/api/API_KEY': canary('api'),
  'shared/SLACK_WEBHOOK': canary('slack'),
  'staging/api/DB_PASSWORD': canary('staging'),
  'prod/web/deploy/KEY': canary('web'),
};

beforeAll(async () => {
  harness = await BrokerHarness.start({ ui: true });
  for (const [name, value] of Object.entries(planted)) await harness.setSecret(name, value);
  // Older versions too, with conditions on one.
  await harness.setSecret('prod/api/DB_PASSWORD', `${planted['prod/api/DB_PASSWORD']}-v2`);
  expect(
    (
      await harness.admin('PATCH', '/secrets/prod/api/API_KEY', {
        conditions: {
          owner: 'team-api',
          description: 'the API key',
          max_reads: { count: 100, period_seconds: 3600 },
        },
      })
    ).status,
  ).toBe(200);
  // Releases, so the audit holds allowed exchanges of every planted secret.
  const token = await harness.github.token(githubClaims(harness.github.url, TEST_AUDIENCE));
  expect((await harness.exchange(token, ['prod/api/*', 'shared/SLACK_WEBHOOK'])).status).toBe(200);
});

afterAll(async () => {
  await harness?.close();
});

async function signedInClient(): Promise<{
  get: (path: string) => Promise<string>;
  post: (path: string, form: Record<string, string>) => Promise<string>;
  csrf: () => string;
}> {
  const cookies = new Map<string, string>();
  let lastCsrf = '';
  const keep = (response: Response): void => {
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const [name = '', value = ''] = [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)];
      if (value === '') cookies.delete(name);
      else cookies.set(name, value);
    }
  };
  const send = async (
    method: string,
    path: string,
    form?: Record<string, string>,
  ): Promise<{ status: number; text: string }> => {
    const response = await fetch(`${harness.url}${path}`, {
      method,
      redirect: 'manual',
      headers: {
        cookie: [...cookies].map(([name, value]) => `${name}=${value}`).join('; '),
        ...(form === undefined
          ? {}
          : { origin: harness.url, 'content-type': 'application/x-www-form-urlencoded' }),
      },
      body: form === undefined ? undefined : new URLSearchParams(form).toString(),
    });
    keep(response);
    const text = await response.text();
    lastCsrf = /name="csrf" value="([^"]+)"/.exec(text)?.[1] ?? lastCsrf;
    return { status: response.status, text };
  };
  await send('GET', '/ui/sign-in');
  const auditor = await harness.admin('POST', '/tokens', { label: 'canary auditor', role: 'auditor' });
  expect(
    (await send('POST', '/ui/sign-in', { csrf: lastCsrf, token: auditor.json.token as string })).status,
  ).toBe(303);
  return {
    get: async (path) => {
      const page = await send('GET', path);
      expect(page.status, path).toBe(200);
      return page.text;
    },
    post: async (path, form) => {
      const page = await send('POST', path, form);
      expect(page.status, path).toBe(200);
      return page.text;
    },
    csrf: () => lastCsrf,
  };
}

it('renders every view, and an explain that grants the planted secrets, without any planted value', async () => {
  const client = await signedInClient();
  const pages: Record<string, string> = {};
  for (const path of [
    '/ui/secrets',
    '/ui/secrets?prefix=prod%2F',
    '/ui/matrix',
    '/ui/matrix?repository=acme%2Fapi',
    '/ui/explain',
    '/ui/audit',
    '/ui/audit?outcome=allowed&kind=exchange',
    '/ui/audit?secret=prod%2Fapi%2FDB_PASSWORD',
    '/ui/audit/chain',
    '/ui/health',
  ]) {
    pages[path] = await client.get(path);
  }
  const claims = githubClaims(harness.github.url, TEST_AUDIENCE);
  pages['POST /ui/explain'] = await client.post('/ui/explain', {
    csrf: client.csrf(),
    input: JSON.stringify(claims),
    secrets: Object.keys(planted).join('\n'),
    source_ip: '',
  });
  // The pages did render what the canaries sit behind: the names, the releases and a grant.
  expect(pages['/ui/secrets']).toContain('prod/api/DB_PASSWORD');
  expect(pages['/ui/audit?outcome=allowed&kind=exchange']).toMatch(/released [^<]*prod\/api\/API_KEY@1/);
  expect(pages['POST /ui/explain']).toMatch(
    /<code>prod\/api\/DB_PASSWORD<\/code><\/td><td><span class="badge good">granted/,
  );
  const values = [...Object.values(planted), `${planted['prod/api/DB_PASSWORD']}-v2`];
  expect(findLeaks(values, pages)).toEqual([]);
  // The scan itself finds a value where there is one.
  expect(findLeaks(values, { control: `x${Buffer.from(values[0]!).toString('base64')}x` })).not.toEqual([]);
});
