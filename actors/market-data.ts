// Market data as the trading actors read it, and how it reaches them.
//
// Bars (daily stocknet prices, minute files) have no trades, so each is turned into one trade at a
// chosen price: the risk gate and the portfolio mark at the close (the last known price at
// ts_event); the simulated venue fills at the open with the bar's volume as the size cap, so an
// order decided on one bar fills at the next bar's open, as LEAN does for daily data.
//
// Delivery: actors that share a process share one consumer per kind (ticks, bars), which hands
// each event to every reader in a fixed order, as NautilusTrader's data engine fans out one feed. A
// tick is then decoded and acknowledged once instead of once per actor; an actor on its own subscribes
// the same way with itself as the only reader.
import type { Bar, QuoteTick, TradeTick } from '../schemas/messages.ts';
import { type ActorBus, checkpointAfterStoring, type Subscription } from '../streams/bus.ts';

export type MarketData = TradeTick | QuoteTick | Bar;

/** An actor's side of a market-data subscription. */
export interface MarketDataReader {
  /** Part of the durable consumer's name: a restarted process resumes where the same readers stopped. */
  readonly marketDataName: string;
  /** A promise only when the event caused asynchronous work, so a tick replay pays none per tick. */
  onMarketData(event: MarketData): Promise<void> | undefined;
  /** Makes the rows market data caused durable; events are acknowledged only after it. */
  storeMarketDataRows?: () => Promise<void>;
}

/** Mark price of a tick: the trade price, or the quote mid. */
export function tickPrice(tick: TradeTick | QuoteTick): number {
  return tick.schema === 'trade_tick.v1' ? tick.price : (tick.bid + tick.ask) / 2;
}

/**
 * Ticks and bars of every partition for `readers`. Each event reaches every reader, in the order
 * given, before any reader's asynchronous work (publishing a fill, a snapshot) is awaited: the
 * readers see it at the same point of the stream, as they do on the in-process bus, and what one
 * publishes cannot reach another before it has seen the event.
 */
export async function subscribeMarketData(
  bus: ActorBus,
  readers: readonly MarketDataReader[],
): Promise<Subscription[]> {
  if (readers.length === 0) return [];
  const name = readers.map((reader) => reader.marketDataName).join('-');
  const deliver = (event: MarketData): Promise<void> | undefined => {
    let pending: Promise<void>[] | undefined;
    for (const reader of readers) {
      const work = reader.onMarketData(event);
      if (!work) continue;
      pending ??= [];
      pending.push(work);
    }
    return pending && Promise.all(pending).then(() => undefined);
  };
  const storing = readers.filter((reader) => reader.storeMarketDataRows !== undefined);
  const checkpoint = checkpointAfterStoring(
    bus,
    storing.length === 0
      ? undefined
      : async () => void (await Promise.all(storing.map((reader) => reader.storeMarketDataRows?.()))),
  );
  const { subjects } = bus;
  return [
    await bus.subscribe({
      durable: `${name}-ticks`,
      stream: 'MARKET',
      filterSubject: subjects.marketFilter('tick'),
      messages: ['trade_tick', 'quote_tick'],
      handler: deliver,
      ...checkpoint,
    }),
    await bus.subscribe({
      durable: `${name}-bars`,
      stream: 'MARKET',
      filterSubject: subjects.marketFilter('bar'),
      messages: ['bar'],
      handler: deliver,
      ...checkpoint,
    }),
  ];
}
