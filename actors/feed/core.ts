// The FeedActor's rules, without I/O: how long to wait before reconnecting, and where each symbol's
// channel got to, so the backfill after a reconnect starts exactly there.
import type { RandomSource } from '../../core/random.ts';
import type { BackfillRequest, FeedChannel, FeedEvent } from './adapter.ts';

export interface ReconnectPolicy {
  /** First wait after a lost connection, ms. */
  initialDelayMs: number;
  /** Cap on the wait, ms. */
  maxDelayMs: number;
}

export const DEFAULT_RECONNECT: ReconnectPolicy = { initialDelayMs: 250, maxDelayMs: 30_000 };

/**
 * Capped exponential backoff with jitter: half of the capped delay, plus a random part up to the other
 * half. Many feeds cut off at once (a provider restart) then do not all come back in the same instant,
 * and each still waits at least half the schedule.
 */
export function reconnectDelayMs(attempt: number, policy: ReconnectPolicy, random: RandomSource): number {
  const capped = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(attempt, 30));
  return Math.round(capped / 2 + (capped / 2) * random.next());
}

/** Which channel an event came on. */
export function channelOf(event: FeedEvent): FeedChannel {
  switch (event.schema) {
    case 'trade_tick.v1':
      return 'trades';
    case 'quote_tick.v1':
      return 'quotes';
    case 'bar.v1':
      return 'bars';
    case 'news_item.v1':
      return 'news';
  }
}

interface Cursor {
  symbol: string;
  channel: FeedChannel;
  tsEvent: number;
  /** The provider's own id of the last trade, where it has one: trades are paged from it. */
  providerId: string | undefined;
}

/** The last published event of each symbol and channel. */
export class FeedCursors {
  private readonly cursors = new Map<FeedChannel, Map<string, Cursor>>();
  private count = 0;

  advance(event: FeedEvent): void {
    const channel = channelOf(event);
    // Keyed per channel, then symbol: called for every event, so no key string is built.
    let bySymbol = this.cursors.get(channel);
    if (bySymbol === undefined) {
      bySymbol = new Map();
      this.cursors.set(channel, bySymbol);
    }
    const providerId = event.schema === 'trade_tick.v1' ? event.trade_id : undefined;
    const known = bySymbol.get(event.symbol);
    if (known === undefined) {
      bySymbol.set(event.symbol, { symbol: event.symbol, channel, tsEvent: event.ts_event, providerId });
      this.count++;
      return;
    }
    // Out-of-order frames are published (the consumers judge them), but never move a cursor back.
    if (event.ts_event < known.tsEvent) return;
    known.tsEvent = event.ts_event;
    known.providerId = providerId;
  }

  get size(): number {
    return this.count;
  }

  /**
   * The spans to read after a gap: each cursor up to `untilMs(symbol, channel)` (exclusive). Starting
   * at the cursor itself re-reads its last event, which the duplicate window drops: a trade printed in
   * the same millisecond after it is not missed.
   */
  backfillRequests(untilMs: (symbol: string, channel: FeedChannel) => number): BackfillRequest[] {
    return [...this.cursors.values()]
      .flatMap((bySymbol) => [...bySymbol.values()])
      .map((cursor) => ({
        symbol: cursor.symbol,
        channel: cursor.channel,
        fromMs: cursor.tsEvent,
        ...(cursor.providerId !== undefined ? { afterId: cursor.providerId } : {}),
        toMs: untilMs(cursor.symbol, cursor.channel),
      }));
  }
}

/** Id of a recorded frame: unique per feed session and position, so a recording re-run adds nothing. */
export function feedFrameId(provider: string, session: string, sequence: number): string {
  return `${provider}:frame:${session}:${sequence}`;
}

/** First in, first out, each item taken once: amortised O(1) at both ends, unlike Array.shift. */
export class FifoQueue<T> {
  private items: T[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head++];
    // Drop the taken part once it is most of the array, so memory follows what is still queued.
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Puts `items` ahead of everything queued, in their order. */
  unshiftAll(items: readonly T[]): void {
    this.items = items.concat(this.items.slice(this.head));
    this.head = 0;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}
