// What a live market-data provider looks like to the FeedActor (NautilusTrader's DataClient as the
// idea): one small interface per provider, each written over that provider's own client library.
// The adapter owns the socket and the REST calls; the FeedActor owns everything else (its lifecycle,
// reconnect and backoff, the gap backfill, integrity checks, recording, publishing, dead letters).
//
// Frames, not events, cross this boundary: the adapter hands over what the provider sent (parsed
// JSON) with its receive time, and maps a frame to events in `decode`, a pure function. The FeedActor
// records the frame before it publishes what it maps to, so `sluice feed replay` runs recorded
// frames through the same `decode` and gets the same events, ids and ts_init included.
import type { JsonValue } from '../../schemas/jobs.ts';
import type { Bar, NewsItem, QuoteTick, TradeTick } from '../../schemas/messages.ts';

export const FEED_CHANNELS = ['trades', 'quotes', 'bars', 'news'] as const;
export type FeedChannel = (typeof FEED_CHANNELS)[number];

/** What a feed publishes: on md.tick (trades, quotes), md.bar and md.news. */
export type FeedEvent = TradeTick | QuoteTick | Bar | NewsItem;

/** One frame as the provider's client library handed it over. Recorded to the RAW stream as is. */
export interface RawFrame {
  /**
   * The provider's frame, as parsed JSON. Where the client library parses frames itself (ccxt), the
   * library's structure for one item, which keeps the exchange's frame under `info`.
   */
  readonly payload: JsonValue;
  readonly channel: FeedChannel;
  /** Epoch ms from the receiving clock; becomes ts_init of the events it maps to. */
  readonly receivedAt: number;
  /** Whether it came on the live stream or from a REST backfill. */
  readonly origin: 'stream' | 'backfill';
}

/**
 * What a frame maps to. `events` may be empty (a status or subscription acknowledgement). A frame
 * that cannot be mapped is `ok: false` with the reason; the FeedActor dead-letters it with the raw
 * frame.
 */
export type FrameDecoding = { ok: true; events: FeedEvent[] } | { ok: false; reason: string };

/** A span to backfill for one symbol and channel: events after `after` up to `until`. */
export interface BackfillRequest {
  readonly symbol: string;
  readonly channel: FeedChannel;
  /** ts_event (epoch ms) of the last event already published; the backfill starts at it (inclusive). */
  readonly fromMs: number;
  /** Provider id of that last event where the provider pages by id (trades), so nothing is read twice. */
  readonly afterId?: string;
  /** Exclusive end, epoch ms. */
  readonly toMs: number;
}

/** Wrong or missing credentials: permanent, so the feed stops (the CLI exits 2) instead of retrying. */
export class FeedAuthError extends Error {
  constructor(
    readonly provider: string,
    reason: string,
  ) {
    super(`${provider}: authentication failed: ${reason}`);
    this.name = 'FeedAuthError';
  }
}

/** A refused subscription (unknown symbol or channel): permanent too. */
export class FeedSubscriptionError extends Error {
  constructor(
    readonly provider: string,
    reason: string,
  ) {
    super(`${provider}: subscription refused: ${reason}`);
    this.name = 'FeedSubscriptionError';
  }
}

export interface FeedSubscriptionRequest {
  readonly symbols: readonly string[];
  readonly channels: readonly FeedChannel[];
  /** Called for every frame in the order received. Never throws; must not block. */
  readonly onFrame: (frame: RawFrame) => void;
}

export interface FeedAdapter {
  /** `alpaca`, `polygon`, `ccxt:<exchange id>`: the first token of every event id it makes. */
  readonly provider: string;
  readonly channels: readonly FeedChannel[];
  /** Opens the connection. Throws on a network failure (the FeedActor retries with backoff). */
  connect(): Promise<void>;
  /** Authenticates where the provider asks for it; throws FeedAuthError on refused credentials. */
  authenticate(): Promise<void>;
  /** Subscribes; frames flow to `onFrame` from here until the connection ends. */
  subscribe(request: FeedSubscriptionRequest): Promise<void>;
  /** Resolves, with a reason, once the live connection is gone (closed by either side, or failed). */
  disconnected(): Promise<string>;
  /**
   * Frames of the span from the provider's REST API, oldest first, page by page. Honours the
   * provider's rate limit (HTTP 429 and Retry-After, exchange weights) by waiting, not by failing.
   */
  backfill(request: BackfillRequest): AsyncIterable<RawFrame>;
  /** Maps a frame to events. Pure: the same frame always gives the same events. */
  decode(frame: RawFrame): FrameDecoding;
  /** Closes the connection; `disconnected()` then resolves. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * The id of an event a feed publishes: provider, kind, symbol and the provider's own key (trade id,
 * sequence, bar start, news id). A frame delivered twice (reconnect, backfill overlap) maps to the
 * same id and is dropped by the stream's duplicate window.
 */
export function feedEventId(
  provider: string,
  kind: 'trade' | 'quote' | 'bar' | 'news',
  symbol: string,
  key: string | number,
): string {
  return `${provider}:${kind}:${symbol}:${key}`;
}
