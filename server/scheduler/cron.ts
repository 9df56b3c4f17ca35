/**
 * Five-field cron expressions (minute hour day-of-month month day-of-week), evaluated in UTC so
 * that a schedule means the same on every server whatever its time zone.
 *
 * Each field takes `*`, a number, a range `a-b`, a step `*\/n` or `a-b/n`, and comma lists of
 * those; months and weekdays also take three-letter English names (`jan`, `mon`), and weekday 7
 * is Sunday like 0. As in Vixie cron (and POSIX), when both day fields are restricted a day
 * matches if *either* does: `0 0 1 * mon` runs on the 1st and on every Monday.
 */
import { CodedError } from '../../src/protocol/index.ts';

export class CronError extends CodedError<'BAD_CRON'> {
  override readonly name = 'CronError';
  constructor(message: string) {
    super('BAD_CRON', message);
  }
}

interface FieldRange {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
}

const FIELDS: readonly FieldRange[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  {
    name: 'month',
    min: 1,
    max: 12,
    names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'],
  },
  // 7 is accepted as Sunday and folded onto 0 below.
  { name: 'day of week', min: 0, max: 7, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
];

export interface CronSchedule {
  /** The expression as given. */
  source: string;
  /** Allowed values per field (weekday 7 already folded onto 0). */
  minutes: ReadonlySet<number>;
  hours: ReadonlySet<number>;
  days: ReadonlySet<number>;
  months: ReadonlySet<number>;
  weekdays: ReadonlySet<number>;
  /** Whether the day fields were `*` (decides the either-day rule). */
  anyDay: boolean;
  anyWeekday: boolean;
}

function parseValue(text: string, field: FieldRange): number {
  const lower = text.toLowerCase();
  const named = field.names?.indexOf(lower) ?? -1;
  // Names count from the field's minimum (jan = 1, sun = 0).
  if (named >= 0) return named + field.min;
  if (!/^\d{1,2}$/.test(text)) throw new CronError(`${field.name}: "${text}" is not a number`);
  const value = Number(text);
  if (value < field.min || value > field.max)
    throw new CronError(`${field.name}: ${value} is outside ${field.min}-${field.max}`);
  return value;
}

function parseField(text: string, field: FieldRange): { values: Set<number>; any: boolean } {
  const values = new Set<number>();
  for (const part of text.split(',')) {
    const [rangeText, stepText, extra] = part.split('/');
    if (extra !== undefined || rangeText === '')
      throw new CronError(`${field.name}: "${part}" is malformed`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d{1,2}$/.test(stepText) || Number(stepText) === 0)
        throw new CronError(`${field.name}: step "${stepText}" must be a positive number`);
      step = Number(stepText);
    }
    let low: number;
    let high: number;
    if (rangeText === '*') {
      low = field.min;
      high = field.max;
    } else if (rangeText.includes('-')) {
      const [a, b, more] = rangeText.split('-');
      if (more !== undefined) throw new CronError(`${field.name}: "${rangeText}" is malformed`);
      low = parseValue(a, field);
      high = parseValue(b, field);
      if (low > high) throw new CronError(`${field.name}: range ${rangeText} runs backwards`);
    } else {
      low = parseValue(rangeText, field);
      // `5/15` means from 5 to the end in steps of 15 (as in Vixie cron).
      high = stepText === undefined ? low : field.max;
    }
    for (let v = low; v <= high; v += step) values.add(v);
  }
  return { values, any: text === '*' };
}

/** Parses an expression; throws CronError naming the field at fault. */
export function parseCron(expression: string): CronSchedule {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5 || parts[0] === '')
    throw new CronError(
      `"${expression}" has ${parts[0] === '' ? 0 : parts.length} fields; cron takes 5 (minute hour day month weekday)`,
    );
  const [minutes, hours, days, months, weekdays] = parts.map((part, i) =>
    parseField(part, FIELDS[i]),
  );
  if (weekdays.values.delete(7)) weekdays.values.add(0);
  return {
    source: expression,
    minutes: minutes.values,
    hours: hours.values,
    days: days.values,
    months: months.values,
    weekdays: weekdays.values,
    anyDay: days.any,
    anyWeekday: weekdays.any,
  };
}

function dayMatches(cron: CronSchedule, date: Date): boolean {
  const dom = cron.days.has(date.getUTCDate());
  const dow = cron.weekdays.has(date.getUTCDay());
  if (cron.anyDay && cron.anyWeekday) return true;
  if (cron.anyDay) return dow;
  if (cron.anyWeekday) return dom;
  return dom || dow;
}

/** Whether the minute containing `ms` (epoch milliseconds) is one the expression names. */
export function cronMatches(cron: CronSchedule, ms: number): boolean {
  const date = new Date(ms);
  return (
    cron.minutes.has(date.getUTCMinutes()) &&
    cron.hours.has(date.getUTCHours()) &&
    cron.months.has(date.getUTCMonth() + 1) &&
    dayMatches(cron, date)
  );
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Far enough for any satisfiable expression (29 February on a given weekday recurs in 28 years). */
const HORIZON = 30 * 366 * DAY;

/**
 * The first matching minute strictly after `ms` (epoch ms, at a whole minute), or null when
 * the expression never matches (e.g. `0 0 31 2 *`). Skips whole months, days and hours that
 * cannot match, so it costs at most a few thousand steps.
 */
export function nextCronTime(cron: CronSchedule, ms: number): number | null {
  let t = Math.floor(ms / MINUTE) * MINUTE + MINUTE;
  const end = ms + HORIZON;
  while (t <= end) {
    const date = new Date(t);
    if (!cron.months.has(date.getUTCMonth() + 1)) {
      t = Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
      continue;
    }
    if (!dayMatches(cron, date)) {
      t = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + 1);
      continue;
    }
    if (!cron.hours.has(date.getUTCHours())) {
      t = Math.floor(t / HOUR) * HOUR + HOUR;
      continue;
    }
    if (!cron.minutes.has(date.getUTCMinutes())) {
      t += MINUTE;
      continue;
    }
    return t;
  }
  return null;
}
