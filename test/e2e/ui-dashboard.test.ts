/**
 * The dashboard in real Chromium: sign in as an auditor, the access matrix, the audit filtered to denials, an explain
 * result, sign-out; a wrong token refused; the CSP enforced, and hostile text from a token shown as text, never run.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARD_CSP } from '../../src/broker/ui/security-headers.js';
import { BrokerHarness, TEST_AUDIENCE } from '../helpers/broker-harness.js';
import { launchChromium } from '../helpers/chromium.js';
import { githubClaims } from '../helpers/oidc-issuer.js';

const HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">';

let harness: BrokerHarness;
let browser: Browser;
let auditorToken: string;

/**
 * What the tests read and set in the page (this project compiles without the DOM library). The functions given to
 * page.evaluate run in the browser: they name these types only, which compile away.
 */
interface Probe {
  __violations?: string[];
  __pwned?: number;
  __ran?: number;
  document: {
    addEventListener(
      type: string,
      listener: (event: { violatedDirective: string; blockedURI: string }) => void,
    ): void;
    createElement(tag: string): { textContent: string };
    querySelector(selector: string): unknown;
    body: { append(node: unknown): void };
  };
  getComputedStyle(element: unknown): { backgroundColor: string };
}

/** A context that records every CSP violation the page reports, and every console error. */
async function recordingContext(): Promise<{ context: BrowserContext; page: Page; consoleErrors: string[] }> {
  const context = await browser.newContext();
  // Evaluated by the browser itself before any page script (not subject to the page's CSP).
  await context.addInitScript(() => {
    const probe = globalThis as unknown as Probe;
    probe.__violations = [];
    probe.document.addEventListener('securitypolicyviolation', (event) =>
      probe.__violations?.push(`${event.violatedDirective} ${event.blockedURI}`),
    );
  });
  const page = await context.newPage();
  const consoleErrors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(error.message));
  return { context, page, consoleErrors };
}

beforeAll(async () => {
  harness = await BrokerHarness.start({ ui: true });
  for (const name of [
    'prod/api/DB_PASSWORD',
    'staging/api/DB_PASSWORD',
    'shared/PLATFORM_TOKEN',
    'prod/web/deploy/KEY',
  ])
    await harness.setSecret(name, `value of ${name}`);
  const created = await harness.admin('POST', '/tokens', { label: 'e2e auditor', role: 'auditor' });
  auditorToken = created.json.token as string;
  const allowed = await harness.github.token(githubClaims(harness.github.url, TEST_AUDIENCE));
  expect((await harness.exchange(allowed, ['prod/api/DB_PASSWORD'])).status).toBe(200);
  // A verified token whose repository claim is markup: its denied exchange is in the audit as this text.
  const hostile = await harness.github.token(
    githubClaims(harness.github.url, TEST_AUDIENCE, { repository: HOSTILE, repository_id: '666' }),
  );
  expect((await harness.exchange(hostile, ['prod/api/DB_PASSWORD'])).status).toBe(403);
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await harness?.close();
});

describe('the dashboard in Chromium', () => {
  it('refuses a wrong token', async () => {
    const { context, page } = await recordingContext();
    try {
      await page.goto(`${harness.url}/ui`);
      expect(new URL(page.url()).pathname).toBe('/ui/sign-in');
      await page.fill('#token', 'sbadm_0000000000000000_wrongwrongwrongwrongwrongwrongwrongwrongwro');
      const [response] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith('/ui/sign-in') && r.request().method() === 'POST'),
        page.click('button[type=submit]'),
      ]);
      expect(response.status()).toBe(401);
      await expect.poll(() => page.textContent('[role=alert]')).toContain('That admin token is not valid');
      expect((await context.cookies()).some((cookie) => cookie.name === '__Host-secrets-ui-session')).toBe(
        false,
      );
    } finally {
      await context.close();
    }
  });

  it('signs in as auditor, shows the matrix, filters the audit to denials, explains, and signs out', async () => {
    const { context, page, consoleErrors } = await recordingContext();
    try {
      const signIn = await page.goto(`${harness.url}/ui/sign-in`);
      expect(signIn?.headers()['content-security-policy']).toBe(DASHBOARD_CSP);
      expect(signIn?.headers()['x-frame-options']).toBe('DENY');
      await page.fill('#token', auditorToken);
      await Promise.all([page.waitForURL('**/ui/secrets'), page.click('button[type=submit]')]);
      // The Secure, HttpOnly, SameSite=Strict cookie works over http on 127.0.0.1 (a secure context).
      const session = (await context.cookies()).find((cookie) => cookie.name === '__Host-secrets-ui-session');
      expect(session).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict', path: '/' });
      expect(await page.textContent('.who')).toContain('e2e auditor');
      expect(
        await page.evaluate(() => {
          const probe = globalThis as unknown as Probe;
          return probe.getComputedStyle(probe.document.querySelector('nav')).backgroundColor;
        }),
      ).toBe('rgb(29, 36, 48)');

      await Promise.all([page.waitForURL('**/ui/matrix'), page.click('nav >> text=Access matrix')]);
      const rules = await page.$$eval('section.rule-card h3 code', (codes) =>
        codes.map((code) => code.textContent),
      );
      expect(rules).toEqual(['api-deploy-prod', 'api-ci-any-branch', 'platform-group', 'web-deploy-gitlab']);
      expect(await page.$$eval('table.grid td.granted', (cells) => cells.length)).toBeGreaterThanOrEqual(4);

      await Promise.all([page.waitForURL('**/ui/audit'), page.click('nav >> text=Audit')]);
      await page.selectOption('select[name=outcome]', 'denied');
      await Promise.all([page.waitForURL(/outcome=denied/), page.click('form.filters button[type=submit]')]);
      const outcomes = await page.$$eval('table.audit tbody tr', (rows) => rows.map((row) => row.className));
      expect(outcomes.length).toBeGreaterThan(0);
      expect(outcomes.every((outcome) => outcome === 'outcome-denied')).toBe(true);
      expect(await page.textContent('table.audit')).toContain(HOSTILE);
      expect(await page.$$('table.audit img')).toHaveLength(0);
      expect(await page.evaluate(() => (globalThis as unknown as Probe).__pwned)).toBeUndefined();
      expect(await page.$$('svg.chart rect.bar-denied')).not.toHaveLength(0);

      await Promise.all([page.waitForURL('**/ui/explain'), page.click('nav >> text=Explain')]);
      await page.fill(
        '#input',
        JSON.stringify(
          githubClaims(harness.github.url, TEST_AUDIENCE, { ref: 'refs/heads/dev', actor: HOSTILE }),
        ),
      );
      await page.fill('#secrets', 'prod/api/DB_PASSWORD\nstaging/api/DB_PASSWORD');
      await Promise.all([page.waitForLoadState('load'), page.click('form.explain button[type=submit]')]);
      await expect.poll(() => page.textContent('section.result')).toContain('Decision');
      const decisions = await page.$$eval('table.decisions tbody tr', (rows) =>
        rows.map((row) => row.textContent ?? ''),
      );
      expect(decisions[0]).toMatch(/prod\/api\/DB_PASSWORD\s*denied/);
      expect(decisions[0]).toMatch(/api-deploy-prod: \d+ of \d+ claims match; fails on ref/);
      expect(decisions[1]).toMatch(/staging\/api\/DB_PASSWORD\s*granted by api-ci-any-branch/);
      expect(await page.inputValue('#input')).toContain('<script>window.__pwned = 1</script>');
      expect(await page.evaluate(() => (globalThis as unknown as Probe).__pwned)).toBeUndefined();

      expect(await page.evaluate(() => (globalThis as unknown as Probe).__violations)).toEqual([]);
      await Promise.all([
        page.waitForURL('**/ui/sign-in?ended=signed-out'),
        page.click('form.sign-out button'),
      ]);
      expect(await page.textContent('[role=status]')).toContain('You signed out.');
      expect((await context.cookies()).some((cookie) => cookie.name === '__Host-secrets-ui-session')).toBe(
        false,
      );
      await page.goto(`${harness.url}/ui/audit`);
      expect(new URL(page.url()).pathname).toBe('/ui/sign-in');
      expect(consoleErrors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);

  it('enforces the CSP: an inline script put into a page is blocked and reported', async () => {
    const { context, page } = await recordingContext();
    try {
      await page.goto(`${harness.url}/ui/sign-in`);
      await page.evaluate(() => {
        const { document } = globalThis as unknown as Probe;
        const script = document.createElement('script');
        script.textContent = 'window.__ran = 1';
        document.body.append(script);
      });
      await expect
        .poll(() => page.evaluate(() => (globalThis as unknown as Probe).__violations?.length ?? 0))
        .toBeGreaterThan(0);
      expect(await page.evaluate(() => (globalThis as unknown as Probe).__ran)).toBeUndefined();
      expect((await page.evaluate(() => (globalThis as unknown as Probe).__violations))?.[0]).toMatch(
        /^script-src-elem/,
      );
    } finally {
      await context.close();
    }
  });
});
