// `sluice feed check`: what the MARKET stream holds of some symbols over a window, judged against each
// symbol's trading calendar, per symbol and exchange-local day: events, gaps (missing minute bars in
// sessions, trade silences), price jumps, and the dead letters of feeds (dlq.md.>, dlq.raw.>) by
// reason. The gaps are what `submitFeedBackfills` turns into catch-up jobs.
import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { parseDuration } from '../actors/feature/bars.ts';
import type { FeedEvent } from '../actors/feed/adapter.ts';
import type { Session } from '../actors/feed/calendar.ts';
import {
  type FeedGap,
  FeedIntegrity,
  type FeedIntegrityOptions,
  formatPriceJump,
  missingBars,
  type PriceJump,
  tradeSilences,
} from '../actors/feed/integrity.ts';
import type { DeadLetter } from '../schemas/messages.ts';
import { decodeMessage } from '../schemas/validate.ts';
import { streamName } from '../streams/topology.ts';
import { jetstreamSource } from './sources/replay.ts';

export interface FeedCheckOptions {
  jetstream: JetStreamClient;
  manager: JetStreamManager;
  symbols: readonly string[];
  /** Epoch ms, inclusive / exclusive, on ts_event. */
  fromMs: number;
  toMs: number;
  /** Asset classes, thresholds and the trade-silence span, as the live feed checks them. */
  integrity: FeedIntegrityOptions;
  /**
   * What each symbol should have: bars of this interval in every session, trades throughout. Default:
   * what the window holds of the symbol (a symbol with no bars is not checked for missing bars).
   */
  expect?: { barInterval?: string; trades?: boolean };
  /** Default MARKET and DEADLETTER (a namespace's streams for a backtest over NATS). */
  namespace?: string;
}

export interface FeedCheckDay {
  symbol: string;
  /** Exchange-local date (UTC for 24/7 markets). */
  day: string;
  events: number;
  gaps: FeedGap[];
  missingBars: number;
  priceJumps: PriceJump[];
  rejects: Record<string, number>;
}

export interface FeedCheckReport {
  fromMs: number;
  toMs: number;
  symbols: string[];
  /** By symbol, then day; a day appears when it has events, gaps or rejects, or is a session. */
  days: FeedCheckDay[];
  /** Dead letters of raw frames, which name no symbol, by UTC day and reason. */
  unattributedRejects: Record<string, Record<string, number>>;
  totals: { events: number; gaps: number; missingBars: number; priceJumps: number; rejects: number };
}

/** Reads the window and builds the report. */
export async function feedCheckReport(options: FeedCheckOptions): Promise<FeedCheckReport> {
  const { fromMs, toMs } = options;
  if (!(Number.isFinite(fromMs) && Number.isFinite(toMs) && toMs > fromMs))
    throw new RangeError(`feed check window must be finite and not empty, got ${fromMs}..${toMs}`);
  const symbols = [...new Set(options.symbols)].sort();
  const integrity = new FeedIntegrity(options.integrity);
  const namespace = options.namespace ?? '';
  const events = await readEvents(options, new Set(symbols), namespace);
  const days = new Map<string, FeedCheckDay>();
  const dayOf = (symbol: string, day: string): FeedCheckDay => {
    const key = `${symbol}\u0000${day}`;
    let entry = days.get(key);
    if (!entry) {
      entry = { symbol, day, events: 0, gaps: [], missingBars: 0, priceJumps: [], rejects: {} };
      days.set(key, entry);
    }
    return entry;
  };
  for (const symbol of symbols) {
    const calendar = integrity.calendarOf(symbol);
    const own = events.filter((event) => event.symbol === symbol);
    for (const session of calendar.sessionsBetween(fromMs, toMs)) dayOf(symbol, session.day);
    const barStarts = new Map<number, number[]>();
    const tradeTimes: number[] = [];
    for (const event of own) {
      const entry = dayOf(symbol, calendar.dayOf(event.ts_event));
      entry.events++;
      const { priceJump } = integrity.observe(event);
      if (priceJump) entry.priceJumps.push(priceJump);
      if (event.schema === 'trade_tick.v1') tradeTimes.push(event.ts_event);
      if (event.schema === 'bar.v1') {
        const interval = intervalOrUndefined(event.interval);
        if (interval === undefined) continue;
        const starts = barStarts.get(interval) ?? [];
        starts.push(event.ts_event - interval);
        barStarts.set(interval, starts);
      }
    }
    const expectedInterval = options.expect?.barInterval;
    if (expectedInterval !== undefined) {
      const interval = parseDuration(expectedInterval, '--bar-interval');
      if (!barStarts.has(interval)) barStarts.set(interval, []);
    }
    const gaps: FeedGap[] = [];
    for (const [interval, starts] of barStarts)
      gaps.push(...missingBars(calendar, symbol, starts, fromMs, toMs, interval));
    if (tradeTimes.length > 0 || options.expect?.trades) {
      const maxSilence = options.integrity.tradeGapMs ?? 5 * 60_000;
      for (const [from, to] of tradingSpans(calendar.sessionsBetween(fromMs, toMs), fromMs, toMs))
        gaps.push(...tradeSilences(calendar, symbol, tradeTimes, from, to, maxSilence));
    }
    for (const gap of gaps) {
      const entry = dayOf(symbol, calendar.dayOf(gap.fromMs));
      entry.gaps.push(gap);
      entry.missingBars += gap.missingBars ?? 0;
    }
  }
  const unattributed: Record<string, Record<string, number>> = {};
  for (const letter of await readDeadLetters(options, namespace)) {
    const symbol = symbolOfSubject(letter.original_subject, namespace);
    const reason = reasonClass(letter, symbol === undefined ? 'unmappable' : 'contract');
    if (symbol !== undefined && !symbols.includes(symbol)) continue;
    let counts: Record<string, number>;
    if (symbol !== undefined)
      counts = dayOf(symbol, integrity.calendarOf(symbol).dayOf(letter.ts_event)).rejects;
    else {
      const day = new Date(letter.ts_event).toISOString().slice(0, 10);
      counts = unattributed[day] ?? {};
      unattributed[day] = counts;
    }
    counts[reason] = (counts[reason] ?? 0) + 1;
  }
  const ordered = [...days.values()].sort((a, b) =>
    a.symbol === b.symbol ? a.day.localeCompare(b.day) : a.symbol.localeCompare(b.symbol),
  );
  for (const entry of ordered)
    entry.gaps.sort((a, b) => a.fromMs - b.fromMs || a.channel.localeCompare(b.channel));
  const sum = (pick: (day: FeedCheckDay) => number) => ordered.reduce((total, day) => total + pick(day), 0);
  const rejectCount = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
  return {
    fromMs,
    toMs,
    symbols,
    days: ordered,
    unattributedRejects: unattributed,
    totals: {
      events: sum((day) => day.events),
      gaps: sum((day) => day.gaps.length),
      missingBars: sum((day) => day.missingBars),
      priceJumps: sum((day) => day.priceJumps.length),
      rejects:
        sum((day) => rejectCount(day.rejects)) +
        Object.values(unattributed).reduce((total, counts) => total + rejectCount(counts), 0),
    },
  };
}

/** Every gap of the report: the input of submitFeedBackfills. */
export function reportGaps(report: FeedCheckReport): FeedGap[] {
  return report.days.flatMap((day) => day.gaps);
}

/**
 * Sessions clipped to the window, back-to-back ones joined (24/7 days), so a silence across midnight
 * is one silence, while one across a closed night is none.
 */
function tradingSpans(sessions: readonly Session[], fromMs: number, toMs: number): [number, number][] {
  const spans: [number, number][] = [];
  for (const session of sessions) {
    const [from, to] = [Math.max(fromMs, session.openMs), Math.min(toMs, session.closeMs)];
    const last = spans.at(-1);
    if (last && last[1] >= from) last[1] = to;
    else spans.push([from, to]);
  }
  return spans;
}

function intervalOrUndefined(interval: string): number | undefined {
  try {
    return parseDuration(interval, 'interval');
  } catch {
    return undefined;
  }
}

/** The symbols' events with ts_event in the window, in ts_event order. */
async function readEvents(
  options: FeedCheckOptions,
  symbols: ReadonlySet<string>,
  namespace: string,
): Promise<FeedEvent[]> {
  const events: FeedEvent[] = [];
  // Events are stored at or after their event time (backfills later still), so the stream from
  // fromMs on holds every event of the window.
  const source = jetstreamSource(
    options.jetstream,
    options.manager,
    { symbols },
    {
      startTime: options.fromMs,
      stream: streamName('MARKET', namespace),
    },
  );
  for await (const event of source) {
    if (event.schema === 'sentiment_score.v1') continue;
    if (event.ts_event >= options.fromMs && event.ts_event < options.toMs) events.push(event);
  }
  return events.sort((a, b) => a.ts_event - b.ts_event);
}

/** Dead letters of market data and of raw feed frames received in the window. */
async function readDeadLetters(options: FeedCheckOptions, namespace: string): Promise<DeadLetter[]> {
  const stream = streamName('DEADLETTER', namespace);
  const info = await options.manager.streams.info(stream);
  if (info.state.messages === 0) return [];
  const consumer = await options.jetstream.consumers.get(stream, {
    // One filter (servers before 2.10 take no list); letters of other subjects are skipped below.
    filter_subjects: `${namespace}dlq.>`,
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: new Date(options.fromMs).toISOString(),
  });
  const letters: DeadLetter[] = [];
  let pending = (await consumer.info()).num_pending;
  while (pending > 0) {
    const message = await consumer.next({ expires: 5_000 });
    if (message === null) throw new Error(`${stream}: letters stopped arriving with ${pending} left`);
    pending = message.info.pending;
    const decoded = decodeMessage('dead_letter', message.data);
    if (!decoded.ok) continue;
    const letter = decoded.value;
    const original = letter.original_subject.slice(namespace.length);
    if (!original.startsWith('md.') && !original.startsWith('raw.')) continue;
    if (letter.ts_event >= options.fromMs && letter.ts_event < options.toMs) letters.push(letter);
  }
  return letters;
}

/** The symbol of an md.<kind>.<partition>.<symbol token> subject; undefined for raw frames. */
function symbolOfSubject(subject: string, namespace: string): string | undefined {
  const tokens = subject.slice(namespace.length).split('.');
  if (tokens[0] !== 'md' || tokens.length !== 4) return undefined;
  // symbolToken writes characters a token cannot hold as ~XX (hex).
  return tokens[3]!.replace(/~([0-9a-f]{2,4})/g, (_, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );
}

/**
 * A reason without what varies per letter: the feed's "<origin> frame <n>: " prefix goes, and the
 * reason is cut at its first ": " (the field or the kind of failure), prefixed by what was rejected.
 */
function reasonClass(letter: DeadLetter, kind: string): string {
  const reason = letter.reason.replace(/^(stream|backfill) frame \d+: /, '');
  return `${kind}: ${reason.split(': ')[0]!.slice(0, 80)}`;
}

const iso = (ms: number) => new Date(ms).toISOString().replace(':00.000Z', 'Z');

/** The report as text: one line per symbol and day, its gaps beneath; totals last. */
export function formatFeedCheckText(report: FeedCheckReport): string {
  const lines = [`feed check ${iso(report.fromMs)} .. ${iso(report.toMs)}: ${report.symbols.join(', ')}`];
  lines.push('symbol      day         events  gaps  missing-bars  jumps  rejects');
  for (const day of report.days) {
    const rejects = Object.entries(day.rejects)
      .map(([reason, count]) => `${count} ${reason}`)
      .join('; ');
    lines.push(
      `${day.symbol.padEnd(11)} ${day.day}  ${String(day.events).padStart(6)}  ${String(day.gaps.length).padStart(4)}  ${String(day.missingBars).padStart(12)}  ${String(day.priceJumps.length).padStart(5)}  ${rejects || '0'}`,
    );
    for (const gap of day.gaps)
      lines.push(
        `    gap ${gap.channel} ${iso(gap.fromMs)} .. ${iso(gap.toMs)}${gap.missingBars !== undefined ? ` (${gap.missingBars} bars)` : ''}`,
      );
    for (const jump of day.priceJumps) lines.push(`    jump ${formatPriceJump(jump)}`);
  }
  for (const [day, counts] of Object.entries(report.unattributedRejects))
    for (const [reason, count] of Object.entries(counts))
      lines.push(`(raw frames) ${day}  ${count} ${reason}`);
  const { totals } = report;
  lines.push(
    `total: ${totals.events} events, ${totals.gaps} gaps (${totals.missingBars} missing bars), ${totals.priceJumps} price jumps, ${totals.rejects} rejects`,
  );
  return `${lines.join('\n')}\n`;
}

/** The report as one JSON document (what `sluice feed check --json` prints). */
export function formatFeedCheckJson(report: FeedCheckReport): string {
  return `${JSON.stringify(report)}\n`;
}
