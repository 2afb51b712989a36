import { AUDIT_OUTCOMES, type AuditEntry } from '../../protocol/admin-api.js';

export const CHART_BUCKETS = 24;
/** Denial codes shown as bars; the rest are summed as "other". */
const MAX_DENIAL_CODES = 10;
export const OUTCOMES = AUDIT_OUTCOMES;
export type ChartOutcome = (typeof OUTCOMES)[number];

export interface ChartBucket {
  readonly start: number;
  readonly counts: Readonly<Record<ChartOutcome, number>>;
}

export interface ExchangeChart {
  readonly from: number;
  readonly to: number;
  readonly buckets: readonly ChartBucket[];
  /** Denied exchanges by problem code, most first. */
  readonly denials: readonly { readonly code: string; readonly count: number }[];
  readonly total: number;
}

function outcomeOf(entry: AuditEntry): ChartOutcome | undefined {
  const outcome = entry.outcome;
  return OUTCOMES.find((known) => known === outcome);
}

/** Exchanges counted into equal time buckets by outcome, and denials counted by code. */
export function exchangeChart(entries: readonly AuditEntry[], from: number, to: number): ExchangeChart {
  const width = Math.max(1, (to - from) / CHART_BUCKETS);
  const counts = Array.from({ length: CHART_BUCKETS }, () => ({ allowed: 0, denied: 0, error: 0 }));
  const denials = new Map<string, number>();
  let total = 0;
  for (const entry of entries) {
    const outcome = outcomeOf(entry);
    const at = Date.parse(entry.time);
    if (outcome === undefined || Number.isNaN(at) || at < from || at > to) continue;
    const bucket = counts[Math.min(CHART_BUCKETS - 1, Math.floor((at - from) / width))];
    if (bucket === undefined) continue;
    bucket[outcome] += 1;
    total += 1;
    if (outcome === 'denied') {
      const code = typeof entry.code === 'string' ? entry.code : 'unknown';
      denials.set(code, (denials.get(code) ?? 0) + 1);
    }
  }
  const sorted = [...denials].sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0]));
  const shown = sorted.slice(0, MAX_DENIAL_CODES).map(([code, count]) => ({ code, count }));
  const other = sorted.slice(MAX_DENIAL_CODES).reduce((sum, [, count]) => sum + count, 0);
  return {
    from,
    to,
    buckets: counts.map((bucket, index) => ({ start: from + index * width, counts: bucket })),
    denials: other > 0 ? [...shown, { code: 'other', count: other }] : shown,
    total,
  };
}
