// Full-pipeline replay speed: features, inference, risk, simulated venue and portfolio on the
// in-process bus, two ways:
// - a tick replay (the headline `replay_events_per_s`): the real Binance BTCUSDT trade prints given to
//   50 symbols and cycled, re-stamped one span later each cycle, into 1-second bars, so most events
//   update a bar and every bar close runs features → inference → risk → venue → portfolio;
// - a bar replay (`replay_bar_events_per_s`): real stocknet daily bars of 50 symbols (cycled and
//   re-stamped a day apart), where every event is a bar close and runs the whole chain.
// Plus the lockstep run over NATS on a short slice of the bar replay, and the peak RSS of each.
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { Bar, TradeTick } from '../schemas/messages.ts';
import { type BacktestSummary, runBacktest } from '../simulations/backtest.ts';
import {
  type BacktestConfig,
  parseBacktestConfig,
  readBacktestConfig,
} from '../simulations/backtest-config.ts';
import { readDatasetFile, stocknetPriceFile } from '../simulations/sources/datasets.ts';
import type { MarketEvent } from '../simulations/sources/replay.ts';
import { connectNats } from '../streams/connection.ts';
import { startNatsServer } from '../test/support/nats-server.ts';
import { binanceTrades } from './support/jetstream.ts';

const TICK_EVENTS = Number(process.env.BENCH_REPLAY_EVENTS ?? 1_000_000);
const BAR_EVENTS = Number(process.env.BENCH_REPLAY_BAR_EVENTS ?? 200_000);
const NATS_EVENTS = Number(process.env.BENCH_REPLAY_NATS_EVENTS ?? 300);
const DAY_MS = 86_400_000;
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = join(repoRoot, '..', 'shared', 'data');
const priceDir = join(dataDir, 'stocknet', 'price_raw');
const START = Date.parse('2017-09-05T00:00:00Z');

/** The first 50 stocknet symbols (sorted) with at least 1,000 daily bars, by a line count. */
function stocknetSymbols(): string[] {
  return readdirSync(priceDir)
    .filter((name) => name.endsWith('.csv'))
    .sort()
    .filter((name) => readFileSync(join(priceDir, name), 'utf8').split('\n').length > 1_001)
    .slice(0, 50)
    .map((name) => basename(name, '.csv'));
}

async function seriesOf(symbols: readonly string[]): Promise<Map<string, Bar[]>> {
  const series = new Map<string, Bar[]>();
  for (const symbol of symbols) {
    const bars: Bar[] = [];
    for await (const row of readDatasetFile(stocknetPriceFile(join(priceDir, `${symbol}.csv`)))) {
      if (row.kind === 'bar') bars.push(row.event);
    }
    series.set(symbol, bars);
  }
  return series;
}

/** Day d of symbol s: the series' bar number d (cycled), re-stamped to START + d days. */
function* barEvents(series: Map<string, Bar[]>, count: number): Generator<MarketEvent> {
  const all = [...series.entries()];
  for (let index = 0; index < count; index++) {
    const [symbol, bars] = all[index % all.length]!;
    const day = Math.floor(index / all.length);
    const bar = bars[day % bars.length]!;
    const ts = START + (day + 1) * DAY_MS;
    yield { ...bar, id: `bench:${symbol}:${day}`, ts_event: ts, ts_init: ts };
  }
}

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

async function* asAsync<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items;
}

function benchConfig(symbols: readonly string[], barInterval: string, minQuantity: number): BacktestConfig {
  const base = readBacktestConfig(join(repoRoot, 'simulations', 'configs', 'sample-daily.json'));
  const instruments = Object.fromEntries(
    symbols.map((symbol) => [symbol, { minQuantity, maxQuantity: 1e6, maxPosition: 1e6 }]),
  );
  return parseBacktestConfig({
    ...base,
    name: 'bench',
    news: false,
    barInterval,
    data: { datasets: ['stocknet-prices'], symbols: [...symbols], from: '2017-09-05', to: '2200-01-01' },
    model: { ...base.model, trainFrom: '2012-09-01', priceDir: '../shared/data/stocknet/price_raw' },
    inference: { maxBatchSize: 64, maxWaitMs: 0, neutralBand: 0.1 },
    trading: {
      ...base.trading,
      limits: {
        ...base.trading.limits,
        instruments,
        maxOrderNotional: 1e6,
        maxGrossExposure: 5e6,
        maxNetExposure: 5e6,
        orderRate: { maxOrders: 100, windowMs: DAY_MS },
      },
    },
  });
}

interface TimedReplay {
  summary: BacktestSummary;
  eventsPerSecond: number;
  peakRssMb: number;
}

/** Times the replay from its first event (model training at start-up is not counted). */
async function timedReplay(config: BacktestConfig, events: Iterable<MarketEvent>): Promise<TimedReplay> {
  let peakRss = process.memoryUsage.rss();
  let startedAt = 0;
  const summary = await runBacktest({
    config,
    runId: `bench-${config.barInterval}`,
    mode: 'inprocess',
    events,
    sentimentDataDir: join(repoRoot, 'simulations', 'data', 'sample', 'sentiment'),
    onEvent: (done) => {
      if (done === 1) startedAt = performance.now();
      // The replay loop is synchronous, so RSS is sampled from inside it rather than on a timer.
      if ((done & 16_383) === 0) peakRss = Math.max(peakRss, process.memoryUsage.rss());
    },
  });
  const seconds = (performance.now() - startedAt) / 1000;
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
  return {
    summary,
    eventsPerSecond: Math.round(summary.events / seconds),
    peakRssMb: Math.round(peakRss / 1_048_576),
  };
}

export default async function replayBench(): Promise<Record<string, number>> {
  // The tick replay runs first, before the daily bars are loaded, so its peak RSS is its own.
  const symbols = stocknetSymbols();
  const trades = await binanceTrades();

  const ticks = await timedReplay(
    benchConfig(symbols, '1s', 0.001),
    new TickEvents(trades, symbols, TICK_EVENTS),
  );
  const series = await seriesOf(symbols);
  const bars = await timedReplay(benchConfig(symbols, '1d', 1), barEvents(series, BAR_EVENTS));

  const server = await startNatsServer();
  const connection = await connectNats({ url: server.url, name: 'bench-replay' });
  try {
    const natsStarted = performance.now();
    const overNats = await runBacktest({
      config: benchConfig(symbols, '1d', 1),
      runId: 'bench-nats',
      mode: 'nats',
      events: asAsync(barEvents(series, NATS_EVENTS)),
      nats: { jetstream: jetstream(connection), manager: await jetstreamManager(connection) },
      sentimentDataDir: join(repoRoot, 'simulations', 'data', 'sample', 'sentiment'),
    });
    const natsSeconds = (performance.now() - natsStarted) / 1000;
    return {
      replay_events: ticks.summary.events,
      replay_symbols: symbols.length,
      replay_signals: ticks.summary.signals,
      replay_orders: ticks.summary.orders,
      replay_fills: ticks.summary.fills,
      replay_events_per_s: ticks.eventsPerSecond,
      replay_peak_rss_mb: ticks.peakRssMb,
      replay_bar_events: bars.summary.events,
      replay_bar_events_per_s: bars.eventsPerSecond,
      replay_bar_peak_rss_mb: bars.peakRssMb,
      replay_nats_events: overNats.events,
      replay_nats_events_per_s: Math.round(overNats.events / natsSeconds),
    };
  } finally {
    await connection.close();
    await server.dispose();
  }
}
