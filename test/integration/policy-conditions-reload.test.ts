import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { githubClaims } from '../helpers/oidc-issuer.js';
import { BrokerHarness, TEST_AUDIENCE } from '../helpers/broker-harness.js';
import { eventually } from '../helpers/eventually.js';

/**
 * Hostile `when:` conditions an admin (or an attacker with write access to the file) may put in the policy: each
 * reload is refused with a line that says where and what, and the policy before it keeps serving unchanged.
 */
const HOSTILE_CONDITIONS: ReadonlyArray<[string, string, RegExp]> = [
  ['a prefix past /32', 'source_ips: [10.0.0.0/33]', /source_ips/],
  ['host bits set', 'source_ips: [10.0.0.1/8]', /10\.0\.0\.0\/8/],
  ['not an address', 'source_ips: [not-an-address]', /source_ips/],
  ['an IPv6 prefix past /128', 'source_ips: ["2001:db8::/129"]', /source_ips/],
  ['an empty list', 'source_ips: []', /source_ips/],
  ['an unknown timezone', 'time: { hours: "08:00-18:00", timezone: Mars/Olympus_Mons }', /timezone/],
  ['an offset for a timezone', 'time: { hours: "08:00-18:00", timezone: "+01:00" }', /timezone/],
  ['no timezone', 'time: { hours: "08:00-18:00" }', /timezone/],
  ['hours past midnight', 'time: { hours: "25:00-26:00", timezone: UTC }', /hours/],
  ['hours without a range', 'time: { hours: "08:00", timezone: UTC }', /hours/],
  ['a day that is not one', 'time: { days: [funday], timezone: UTC }', /days/],
  ['an unknown condition', 'weather: sunny', /weather/],
  ['a huge list', `source_ips: [${Array.from({ length: 5000 }, () => '"x"').join(', ')}]`, /source_ips/],
];

let h: BrokerHarness;
let original: string;

beforeAll(async () => {
  h = await BrokerHarness.start();
  await h.setSecret('staging/api/DB_PASSWORD', 'staging-value');
  original = await readFile(h.policyFile, 'utf8');
});

afterAll(async () => {
  await h.close();
});

async function refusedReloads(): Promise<number> {
  const metrics = (await h.request('GET', '/metrics')).text;
  return Number(/secrets_broker_policy_reloads_total\{result="refused"\} (\d+)/.exec(metrics)?.[1] ?? 0);
}

async function exchangeStaging() {
  const token = await h.github.token(githubClaims(h.github.url, TEST_AUDIENCE, { ref: 'refs/heads/main' }));
  return h.exchange(token, ['staging/api/DB_PASSWORD']);
}

describe('hostile rule conditions in a policy reload', () => {
  it.each(HOSTILE_CONDITIONS)(
    '%s: refused, named, and the old policy keeps serving',
    async (_what, when, named) => {
      const before = await refusedReloads();
      const logsBefore = h.logs.length;
      const edited = original.replace(
        '      ref: refs/heads/*\n',
        `      ref: refs/heads/*\n    when:\n      ${when}\n`,
      );
      expect(edited).not.toBe(original);
      await writeFile(h.policyFile, edited);
      process.emit('SIGHUP', 'SIGHUP');
      await eventually(
        async () => ((await refusedReloads()) > before ? true : undefined),
        15_000,
        'the refused reload',
      );
      const logged = h.logs.slice(logsBefore).join('');
      expect(logged).toMatch(/policy reload refused; the previous policy keeps serving/);
      expect(logged).toMatch(named);
      expect(logged).toMatch(/policy\.yaml:\d+:\d+|line \d+/);
      // The rule still grants as before: the edit changed nothing.
      expect((await exchangeStaging()).status).toBe(200);
      await writeFile(h.policyFile, original);
    },
  );
});
