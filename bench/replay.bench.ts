// Full-pipeline replay speed (the headline `replay_events_per_s`): features, inference, risk,
// simulated venue and portfolio on the in-process bus. The real Binance BTCUSDT trade prints are given
// to 50 symbols and cycled, re-stamped one span later each cycle, into 1-second bars, so most events
// update a bar and every bar close runs features → inference → risk → venue → portfolio. A process of
// its own (as every bench file), so its peak RSS is its own.
import type { TradeTick } from '../schemas/messages.ts';
import { binanceTrades } from './support/jetstream.ts';
import { benchConfig, START, stocknetSymbols, timedReplay } from './support/replay.ts';

const TICK_EVENTS = Number(process.env.BENCH_REPLAY_EVENTS ?? 1_000_000);

/**
 * Every print of the trade file once per symbol, in time order; cycle c is shifted c spans later.
 * An iterator object rather than a generator: its `next` is inlined into the replay loop, where a
 * generator's resume cost the loop a tenth of its time.
 */
class TickEvents implements IterableIterator<TradeTick> {
  private readonly first: number;
  private readonly span: number;
  private readonly idPrefixes: string[];
  private produced = 0;
  private cycle = 0;
  private tradeIndex = 0;
  private symbolIndex = 0;
  private ts = 0;
  private tradeId = '';

  constructor(
    private readonly trades: readonly TradeTick[],
    private readonly symbols: readonly string[],
    private readonly count: number,
  ) {
    this.first = trades[0]!.ts_event;
    this.span = trades.at(-1)!.ts_event - this.first + 1_000;
    this.idPrefixes = symbols.map((symbol) => `binance:trade:${symbol}:`);
    this.startTrade();
  }

  [Symbol.iterator](): this {
    return this;
  }

  next(): IteratorResult<TradeTick> {
    if (this.produced === this.count) return { done: true, value: undefined };
    this.produced++;
    if (this.symbolIndex === this.symbols.length) {
      this.symbolIndex = 0;
      if (++this.tradeIndex === this.trades.length) {
        this.tradeIndex = 0;
        this.cycle++;
      }
      this.startTrade();
    }
    const trade = this.trades[this.tradeIndex]!;
    const index = this.symbolIndex++;
    // A literal of one shape (not a spread of the print) keeps the actors' property loads monomorphic.
    const tick: TradeTick = {
      schema: 'trade_tick.v1',
      id: `${this.idPrefixes[index]}${this.tradeId}`,
      ts_event: this.ts,
      ts_init: this.ts,
      symbol: this.symbols[index]!,
      price: trade.price,
      size: trade.size,
      aggressor: trade.aggressor,
      trade_id: this.tradeId,
      venue: 'BINANCE',
    };
    return { done: false, value: tick };
  }

  private startTrade(): void {
    const trade = this.trades[this.tradeIndex]!;
    this.ts = trade.ts_event + START - this.first + this.cycle * this.span;
    this.tradeId = `${trade.trade_id}:${this.cycle}`;
  }
}

export default async function replayBench(): Promise<Record<string, number>> {
  const symbols = stocknetSymbols();
  const trades = await binanceTrades();
  const ticks = await timedReplay(
    benchConfig(symbols, '1s', 0.001),
    new TickEvents(trades, symbols, TICK_EVENTS),
  );
  return {
    replay_events: ticks.summary.events,
    replay_symbols: symbols.length,
    replay_signals: ticks.summary.signals,
    replay_orders: ticks.summary.orders,
    replay_fills: ticks.summary.fills,
    replay_events_per_s: ticks.eventsPerSecond,
    replay_peak_rss_mb: ticks.peakRssMb,
  };
}
