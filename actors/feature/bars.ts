// Time bars from trade and quote ticks, closed by EVENT time. Buckets are UTC-aligned half-open
// spans [start, start + interval); a bar's ts_event is its close, start + interval (schemas `Bar`).
// A bucket with no ticks produces no bar (no filler bars).
//
// Tick policy (the caller counts the outcome, see `TickOutcome`):
// - invalid: non-finite or negative time, price <= 0 or non-finite, negative or non-finite size,
//   crossed quote (bid > ask) -> rejected.
// - late: the tick belongs to a bucket that is already closed -> rejected (closed bars never change).
// - duplicate: a trade whose trade_id was already seen in the open bar -> rejected.
// - inside the open bucket, ticks may arrive out of order: high/low/volume take every tick, open
//   is the earliest-stamped price and close the latest-stamped (first arrival wins ties).

import { ConfigError } from '../../core/errors.ts';
import type { Bar, QuoteTick, TradeTick } from '../../schemas/messages.ts';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Parses '500ms', '1s', '5m', '1h', '1d' (the `Bar.interval` syntax) into milliseconds. */
export function parseDuration(text: string, field: string): number {
  const match = /^([0-9]+)(ms|s|m|h|d)$/.exec(text);
  const amount = match ? Number(match[1]) : 0;
  if (!match || amount <= 0) {
    throw new ConfigError(
      field,
      `'${text}' is not a duration`,
      "Use a positive integer and a unit: ms, s, m, h or d (e.g. '1m')",
    );
  }
  return amount * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

export type TickOutcome = 'accepted' | 'invalid' | 'late' | 'duplicate';

/**
 * The trade ids of the open bar. Venues number trades in increasing order, so an id above every id
 * seen (by length, then character order: a strict order on all strings) cannot repeat one and needs
 * no lookup; a set is built only when an id at or below the highest comes. Hashing every id into a
 * set that is rebuilt for each bar cost more than the rest of the bar arithmetic.
 */
class TradeIds {
  /** The first `count` entries are the open bar's. */
  private readonly ids: string[] = [];
  private count = 0;
  private highest: string | undefined;
  private lookup: Set<string> | undefined;

  has(id: string): boolean {
    if (this.highest === undefined || above(id, this.highest)) return false;
    this.lookup ??= new Set(this.ids.slice(0, this.count));
    return this.lookup.has(id);
  }

  add(id: string): void {
    this.ids[this.count++] = id;
    this.lookup?.add(id);
    if (this.highest === undefined || above(id, this.highest)) this.highest = id;
  }

  clear(): void {
    this.count = 0;
    this.highest = undefined;
    this.lookup = undefined;
  }
}

function above(id: string, than: string): boolean {
  return id.length > than.length || (id.length === than.length && id > than);
}

/** One symbol's open bar. All state is scalar, so a tick is O(1) and allocates nothing. */
export class BarAggregator {
  readonly intervalMs: number;
  /** Ticks stamped before this belong to closed bars. */
  private closedUntil = Number.NEGATIVE_INFINITY;
  private start = Number.NaN;
  private open = 0;
  private high = 0;
  private low = 0;
  private close = 0;
  private volume = 0;
  private openTs = 0;
  private closeTs = 0;
  private readonly tradeIds = new TradeIds();
  /** The bar closed by the last tick, if it closed one (read it right after onTrade/onQuote). */
  lastClosed: Bar | null = null;

  constructor(
    readonly symbol: string,
    readonly interval: string,
  ) {
    this.intervalMs = parseDuration(interval, 'interval');
  }

  onTrade(tick: TradeTick): TickOutcome {
    if (!(tick.size >= 0)) return this.reject();
    const tradeId = tick.trade_id;
    // Only a trade of the open bar can repeat one already counted (a later bucket starts afresh).
    if (tradeId !== undefined && this.tradeIds.has(tradeId)) {
      if (this.start === this.bucketOf(tick.ts_event)) return this.reject('duplicate');
    }
    const outcome = this.add(tick.ts_event, tick.ts_init, tick.price, tick.size);
    if (outcome === 'accepted' && tradeId !== undefined) this.tradeIds.add(tradeId);
    return outcome;
  }

  /** Quote bars are built from the mid price and carry no volume. */
  onQuote(tick: QuoteTick): TickOutcome {
    if (!(tick.bid > 0 && tick.ask >= tick.bid)) return this.reject();
    return this.add(tick.ts_event, tick.ts_init, (tick.bid + tick.ask) / 2, 0);
  }

  /** Closes the open bar if its span ended at or before `ts`; returns it or null. */
  flushUntil(ts: number): Bar | null {
    if (!Number.isNaN(this.start) && this.start + this.intervalMs <= ts) return this.closeBar(ts);
    return null;
  }

  private bucketOf(ts: number): number {
    return Math.floor(ts / this.intervalMs) * this.intervalMs;
  }

  private reject(outcome: TickOutcome = 'invalid'): TickOutcome {
    this.lastClosed = null;
    return outcome;
  }

  private add(ts: number, tsInit: number, price: number, size: number): TickOutcome {
    this.lastClosed = null;
    if (!(Number.isFinite(ts) && ts >= 0 && price > 0 && Number.isFinite(price) && Number.isFinite(size))) {
      return 'invalid';
    }
    if (ts < this.closedUntil) return 'late';
    const bucket = this.bucketOf(ts);
    if (bucket !== this.start) {
      // A later bucket: the open bar is complete. `bucket < start` cannot happen: closedUntil guards it.
      const closed = !Number.isNaN(this.start) ? this.closeBar(tsInit) : null;
      this.start = bucket;
      this.open = this.high = this.low = this.close = price;
      this.volume = size;
      this.openTs = this.closeTs = ts;
      this.lastClosed = closed;
      return 'accepted';
    }
    if (price > this.high) this.high = price;
    if (price < this.low) this.low = price;
    this.volume += size;
    if (ts < this.openTs) {
      this.openTs = ts;
      this.open = price;
    }
    if (ts > this.closeTs) {
      this.closeTs = ts;
      this.close = price;
    }
    return 'accepted';
  }

  private closeBar(tsInit: number): Bar {
    const end = this.start + this.intervalMs;
    const bar: Bar = {
      schema: 'bar.v1',
      id: `${this.symbol}:${this.interval}:${end}`,
      ts_event: end,
      ts_init: Math.max(tsInit, end),
      symbol: this.symbol,
      interval: this.interval,
      open: this.open,
      high: this.high,
      low: this.low,
      close: this.close,
      volume: this.volume,
    };
    this.closedUntil = end;
    this.start = Number.NaN;
    this.tradeIds.clear();
    return bar;
  }
}
