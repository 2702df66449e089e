// Full-pipeline replay speed: features, inference, risk, simulated venue and portfolio on the
// in-process bus over real stocknet daily bars of 50 symbols (each series cycled and re-stamped one
// day apart to reach the event count), plus the lockstep run over NATS on a short slice, and the
// peak RSS of the in-process run.
import { readdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { Bar } from '../schemas/messages.ts';
import { runBacktest } from '../simulations/backtest.ts';
import {
  type BacktestConfig,
  parseBacktestConfig,
  readBacktestConfig,
} from '../simulations/backtest-config.ts';
import { readDatasetFile, stocknetPriceFile } from '../simulations/sources/datasets.ts';
import type { MarketEvent } from '../simulations/sources/replay.ts';
import { connectNats } from '../streams/connection.ts';
import { startNatsServer } from '../test/support/nats-server.ts';

const EVENTS = Number(process.env.BENCH_REPLAY_EVENTS ?? 1_000_000);
const NATS_EVENTS = Number(process.env.BENCH_REPLAY_NATS_EVENTS ?? 300);
const DAY_MS = 86_400_000;
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const priceDir = join(repoRoot, '..', 'shared', 'data', 'stocknet', 'price_raw');
const START = Date.parse('2017-09-05T00:00:00Z');

async function seriesBySymbol(): Promise<Map<string, Bar[]>> {
  const symbols = readdirSync(priceDir)
    .filter((name) => name.endsWith('.csv'))
    .map((name) => basename(name, '.csv'))
    .sort();
  const series = new Map<string, Bar[]>();
  for (const symbol of symbols) {
    const bars: Bar[] = [];
    for await (const row of readDatasetFile(stocknetPriceFile(join(priceDir, `${symbol}.csv`)))) {
      if (row.kind === 'bar') bars.push(row.event);
    }
    if (bars.length >= 1000) series.set(symbol, bars);
    if (series.size === 50) break;
  }
  return series;
}

/** Day d of symbol s: the series' bar number d (cycled), re-stamped to START + d days. */
function* replayEvents(series: Map<string, Bar[]>, count: number): Generator<MarketEvent> {
  const all = [...series.entries()];
  for (let index = 0; index < count; index++) {
    const [symbol, bars] = all[index % all.length]!;
    const day = Math.floor(index / all.length);
    const bar = bars[day % bars.length]!;
    const ts = START + (day + 1) * DAY_MS;
    yield { ...bar, id: `bench:${symbol}:${day}`, ts_event: ts, ts_init: ts };
  }
}

async function* asAsync<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items;
}

function benchConfig(symbols: readonly string[]): BacktestConfig {
  const base = readBacktestConfig(join(repoRoot, 'simulations', 'configs', 'sample-daily.json'));
  const instruments = Object.fromEntries(
    symbols.map((symbol) => [symbol, { minQuantity: 1, maxQuantity: 1e6, maxPosition: 1e6 }]),
  );
  return parseBacktestConfig({
    ...base,
    name: 'bench',
    news: false,
    data: { datasets: ['stocknet-prices'], symbols: [...symbols], from: '2017-09-05', to: '2200-01-01' },
    model: { ...base.model, trainFrom: '2012-09-01', priceDir: '../shared/data/stocknet/price_raw' },
    inference: { maxBatchSize: 64, maxWaitMs: 0, neutralBand: 0.1 },
    trading: {
      ...base.trading,
      limits: {
        ...base.trading.limits,
        instruments,
        maxGrossExposure: 5e6,
        maxNetExposure: 5e6,
        orderRate: { maxOrders: 100, windowMs: DAY_MS },
      },
    },
  });
}

export default async function replayBench(): Promise<Record<string, number>> {
  const series = await seriesBySymbol();
  const config = benchConfig([...series.keys()]);
  const sentimentDataDir = join(repoRoot, 'simulations', 'data', 'sample', 'sentiment');

  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 50);
  let startedAt = 0;
  const inProcess = await runBacktest({
    config,
    runId: 'bench-inprocess',
    mode: 'inprocess',
    events: asAsync(replayEvents(series, EVENTS)),
    sentimentDataDir,
    onEvent: (done) => {
      if (done === 1) startedAt = performance.now();
      if ((done & 1023) === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss);
    },
  });
  const inProcessSeconds = (performance.now() - startedAt) / 1000;
  clearInterval(sampler);

  const server = await startNatsServer();
  const connection = await connectNats({ url: server.url, name: 'bench-replay' });
  try {
    const natsStarted = performance.now();
    const overNats = await runBacktest({
      config,
      runId: 'bench-nats',
      mode: 'nats',
      events: asAsync(replayEvents(series, NATS_EVENTS)),
      nats: { jetstream: jetstream(connection), manager: await jetstreamManager(connection) },
      sentimentDataDir,
    });
    const natsSeconds = (performance.now() - natsStarted) / 1000;
    return {
      replay_events: inProcess.events,
      replay_symbols: series.size,
      replay_signals: inProcess.signals,
      replay_orders: inProcess.orders,
      replay_events_per_s: Math.round(inProcess.events / inProcessSeconds),
      replay_peak_rss_mb: Math.round(peakRss / 1_048_576),
      replay_nats_events: overNats.events,
      replay_nats_events_per_s: Math.round(overNats.events / natsSeconds),
    };
  } finally {
    await connection.close();
    await server.dispose();
  }
}
