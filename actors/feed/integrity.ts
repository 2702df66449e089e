// Data-integrity checks of a live feed (the DCA manual §5.2; the seeds' "smart catch-up"), pure: the
// FeedActor hands every event it publishes to `observe` and asks `staleSymbols` on its timer; the
// `sluice feed check` report runs the same gap functions over a window of the MARKET stream.
//
// - Price jumps: a price that moves more than its asset class's threshold from the symbol's last price
//   (per series: trades, quotes, bars of one interval) is reported, not dropped: the event is still
//   published and the FeedActor raises alert.warning.feed_price_jump. A real level change alerts once,
//   because the jumped-to price becomes the reference.
// - Freshness: a watched symbol silent for longer than `staleAfterMs` of session time is stale. Time
//   outside sessions (nights, weekends, holidays of its calendar) does not count.
// - Gaps: minute bars missing inside sessions; trades silent for longer than `tradeGapMs` of session
//   time. Each is a span to backfill (a feed_backfill job on the work queue).
// Hostile input never throws here: a price or time that is not a finite positive number is counted as
// invalid and skipped; an event older than its series' last one is counted as out of order, checked
// against the reference price, and moves nothing.
import { parseDuration } from '../feature/bars.ts';
import type { FeedChannel, FeedEvent } from './adapter.ts';
import {
  type CalendarName,
  calendars,
  expectedBarStarts,
  sessionTimeBetween,
  type TradingCalendar,
} from './calendar.ts';

export interface AssetClassRule {
  /** Largest move from the last price that is not a jump, as a fraction (0.1 = 10 %). */
  readonly maxJump: number;
  readonly calendar: CalendarName;
}

/** Equities move less and trade in NYSE sessions; crypto trades around the clock. */
export const DEFAULT_ASSET_CLASSES: Readonly<Record<string, AssetClassRule>> = {
  equity: { maxJump: 0.1, calendar: 'nyse' },
  crypto: { maxJump: 0.2, calendar: '24x7' },
};

/** The asset class a provider's symbols default to: ccxt exchanges trade crypto, the rest equities. */
export function assetClassOfProvider(provider: string): string {
  return provider.startsWith('ccxt:') ? 'crypto' : 'equity';
}

export interface FeedIntegrityOptions {
  /** Class of symbols not named in `symbolClasses`. */
  readonly defaultClass: string;
  /** Per-symbol classes, e.g. { 'BTC/USD': 'crypto' } on a mixed feed. */
  readonly symbolClasses?: Readonly<Record<string, string>>;
  /** Rules by class; default DEFAULT_ASSET_CLASSES. */
  readonly classes?: Readonly<Record<string, AssetClassRule>>;
  /** Session time without an event after which a watched symbol is stale; default 60 s. */
  readonly staleAfterMs?: number;
  /** Session time between two trades after which the silence is a gap; default 5 min. */
  readonly tradeGapMs?: number;
}

export interface PriceJump {
  readonly symbol: string;
  /** `trade`, `quote` (mid) or `bar:<interval>` (close). */
  readonly series: string;
  readonly eventId: string;
  readonly tsEvent: number;
  readonly previous: number;
  readonly price: number;
  /** Signed fraction: price / previous - 1. */
  readonly change: number;
  readonly threshold: number;
}

/** A span where events should be and are not: a backfill request in waiting. */
export interface FeedGap {
  readonly symbol: string;
  readonly channel: Extract<FeedChannel, 'trades' | 'bars'>;
  /** Epoch ms, inclusive: the first missing bar's start, or the last trade before the silence. */
  readonly fromMs: number;
  /** Epoch ms, exclusive: the end of the last missing bar, or the first trade after the silence. */
  readonly toMs: number;
  /** Missing bars (bars only). */
  readonly missingBars?: number;
}

export interface Observation {
  readonly priceJump?: PriceJump;
  readonly gap?: FeedGap;
  /** The event carried a price or time that is not a finite positive number: skipped. */
  readonly invalid?: string;
  /** Older than the last event of its series. */
  readonly outOfOrder?: true;
}

export interface IntegrityCounts {
  readonly observed: number;
  readonly priceJumps: number;
  readonly gaps: number;
  readonly missingBars: number;
  readonly invalid: number;
  readonly outOfOrder: number;
}

/** One price series of a symbol: last price and event time, and the last bar start (bars). */
interface Series {
  price: number | undefined;
  tsEvent: number;
}

const DEFAULT_STALE_AFTER_MS = 60_000;
const DEFAULT_TRADE_GAP_MS = 5 * 60_000;

/** The price an event carries for the jump check, and the series it belongs to; undefined for news. */
function priceOf(event: FeedEvent): { series: string; price: number } | undefined {
  switch (event.schema) {
    case 'trade_tick.v1':
      return { series: 'trade', price: event.price };
    case 'quote_tick.v1':
      return { series: 'quote', price: (event.bid + event.ask) / 2 };
    case 'bar.v1':
      return { series: `bar:${event.interval}`, price: event.close };
    case 'news_item.v1':
      return undefined;
  }
}

const positive = (value: number) => Number.isFinite(value) && value > 0;

export class FeedIntegrity {
  private readonly classes: Readonly<Record<string, AssetClassRule>>;
  private readonly staleAfterMs: number;
  private readonly tradeGapMs: number;
  private readonly series = new Map<string, Series>();
  /** Last event time (any price channel) of each symbol, or the time watching began. */
  private readonly lastSeen = new Map<string, number>();
  private readonly barIntervals = new Map<string, number>();
  private counts = { observed: 0, priceJumps: 0, gaps: 0, missingBars: 0, invalid: 0, outOfOrder: 0 };

  constructor(private readonly options: FeedIntegrityOptions) {
    this.classes = options.classes ?? DEFAULT_ASSET_CLASSES;
    this.staleAfterMs = options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
    this.tradeGapMs = options.tradeGapMs ?? DEFAULT_TRADE_GAP_MS;
    for (const name of new Set([options.defaultClass, ...Object.values(options.symbolClasses ?? {})]))
      if (!this.classes[name]) throw new RangeError(`asset class "${name}" has no rule`);
    for (const [name, rule] of Object.entries(this.classes))
      if (!(rule.maxJump > 0)) throw new RangeError(`asset class "${name}": maxJump must be > 0`);
  }

  /** The rule of a symbol's asset class. */
  ruleOf(symbol: string): AssetClassRule {
    return this.classes[this.options.symbolClasses?.[symbol] ?? this.options.defaultClass]!;
  }

  calendarOf(symbol: string): TradingCalendar {
    return calendars[this.ruleOf(symbol).calendar];
  }

  /**
   * Whether any watched or observed symbol's market is open (the default class's when none is): the
   * FeedActor's `isTradingTime`, so a feed is not called silent while its market is closed.
   */
  isTradingTime(ms: number): boolean {
    if (this.lastSeen.size === 0)
      return calendars[this.classes[this.options.defaultClass]!.calendar].isOpen(ms);
    for (const symbol of this.lastSeen.keys()) if (this.calendarOf(symbol).isOpen(ms)) return true;
    return false;
  }

  /** Starts the freshness clock of symbols that may not have sent anything yet. */
  watch(symbols: readonly string[], sinceMs: number): void {
    for (const symbol of symbols) if (!this.lastSeen.has(symbol)) this.lastSeen.set(symbol, sinceMs);
  }

  /** Checks one published event. Never throws. */
  observe(event: FeedEvent): Observation {
    this.counts.observed++;
    const priced = priceOf(event);
    if (!priced) return {};
    if (!Number.isFinite(event.ts_event) || event.ts_event <= 0) return this.invalid('ts_event');
    if (!positive(priced.price)) return this.invalid('price');
    const key = `${event.symbol}\u0000${priced.series}`;
    const known = this.series.get(key);
    const jump =
      known?.price !== undefined ? this.jump(event, priced.series, known.price, priced.price) : undefined;
    if (known && event.ts_event < known.tsEvent) {
      this.counts.outOfOrder++;
      return { ...(jump ? { priceJump: jump } : {}), outOfOrder: true };
    }
    const gap = known ? this.gapBetween(event, known.tsEvent) : undefined;
    this.series.set(key, { price: priced.price, tsEvent: event.ts_event });
    this.lastSeen.set(event.symbol, Math.max(this.lastSeen.get(event.symbol) ?? 0, event.ts_event));
    return { ...(jump ? { priceJump: jump } : {}), ...(gap ? { gap } : {}) };
  }

  /**
   * Watched or observed symbols silent for longer than staleAfterMs of session time at `nowMs`,
   * sorted. Only while the symbol's market is open: a closed market is not a stale feed.
   */
  staleSymbols(nowMs: number): string[] {
    const stale: string[] = [];
    for (const [symbol, since] of this.lastSeen) {
      const calendar = this.calendarOf(symbol);
      if (calendar.isOpen(nowMs) && sessionTimeBetween(calendar, since, nowMs) > this.staleAfterMs)
        stale.push(symbol);
    }
    return stale.sort();
  }

  summary(): IntegrityCounts {
    return { ...this.counts };
  }

  private invalid(field: string): Observation {
    this.counts.invalid++;
    return { invalid: `${field} is not a finite positive number` };
  }

  private jump(event: FeedEvent, series: string, previous: number, price: number): PriceJump | undefined {
    const change = price / previous - 1;
    const threshold = this.ruleOf(event.symbol).maxJump;
    if (Math.abs(change) <= threshold) return undefined;
    this.counts.priceJumps++;
    return {
      symbol: event.symbol,
      series,
      eventId: event.id,
      tsEvent: event.ts_event,
      previous,
      price,
      change,
      threshold,
    };
  }

  /** The gap between this event and the previous one of its series, if any. */
  private gapBetween(event: FeedEvent, previousTs: number): FeedGap | undefined {
    const calendar = this.calendarOf(event.symbol);
    let gaps: FeedGap[] = [];
    if (event.schema === 'bar.v1') {
      const interval = this.intervalMs(event.interval);
      if (interval === undefined) return undefined;
      // ts_event is the bar close: starts are one interval earlier.
      const start = event.ts_event - interval;
      gaps = missingBars(calendar, event.symbol, [], previousTs, start, interval);
    } else if (event.schema === 'trade_tick.v1') {
      gaps = tradeSilences(
        calendar,
        event.symbol,
        [previousTs, event.ts_event],
        previousTs,
        event.ts_event,
        this.tradeGapMs,
      );
    }
    const [gap] = gaps;
    if (!gap) return undefined;
    this.counts.gaps++;
    this.counts.missingBars += gap.missingBars ?? 0;
    return gap;
  }

  private intervalMs(interval: string): number | undefined {
    let ms = this.barIntervals.get(interval);
    if (ms === undefined) {
      try {
        ms = parseDuration(interval, 'interval');
      } catch {
        return undefined;
      }
      this.barIntervals.set(interval, ms);
    }
    return ms;
  }
}

/** A jump as one line, the symbol aside: for the alert message and the feed check report. */
export function formatPriceJump(jump: PriceJump): string {
  const percent = (value: number) => `${(value * 100).toFixed(1)} %`;
  return `${jump.series} ${jump.previous} -> ${jump.price} (${jump.change > 0 ? '+' : ''}${percent(jump.change)}, threshold ${percent(jump.threshold)}) at ${new Date(jump.tsEvent).toISOString()}`;
}

/**
 * The FeedActor's `integrity` option (FeedEventCheck) over a FeedIntegrity: each price jump as the
 * message of its alert.warning.feed_price_jump.
 */
export function priceJumpAlerts(integrity: FeedIntegrity): { observe(event: FeedEvent): string | undefined } {
  return {
    observe(event) {
      const { priceJump } = integrity.observe(event);
      return priceJump && formatPriceJump(priceJump);
    },
  };
}

/**
 * Bars expected by the calendar in [fromMs, toMs) whose start is not in `barStarts`, merged into spans
 * of consecutive missing bars. `barStarts` need not be sorted; ones outside sessions are ignored.
 */
export function missingBars(
  calendar: TradingCalendar,
  symbol: string,
  barStarts: Iterable<number>,
  fromMs: number,
  toMs: number,
  intervalMs: number,
): FeedGap[] {
  const seen = new Set(barStarts);
  const gaps: FeedGap[] = [];
  let open: { fromMs: number; toMs: number; missingBars: number } | undefined;
  for (const start of expectedBarStarts(calendar, fromMs, toMs, intervalMs)) {
    if (seen.has(start)) continue;
    if (open && open.toMs === start) {
      open.toMs = start + intervalMs;
      open.missingBars++;
      continue;
    }
    if (open) gaps.push({ symbol, channel: 'bars', ...open });
    open = { fromMs: start, toMs: start + intervalMs, missingBars: 1 };
  }
  if (open) gaps.push({ symbol, channel: 'bars', ...open });
  return gaps;
}

/**
 * Silences in [fromMs, toMs) longer than `maxSilenceMs` of session time between consecutive trade
 * times (and the window's edges). Times need not be sorted; ones that are not finite are ignored.
 */
export function tradeSilences(
  calendar: TradingCalendar,
  symbol: string,
  tradeTimes: Iterable<number>,
  fromMs: number,
  toMs: number,
  maxSilenceMs: number,
): FeedGap[] {
  const times = [...tradeTimes].filter((time) => Number.isFinite(time) && time >= fromMs && time < toMs);
  times.sort((a, b) => a - b);
  const edges = [fromMs, ...times, toMs];
  const gaps: FeedGap[] = [];
  for (let index = 1; index < edges.length; index++) {
    const [from, to] = [edges[index - 1]!, edges[index]!];
    if (to - from > maxSilenceMs && sessionTimeBetween(calendar, from, to) > maxSilenceMs)
      gaps.push({ symbol, channel: 'trades', fromMs: from, toMs: to });
  }
  return gaps;
}
