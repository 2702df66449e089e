// Test fixture: a FeedAdapter whose REST backfill serves real Binance trades from ../shared/data, as
// ccxt's fetchTrades structure, for tests of what runs around adapters (the feed_backfill job, the
// feed check) without a provider. The real adapters are tested against loopback servers.

import {
  type BackfillRequest,
  type FeedAdapter,
  type FeedChannel,
  type FrameDecoding,
  feedEventId,
  type RawFrame,
} from '../../actors/feed/adapter.ts';
import type { JsonValue } from '../../schemas/jobs.ts';
import type { TradeTick } from '../../schemas/messages.ts';

export const FILE_FEED_PROVIDER = 'ccxt:binance';

/** A frame as ccxt's trade structure gives it, received at the trade's own time. */
export function tradeFrame(trade: TradeTick, origin: RawFrame['origin'] = 'backfill'): RawFrame {
  return {
    channel: 'trades',
    origin,
    receivedAt: trade.ts_event,
    payload: {
      id: trade.trade_id ?? '',
      symbol: trade.symbol,
      timestamp: trade.ts_event,
      price: trade.price,
      amount: trade.size,
      side: trade.aggressor === 'unknown' ? null : trade.aggressor,
    },
  };
}

export class FileFeedAdapter implements FeedAdapter {
  readonly provider = FILE_FEED_PROVIDER;
  readonly channels: readonly FeedChannel[] = ['trades'];
  closed = 0;

  constructor(
    private readonly trades: readonly TradeTick[],
    /** Payloads served before the trades of every backfill: hostile frames. */
    private readonly extra: readonly JsonValue[] = [],
  ) {}

  async connect(): Promise<void> {}
  async authenticate(): Promise<void> {}
  async subscribe(): Promise<void> {}
  disconnected(): Promise<string> {
    return new Promise(() => {});
  }

  async *backfill(request: BackfillRequest): AsyncIterable<RawFrame> {
    for (const payload of this.extra)
      yield { channel: request.channel, origin: 'backfill', receivedAt: request.fromMs, payload };
    for (const trade of this.trades)
      if (
        trade.symbol === request.symbol &&
        trade.ts_event >= request.fromMs &&
        trade.ts_event < request.toMs
      )
        yield tradeFrame(trade);
  }

  decode(frame: RawFrame): FrameDecoding {
    const payload = frame.payload as { [key: string]: JsonValue } | null;
    if (payload === null || typeof payload !== 'object' || typeof payload.price !== 'number')
      return { ok: false, reason: 'trade without a numeric price' };
    const { id, symbol, timestamp, price, amount, side } = payload;
    const event: TradeTick = {
      schema: 'trade_tick.v1',
      id: feedEventId(this.provider, 'trade', String(symbol), String(id)),
      ts_event: Number(timestamp),
      ts_init: frame.receivedAt,
      symbol: String(symbol),
      price,
      size: Number(amount),
      aggressor: side === 'buy' || side === 'sell' ? side : 'unknown',
      trade_id: String(id),
      venue: 'binance',
    };
    return { ok: true, events: [event] };
  }

  async close(): Promise<void> {
    this.closed++;
  }
}
