/** `when.time`: days, an hours window and an IANA time zone; the local day and time of an instant. */
import { quoted } from '../../protocol/quoted.js';
import { didYouMean } from './did-you-mean.js';
import type { CompiledHours, CompiledTimeWindow } from './compiled-policy.js';

/** Index = the weekday number of Date.getDay() and of CompiledTimeWindow.days (0 = Sunday). */
export const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

function dayNumber(text: string): Parsed<number> {
  const index = DAY_NAMES.indexOf(text.toLowerCase() as (typeof DAY_NAMES)[number]);
  if (index !== -1) return { ok: true, value: index };
  const hint = didYouMean(text.toLowerCase(), DAY_NAMES) || ` days are ${DAY_NAMES.join(', ')}`;
  return { ok: false, message: `${quoted(text)} is not a day;${hint}` };
}

/**
 * One item of `days`: a day ("sat") or a range ("mon-fri"). A range may wrap past Sunday: "fri-mon" is
 * Friday, Saturday, Sunday and Monday.
 */
function dayItem(text: string): Parsed<number[]> {
  const dash = text.indexOf('-');
  if (dash === -1) {
    const day = dayNumber(text.trim());
    return day.ok ? { ok: true, value: [day.value] } : day;
  }
  const first = dayNumber(text.slice(0, dash).trim());
  if (!first.ok) return first;
  const last = dayNumber(text.slice(dash + 1).trim());
  if (!last.ok) return last;
  const span = (last.value - first.value + 7) % 7;
  return { ok: true, value: Array.from({ length: span + 1 }, (_, step) => (first.value + step) % 7) };
}

/** `days`: a list of days and ranges (`[mon, wed-fri]`) or one of them as a string (`"mon-fri"`). */
export function parseDays(spec: string | readonly string[]): Parsed<ReadonlySet<number>> {
  const items = typeof spec === 'string' ? [spec] : spec;
  const days = new Set<number>();
  for (const item of items) {
    if (item.includes(',')) {
      return {
        ok: false,
        message: `${quoted(item)}: list days as [mon, wed, fri] or write one range such as "mon-fri"`,
      };
    }
    const parsed = dayItem(item);
    if (!parsed.ok) return parsed;
    for (const day of parsed.value) days.add(day);
  }
  return { ok: true, value: days };
}

const WINDOW = /^(\d\d):(\d\d)-(\d\d):(\d\d)$/;

/**
 * `hours`: "HH:MM-HH:MM" in 24-hour time, start included and end excluded; "24:00" may end a window. An end
 * before the start is an overnight window ("22:00-06:00").
 */
export function parseHours(text: string): Parsed<Omit<CompiledHours, 'line'>> {
  const match = WINDOW.exec(text);
  if (match === null) {
    return {
      ok: false,
      message: `must be a window "HH:MM-HH:MM" in 24-hour time, such as "08:00-18:00"; got ${quoted(text)}`,
    };
  }
  const [, startHour, startMinute, endHour, endMinute] = match.map(Number) as number[] as [
    number,
    number,
    number,
    number,
    number,
  ];
  const start = startHour * 60 + startMinute;
  const end = endHour * 60 + endMinute;
  const badStart = startHour > 23 || startMinute > 59;
  const badEnd = endMinute > 59 || endHour > 24 || (endHour === 24 && endMinute !== 0);
  if (badStart || badEnd) {
    const bad = badStart ? text.slice(0, 5) : text.slice(6);
    return {
      ok: false,
      message: `${quoted(text)}: ${bad} is not a time of day (hours 00-23, minutes 00-59; 24:00 may end a window)`,
    };
  }
  return { ok: true, value: { startMinute: start, endMinute: end, text } };
}

/** The canonical IANA name, or why not. Offsets ("+01:00") are refused: a zone name follows daylight saving. */
export function parseTimezone(text: string): Parsed<string> {
  if (/^[A-Za-z]/.test(text)) {
    try {
      return { ok: true, value: formatterFor(text).resolvedOptions().timeZone };
    } catch {
      // Not a zone this Node.js knows: reported below.
    }
  }
  const suggestion =
    didYouMean(text, Intl.supportedValuesOf('timeZone')) ||
    ' use a name such as UTC, Europe/Oslo or America/New_York';
  return { ok: false, message: `${quoted(text)} is not an IANA time zone;${suggestion}` };
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timezone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timezone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      weekday: 'short',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timezone, formatter);
  }
  return formatter;
}

export interface LocalTime {
  /** 0 = Sunday. */
  readonly weekday: number;
  readonly minute: number;
  /** "Sat 2026-03-07 14:05 America/New_York", for hints and explain. */
  readonly text: string;
}

/** The last instant worked out per time zone, to the second: a burst of exchanges formats once. */
const lastLocalTime = new Map<string, { readonly second: number; readonly local: LocalTime }>();

/** The day and time on the wall clocks of `timezone` (a canonical name) at `now`. */
export function localTime(now: Date, timezone: string): LocalTime {
  const second = Math.floor(now.getTime() / 1000);
  const cached = lastLocalTime.get(timezone);
  if (cached?.second === second) return cached.local;
  const parts: Record<string, string> = {};
  for (const part of formatterFor(timezone).formatToParts(now)) parts[part.type] = part.value;
  const weekdayName = (parts.weekday ?? '').toLowerCase() as (typeof DAY_NAMES)[number];
  const local: LocalTime = {
    weekday: DAY_NAMES.indexOf(weekdayName),
    minute: Number(parts.hour) * 60 + Number(parts.minute),
    text: `${parts.weekday} ${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute} ${timezone}`,
  };
  lastLocalTime.set(timezone, { second, local });
  return local;
}

/**
 * Whether the window holds at a local time. The days name the day a window opens: with "fri" and
 * "22:00-06:00", Saturday 03:00 is inside (Friday's night) and Friday 03:00 is not.
 */
export function windowHolds(window: CompiledTimeWindow, local: LocalTime): boolean {
  let day = local.weekday;
  const hours = window.hours;
  if (hours !== undefined) {
    const { startMinute: start, endMinute: end } = hours;
    if (start <= end) {
      if (local.minute < start || local.minute >= end) return false;
    } else if (local.minute < end) {
      day = (day + 6) % 7;
    } else if (local.minute < start) {
      return false;
    }
  }
  return window.days === undefined || window.days.has(day);
}

/** Never holds: a window with no minutes in it ("09:00-09:00"). */
export function windowIsEmpty(window: CompiledTimeWindow): boolean {
  return window.hours !== undefined && window.hours.startMinute === window.hours.endMinute;
}

/** "mon-fri 08:00-18:00 Europe/Oslo", for hints and explain. */
export function describeWindow(window: CompiledTimeWindow): string {
  const days = window.daysText ?? 'every day';
  const hours = window.hours?.text ?? 'all day';
  return `${days} ${hours} ${window.timezone}`;
}
