/**
 * Conditions enforced by the real broker (issue 16): a rule's `when` (client address through a trusted proxy, day
 * and time on an injected clock), and a secret's expiry, read budget and rotate-after-reads. For each: allowed,
 * refused with its code and a hint that says what holds it, nothing released (also beside a secret that passes),
 * and the audit record naming the condition.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerHarness,
  ManualClock,
  policyWithRules,
  newRecipient,
  openSealed,
  TEST_AUDIENCE,
  type HttpResult,
} from '../helpers/broker-harness.js';
import { githubClaims } from '../helpers/oidc-issuer.js';

/** A Wednesday, 10:30 in Oslo: inside the office-hours window. */
const WEDNESDAY_MORNING = '2030-01-09T09:30:00Z';

const policy = policyWithRules(`  - name: office-network
    issuer: github
    claims: { repository_id: "98765" }
    when:
      source_ips: [10.0.0.0/8]
    secrets: [net/*]
  - name: office-hours
    issuer: github
    claims: { repository_id: "98765" }
    when:
      time: { days: mon-fri, hours: "08:00-18:00", timezone: Europe/Oslo }
    secrets: [hours/*]
  - name: always
    issuer: github
    claims: { repository_id: "98765" }
    secrets: [free/*, life/*]
`);

const clock = new ManualClock(WEDNESDAY_MORNING);
let harness: BrokerHarness;

beforeAll(async () => {
  harness = await BrokerHarness.start({
    policy,
    clock,
    environment: { SECRETS_BROKER_TRUST_PROXY: '127.0.0.1' },
  });
  await harness.setSecret('net/KEY', 'net-value');
  await harness.setSecret('hours/KEY', 'hours-value');
  await harness.setSecret('free/KEY', 'free-value');
  await setWithConditions('life/EXPIRING', 'expiring-value', { expires_at: '2030-01-10T09:30:00Z' });
  await setWithConditions('life/BUDGET', 'budget-value', { max_reads: { count: 2, period_seconds: 3600 } });
  await setWithConditions('life/BUDGET_B', 'budget-b-value', {
    max_reads: { count: 2, period_seconds: 3600 },
  });
  await setWithConditions('life/ROTATE', 'rotate-value-1', { rotate_after_reads: 2 });
});

afterAll(async () => {
  await harness?.close();
});

async function setWithConditions(name: string, value: string, conditions: object): Promise<void> {
  const result = await harness.admin('PUT', `/secrets/${name}`, { value, conditions });
  if (result.status !== 201) throw new Error(`setting ${name} failed: ${result.text}`);
}

const token = (): Promise<string> => harness.github.token(githubClaims(harness.github.url, TEST_AUDIENCE));

/** An exchange whose client address, as the trusted proxy at 127.0.0.1 says, is `from` (the peer without it). */
async function exchange(secrets: string[], from?: string): Promise<HttpResult> {
  const headers: Record<string, string> = from === undefined ? {} : { 'x-forwarded-for': from };
  return harness.exchange(await token(), secrets, newRecipient(), undefined, headers);
}

function expectReleased(result: HttpResult, names: string[]): void {
  expect(result.status, result.text).toBe(200);
  expect((result.json.secrets as { name: string }[]).map((secret) => secret.name)).toEqual(names);
}

/** Refused with `code`, nothing sealed, and the audit record names the condition (and released nothing). */
async function expectRefused(
  result: HttpResult,
  status: number,
  code: string,
  condition: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  expect(result.status, result.text).toBe(status);
  expect(result.headers.get('content-type')).toBe('application/problem+json');
  expect(result.json.code).toBe(code);
  expect(result.text).not.toContain('"sealed"');
  expect(result.text).not.toMatch(/-value/);
  const record = await harness.auditRecord(result.json.request_id);
  expect(record).toMatchObject({ kind: 'exchange', outcome: 'denied', code, released: [] });
  expect(record.conditions).toEqual(expect.arrayContaining([expect.objectContaining(condition)]));
  expect(JSON.stringify(record)).not.toMatch(/-value/);
  return record;
}

describe('when.source_ips', () => {
  it('grants from an address inside the range, as the trusted proxy reports it', async () => {
    clock.set(WEDNESDAY_MORNING);
    const recipient = newRecipient();
    const result = await harness.exchange(await token(), ['net/KEY'], recipient, undefined, {
      'x-forwarded-for': '10.1.2.3',
    });
    expectReleased(result, ['net/KEY']);
    const sealed = (result.json.secrets as { sealed: string }[])[0]!.sealed;
    expect(openSealed(sealed, recipient)).toMatchObject({ value: 'net-value' });
    const record = await harness.auditRecord(result.json.request_id);
    expect(record).toMatchObject({
      source_ip: '10.1.2.3',
      rules: ['office-network', 'office-hours', 'always'],
    });
    expect(record.conditions).toEqual([]);
  });

  it('refuses from another address with condition_failed, naming the rule, the condition and the address', async () => {
    const result = await exchange(['net/KEY'], '192.0.2.1');
    await expectRefused(result, 403, 'condition_failed', {
      code: 'condition_failed',
      condition: 'source_ips',
      rule: 'office-network',
    });
    expect(result.json.secrets).toEqual(['net/KEY']);
    expect(result.json.hint).toContain('office-network');
    expect(result.json.hint).toContain('source_ips');
    expect(result.json.hint).toContain('192.0.2.1');
    expect(result.json.hint).toContain('an address the rule allows');
    expect(result.json.hint).toContain('"when"');
  });

  it('refuses the loopback peer itself (no forwarded address) against a rule for 10.0.0.0/8', async () => {
    const result = await exchange(['net/KEY']);
    await expectRefused(result, 403, 'condition_failed', { condition: 'source_ips' });
    expect(result.json.hint).toContain('127.0.0.1');
  });

  it('releases nothing when one of two secrets is held by a condition', async () => {
    const result = await exchange(['free/KEY', 'net/KEY'], '192.0.2.1');
    await expectRefused(result, 403, 'condition_failed', { rule: 'office-network' });
    expect(result.json.secrets).toEqual(['net/KEY']);
  });

  it('is policy_denied when another entry is not granted at all, and the hint still names the condition', async () => {
    const result = await exchange(['net/KEY', 'other/KEY'], '192.0.2.1');
    await expectRefused(result, 403, 'policy_denied', { rule: 'office-network' });
    expect(result.json.secrets).toEqual(['net/KEY', 'other/KEY']);
    expect(result.json.hint).toContain('192.0.2.1');
    expect(result.json.hint).toContain('no rule grants "other/KEY"');
  });
});

describe('when.time (on the injected clock)', () => {
  it('grants inside the window', async () => {
    clock.set(WEDNESDAY_MORNING);
    expectReleased(await exchange(['hours/KEY']), ['hours/KEY']);
  });

  it('refuses on a Saturday with condition_failed, naming the window and the local time', async () => {
    clock.set('2030-01-12T09:30:00Z');
    const result = await exchange(['hours/KEY', 'free/KEY']);
    await expectRefused(result, 403, 'condition_failed', {
      code: 'condition_failed',
      condition: 'time',
      rule: 'office-hours',
    });
    expect(result.json.hint).toContain('office-hours');
    expect(result.json.hint).toContain('Europe/Oslo');
    expect(result.json.hint).toContain('10:30');
    expect(result.json.hint).toContain('time window is open');
  });

  it('refuses on a weekday after hours, and grants again when the clock is back inside', async () => {
    clock.set('2030-01-09T17:00:00Z'); // 18:00 in Oslo: the end is exclusive
    await expectRefused(await exchange(['hours/KEY']), 403, 'condition_failed', { condition: 'time' });
    clock.set('2030-01-09T16:59:00Z');
    expectReleased(await exchange(['hours/KEY']), ['hours/KEY']);
  });

  it('a rule held back by its window grants nothing, even to a pattern', async () => {
    clock.set('2030-01-12T09:30:00Z');
    await expectRefused(await exchange(['hours/*']), 403, 'condition_failed', { rule: 'office-hours' });
    expectReleased(await exchange(['hours/*?', 'free/*']), ['free/KEY']);
  });
});

describe('secret expiry', () => {
  it('releases before the expiry, and refuses after it with secret_expired, releasing nothing', async () => {
    clock.set(WEDNESDAY_MORNING);
    expectReleased(await exchange(['life/EXPIRING']), ['life/EXPIRING']);
    clock.set('2030-01-10T09:30:00Z');
    const result = await exchange(['free/KEY', 'life/EXPIRING']);
    await expectRefused(result, 403, 'secret_expired', {
      code: 'secret_expired',
      condition: 'expires',
      secret: 'life/EXPIRING',
    });
    expect(result.json.secrets).toEqual(['life/EXPIRING']);
    expect(result.json.hint).toContain('2030-01-10T09:30:00');
    expect(result.json.hint).toContain('secrets-broker secret update life/EXPIRING --expires');
  });

  it('a pattern that expands to an expired secret is refused too', async () => {
    clock.set('2030-01-11T00:00:00Z');
    await expectRefused(await exchange(['life/EXP*']), 403, 'secret_expired', { secret: 'life/EXPIRING' });
  });
});

describe('read budget', () => {
  it('releases up to the budget, then 429 read_budget_exhausted with Retry-After to the window end', async () => {
    clock.set(WEDNESDAY_MORNING);
    expectReleased(await exchange(['life/BUDGET']), ['life/BUDGET']);
    expectReleased(await exchange(['life/BUDGET']), ['life/BUDGET']);
    const result = await exchange(['life/BUDGET']);
    await expectRefused(result, 429, 'read_budget_exhausted', {
      code: 'read_budget_exhausted',
      condition: 'max_reads',
      secret: 'life/BUDGET',
    });
    // The window of 3600 s that started at 09:00 ends at 10:00: 1800 s from 09:30.
    expect(result.headers.get('retry-after')).toBe('1800');
    expect(result.json.retry_after).toBe(1800);
    expect(result.json.hint).toContain('retry in 1800 s');
    expect(result.json.hint).toContain('secrets-broker secret update life/BUDGET --max-reads');
  });

  it('a refused exchange counts no read of the other secrets it asked for', async () => {
    clock.set(WEDNESDAY_MORNING);
    expectReleased(await exchange(['life/BUDGET_B']), ['life/BUDGET_B']);
    // Refused for life/BUDGET: life/BUDGET_B, asked beside it, must not be counted.
    await expectRefused(await exchange(['life/BUDGET_B', 'life/BUDGET']), 429, 'read_budget_exhausted', {
      secret: 'life/BUDGET',
    });
    expectReleased(await exchange(['life/BUDGET_B']), ['life/BUDGET_B']);
    await expectRefused(await exchange(['life/BUDGET_B']), 429, 'read_budget_exhausted', {
      secret: 'life/BUDGET_B',
    });
  });

  it('the next window starts a new count', async () => {
    clock.set('2030-01-09T10:00:00Z');
    expectReleased(await exchange(['life/BUDGET', 'life/BUDGET_B']), ['life/BUDGET', 'life/BUDGET_B']);
  });
});

describe('rotate after reads', () => {
  it('releases the current version N times, then rotation_required until a new version is stored', async () => {
    clock.set(WEDNESDAY_MORNING);
    expectReleased(await exchange(['life/ROTATE']), ['life/ROTATE']);
    expectReleased(await exchange(['life/ROTATE', 'free/KEY']), ['life/ROTATE', 'free/KEY']);
    const result = await exchange(['free/KEY', 'life/ROTATE']);
    await expectRefused(result, 403, 'rotation_required', {
      code: 'rotation_required',
      condition: 'rotate_after_reads',
      secret: 'life/ROTATE',
    });
    expect(result.json.hint).toContain('secrets-broker secret set life/ROTATE');

    await harness.setSecret('life/ROTATE', 'rotate-value-2');
    const recipient = newRecipient();
    const rotated = await harness.exchange(await token(), ['life/ROTATE'], recipient);
    expectReleased(rotated, ['life/ROTATE']);
    const sealed = (rotated.json.secrets as { sealed: string }[])[0]!.sealed;
    expect(openSealed(sealed, recipient)).toMatchObject({ version: 2, value: 'rotate-value-2' });
  });
});
