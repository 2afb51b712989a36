// Makes docs/screenshots/*.png: each dashboard view, in Debian's Chromium, over a broker with a sample policy,
// secrets and audit trail (run: npx tsx scripts/ui-screenshots.ts). Nothing of it is kept but the images.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BrokerHarness, TEST_AUDIENCE } from '../test/helpers/broker-harness.js';
import { launchChromium } from '../test/helpers/chromium.js';
import { githubClaims, gitlabClaims } from '../test/helpers/oidc-issuer.js';

const OUT = join(import.meta.dirname, '..', 'docs', 'screenshots');

async function seed(harness: BrokerHarness): Promise<string> {
  for (const name of [
    'prod/api/DB_PASSWORD',
    'prod/api/STRIPE_KEY',
    'staging/api/DB_PASSWORD',
    'shared/SLACK_WEBHOOK',
    'shared/PLATFORM_TOKEN',
    'prod/web/deploy/SSH_KEY',
  ]) {
    await harness.setSecret(name, `sample value of ${name}`);
  }
  await harness.setSecret('prod/api/DB_PASSWORD', 'sample value, rotated');
  await harness.admin('PATCH', '/secrets/prod/api/DB_PASSWORD', {
    conditions: {
      owner: 'team-api',
      description: 'Primary database',
      max_reads: { count: 500, period_seconds: 86400 },
    },
  });
  await harness.admin('PATCH', '/secrets/shared/SLACK_WEBHOOK', {
    conditions: { owner: 'platform', expires_at: new Date(Date.now() + 20 * 86_400_000).toISOString() },
  });
  const github = (overrides = {}) =>
    harness.github.token(githubClaims(harness.github.url, TEST_AUDIENCE, overrides));
  for (let index = 0; index < 6; index += 1) await harness.exchange(await github(), ['prod/api/*']);
  await harness.exchange(await github({ ref: 'refs/heads/feature/x', environment: undefined }), [
    'staging/api/DB_PASSWORD',
  ]);
  await harness.exchange(await github({ repository_id: '111', repository: 'acme/other' }), [
    'prod/api/DB_PASSWORD',
  ]);
  await harness.exchange(await github({ repository_id: '111', repository: 'acme/other' }), [
    'prod/api/STRIPE_KEY',
  ]);
  await harness.exchange(await github({ actor: 'dependabot[bot]' }), ['prod/api/DB_PASSWORD']);
  const replayed = await github();
  await harness.exchange(replayed, ['prod/api/DB_PASSWORD']);
  await harness.exchange(replayed, ['prod/api/DB_PASSWORD']);
  await harness.exchange(await harness.gitlab.token(gitlabClaims(harness.gitlab.url, TEST_AUDIENCE)), [
    'prod/web/deploy/SSH_KEY',
  ]);
  const auditor = await harness.admin('POST', '/tokens', { label: 'access review', role: 'auditor' });
  return auditor.json.token as string;
}

const harness = await BrokerHarness.start({ ui: true });
const browser = await launchChromium();
try {
  const token = await seed(harness);
  await mkdir(OUT, { recursive: true });
  const page = await (await browser.newContext({ viewport: { width: 1360, height: 900 } })).newPage();
  const shoot = async (name: string): Promise<void> => {
    await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });
  };
  await page.goto(`${harness.url}/ui/sign-in`);
  await shoot('sign-in');
  await page.fill('#token', token);
  await Promise.all([page.waitForURL('**/ui/secrets'), page.click('button[type=submit]')]);
  await shoot('secrets');
  await page.goto(`${harness.url}/ui/matrix?repository=acme%2Fapi`);
  await shoot('matrix');
  await page.goto(`${harness.url}/ui/explain`);
  await page.fill(
    '#input',
    JSON.stringify(githubClaims(harness.github.url, TEST_AUDIENCE, { ref: 'refs/heads/feature/x' }), null, 2),
  );
  await page.fill('#secrets', 'prod/api/DB_PASSWORD\nstaging/api/DB_PASSWORD');
  await Promise.all([page.waitForLoadState('load'), page.click('form.explain button[type=submit]')]);
  await shoot('explain');
  await page.goto(`${harness.url}/ui/audit?kind=exchange&limit=25`);
  await shoot('audit');
  await page.goto(`${harness.url}/ui/health`);
  await shoot('health');
} finally {
  await browser.close();
  await harness.close();
}
