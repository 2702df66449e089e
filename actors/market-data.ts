// Market data as the trading actors read it. Bars (daily stocknet prices, minute files) have no
// trades, so each is turned into one trade at a chosen price: the risk gate and the portfolio mark
// at the close (the last known price at ts_event); the simulated venue fills at the open with the
// bar's volume as the size cap, so an order decided on one bar fills at the next bar's open, as LEAN
// does for daily data.
import type { Bar, QuoteTick, TradeTick } from '../schemas/messages.ts';

export function barAsTrade(bar: Bar, price: number): TradeTick {
  return {
    schema: 'trade_tick.v1',
    id: bar.id,
    ts_event: bar.ts_event,
    ts_init: bar.ts_init,
    symbol: bar.symbol,
    price,
    size: bar.volume,
    aggressor: 'unknown',
  };
}

/** Mark price of a tick: the trade price, or the quote mid. */
export function tickPrice(tick: TradeTick | QuoteTick): number {
  return tick.schema === 'trade_tick.v1' ? tick.price : (tick.bid + tick.ask) / 2;
}
