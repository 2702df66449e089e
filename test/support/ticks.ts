// Trade and quote ticks for the venue and execution unit tests: ids from their time, AAPL unless named.
import type { QuoteTick, TradeTick } from '../../schemas/messages.ts';

export function tradeTick(ts: number, price: number, size = 1000, symbol = 'AAPL'): TradeTick {
  return {
    schema: 'trade_tick.v1',
    id: `t${ts}`,
    ts_event: ts,
    ts_init: ts,
    symbol,
    price,
    size,
    aggressor: 'unknown',
  };
}

export function quoteTick(ts: number, bid: number, ask: number, size = 1000, symbol = 'AAPL'): QuoteTick {
  return {
    schema: 'quote_tick.v1',
    id: `q${ts}`,
    ts_event: ts,
    ts_init: ts,
    symbol,
    bid,
    ask,
    bid_size: size,
    ask_size: size,
  };
}
