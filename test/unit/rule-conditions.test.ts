/** Rule conditions (`rules[].when`, issue 16 part 1): address ranges, time windows, load errors. */
import { describe, expect, it } from 'vitest';
import { failedCondition } from '../../src/broker/policy/conditions.js';
import type { CompiledRule } from '../../src/broker/policy/compiled-policy.js';
import { parsePolicy, PolicyError } from '../../src/broker/policy/load-policy.js';
import { localTime } from '../../src/broker/policy/time-window.js';
import { lintPolicy } from '../../src/broker/policy/lint.js';

const HEAD = `version: 1
audience: https://secrets.example.com
issuers:
  github:
    url: https://token.actions.githubusercontent.com
rules:
  - name: deploy
    issuer: github
    claims: { repository_id: "1" }
    secrets: [prod/x]
`;

function ruleWith(when: string): CompiledRule {
  return parsePolicy(`${HEAD}    when:\n${when}`, 'policy.yaml').rules[0] as CompiledRule;
}

function problemLines(when: string): string[] {
  try {
    parsePolicy(`${HEAD}    when:\n${when}`, 'policy.yaml');
  } catch (error) {
    if (error instanceof PolicyError) return error.message.split('\n');
    throw error;
  }
  throw new Error('expected the policy to be refused');
}

const NOON = new Date('2026-03-04T12:00:00Z'); // a Wednesday

describe('when.source_ips', () => {
  const rule = ruleWith(`      source_ips: [10.0.0.0/8, 192.0.2.7, "2001:db8::/32"]\n`);
  const at = (sourceIp: string): string | undefined =>
    failedCondition(rule, { sourceIp, now: NOON })?.condition;

  it('holds for IPv4 and IPv6 addresses inside a range, and for a single address', () => {
    expect(at('10.1.2.3')).toBeUndefined();
    expect(at('192.0.2.7')).toBeUndefined();
    expect(at('2001:db8:1::5')).toBeUndefined();
    expect(at('2001:DB8::1')).toBeUndefined();
  });

  it('an IPv4-mapped IPv6 client address matches the IPv4 ranges', () => {
    expect(at('::ffff:10.9.9.9')).toBeUndefined();
    expect(at('::ffff:192.0.2.7')).toBeUndefined();
    expect(at('::ffff:11.0.0.1')).toBe('source_ips');
  });

  it('fails outside every range, for unknown addresses, and names the rule and the address seen', () => {
    expect(at('11.0.0.1')).toBe('source_ips');
    expect(at('192.0.2.8')).toBe('source_ips');
    expect(at('2001:db9::1')).toBe('source_ips');
    expect(at('unknown')).toBe('source_ips');
    expect(failedCondition(rule, { sourceIp: '203.0.113.9', now: NOON })).toEqual({
      condition: 'source_ips',
      detail: 'rule "deploy": when.source_ips does not include the client address "203.0.113.9"',
    });
  });

  it('fails closed for a client address that could not be determined, saying so and never naming the ranges', () => {
    for (const sourceIp of ['unknown', 'unknown (via 10.0.0.5)', 'unknown (via 2001:db8::1)']) {
      expect(failedCondition(rule, { sourceIp, now: NOON })).toEqual({
        condition: 'source_ips',
        detail: 'rule "deploy": when.source_ips cannot hold: the client address could not be determined',
      });
    }
    // Not even a range for every address holds for it (the proxy it came through is inside 10.0.0.0/8).
    const all = ruleWith(`      source_ips: [0.0.0.0/0, "::/0", 10.0.0.0/8]\n`);
    expect(failedCondition(all, { sourceIp: 'unknown (via 10.0.0.5)', now: NOON })?.condition).toBe(
      'source_ips',
    );
  });

  it('"office IPv4, any IPv6" ([10.0.0.0/8, "::/0"]) does not admit the rest of IPv4', () => {
    const office = ruleWith(`      source_ips: [10.0.0.0/8, "::/0"]\n`);
    const held = (sourceIp: string): boolean =>
      failedCondition(office, { sourceIp, now: NOON }) === undefined;
    expect(held('10.1.2.3')).toBe(true);
    expect(held('::ffff:10.1.2.3')).toBe(true);
    expect(held('2001:db8::5')).toBe(true);
    expect(held('203.0.113.9')).toBe(false);
    expect(held('::ffff:203.0.113.9')).toBe(false);
    const ipv6Only = ruleWith(`      source_ips: ["::/64"]\n`);
    expect(failedCondition(ipv6Only, { sourceIp: '203.0.113.9', now: NOON })).toEqual({
      condition: 'source_ips',
      detail: 'rule "deploy": when.source_ips does not include the client address "203.0.113.9"',
    });
  });

  it('a rule without when has no failed condition', () => {
    const plain = parsePolicy(HEAD, 'policy.yaml').rules[0] as CompiledRule;
    expect(plain.when).toBeUndefined();
    expect(failedCondition(plain, { sourceIp: 'unknown', now: NOON })).toBeUndefined();
  });

  it('0.0.0.0/0 and ::/0 hold for every address of their family', () => {
    const all = ruleWith(`      source_ips: [0.0.0.0/0, "::/0"]\n`);
    for (const sourceIp of ['1.2.3.4', '255.255.255.255', '::1', 'fe80::1', '::ffff:1.2.3.4'])
      expect(failedCondition(all, { sourceIp, now: NOON })).toBeUndefined();
  });
});

describe('when.time', () => {
  const holds = (when: string, iso: string): boolean =>
    failedCondition(ruleWith(when), { sourceIp: '10.0.0.1', now: new Date(iso) }) === undefined;
  const officeNewYork = `      time: { days: mon-fri, hours: "08:00-18:00", timezone: America/New_York }\n`;

  it('checks the day and hours on the wall clock of the rule time zone', () => {
    // Wednesday 2026-03-04: New York is UTC-5.
    expect(holds(officeNewYork, '2026-03-04T13:00:00Z')).toBe(true); // 08:00
    expect(holds(officeNewYork, '2026-03-04T12:59:59Z')).toBe(false); // 07:59
    expect(holds(officeNewYork, '2026-03-04T22:59:00Z')).toBe(true); // 17:59
    expect(holds(officeNewYork, '2026-03-04T23:00:00Z')).toBe(false); // 18:00, end excluded
    // Saturday 2026-03-07 noon in New York.
    expect(holds(officeNewYork, '2026-03-07T17:00:00Z')).toBe(false);
    // Friday 23:30 UTC is Friday 18:30 in New York, but Saturday in Tokyo.
    const tokyoWeekdays = `      time: { days: mon-fri, timezone: Asia/Tokyo }\n`;
    expect(holds(tokyoWeekdays, '2026-03-06T14:59:00Z')).toBe(true); // Fri 23:59 JST
    expect(holds(tokyoWeekdays, '2026-03-06T15:00:00Z')).toBe(false); // Sat 00:00 JST
  });

  it('follows daylight saving: New York on 2026-03-08 (spring forward) and 2026-11-01 (fall back)', () => {
    const sunday = `      time: { days: [sun], hours: "08:00-09:00", timezone: America/New_York }\n`;
    // 2026-03-08 08:00 EDT is 12:00 UTC (it was 13:00 UTC the day before, in EST).
    expect(holds(sunday, '2026-03-08T12:00:00Z')).toBe(true);
    expect(holds(sunday, '2026-03-08T11:59:00Z')).toBe(false);
    expect(holds(sunday, '2026-03-08T13:00:00Z')).toBe(false);
    // 2026-11-01 08:00 EST is 13:00 UTC.
    expect(holds(sunday, '2026-11-01T12:59:00Z')).toBe(false);
    expect(holds(sunday, '2026-11-01T13:00:00Z')).toBe(true);
    // The repeated hour 01:00-02:00 on the fall-back day holds both times.
    const repeated = `      time: { hours: "01:00-02:00", timezone: America/New_York }\n`;
    expect(holds(repeated, '2026-11-01T05:30:00Z')).toBe(true); // 01:30 EDT
    expect(holds(repeated, '2026-11-01T06:30:00Z')).toBe(true); // 01:30 EST
    expect(holds(repeated, '2026-11-01T07:30:00Z')).toBe(false); // 02:30 EST
    // The skipped hour 02:00-03:00 on the spring-forward day never comes.
    const skipped = `      time: { hours: "02:00-03:00", timezone: America/New_York }\n`;
    expect(holds(skipped, '2026-03-08T06:59:00Z')).toBe(false); // 01:59 EST
    expect(holds(skipped, '2026-03-08T07:00:00Z')).toBe(false); // 03:00 EDT
  });

  it('an overnight window belongs to the day it opens on', () => {
    const fridayNight = `      time: { days: fri, hours: "22:00-06:00", timezone: UTC }\n`;
    expect(holds(fridayNight, '2026-03-06T22:00:00Z')).toBe(true); // Fri 22:00
    expect(holds(fridayNight, '2026-03-07T05:59:00Z')).toBe(true); // Sat 05:59
    expect(holds(fridayNight, '2026-03-07T06:00:00Z')).toBe(false); // Sat 06:00
    expect(holds(fridayNight, '2026-03-06T03:00:00Z')).toBe(false); // Fri 03:00: Thursday's night
    expect(holds(fridayNight, '2026-03-07T22:30:00Z')).toBe(false); // Sat 22:30
    expect(holds(fridayNight, '2026-03-06T12:00:00Z')).toBe(false); // Fri noon
  });

  it('day ranges may wrap past Sunday, and lists may mix days and ranges', () => {
    const weekend = `      time: { days: fri-mon, timezone: UTC }\n`;
    const days = [
      '2026-03-01',
      '2026-03-02',
      '2026-03-03',
      '2026-03-04',
      '2026-03-05',
      '2026-03-06',
      '2026-03-07',
    ];
    expect(days.map((day) => holds(weekend, `${day}T12:00:00Z`))).toEqual([
      true,
      true,
      false,
      false,
      false,
      true,
      true,
    ]);
    const mixed = `      time: { days: [Mon, wed-thu], timezone: UTC }\n`;
    expect(days.map((day) => holds(mixed, `${day}T12:00:00Z`))).toEqual([
      false,
      true,
      false,
      true,
      true,
      false,
      false,
    ]);
  });

  it('24:00 ends a window at midnight', () => {
    const evening = `      time: { hours: "18:00-24:00", timezone: UTC }\n`;
    expect(holds(evening, '2026-03-04T23:59:59Z')).toBe(true);
    expect(holds(evening, '2026-03-05T00:00:00Z')).toBe(false);
  });

  it('the failure names the rule, the window and the local time seen', () => {
    const failure = failedCondition(ruleWith(officeNewYork), {
      sourceIp: '10.0.0.1',
      now: new Date('2026-03-07T19:05:00Z'),
    });
    expect(failure).toEqual({
      condition: 'time',
      detail:
        'rule "deploy": when.time allows mon-fri 08:00-18:00 America/New_York; it is Sat 2026-03-07 14:05 America/New_York',
    });
  });

  it('source_ips is checked before time', () => {
    const both = ruleWith(`      source_ips: [10.0.0.0/8]\n${officeNewYork}`);
    expect(
      failedCondition(both, { sourceIp: '11.0.0.1', now: new Date('2026-03-07T19:05:00Z') })?.condition,
    ).toBe('source_ips');
    expect(
      failedCondition(both, { sourceIp: '10.0.0.1', now: new Date('2026-03-07T19:05:00Z') })?.condition,
    ).toBe('time');
  });

  it('time zone names are canonicalised', () => {
    const rule = ruleWith(`      time: { hours: "00:00-24:00", timezone: europe/oslo }\n`);
    expect(rule.when?.time?.timezone).toBe('Europe/Oslo');
  });

  it('a condition check is cheap (information only, no threshold)', () => {
    const rule = ruleWith(`      source_ips: [10.0.0.0/8, "2001:db8::/32"]\n${officeNewYork}`);
    const rounds = 100_000;
    const started = process.hrtime.bigint();
    for (let index = 0; index < rounds; index += 1)
      failedCondition(rule, { sourceIp: '10.1.2.3', now: new Date(1_772_643_600_000 + index * 10) });
    const each = Number(process.hrtime.bigint() - started) / rounds;
    const uncached = process.hrtime.bigint();
    for (let index = 0; index < 10_000; index += 1)
      localTime(new Date(1_772_643_600_000 + index * 1000), 'Asia/Tokyo');
    const format = Number(process.hrtime.bigint() - uncached) / 10_000;
    console.info(
      `condition check: ${each.toFixed(0)} ns each (same second); local time, new second: ${format.toFixed(0)} ns`,
    );
    expect(each).toBeGreaterThan(0);
  });
});

describe('when: load errors say where and how to fix', () => {
  it('bad ranges: not an address, a prefix too long, host bits set, mapped, a zone id', () => {
    expect(
      problemLines(
        `      source_ips: [10.0.0.0/33, 10.0.0.1/8, "2001:db8::1/32", "::ffff:10.0.0.0/104", "fe80::1%eth0", 10.0.0.0/x, example.com]\n`,
      ),
    ).toEqual([
      'policy.yaml:12:20: rules[0].when.source_ips[0]: "10.0.0.0/33" has a bad prefix length: an IPv4 prefix is a number from 0 to 32',
      'policy.yaml:12:33: rules[0].when.source_ips[1]: "10.0.0.1/8" has bits set after the /8 prefix; write 10.0.0.0/8 for the whole range, or 10.0.0.1/32 for the one address',
      'policy.yaml:12:45: rules[0].when.source_ips[2]: "2001:db8::1/32" has bits set after the /32 prefix; write 2001:db8::/32 for the whole range, or 2001:db8::1/128 for the one address',
      'policy.yaml:12:63: rules[0].when.source_ips[3]: "::ffff:10.0.0.0/104" is an IPv4-mapped IPv6 range; write it in IPv4 form (such as 10.0.0.0/8): the broker compares IPv4 clients in IPv4 form, also when they reach it over IPv6',
      'policy.yaml:12:86: rules[0].when.source_ips[4]: "fe80::1%eth0" is not an IP address or CIDR range; write ranges such as 10.0.0.0/8 or 2001:db8::/32',
      'policy.yaml:12:102: rules[0].when.source_ips[5]: "10.0.0.0/x" has a bad prefix length: an IPv4 prefix is a number from 0 to 32',
      'policy.yaml:12:114: rules[0].when.source_ips[6]: "example.com" is not an IP address or CIDR range; write ranges such as 10.0.0.0/8 or 2001:db8::/32',
    ]);
  });

  it('empty lists, an empty when, unknown keys', () => {
    expect(problemLines(`      source_ips: []\n`)).toEqual([
      'policy.yaml:12:19: rules[0].when.source_ips: list at least one address range (such as 10.0.0.0/8), or remove source_ips',
    ]);
    expect(problemLines(`      {}\n`)).toEqual([
      'policy.yaml:12:7: rules[0].when: a when must hold source_ips, time or both; remove it for a rule without conditions',
    ]);
    expect(problemLines(`      source_ip: [10.0.0.0/8]\n`)).toEqual([
      'policy.yaml:12:7: rules[0].when.source_ip: unknown key "source_ip"; did you mean "source_ips"?',
    ]);
    expect(problemLines(`      time: { day: mon, timezone: UTC }\n`)).toEqual([
      'policy.yaml:12:15: rules[0].when.time.day: unknown key "day"; did you mean "days"?',
    ]);
    expect(problemLines(`      time: { days: [], timezone: UTC }\n`)).toEqual([
      'policy.yaml:12:21: rules[0].when.time.days: an empty list of days never holds: list days ([mon, tue]), write a range ("mon-fri"), or remove days for every day',
    ]);
  });

  it('time: a missing or unknown zone, bad days, bad hours', () => {
    expect(problemLines(`      time: { days: mon-fri }\n`)).toEqual([
      'policy.yaml:12:13: rules[0].when.time.timezone: is missing: add timezone: with an IANA time zone name such as UTC, Europe/Oslo or America/New_York',
    ]);
    expect(problemLines(`      time: { timezone: UTC }\n`)).toEqual([
      'policy.yaml:12:13: rules[0].when.time: name days, hours or both (such as days: mon-fri and hours: "08:00-18:00")',
    ]);
    expect(problemLines(`      time: { days: mon, timezone: Mars/Olympus }\n`)).toEqual([
      'policy.yaml:12:36: rules[0].when.time.timezone: "Mars/Olympus" is not an IANA time zone; use a name such as UTC, Europe/Oslo or America/New_York',
    ]);
    expect(problemLines(`      time: { days: mon, timezone: "+01:00" }\n`)).toEqual([
      'policy.yaml:12:36: rules[0].when.time.timezone: "+01:00" is not an IANA time zone; use a name such as UTC, Europe/Oslo or America/New_York',
    ]);
    expect(problemLines(`      time: { days: [mon, tues, funday], timezone: UTC }\n`)).toEqual([
      'policy.yaml:12:21: rules[0].when.time.days: "tues" is not a day; did you mean "tue"?',
    ]);
    expect(problemLines(`      time: { days: "mon,tue", timezone: UTC }\n`)).toEqual([
      'policy.yaml:12:21: rules[0].when.time.days: "mon,tue": list days as [mon, wed, fri] or write one range such as "mon-fri"',
    ]);
    expect(problemLines(`      time: { days: { from: mon }, timezone: UTC }\n`)).toEqual([
      'policy.yaml:12:21: rules[0].when.time.days: must be a list of days ([mon, tue]) or a range such as "mon-fri"',
    ]);
    for (const [hours, message] of [
      [
        '25:00-26:00',
        '"25:00-26:00": 25:00 is not a time of day (hours 00-23, minutes 00-59; 24:00 may end a window)',
      ],
      [
        '08:00-18:60',
        '"08:00-18:60": 18:60 is not a time of day (hours 00-23, minutes 00-59; 24:00 may end a window)',
      ],
      ['08:00', 'must be a window "HH:MM-HH:MM" in 24-hour time, such as "08:00-18:00"; got "08:00"'],
      ['8-18', 'must be a window "HH:MM-HH:MM" in 24-hour time, such as "08:00-18:00"; got "8-18"'],
      [
        '24:00-06:00',
        '"24:00-06:00": 24:00 is not a time of day (hours 00-23, minutes 00-59; 24:00 may end a window)',
      ],
    ]) {
      expect(problemLines(`      time: { hours: "${hours}", timezone: UTC }\n`)).toEqual([
        `policy.yaml:12:22: rules[0].when.time.hours: ${message}`,
      ]);
    }
  });
});

describe('policy lint: conditions that can never hold', () => {
  const lint = (when: string) =>
    lintPolicy(parsePolicy(`${HEAD}    when:\n${when}`, 'policy.yaml'))
      .filter((finding) => finding.check === 'condition-never-holds')
      .map((finding) => `${finding.severity} ${finding.rule} ${finding.line}: ${finding.message}`);

  it('warns about an hours window that starts and ends at the same minute, at its line', () => {
    expect(
      lint(`      time:\n        days: mon-fri\n        hours: "09:00-09:00"\n        timezone: UTC\n`),
    ).toEqual([
      'warning deploy 14: when.time.hours "09:00-09:00" starts and ends at the same minute, so the window is empty and the rule never grants anything; write the window you mean (such as "08:00-18:00", or "00:00-24:00" for the whole day)',
    ]);
    const rule = ruleWith(`      time: { hours: "09:00-09:00", timezone: UTC }\n`);
    expect(
      failedCondition(rule, { sourceIp: '10.0.0.1', now: new Date('2026-03-04T09:00:00Z') })?.condition,
    ).toBe('time');
  });

  it('says nothing about windows that can hold', () => {
    for (const when of [
      `      time: { hours: "22:00-06:00", timezone: UTC }\n`,
      `      time: { hours: "00:00-24:00", days: sun, timezone: UTC }\n`,
      `      time: { days: fri-thu, timezone: UTC }\n`,
      `      source_ips: [0.0.0.0/0]\n`,
    ])
      expect(lint(when)).toEqual([]);
  });
});
