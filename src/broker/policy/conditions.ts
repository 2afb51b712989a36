/** Rule conditions (`rules[].when`): the client's address and the local day and time. */
import { quoted } from '../../protocol/quoted.js';
import { comparedAddress, parseRange, rangeList, rangesInclude, type RangeParse } from './address-ranges.js';
import type { CompiledRule, CompiledSourceIps, CompiledTimeWindow, CompiledWhen } from './compiled-policy.js';
import type { PolicyFile } from './policy-schema.js';
import type { Path } from './schema-problems.js';
import {
  describeWindow,
  localTime,
  parseDays,
  parseHours,
  parseTimezone,
  windowHolds,
} from './time-window.js';

export interface ConditionContext {
  readonly sourceIp: string;
  readonly now: Date;
}

export interface ConditionFailure {
  readonly condition: 'source_ips' | 'time';
  /** For the hint and the audit: names the rule, the condition and the value seen; printable, no secrets. */
  readonly detail: string;
}

/** One condition of a rule, checked, for explain output. */
export interface ConditionCheck {
  readonly condition: 'source_ips' | 'time';
  /** What the rule asks: "10.0.0.0/8, 2001:db8::/32" or "mon-fri 08:00-18:00 Europe/Oslo". */
  readonly expected: string;
  /** The value seen (client address, or the local time in the rule's zone); null when not given. */
  readonly actual: string | null;
  /** Whether it holds; null when the value was not given. */
  readonly holds: boolean | null;
}

function sourceIpsHold(sourceIps: CompiledSourceIps, sourceIp: string): boolean {
  return rangesInclude(sourceIps.list, sourceIp);
}

function timeHolds(time: CompiledTimeWindow, now: Date): boolean {
  return windowHolds(time, localTime(now, time.timezone));
}

/** The first of the rule's `when` conditions that does not hold, or undefined when all hold (or it has none). */
export function failedCondition(rule: CompiledRule, context: ConditionContext): ConditionFailure | undefined {
  const when = rule.when;
  if (when === undefined) return undefined;
  if (when.sourceIps !== undefined && comparedAddress(context.sourceIp) === undefined) {
    // Fail closed, and say why: no range holds for an address that could not be determined.
    return {
      condition: 'source_ips',
      detail: `rule "${rule.name}": when.source_ips cannot hold: the client address could not be determined`,
    };
  }
  if (when.sourceIps !== undefined && !sourceIpsHold(when.sourceIps, context.sourceIp)) {
    return {
      condition: 'source_ips',
      detail: `rule "${rule.name}": when.source_ips does not include the client address ${quoted(context.sourceIp)}`,
    };
  }
  if (when.time !== undefined && !timeHolds(when.time, context.now)) {
    const local = localTime(context.now, when.time.timezone);
    return {
      condition: 'time',
      detail: `rule "${rule.name}": when.time allows ${describeWindow(when.time)}; it is ${local.text}`,
    };
  }
  return undefined;
}

/** Every condition of the rule, checked against what is known (explain may lack the address). */
export function checkConditions(
  rule: CompiledRule,
  context: { readonly sourceIp?: string | undefined; readonly now: Date },
): ConditionCheck[] {
  const when = rule.when;
  if (when === undefined) return [];
  const checks: ConditionCheck[] = [];
  if (when.sourceIps !== undefined) {
    const sourceIp = context.sourceIp;
    checks.push({
      condition: 'source_ips',
      expected: when.sourceIps.ranges.join(', '),
      actual: sourceIp ?? null,
      holds: sourceIp === undefined ? null : sourceIpsHold(when.sourceIps, sourceIp),
    });
  }
  if (when.time !== undefined) {
    checks.push({
      condition: 'time',
      expected: describeWindow(when.time),
      actual: localTime(context.now, when.time.timezone).text,
      holds: timeHolds(when.time, context.now),
    });
  }
  return checks;
}

type When = NonNullable<PolicyFile['rules'][number]['when']>;
type Report = (path: Path, message: string) => void;
type LineOf = (path: Path) => number;

function compileSourceIps(
  texts: readonly string[],
  path: Path,
  report: Report,
  lineOf: LineOf,
): CompiledSourceIps | undefined {
  const accepted: Extract<RangeParse, { ok: true }>[] = [];
  texts.forEach((text, index) => {
    const range = parseRange(text);
    if (range.ok) accepted.push(range);
    else report([...path, index], range.message);
  });
  if (accepted.length !== texts.length) return undefined;
  return {
    ranges: accepted.map((range) => `${range.address}/${range.prefix}`),
    list: rangeList(accepted),
    line: lineOf(path),
  };
}

function compileTime(
  time: NonNullable<When['time']>,
  path: Path,
  report: Report,
  lineOf: LineOf,
): CompiledTimeWindow | undefined {
  if (time.days === undefined && time.hours === undefined)
    report(path, 'name days, hours or both (such as days: mon-fri and hours: "08:00-18:00")');
  const timezone = parseTimezone(time.timezone);
  if (!timezone.ok) report([...path, 'timezone'], timezone.message);
  let days: ReadonlySet<number> | undefined;
  let daysOk = true;
  if (time.days !== undefined) {
    const parsed =
      typeof time.days !== 'string' && time.days.length === 0
        ? ({
            ok: false,
            message:
              'an empty list of days never holds: list days ([mon, tue]), write a range ("mon-fri"), or remove days for every day',
          } as const)
        : parseDays(time.days);
    if (parsed.ok) days = parsed.value;
    else report([...path, 'days'], parsed.message);
    daysOk = parsed.ok;
  }
  const hours = time.hours === undefined ? undefined : parseHours(time.hours);
  if (hours !== undefined && !hours.ok) report([...path, 'hours'], hours.message);
  if (!timezone.ok || !daysOk || (hours !== undefined && !hours.ok)) return undefined;
  return {
    days,
    daysText:
      time.days === undefined ? undefined : typeof time.days === 'string' ? time.days : time.days.join(', '),
    hours: hours?.ok === true ? { ...hours.value, line: lineOf([...path, 'hours']) } : undefined,
    timezone: timezone.value,
    line: lineOf(path),
  };
}

/** A rule's `when`, compiled. Problems are reported with their path (the whole policy is then refused). */
export function compileWhen(
  when: When | undefined,
  path: Path,
  report: Report,
  lineOf: LineOf,
): CompiledWhen | undefined {
  if (when === undefined) return undefined;
  if (when.source_ips === undefined && when.time === undefined)
    report(path, 'a when must hold source_ips, time or both; remove it for a rule without conditions');
  const sourceIps =
    when.source_ips === undefined
      ? undefined
      : compileSourceIps(when.source_ips, [...path, 'source_ips'], report, lineOf);
  const time =
    when.time === undefined ? undefined : compileTime(when.time, [...path, 'time'], report, lineOf);
  return { sourceIps, time, line: lineOf(path) };
}
