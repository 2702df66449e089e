// Trading calendars: when a market is open, so that silence outside a session is not a stale feed and
// a missing minute bar inside one is a gap. Pure: times in, sessions out.
//
// `nyse`: regular sessions 09:30–16:00 America/New_York on weekdays, less NYSE's full holidays (NYSE
// Rule 7.2 and its yearly holiday notices) and special closures, with the 13:00 early closes. The New
// York offset comes from Intl (Node ships full ICU), so daylight-saving rules are the tz database's,
// not a table here. `24x7`: always open (crypto); its "sessions" are UTC days, the unit of reports.
//
// Written here rather than taken from npm: `nyse-holidays` (one release, Dec 2024) lists full holidays
// only (no early closes, no special closures, no sessions) and `date-holidays` has civil holidays, not
// the exchange's observance rules (e.g. no Friday holiday for a Saturday New Year's Day).

export interface Session {
  /** Exchange-local date, YYYY-MM-DD (the UTC date for 24x7). */
  readonly day: string;
  /** Epoch ms, inclusive. */
  readonly openMs: number;
  /** Epoch ms, exclusive. */
  readonly closeMs: number;
}

export interface TradingCalendar {
  readonly name: 'nyse' | '24x7';
  /** Sessions overlapping [fromMs, toMs), in time order, not clipped to the window. */
  sessionsBetween(fromMs: number, toMs: number): Session[];
  isOpen(ms: number): boolean;
  /** The exchange-local date of an instant, YYYY-MM-DD: the day a report files it under. */
  dayOf(ms: number): string;
}

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

/** YYYY-MM-DD of a UTC calendar date. */
function isoDay(year: number, month: number, day: number): string {
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

/** Day of the week (0 = Sunday) of a calendar date. */
function weekday(year: number, month: number, day: number): number {
  return new Date(Date.UTC(year, month - 1, day)).getUTCDay();
}

/** The n-th (1-based) `dow` of a month; n = -1 for the last. */
function nthWeekday(year: number, month: number, dow: number, n: number): number {
  if (n > 0) {
    const first = weekday(year, month, 1);
    return 1 + ((dow - first + 7) % 7) + (n - 1) * 7;
  }
  const last = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return last - ((weekday(year, month, last) - dow + 7) % 7);
}

/** Gregorian Easter Sunday (the anonymous Gregorian algorithm, "Meeus/Jones/Butcher"). */
export function easterSunday(year: number): { month: number; day: number } {
  const a = year % 19;
  const b = Math.floor(year / 100);
  const c = year % 100;
  const d = Math.floor(b / 4);
  const e = b % 4;
  const f = Math.floor((b + 8) / 25);
  const g = Math.floor((b - f + 1) / 3);
  const h = (19 * a + b - d - g + 15) % 30;
  const i = Math.floor(c / 4);
  const k = c % 4;
  const l = (32 + 2 * e + 2 * i - h - k) % 7;
  const m = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * m + 114) / 31);
  return { month, day: ((h + l - 7 * m + 114) % 31) + 1 };
}

function shiftDays(year: number, month: number, day: number, days: number): string {
  const date = new Date(Date.UTC(year, month - 1, day) + days * DAY_MS);
  return isoDay(date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate());
}

/** A fixed-date holiday on a weekend: Saturday -> Friday before, Sunday -> Monday after. */
function observed(year: number, month: number, day: number): string {
  const dow = weekday(year, month, day);
  return shiftDays(year, month, day, dow === 6 ? -1 : dow === 0 ? 1 : 0);
}

/**
 * Unscheduled full-day closures, each with its cause: NYSE notices. They are known only after the
 * fact, so a closure not listed here shows as a gap (an operator can see why and ignore it).
 */
export const NYSE_SPECIAL_CLOSURES: Readonly<Record<string, string>> = {
  '2001-09-11': 'September 11 attacks',
  '2001-09-12': 'September 11 attacks',
  '2001-09-13': 'September 11 attacks',
  '2001-09-14': 'September 11 attacks',
  '2004-06-11': 'National Day of Mourning, President Reagan',
  '2007-01-02': 'National Day of Mourning, President Ford',
  '2012-10-29': 'Hurricane Sandy',
  '2012-10-30': 'Hurricane Sandy',
  '2018-12-05': 'National Day of Mourning, President George H. W. Bush',
  '2025-01-09': 'National Day of Mourning, President Carter',
};

export interface NyseYear {
  /** Full closures (weekdays only), YYYY-MM-DD, in date order. */
  readonly holidays: readonly string[];
  /** 13:00 closes, YYYY-MM-DD, in date order. */
  readonly earlyCloses: readonly string[];
}

const nyseYears = new Map<number, NyseYear>();

/** NYSE's full holidays and early closes of a year (rules as in force since 1998; Juneteenth from 2022). */
export function nyseYear(year: number): NyseYear {
  const known = nyseYears.get(year);
  if (known) return known;
  const holidays = new Set<string>();
  // New Year's Day on a Saturday is not moved to Friday (Rule 7.2: it would close the year's last day).
  if (weekday(year, 1, 1) !== 6) holidays.add(observed(year, 1, 1));
  holidays.add(isoDay(year, 1, nthWeekday(year, 1, 1, 3))); // Martin Luther King Jr. Day
  holidays.add(isoDay(year, 2, nthWeekday(year, 2, 1, 3))); // Washington's Birthday
  const easter = easterSunday(year);
  holidays.add(shiftDays(year, easter.month, easter.day, -2)); // Good Friday
  holidays.add(isoDay(year, 5, nthWeekday(year, 5, 1, -1))); // Memorial Day
  if (year >= 2022) holidays.add(observed(year, 6, 19)); // Juneteenth
  holidays.add(observed(year, 7, 4)); // Independence Day
  holidays.add(isoDay(year, 9, nthWeekday(year, 9, 1, 1))); // Labor Day
  const thanksgiving = nthWeekday(year, 11, 4, 4);
  holidays.add(isoDay(year, 11, thanksgiving));
  holidays.add(observed(year, 12, 25)); // Christmas
  for (const day of Object.keys(NYSE_SPECIAL_CLOSURES)) if (day.startsWith(`${year}-`)) holidays.add(day);
  // Early closes: the weekday before Independence Day and Christmas Day (when not itself the observed
  // holiday), and the day after Thanksgiving.
  const earlyCloses = [isoDay(year, 7, 3), isoDay(year, 11, thanksgiving + 1), isoDay(year, 12, 24)].filter(
    (day) => {
      const [y, m, d] = day.split('-').map(Number) as [number, number, number];
      const dow = weekday(y, m, d);
      return dow >= 1 && dow <= 5 && !holidays.has(day);
    },
  );
  const result = { holidays: [...holidays].sort(), earlyCloses };
  nyseYears.set(year, result);
  return result;
}

const newYorkOffset = new Intl.DateTimeFormat('en-US', {
  timeZone: 'America/New_York',
  timeZoneName: 'longOffset',
});

/** UTC offset of New York at an instant, ms (e.g. -5 h in winter): from ICU's time-zone data. */
function newYorkOffsetMs(ms: number): number {
  const name = newYorkOffset.formatToParts(ms).find((part) => part.type === 'timeZoneName')?.value ?? '';
  const match = /GMT([+-])(\d{2}):(\d{2})/.exec(name);
  if (!match) return 0; // "GMT" alone: offset zero
  const minutes = Number(match[2]) * 60 + Number(match[3]);
  return (match[1] === '-' ? -minutes : minutes) * MINUTE_MS;
}

/** Epoch ms of a New York wall-clock time; sessions never start near 02:00, where DST shifts. */
function newYorkTime(year: number, month: number, day: number, minutes: number): number {
  const wall = Date.UTC(year, month - 1, day) + minutes * MINUTE_MS;
  return wall - newYorkOffsetMs(wall - newYorkOffsetMs(wall));
}

// en-CA formats dates as YYYY-MM-DD.
const newYorkDate = new Intl.DateTimeFormat('en-CA', {
  timeZone: 'America/New_York',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
});

const OPEN_MINUTE = 9 * 60 + 30;
const CLOSE_MINUTE = 16 * 60;
const EARLY_CLOSE_MINUTE = 13 * 60;

/** The NYSE session of a New York date, or undefined on weekends and holidays. */
function nyseSession(year: number, month: number, day: number): Session | undefined {
  const dow = weekday(year, month, day);
  if (dow === 0 || dow === 6) return undefined;
  const iso = isoDay(year, month, day);
  const { holidays, earlyCloses } = nyseYear(year);
  if (holidays.includes(iso)) return undefined;
  const close = earlyCloses.includes(iso) ? EARLY_CLOSE_MINUTE : CLOSE_MINUTE;
  return {
    day: iso,
    openMs: newYorkTime(year, month, day, OPEN_MINUTE),
    closeMs: newYorkTime(year, month, day, close),
  };
}

/** Every UTC calendar date whose day could hold a session overlapping [fromMs, toMs). */
function* utcDates(fromMs: number, toMs: number): Generator<[number, number, number]> {
  // A New York date starts 4–5 h after its UTC date does: start one day early to catch it.
  for (let at = Math.floor(fromMs / DAY_MS) * DAY_MS - DAY_MS; at < toMs + DAY_MS; at += DAY_MS) {
    const date = new Date(at);
    yield [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()];
  }
}

/** Refuses windows that are not finite or run backwards, and ones too long to walk day by day. */
function checkWindow(fromMs: number, toMs: number): boolean {
  if (!Number.isFinite(fromMs) || !Number.isFinite(toMs))
    throw new RangeError(`calendar window must be finite, got ${fromMs}..${toMs}`);
  if (toMs - fromMs > 200 * 366 * DAY_MS) throw new RangeError('calendar window longer than 200 years');
  return toMs > fromMs;
}

export const nyse: TradingCalendar = {
  name: 'nyse',
  sessionsBetween(fromMs, toMs) {
    if (!checkWindow(fromMs, toMs)) return [];
    const sessions: Session[] = [];
    for (const [year, month, day] of utcDates(fromMs, toMs)) {
      const session = nyseSession(year, month, day);
      if (session && session.closeMs > fromMs && session.openMs < toMs) sessions.push(session);
    }
    return sessions;
  },
  isOpen(ms) {
    if (!Number.isFinite(ms)) return false;
    return nyse.sessionsBetween(ms, ms + 1).length > 0;
  },
  dayOf: (ms) => newYorkDate.format(ms),
};

export const twentyFourSeven: TradingCalendar = {
  name: '24x7',
  sessionsBetween(fromMs, toMs) {
    if (!checkWindow(fromMs, toMs)) return [];
    const sessions: Session[] = [];
    for (let at = Math.floor(fromMs / DAY_MS) * DAY_MS; at < toMs; at += DAY_MS) {
      const date = new Date(at);
      sessions.push({
        day: isoDay(date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()),
        openMs: at,
        closeMs: at + DAY_MS,
      });
    }
    return sessions;
  },
  isOpen: (ms) => Number.isFinite(ms),
  dayOf: (ms) => new Date(ms).toISOString().slice(0, 10),
};

export const calendars = { nyse, '24x7': twentyFourSeven } as const;
export type CalendarName = keyof typeof calendars;

/**
 * Starts of the bars a feed should deliver in [fromMs, toMs): every `intervalMs` from each session's
 * open while the bar starts before the close. A session's last bar may be cut short by the close.
 */
export function expectedBarStarts(
  calendar: TradingCalendar,
  fromMs: number,
  toMs: number,
  intervalMs: number,
): number[] {
  if (!Number.isInteger(intervalMs) || intervalMs <= 0)
    throw new RangeError(`bar interval must be a positive integer of ms, got ${intervalMs}`);
  const starts: number[] = [];
  for (const session of calendar.sessionsBetween(fromMs, toMs)) {
    const first = Math.max(
      session.openMs,
      session.openMs + Math.ceil((fromMs - session.openMs) / intervalMs) * intervalMs,
    );
    const end = Math.min(session.closeMs, toMs);
    for (let start = first; start < end; start += intervalMs) starts.push(start);
  }
  return starts;
}

/** Milliseconds of [fromMs, toMs) that fall inside sessions. */
export function sessionTimeBetween(calendar: TradingCalendar, fromMs: number, toMs: number): number {
  let total = 0;
  for (const session of calendar.sessionsBetween(fromMs, toMs))
    total += Math.min(session.closeMs, toMs) - Math.max(session.openMs, fromMs);
  return total;
}
