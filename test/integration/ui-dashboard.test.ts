/** The dashboard over real HTTP: a broker started with SECRETS_BROKER_UI=true, real issuers, a cookie-keeping client. */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARD_CSP } from '../../src/broker/ui/security-headers.js';
import { BrokerHarness, ManualClock, policyWithRules, TEST_AUDIENCE } from '../helpers/broker-harness.js';
import { githubClaims } from '../helpers/oidc-issuer.js';

interface Page {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
}

/** A browser-like client: keeps __Host- cookies, sends Origin and Sec-Fetch-Site on POSTs as a browser does. */
class DashboardClient {
  readonly cookies = new Map<string, string>();
  readonly pages: string[] = [];

  constructor(private readonly base: string) {}

  async request(
    method: 'GET' | 'POST',
    path: string,
    init: { form?: Record<string, string>; headers?: Record<string, string> } = {},
  ): Promise<Page> {
    const headers: Record<string, string> = {
      cookie: [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; '),
      ...(method === 'POST'
        ? {
            origin: this.base,
            'sec-fetch-site': 'same-origin',
            'content-type': 'application/x-www-form-urlencoded',
          }
        : {}),
      ...init.headers,
    };
    const response = await fetch(`${this.base}${path}`, {
      method,
      headers,
      redirect: 'manual',
      body: init.form === undefined ? undefined : new URLSearchParams(init.form).toString(),
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const index = pair.indexOf('=');
      const name = pair.slice(0, index);
      const value = pair.slice(index + 1);
      if (value === '' || /max-age=0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await response.text();
    this.pages.push(text);
    return { status: response.status, headers: response.headers, text };
  }

  get(path: string): Promise<Page> {
    return this.request('GET', path);
  }

  /** The hidden CSRF field of the page's first form that has one. */
  static csrf(page: Page): string {
    const match = /name="csrf" value="([^"]+)"/.exec(page.text);
    if (match === null) throw new Error(`no CSRF field in ${page.text.slice(0, 200)}`);
    return match[1]!;
  }

  async signIn(token: string): Promise<Page> {
    const form = await this.get('/ui/sign-in');
    return this.request('POST', '/ui/sign-in', { form: { csrf: DashboardClient.csrf(form), token } });
  }
}

/** Sends `path` byte for byte (fetch would resolve its dot segments and backslashes before sending). */
function rawGet(
  base: string,
  path: string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: url.hostname, port: url.port, method: 'GET', path }, (incoming) => {
      incoming.resume();
      incoming.on('end', () => resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers }));
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

let harness: BrokerHarness;
let auditorToken: string;
let auditorId: string;

async function createToken(label: string, role: string): Promise<{ token: string; id: string }> {
  const created = await harness.admin('POST', '/tokens', { label, role });
  expect(created.status).toBe(201);
  return { token: created.json.token as string, id: created.json.id as string };
}

async function adminRecords(action: string): Promise<Record<string, unknown>[]> {
  return (await harness.broker.stores.audit.page(0, 100_000))
    .map((entry) => JSON.parse(entry.record) as Record<string, unknown>)
    .filter((record) => record.kind === 'admin' && record.action === action);
}

beforeAll(async () => {
  harness = await BrokerHarness.start({ ui: true });
  await harness.setSecret('prod/api/DB_PASSWORD', 'value-one');
  await harness.setSecret('staging/api/DB_PASSWORD', 'value-two');
  await harness.setSecret('shared/PLATFORM_TOKEN', 'value-three');
  ({ token: auditorToken, id: auditorId } = await createToken('review <b>bot</b>', 'auditor'));
  // One allowed and one denied exchange for the audit view.
  const token = await harness.github.token(githubClaims(harness.github.url, TEST_AUDIENCE));
  expect((await harness.exchange(token, ['prod/api/DB_PASSWORD'])).status).toBe(200);
  const other = await harness.github.token(
    githubClaims(harness.github.url, TEST_AUDIENCE, { repository_id: '1', repository: 'acme/other' }),
  );
  expect((await harness.exchange(other, ['prod/api/DB_PASSWORD'])).status).toBe(403);
});

afterAll(async () => {
  await harness?.close();
});

describe('the dashboard when not enabled', () => {
  it('answers 404 under /ui', async () => {
    const plain = await BrokerHarness.start();
    try {
      for (const path of ['/ui', '/ui/sign-in', '/ui/secrets', '/ui/static/dashboard.css']) {
        expect((await plain.request('GET', path)).status, path).toBe(404);
      }
      expect((await plain.request('POST', '/ui/sign-in')).status).toBe(404);
    } finally {
      await plain.close();
    }
  });
});

describe('signing in', () => {
  it('serves a sign-in form with a password field and the dashboard headers', async () => {
    const client = new DashboardClient(harness.url);
    const page = await client.get('/ui/sign-in');
    expect(page.status).toBe(200);
    expect(page.text).toMatch(/<input id="token" name="token" type="password"/);
    expect(page.headers.get('content-security-policy')).toBe(DASHBOARD_CSP);
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.text).not.toMatch(/<script/i);
    expect(page.text).not.toMatch(/ style=/i);
  });

  it('signs in with an auditor token into an HttpOnly, Secure, SameSite=Strict cookie, and audits it', async () => {
    const client = new DashboardClient(harness.url);
    const signedIn = await client.signIn(auditorToken);
    expect(signedIn.status).toBe(303);
    expect(signedIn.headers.get('location')).toBe('/ui/secrets');
    const cookie = signedIn.headers
      .getSetCookie()
      .find((line) => line.startsWith('__Host-secrets-ui-session='));
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; Secure/);
    expect(cookie).toMatch(/; SameSite=Strict/);
    expect(cookie).toMatch(/; Path=\//);
    expect(cookie).not.toContain(auditorToken);
    const records = await adminRecords('ui.sign-in');
    expect(records.at(-1)).toMatchObject({ outcome: 'allowed', role: 'auditor', admin_token_id: auditorId });
    const secrets = await client.get('/ui/secrets');
    expect(secrets.status).toBe(200);
    expect(secrets.text).toContain('review &lt;b&gt;bot&lt;/b&gt;');
    expect(secrets.text).not.toContain('<b>bot</b>');
  });

  it('refuses a wrong token with 401, audited, and keeps no session', async () => {
    const client = new DashboardClient(harness.url);
    const before = (await adminRecords('ui.sign-in')).length;
    const refused = await client.signIn('sbadm_0000000000000000_not-a-real-token-at-all-xxxxxxxxxxxxxxxxxx');
    expect(refused.status).toBe(401);
    expect(refused.text).toContain('That admin token is not valid');
    expect(client.cookies.has('__Host-secrets-ui-session')).toBe(false);
    const records = await adminRecords('ui.sign-in');
    expect(records.length).toBe(before + 1);
    expect(records.at(-1)).toMatchObject({ outcome: 'denied', code: 'unauthorized', admin_token_id: null });
    expect((await client.get('/ui/secrets')).status).toBe(303);
  });

  it('refuses a sign-in without the CSRF token, from another origin, or without Origin', async () => {
    const client = new DashboardClient(harness.url);
    const form = await client.get('/ui/sign-in');
    const csrf = DashboardClient.csrf(form);
    const noCsrf = await client.request('POST', '/ui/sign-in', { form: { token: auditorToken } });
    expect(noCsrf.status).toBe(403);
    const crossSite = await client.request('POST', '/ui/sign-in', {
      form: { csrf, token: auditorToken },
      headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
    });
    expect(crossSite.status).toBe(403);
    expect(crossSite.text).toContain('not sent from a page of this dashboard');
    const noOrigin = await fetch(`${harness.url}/ui/sign-in`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: [...client.cookies].map(([n, v]) => `${n}=${v}`).join('; '),
      },
      body: new URLSearchParams({ csrf, token: auditorToken }).toString(),
      redirect: 'manual',
    });
    expect(noOrigin.status).toBe(403);
    expect(client.cookies.has('__Host-secrets-ui-session')).toBe(false);
  });

  it('shows a message only for its own codes (ended=constructor shows none)', async () => {
    const client = new DashboardClient(harness.url);
    const known = await client.get('/ui/sign-in?ended=signed-out');
    expect(known.text).toContain('You signed out.');
    for (const code of ['constructor', '__proto__', 'toString']) {
      const page = await client.get(`/ui/sign-in?ended=${code}`);
      expect(page.status).toBe(200);
      expect(page.text).not.toContain('role="status"');
      expect(page.text).not.toMatch(/function|\[native code\]|\[object/);
    }
  });

  it('never puts the token in a URL', async () => {
    const client = new DashboardClient(harness.url);
    const signedIn = await client.signIn(auditorToken);
    expect(signedIn.headers.get('location')).not.toContain(auditorToken);
    for (const page of client.pages) expect(page).not.toContain(auditorToken);
  });
});

describe('the views', () => {
  let client: DashboardClient;
  beforeAll(async () => {
    client = new DashboardClient(harness.url);
    expect((await client.signIn(auditorToken)).status).toBe(303);
  });

  it('Secrets: names, versions, length, fingerprint prefix and the granting rules', async () => {
    const page = await client.get('/ui/secrets');
    const versions = await harness.admin('GET', '/versions/prod/api/DB_PASSWORD');
    const fingerprint = (versions.json.versions as { fingerprint: string }[])[0]!.fingerprint;
    expect(page.text).toContain('prod/api/DB_PASSWORD');
    expect(page.text).toContain(`<code>${fingerprint.slice(0, 8)}</code>`);
    expect(page.text).toContain('9 B');
    expect(page.text).toMatch(/href="\/ui\/matrix\?rule=api-deploy-prod">api-deploy-prod</);
  });

  it('Access matrix: every rule, the claims it binds, its lint findings, and a repository filter', async () => {
    const page = await client.get('/ui/matrix');
    for (const rule of ['api-deploy-prod', 'api-ci-any-branch', 'platform-group', 'web-deploy-gitlab'])
      expect(page.text).toContain(`id="rule-${rule}"`);
    expect(page.text).toContain('<code>repository_id</code>: <code>');
    expect(page.text).toMatch(/Lint findings \([1-9]/);
    const filtered = await client.get('/ui/matrix?repository=acme%2Fapi');
    expect(filtered.status).toBe(200);
    // Every rule here binds ids only (or nothing): kept, each with the standing the filter gave it.
    expect(filtered.text).toContain('4 of 4 rules shown');
    expect(filtered.text).toContain('bound by repository/project id only: check the id');
    expect(filtered.text).toContain('binds no repository or project');
    // A rule filter narrows to that rule.
    const one = await client.get('/ui/matrix?rule=platform-group');
    expect(one.text).toContain('id="rule-platform-group"');
    expect(one.text).not.toContain('id="rule-api-deploy-prod"');
  });

  it('Explain: the decision and the closest rule for pasted claims', async () => {
    const form = await client.get('/ui/explain');
    const claims = githubClaims(harness.github.url, TEST_AUDIENCE, { repository_id: '1' });
    const page = await client.request('POST', '/ui/explain', {
      form: {
        csrf: DashboardClient.csrf(form),
        input: JSON.stringify(claims),
        secrets: 'prod/api/DB_PASSWORD\r\nstaging/api/DB_PASSWORD',
        source_ip: '',
      },
    });
    expect(page.status).toBe(200);
    expect(page.text).toContain('denied');
    // A textarea's CRLF line breaks come back as lines, not as escapes.
    expect(page.text).toContain('>prod/api/DB_PASSWORD\nstaging/api/DB_PASSWORD</textarea>');
    expect(page.text).toMatch(/staging\/api\/DB_PASSWORD<\/code><\/td><td><span class="badge bad">denied/);
    expect(page.text).toMatch(
      /<code>api-deploy-prod<\/code>: \d+ of \d+ claims match; fails on <code>repository_id<\/code>/,
    );
  });

  it('Explain: the closest rule of an optional, versioned or pattern entry is a rule that grants it', async () => {
    const form = await client.get('/ui/explain');
    const claims = githubClaims(harness.github.url, TEST_AUDIENCE, { repository_id: '1' });
    const page = await client.request('POST', '/ui/explain', {
      form: {
        csrf: DashboardClient.csrf(form),
        input: JSON.stringify(claims),
        secrets: 'staging/api/DB_PASSWORD?\nstaging/api/DB_PASSWORD@1\nstaging/api/*',
        source_ip: '',
      },
    });
    expect(page.status).toBe(200);
    // api-ci-any-branch grants staging/api/DB_PASSWORD; api-deploy-prod (which matches more claims) does not.
    for (const entry of ['staging/api/DB_PASSWORD\\?', 'staging/api/DB_PASSWORD@1', 'staging/api/\\*'])
      expect(page.text).toMatch(
        new RegExp(
          `${entry}</code></td><td><span class="badge bad">denied</span>[^<]*</td>\\n<td><code>api-ci-any-branch</code>`,
        ),
      );
  });

  it('Audit: denials filter, chart and chain head; the chain verifies', async () => {
    const page = await client.get('/ui/audit?outcome=denied&kind=exchange');
    expect(page.status).toBe(200);
    expect(page.text).toContain('<svg class="chart"');
    expect(page.text).toMatch(/<rect class="bar-denied"/);
    expect(page.text).not.toMatch(/<tr class="outcome-allowed"/);
    expect(page.text).toMatch(/<tr class="outcome-denied"/);
    const chain = await client.get('/ui/audit/chain');
    expect(chain.text).toContain('The chain verifies');
  });

  it('Health: issuers with their keys, the store, the policy and rate-limit refusals', async () => {
    const page = await client.get('/ui/health');
    expect(page.status).toBe(200);
    expect(page.text).toContain(harness.github.url);
    expect(page.text).toContain('keys loaded');
    expect(page.text).toContain('reachable');
    expect(page.text).toContain('Rate-limit refusals');
  });

  it('serves its stylesheet and answers an unknown page with a 404 page, both with the dashboard headers', async () => {
    const css = await client.get('/ui/static/dashboard.css');
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
    expect(css.headers.get('content-security-policy')).toBe(DASHBOARD_CSP);
    const missing = await client.get('/ui/nowhere');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-security-policy')).toBe(DASHBOARD_CSP);
    expect(missing.text).toContain('no such page');
    expect((await client.get('/ui/')).headers.get('location')).toBe('/ui/secrets');
  });

  it('refuses a raw /ui path with dot segments or a backslash before routing, with the dashboard headers', async () => {
    for (const path of ['/ui/..', '/ui/%2e%2e/v1/admin/whoami', '/ui\\secrets', '/ui/./secrets']) {
      const answer = await rawGet(harness.url, path);
      expect(answer.status, path).toBe(400);
      expect(answer.headers['content-security-policy'], path).toBe(DASHBOARD_CSP);
      expect(answer.headers['x-frame-options'], path).toBe('DENY');
      expect(answer.headers['referrer-policy'], path).toBe('no-referrer');
      expect(answer.headers['x-content-type-options'], path).toBe('nosniff');
      expect(answer.headers['cache-control'], path).toBe('no-store');
    }
    // The API's refusals are not dashboard answers.
    const api = await rawGet(harness.url, '/v1/admin/secrets/../whoami');
    expect(api.status).toBe(400);
    expect(api.headers['content-security-policy']).toBeUndefined();
  });

  it('refuses unknown or overlong parameters with a clear page', async () => {
    const unknown = await client.get('/ui/audit?outcom=denied');
    expect(unknown.status).toBe(400);
    expect(unknown.text).toContain('this view takes no parameter');
    const long = await client.get(`/ui/audit?secret=${'a'.repeat(300)}`);
    expect(long.status).toBe(400);
    const badOutcome = await client.get('/ui/audit?outcome=maybe');
    expect(badOutcome.status).toBe(400);
  });
});

describe('sessions end', () => {
  it('at sign-out (audited; the cookie is cleared and the session no longer opens)', async () => {
    const client = new DashboardClient(harness.url);
    await client.signIn(auditorToken);
    const page = await client.get('/ui/health');
    const sealed = client.cookies.get('__Host-secrets-ui-session')!;
    const wrong = await client.request('POST', '/ui/sign-out', { form: { csrf: 'forged' } });
    expect(wrong.status).toBe(403);
    const out = await client.request('POST', '/ui/sign-out', { form: { csrf: DashboardClient.csrf(page) } });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/ui/sign-in?ended=signed-out');
    expect(client.cookies.has('__Host-secrets-ui-session')).toBe(false);
    expect((await adminRecords('ui.sign-out')).at(-1)).toMatchObject({ outcome: 'allowed', role: 'auditor' });
    expect((await client.get('/ui/secrets')).status).toBe(303);
    // A copy of the cookie taken before sign-out opens nothing on this replica either.
    client.cookies.set('__Host-secrets-ui-session', sealed);
    const replayed = await client.get('/ui/secrets');
    expect(replayed.status).toBe(303);
    expect(replayed.headers.get('location')).toBe('/ui/sign-in?ended=signed-out');
    expect(client.cookies.has('__Host-secrets-ui-session')).toBe(false);
    // Signing in again makes a new session, which the sign-out did not end.
    expect((await client.signIn(auditorToken)).status).toBe(303);
    expect((await client.get('/ui/secrets')).status).toBe(200);
  });

  it('at once when the token is revoked (audited)', async () => {
    const { token, id } = await createToken('short-lived', 'auditor');
    const client = new DashboardClient(harness.url);
    await client.signIn(token);
    expect((await client.get('/ui/secrets')).status).toBe(200);
    expect((await harness.admin('DELETE', `/tokens/${id}`)).status).toBe(200);
    const after = await client.get('/ui/secrets');
    expect(after.status).toBe(303);
    expect(after.headers.get('location')).toBe('/ui/sign-in?ended=revoked');
    expect((await adminRecords('ui.session-ended')).at(-1)).toMatchObject({
      outcome: 'denied',
      code: 'unauthorized',
    });
  });

  it('when the cookie was changed', async () => {
    const client = new DashboardClient(harness.url);
    await client.signIn(auditorToken);
    const sealed = client.cookies.get('__Host-secrets-ui-session')!;
    const flipped = `${sealed.slice(0, 20)}${sealed[20] === 'A' ? 'B' : 'A'}${sealed.slice(21)}`;
    client.cookies.set('__Host-secrets-ui-session', flipped);
    const page = await client.get('/ui/secrets');
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/ui/sign-in?ended=invalid');
  });
});

describe('sessions over time (by the clock the broker is given)', () => {
  const clock = new ManualClock('2026-03-02T09:00:00Z');
  let timed: BrokerHarness;
  let token: string;
  const minutes = (count: number): number => count * 60;

  beforeAll(async () => {
    timed = await BrokerHarness.start({ ui: true, clock });
    const created = await timed.admin('POST', '/tokens', { label: 'clocked', role: 'auditor' });
    token = created.json.token as string;
  });
  afterAll(async () => {
    await timed?.close();
  });

  async function signedIn(): Promise<DashboardClient> {
    const client = new DashboardClient(timed.url);
    expect((await client.signIn(token)).status).toBe(303);
    expect((await client.get('/ui/health')).status).toBe(200);
    return client;
  }

  it('ends a session after 20 minutes without a request', async () => {
    const client = await signedIn();
    clock.advance(minutes(20) - 1);
    expect((await client.get('/ui/health')).status).toBe(200);
    clock.advance(minutes(20));
    const idle = await client.get('/ui/health');
    expect(idle.status).toBe(303);
    expect(idle.headers.get('location')).toBe('/ui/sign-in?ended=idle');
    expect(client.cookies.has('__Host-secrets-ui-session')).toBe(false);
  });

  it('keeps an active session alive: each request seals it again with its time', async () => {
    const client = await signedIn();
    for (let request = 0; request < 4; request += 1) {
      clock.advance(minutes(15));
      expect((await client.get('/ui/health')).status).toBe(200);
    }
  });

  it('ends a session 4 hours after sign-in however active it is', async () => {
    const client = await signedIn();
    for (let elapsed = 0; elapsed < 4 * 60 - 15; elapsed += 15) {
      clock.advance(minutes(15));
      expect((await client.get('/ui/health')).status, `after ${elapsed + 15} minutes`).toBe(200);
    }
    clock.advance(minutes(14));
    expect((await client.get('/ui/health')).status).toBe(200);
    clock.advance(minutes(1));
    const expired = await client.get('/ui/health');
    expect(expired.status).toBe(303);
    expect(expired.headers.get('location')).toBe('/ui/sign-in?ended=expired');
  });

  it('refuses a copy of a signed-out cookie, even before its idle end', async () => {
    const client = await signedIn();
    const page = await client.get('/ui/secrets');
    const copied = client.cookies.get('__Host-secrets-ui-session')!;
    expect(
      (await client.request('POST', '/ui/sign-out', { form: { csrf: DashboardClient.csrf(page) } })).status,
    ).toBe(303);
    clock.advance(minutes(1));
    const thief = new DashboardClient(timed.url);
    thief.cookies.set('__Host-secrets-ui-session', copied);
    const replayed = await thief.get('/ui/secrets');
    expect(replayed.status).toBe(303);
    expect(replayed.headers.get('location')).toBe('/ui/sign-in?ended=signed-out');
  });
});

describe('a policy of 1,000 rules', () => {
  let large: BrokerHarness;
  let client: DashboardClient;
  const ruleCount = 1000;

  beforeAll(async () => {
    const rules = Array.from(
      { length: ruleCount },
      (_, index) => `  - name: rule-${index}
    issuer: github
    claims:
      repository_id: "${100000 + index}"
${index % 3 === 0 ? '      environment: production\n' : ''}    secrets:
      - team-${index % 25}/app-${index}/*
      - team-${index % 25}/shared/**
`,
    ).join('');
    large = await BrokerHarness.start({ ui: true, policy: policyWithRules(rules) });
    // 60 names granted by 40 rules each: more names than a page of secrets, more rules than a row lists.
    for (let index = 0; index < 60; index += 1) await large.setSecret(`team-3/shared/NAME_${index}`, 'v');
    client = new DashboardClient(large.url);
    expect((await client.signIn(large.adminToken)).status).toBe(303);
  }, 60_000);
  afterAll(async () => {
    await large?.close();
  });

  it('the matrix skips lint, pages its rule cards and stays small', async () => {
    const page = await client.get('/ui/matrix');
    expect(page.status).toBe(200);
    expect(page.text.includes(`lint not run here: ${ruleCount} rules`)).toBe(true);
    expect(page.text.includes('secrets-broker policy lint')).toBe(true);
    expect(page.text.match(/class="rule-card"/g)).toHaveLength(50);
    expect(page.text.includes('href="/ui/matrix?page=2"')).toBe(true);
    expect(Buffer.byteLength(page.text)).toBeLessThan(300_000);
    const last = await client.get('/ui/matrix?page=20');
    expect(last.text.includes('id="rule-rule-999"')).toBe(true);
    expect(Buffer.byteLength(last.text)).toBeLessThan(300_000);
    expect((await client.get('/ui/matrix?page=0')).status).toBe(400);
    expect((await client.get('/ui/matrix?page=1000000')).status).toBe(400);
  });

  it('the secrets view lists ten granting rules per name and links to the rest', async () => {
    const page = await client.get('/ui/secrets');
    expect(page.status).toBe(200);
    expect(
      page.text.includes(
        'href="/ui/matrix?secret=team-3%2Fshared%2FNAME_0&amp;prefix=team-3%2Fshared%2FNAME_0">and 30 more</a>',
      ),
    ).toBe(true);
    expect(Buffer.byteLength(page.text)).toBeLessThan(200_000);
    const granting = await client.get(
      '/ui/matrix?secret=team-3%2Fshared%2FNAME_0&prefix=team-3%2Fshared%2FNAME_0',
    );
    expect(granting.status).toBe(200);
    expect(granting.text.match(/class="rule-card"/g)).toHaveLength(40);
  });
});

// Last: it spends this address's failure budget (a valid token is still served beyond it).
describe('failed sign-ins', () => {
  it('count toward the admin API per-address budget: then 429 with Retry-After, and a valid token still signs in', async () => {
    const client = new DashboardClient(harness.url);
    let refused: Page | undefined;
    for (let attempt = 0; attempt < 20 && refused === undefined; attempt += 1) {
      const page = await client.signIn(`wrong-token-${attempt}-${'x'.repeat(40)}`);
      if (page.status === 429) refused = page;
      else expect(page.status).toBe(401);
    }
    expect(refused?.text).toContain('too many failed admin authentications');
    expect(Number(refused?.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await client.signIn(auditorToken)).status).toBe(303);
  });
});
