// What the replay benches share: the 50 stocknet symbols, the bench config (the sample config over
// those symbols, each with instrument limits) and a timed in-process replay with its peak RSS.
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BacktestSummary, runBacktest } from '../../simulations/backtest.ts';
import {
  type BacktestConfig,
  parseBacktestConfig,
  readBacktestConfig,
} from '../../simulations/backtest-config.ts';
import type { MarketEvent } from '../../simulations/sources/replay.ts';

export const DAY_MS = 86_400_000;
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const priceDir = join(repoRoot, '..', 'shared', 'data', 'stocknet', 'price_raw');
export const sentimentDataDir = join(repoRoot, 'simulations', 'data', 'sample', 'sentiment');
/** Replayed events are re-stamped from here on. */
export const START = Date.parse('2017-09-05T00:00:00Z');

/** The first 50 stocknet symbols (sorted) with at least 1,000 daily bars, by a line count. */
export function stocknetSymbols(): string[] {
  return readdirSync(priceDir)
    .filter((name) => name.endsWith('.csv'))
    .sort()
    .filter((name) => readFileSync(join(priceDir, name), 'utf8').split('\n').length > 1_001)
    .slice(0, 50)
    .map((name) => basename(name, '.csv'));
}

export function benchConfig(
  symbols: readonly string[],
  barInterval: string,
  minQuantity: number,
): BacktestConfig {
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

export interface TimedReplay {
  summary: BacktestSummary;
  eventsPerSecond: number;
  peakRssMb: number;
}

/** Times the replay from its first event (model training at start-up is not counted). */
export async function timedReplay(
  config: BacktestConfig,
  events: Iterable<MarketEvent>,
): Promise<TimedReplay> {
  let peakRss = process.memoryUsage.rss();
  let startedAt = 0;
  const summary = await runBacktest({
    config,
    runId: `bench-${config.barInterval}`,
    mode: 'inprocess',
    events,
    sentimentDataDir,
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
