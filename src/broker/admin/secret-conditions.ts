/**
 * Secret conditions as the admin API takes and answers them (snake_case), checked once here: every value a
 * write sets is refused with a clear message before anything is stored.
 */
import {
  MAX_SECRET_DESCRIPTION,
  MAX_SECRET_OWNER,
  type SecretConditionsAnswer,
  type SecretConditionsChange,
} from '../../protocol/admin-api.js';
import { hasUnprintable } from '../../protocol/printable.js';
import { BrokerError } from '../errors.js';
import type { ConditionChanges, SecretConditions } from '../store/interfaces.js';

/** Largest read count, rotation count: far above any real budget, and within a 32-bit column. */
export const MAX_CONDITION_COUNT = 1_000_000_000;
/** Longest read-budget window: a year (366 days). */
export const MAX_READ_PERIOD_SECONDS = 366 * 86_400;

/** An ISO 8601 date-time with its offset, as `--expires` takes it: 2026-12-31T23:59:00Z, …+02:00. */
const ISO_DATE_TIME =
  /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d)(?:\.\d{1,9})?)?(?:Z|[+-](\d\d):(\d\d))$/;

/**
 * Milliseconds since the epoch of an ISO 8601 date-time with an offset, or undefined when it is not one. Each
 * field must be in range: Date.parse would roll February 30 over into March.
 */
export function isoDateTimeMs(text: string): number | undefined {
  const match = ISO_DATE_TIME.exec(text);
  if (match === null) return undefined;
  const [year, month, day, hour, minute, second = '0', offsetHours = '0', offsetMinutes = '0'] = match
    .slice(1)
    .map((field) => field ?? '0');
  const daysInMonth = new Date(Date.UTC(Number(year), Number(month), 0)).getUTCDate();
  const inRange =
    Number(month) >= 1 &&
    Number(month) <= 12 &&
    Number(day) >= 1 &&
    Number(day) <= daysInMonth &&
    Number(hour) <= 23 &&
    Number(minute) <= 59 &&
    Number(second) <= 59 &&
    Number(offsetHours) <= 23 &&
    Number(offsetMinutes) <= 59;
  const time = Date.parse(text);
  return inRange && !Number.isNaN(time) ? time : undefined;
}

function invalid(message: string, hint?: string): BrokerError {
  return new BrokerError('invalid_request', message, hint === undefined ? {} : { hint });
}

function wholeNumberIn(value: number, what: string, max: number): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > max)
    throw invalid(`${what} must be a whole number from 1 to ${max}, not ${value}`);
  return value;
}

function freeText(value: string, what: string, max: number): string {
  if (value.trim() === '' || value.length > max || hasUnprintable(value)) {
    throw invalid(`${what} must be 1 to ${max} printable characters on one line`, `send null to clear it`);
  }
  return value;
}

function expiry(text: string, now: Date): string {
  const time = isoDateTimeMs(text);
  if (time === undefined) {
    throw invalid(
      `"expires_at" must be an ISO 8601 date-time with an offset, such as 2026-12-31T23:59:00Z, not ${JSON.stringify(text)}`,
    );
  }
  if (time <= now.getTime()) {
    throw invalid(
      `"expires_at" ${new Date(time).toISOString()} is not in the future (it is now ${now.toISOString()})`,
      'give a later time, or null to remove the expiry',
    );
  }
  return new Date(time).toISOString();
}

/** The checked changes of a write; refuses the first bad value (nothing is then stored). */
export function conditionChanges(input: SecretConditionsChange | undefined, now: Date): ConditionChanges {
  if (input === undefined) return {};
  const changes: { -readonly [K in keyof ConditionChanges]: ConditionChanges[K] } = {};
  if (input.expires_at !== undefined)
    changes.expiresAt = input.expires_at === null ? null : expiry(input.expires_at, now);
  if (input.max_reads !== undefined) {
    changes.maxReads =
      input.max_reads === null
        ? null
        : {
            count: wholeNumberIn(input.max_reads.count, '"max_reads.count"', MAX_CONDITION_COUNT),
            periodSeconds: wholeNumberIn(
              input.max_reads.period_seconds,
              '"max_reads.period_seconds"',
              MAX_READ_PERIOD_SECONDS,
            ),
          };
  }
  if (input.rotate_after_reads !== undefined) {
    changes.rotateAfterReads =
      input.rotate_after_reads === null
        ? null
        : wholeNumberIn(input.rotate_after_reads, '"rotate_after_reads"', MAX_CONDITION_COUNT);
  }
  if (input.description !== undefined) {
    changes.description =
      input.description === null
        ? null
        : freeText(input.description, '"description"', MAX_SECRET_DESCRIPTION);
  }
  if (input.owner !== undefined)
    changes.owner = input.owner === null ? null : freeText(input.owner, '"owner"', MAX_SECRET_OWNER);
  return changes;
}

export function conditionsAnswer(conditions: SecretConditions): SecretConditionsAnswer {
  return {
    expires_at: conditions.expiresAt ?? null,
    max_reads:
      conditions.maxReads === undefined
        ? null
        : { count: conditions.maxReads.count, period_seconds: conditions.maxReads.periodSeconds },
    rotate_after_reads: conditions.rotateAfterReads ?? null,
    description: conditions.description ?? null,
    owner: conditions.owner ?? null,
  };
}

/** What a write changed, for its audit record: each value set, or "cleared". Never a secret value. */
export function changesDetail(changes: ConditionChanges): Record<string, string | number> {
  const detail: Record<string, string | number> = {};
  const note = (key: string, value: string | number | null | undefined) => {
    if (value !== undefined) detail[key] = value === null ? 'cleared' : value;
  };
  note('expires_at', changes.expiresAt);
  note('max_reads', changes.maxReads && `${changes.maxReads.count}/${changes.maxReads.periodSeconds}s`);
  note('rotate_after_reads', changes.rotateAfterReads);
  note('description', changes.description);
  note('owner', changes.owner);
  return detail;
}

/** Whether anything is changed. */
export function changesSomething(changes: ConditionChanges): boolean {
  return Object.values(changes).some((value) => value !== undefined);
}
