import { BrokerError } from '../errors.js';
import type { DashboardContext } from './dashboard-env.js';

/** Longest text filter a view takes (a repository path, a secret name, a rule name, a request id). */
export const MAX_FILTER_LENGTH = 256;

/** The view's query, refusing parameters it does not take and any given twice (a typo would widen the answer). */
export function viewQuery(
  c: DashboardContext,
  known: readonly string[],
): (name: string) => string | undefined {
  const queries = c.req.queries();
  for (const [name, values] of Object.entries(queries)) {
    if (!known.includes(name)) {
      throw new BrokerError('invalid_request', `this view takes no parameter ${JSON.stringify(name)}`, {
        hint: `it takes ${known.join(', ')}`,
      });
    }
    if (values.length > 1)
      throw new BrokerError('invalid_request', `the parameter "${name}" is given more than once`);
  }
  return (name) => {
    const value = queries[name]?.[0]?.trim();
    if (value === undefined || value === '') return undefined;
    if (value.length > MAX_FILTER_LENGTH) {
      throw new BrokerError(
        'invalid_request',
        `the filter "${name}" is longer than ${MAX_FILTER_LENGTH} characters`,
      );
    }
    return value;
  };
}

/** A whole number from `min` to `max`; `fallback` when not given. */
export function wholeNumber(
  text: string | undefined,
  name: string,
  min: number,
  max: number,
  fallback: number,
): number {
  if (text === undefined) return fallback;
  if (!/^\d{1,9}$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new BrokerError('invalid_request', `"${name}" must be a whole number from ${min} to ${max}`);
  }
  return Number(text);
}

/**
 * A time filter: an ISO 8601 date-time, or the browser's datetime-local form (no zone), which is read as UTC (the
 * dashboard shows every time in UTC).
 */
export function timeFilter(text: string | undefined, name: string): string | undefined {
  if (text === undefined) return undefined;
  const zoned = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/.test(text) ? `${text}Z` : text;
  const time = Date.parse(zoned);
  if (Number.isNaN(time)) {
    throw new BrokerError('invalid_request', `"${name}" must be a time such as 2026-11-22T10:00 (UTC)`);
  }
  return new Date(time).toISOString();
}
