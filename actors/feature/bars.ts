// Time bars from trade and quote ticks, closed by EVENT time. Buckets are UTC-aligned half-open
// spans [start, start + interval); a bar's ts_event is its close, start + interval (schemas `Bar`).
// A bucket with no ticks produces no bar (no filler bars).
//
// Tick policy (the caller counts the outcome, see `TickOutcome`):
// - invalid: non-finite or negative time, price <= 0 or non-finite, negative or non-finite size,
//   crossed quote (bid > ask) -> rejected.
// - late: the tick belongs to a bucket that is already closed -> rejected (closed bars never change).
// - duplicate: a trade whose trade_id (or, without one, whose event id) was already seen in the open
//   bar -> rejected, whether or not the stream dropped it (a publish without Nats-Msg-Id is not
//   deduplicated there). A trade of a closed bar is `late` anyway, so the open bar's ids suffice;
//   memory is bounded: at least the bar's last `tradeIdMemory` ids are remembered.
// - inside the open bucket, ticks may arrive out of order: high/low/volume take every tick, open
//   is the earliest-stamped price and close the latest-stamped (first arrival wins ties).

import { ConfigError } from '../../core/errors.ts';
import type { Bar, QuoteTick, TradeTick } from '../../schemas/messages.ts';
import { RecentIds } from '../risk/recent-ids.ts';

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

/** Trade ids remembered per open bar by default: a repeat this many trades later is still caught. */
export const TRADE_ID_MEMORY = 10_000;

/**
 * The trade ids of the open bar, the last `capacity` of them at least. Venues number trades in
 * increasing order, so an id above every id seen (by length, then character order: a strict order
 * on all strings) cannot repeat one and needs no lookup; the ids are only stored in a ring, and a
 * hashed lookup is built from it when an id at or below the highest comes. Hashing every id into a
 * set that is rebuilt for each bar cost more than the rest of the bar arithmetic.
 */
class TradeIds {
  /** The open bar's last ids: entry `i % capacity` is its i-th. */
  private readonly ring: string[] = [];
  private count = 0;
  private highest: string | undefined;
  private lookup: RecentIds | undefined;

  constructor(private readonly capacity: number) {}

  has(id: string): boolean {
    if (this.highest === undefined || above(id, this.highest)) return false;
    if (!this.lookup) {
      this.lookup = new RecentIds(this.capacity);
      for (let i = Math.max(0, this.count - this.capacity); i < this.count; i++)
        this.lookup.add(this.ring[i % this.capacity]!);
    }
    return this.lookup.has(id);
  }

  add(id: string): void {
    this.ring[this.count++ % this.capacity] = id;
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
  /** Ids of the open bar's trades: their trade_id, or their event id for those without one. */
  private readonly tradeIds: TradeIds;
  private readonly eventIds: TradeIds;
  /** The bar closed by the last tick, if it closed one (read it right after onTrade/onQuote). */
  lastClosed: Bar | null = null;

  constructor(
    readonly symbol: string,
    readonly interval: string,
    tradeIdMemory = TRADE_ID_MEMORY,
  ) {
    this.intervalMs = parseDuration(interval, 'interval');
    this.tradeIds = new TradeIds(tradeIdMemory);
    this.eventIds = new TradeIds(tradeIdMemory);
  }

  onTrade(tick: TradeTick): TickOutcome {
    if (!(tick.size >= 0)) return this.reject();
    // The same trade under two event ids (a feed re-sending it) shares its trade_id; one without a
    // trade_id is known by its deterministic event id.
    const ids = tick.trade_id !== undefined ? this.tradeIds : this.eventIds;
    const id = tick.trade_id ?? tick.id;
    // Only a trade of the open bar can repeat one already counted (a later bucket starts afresh).
    if (ids.has(id) && this.start === this.bucketOf(tick.ts_event)) return this.reject('duplicate');
    const outcome = this.add(tick.ts_event, tick.ts_init, tick.price, tick.size);
    if (outcome === 'accepted') ids.add(id);
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
    this.eventIds.clear();
    return bar;
  }
}
