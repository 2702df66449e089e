// The FeatureActor's synchronous core: bars in, feature rows out, O(1) per event, no I/O, no clock.
// Everything runs on EVENT time, so a replay produces the same rows as the live run.
//
// Input policy (never a throw; every rejection is counted in `counters`, and by symbol and reason in
// `rejections()`; `lastRejection` tells the caller whether the event it just gave was rejected):
// - bar invalid (non-finite field, price <= 0, low > high, open/close outside [low, high],
//   volume < 0) -> rejected, `rejected_invalid`. No repair: a repaired price would be invented.
// - bar with ts_event equal to the symbol's last bar -> rejected, `rejected_duplicate` (first wins);
//   earlier than it -> rejected, `rejected_out_of_order`. Rows already emitted never change.
// - ticks: see bars.ts; invalid -> `rejected_invalid`, late -> `rejected_out_of_order`,
//   repeated trade (by trade_id, else event id) in the open bar -> `rejected_duplicate`.
// - news/sentiment with a bad timestamp, or a score outside [-1, 1] -> `rejected_invalid`.
//
// Point in time: a row for a bar closing at t uses only bars with ts_event <= t and news stamped
// <= t. News that arrives early waits in a per-symbol queue until a bar reaches its timestamp;
// news that arrives after later bars were emitted (`news_late`) only affects rows still to come.
import type { Bar, NewsItem, QuoteTick, SentimentScore, TradeTick } from '../../schemas/messages.ts';
import { BarAggregator, type TickOutcome } from './bars.ts';
import type { FeatureSet } from './feature-set.ts';
import { createIndicator, type Indicator } from './indicators.ts';

export interface FeatureRow {
  readonly symbol: string;
  /** The bar's close time: the row is known at this instant. */
  readonly ts_event: number;
  readonly bar_id: string;
  readonly feature_set: string;
  readonly feature_set_version: string;
  /** Every indicator has a value. */
  readonly warm: boolean;
  /** By column name; null while that indicator warms up. */
  readonly values: Record<string, number | null>;
}

/** Why the core rejected an event: the `rejected_*` counter it went to. */
export type RejectionReason = 'invalid' | 'out_of_order' | 'duplicate';

/** Rejections of one symbol for one reason since the core started. */
export interface FeatureRejections {
  readonly symbol: string;
  readonly reason: RejectionReason;
  readonly count: number;
}

const REJECTION_COUNTER = {
  invalid: 'rejected_invalid',
  out_of_order: 'rejected_out_of_order',
  duplicate: 'rejected_duplicate',
} as const satisfies Record<RejectionReason, keyof FeatureCounters>;

export interface FeatureCounters {
  bars: number;
  ticks: number;
  news: number;
  sentiment: number;
  rejected_invalid: number;
  rejected_out_of_order: number;
  rejected_duplicate: number;
  /** Accepted news/sentiment stamped before the symbol's last bar: applies to later rows only. */
  news_late: number;
}

/** Every counter at zero. */
export function emptyFeatureCounters(): FeatureCounters {
  return {
    bars: 0,
    ticks: 0,
    news: 0,
    sentiment: 0,
    rejected_invalid: 0,
    rejected_out_of_order: 0,
    rejected_duplicate: 0,
    news_late: 0,
  };
}

export interface FeatureCoreOptions {
  readonly set: FeatureSet;
  /** Bar length for trades and quotes, e.g. '1m'. Ready-made bars keep their own. */
  readonly barInterval?: string;
}

interface NewsEvent {
  readonly ts: number;
  /** NaN for a plain news item (counted), else a sentiment score (averaged). */
  readonly score: number;
  readonly weight: number;
}

class SymbolState {
  readonly indicators: Indicator[];
  readonly offsets: Int32Array;
  readonly values: Float64Array;
  bars = 0;
  lastTs = Number.NEGATIVE_INFINITY;
  aggregator: BarAggregator | null = null;
  /** News not yet reached by a bar, sorted by ts. */
  pending: NewsEvent[] = [];
  /** Timestamps of counted news inside the count window, sorted; entries before `newsHead` are gone. */
  newsTimes: number[] = [];
  newsHead = 0;
  sentimentNum = 0;
  sentimentDen = 0;
  sentimentTs = Number.NEGATIVE_INFINITY;

  constructor(set: FeatureSet) {
    this.indicators = set.indicators.map(createIndicator);
    this.offsets = new Int32Array(this.indicators.length);
    let offset = 0;
    this.indicators.forEach((indicator, i) => {
      this.offsets[i] = offset;
      offset += indicator.columns.length;
    });
    this.values = new Float64Array(set.columns.length);
  }
}

function isValidBar(bar: Bar): boolean {
  const { open, high, low, close, volume } = bar;
  // Comparisons with NaN are false, so each test also rejects NaN.
  return (
    Number.isFinite(bar.ts_event) &&
    low > 0 &&
    high < Number.POSITIVE_INFINITY &&
    low <= high &&
    open >= low &&
    open <= high &&
    close >= low &&
    close <= high &&
    volume >= 0 &&
    volume < Number.POSITIVE_INFINITY
  );
}

export class FeatureCore {
  readonly set: FeatureSet;
  readonly barInterval: string;
  readonly counters: FeatureCounters = emptyFeatureCounters();
  /** Why the event last given to the core was rejected; null when it was accepted. */
  lastRejection: RejectionReason | null = null;
  /** Symbol → reason → rejections; apart from the symbols' state so rejected input allocates none. */
  private readonly rejected = new Map<string, Map<RejectionReason, number>>();
  /** Latest ts_event of any accepted bar or tick: what the lifecycle's staleness is measured from. */
  lastDataTs = Number.NEGATIVE_INFINITY;
  private readonly symbols = new Map<string, SymbolState>();
  private warmSymbols = 0;
  private readonly columns: readonly string[];
  private readonly indicatorCount: number;

  constructor(options: FeatureCoreOptions) {
    this.set = options.set;
    this.barInterval = options.barInterval ?? '1m';
    this.columns = options.set.columns;
    this.indicatorCount = options.set.indicatorColumns.length;
    // Fail on a bad interval now, not on the first tick.
    new BarAggregator('', this.barInterval);
  }

  /** A ready-made (or aggregated) bar: its feature row, or null when the bar was rejected. */
  onBar(bar: Bar): FeatureRow | null {
    this.lastRejection = null;
    if (!isValidBar(bar)) return this.reject(bar.symbol, 'invalid');
    const state = this.state(bar.symbol);
    if (bar.ts_event <= state.lastTs)
      return this.reject(bar.symbol, bar.ts_event === state.lastTs ? 'duplicate' : 'out_of_order');
    this.counters.bars++;
    state.lastTs = bar.ts_event;
    if (bar.ts_event > this.lastDataTs) this.lastDataTs = bar.ts_event;
    const { indicators, offsets, values } = state;
    for (let i = 0; i < indicators.length; i++) indicators[i]!.update(bar, values, offsets[i]!);
    if (++state.bars === this.set.warmupBars) this.warmSymbols++;
    this.updateNews(state, bar.ts_event);
    return this.row(state, bar);
  }

  /** A trade: the row of the bar it closed, if it closed one. */
  onTrade(tick: TradeTick): FeatureRow | null {
    const aggregator = this.aggregator(tick.symbol);
    return this.afterTick(aggregator, aggregator.onTrade(tick), tick.ts_event);
  }

  /** A quote (bars of the mid price, no volume): the row of the bar it closed, if any. */
  onQuote(tick: QuoteTick): FeatureRow | null {
    const aggregator = this.aggregator(tick.symbol);
    return this.afterTick(aggregator, aggregator.onQuote(tick), tick.ts_event);
  }

  /** Closes every open tick bar whose span ended at or before `ts` (event time); their rows. */
  flushUntil(ts: number): FeatureRow[] {
    const rows: FeatureRow[] = [];
    for (const state of this.symbols.values()) {
      const bar = state.aggregator?.flushUntil(ts);
      const row = bar ? this.onBar(bar) : null;
      if (row) rows.push(row);
    }
    return rows;
  }

  onNews(item: NewsItem): void {
    this.lastRejection = null;
    if (this.acceptNews(item.symbol, { ts: item.ts_event, score: Number.NaN, weight: 1 }))
      this.counters.news++;
  }

  /** Sentiment is averaged with weight confidence x 2^(-age / half-life). */
  onSentiment(score: SentimentScore): void {
    this.lastRejection = null;
    const valid = score.score >= -1 && score.score <= 1 && score.confidence >= 0 && score.confidence <= 1;
    if (!valid) {
      this.reject(score.symbol, 'invalid');
      return;
    }
    const event = { ts: score.ts_event, score: score.score, weight: score.confidence };
    if (this.acceptNews(score.symbol, event)) this.counters.sentiment++;
  }

  /** Every (symbol, reason) with at least one rejection, and how many. */
  rejections(): FeatureRejections[] {
    const all: FeatureRejections[] = [];
    for (const [symbol, reasons] of this.rejected)
      for (const [reason, count] of reasons) all.push({ symbol, reason, count });
    return all;
  }

  /** The bar the symbol's last tick closed (for storing aggregated bars). */
  lastAggregatedBar(symbol: string): Bar | null {
    return this.symbols.get(symbol)?.aggregator?.lastClosed ?? null;
  }

  isWarm(symbol: string): boolean {
    return (this.symbols.get(symbol)?.bars ?? 0) >= this.set.warmupBars;
  }

  /** At least one symbol seen and every symbol seen has every indicator warm. */
  allWarm(): boolean {
    return this.symbols.size > 0 && this.warmSymbols === this.symbols.size;
  }

  private state(symbol: string): SymbolState {
    let state = this.symbols.get(symbol);
    if (!state) {
      state = new SymbolState(this.set);
      this.symbols.set(symbol, state);
    }
    return state;
  }

  private aggregator(symbol: string): BarAggregator {
    const state = this.state(symbol);
    state.aggregator ??= new BarAggregator(symbol, this.barInterval);
    return state.aggregator;
  }

  private afterTick(aggregator: BarAggregator, outcome: TickOutcome, ts: number): FeatureRow | null {
    this.lastRejection = null;
    if (outcome !== 'accepted')
      return this.reject(aggregator.symbol, outcome === 'late' ? 'out_of_order' : outcome);
    this.counters.ticks++;
    if (ts > this.lastDataTs) this.lastDataTs = ts;
    const closed = aggregator.lastClosed;
    return closed ? this.onBar(closed) : null;
  }

  private reject(symbol: string, reason: RejectionReason): null {
    this.counters[REJECTION_COUNTER[reason]]++;
    this.lastRejection = reason;
    let reasons = this.rejected.get(symbol);
    if (!reasons) {
      reasons = new Map();
      this.rejected.set(symbol, reasons);
    }
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    return null;
  }

  private acceptNews(symbol: string, event: NewsEvent): boolean {
    if (!(Number.isFinite(event.ts) && event.ts >= 0)) {
      this.reject(symbol, 'invalid');
      return false;
    }
    const state = this.state(symbol);
    if (event.ts <= state.lastTs) {
      // Rows up to lastTs are out; this event can only shape the rows after it.
      this.counters.news_late++;
      this.applyNews(state, event);
      return true;
    }
    const pending = state.pending;
    let at = pending.length;
    while (at > 0 && pending[at - 1]!.ts > event.ts) at--;
    pending.splice(at, 0, event);
    return true;
  }

  private applyNews(state: SymbolState, event: NewsEvent): void {
    if (Number.isNaN(event.score)) {
      const times = state.newsTimes;
      let at = times.length;
      while (at > state.newsHead && times[at - 1]! > event.ts) at--;
      times.splice(at, 0, event.ts);
      return;
    }
    const halfLife = this.set.halfLifeMs;
    if (event.ts >= state.sentimentTs) {
      const decay =
        state.sentimentTs === Number.NEGATIVE_INFINITY
          ? 0
          : 2 ** (-(event.ts - state.sentimentTs) / halfLife);
      state.sentimentNum = state.sentimentNum * decay + event.weight * event.score;
      state.sentimentDen = state.sentimentDen * decay + event.weight;
      state.sentimentTs = event.ts;
    } else {
      const weight = event.weight * 2 ** (-(state.sentimentTs - event.ts) / halfLife);
      state.sentimentNum += weight * event.score;
      state.sentimentDen += weight;
    }
  }

  /** Applies news stamped <= ts, drops counted news older than the window, writes the news columns. */
  private updateNews(state: SymbolState, ts: number): void {
    const pending = state.pending;
    let used = 0;
    while (used < pending.length && pending[used]!.ts <= ts) this.applyNews(state, pending[used++]!);
    if (used > 0) pending.splice(0, used);
    const times = state.newsTimes;
    const horizon = ts - this.set.countWindowMs;
    while (state.newsHead < times.length && times[state.newsHead]! <= horizon) state.newsHead++;
    if (state.newsHead > 64 && state.newsHead * 2 > times.length) {
      times.splice(0, state.newsHead);
      state.newsHead = 0;
    }
    const base = this.indicatorCount;
    state.values[base] = times.length - state.newsHead;
    // The decayed average is a ratio, so decaying both sums to `ts` would not change it.
    state.values[base + 1] = state.sentimentDen > 0 ? state.sentimentNum / state.sentimentDen : 0;
  }

  private row(state: SymbolState, bar: Bar): FeatureRow {
    const values: Record<string, number | null> = {};
    const columns = this.columns;
    const raw = state.values;
    for (let i = 0; i < columns.length; i++) {
      const v = raw[i]!;
      values[columns[i]!] = !Number.isNaN(v) ? v : null;
    }
    return {
      symbol: bar.symbol,
      ts_event: bar.ts_event,
      bar_id: bar.id,
      feature_set: this.set.name,
      feature_set_version: this.set.version,
      warm: state.bars >= this.set.warmupBars,
      values,
    };
  }
}
