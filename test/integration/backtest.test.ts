import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FeatureActor } from '../../actors/feature/actor.ts';
import { DEFAULT_FEATURE_SET } from '../../actors/feature/feature-set.ts';
import { dateMillis } from '../../core/config-file.ts';
import type { Bar } from '../../schemas/messages.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { type BacktestAnalytics, computeAnalytics } from '../../simulations/analytics.ts';
import { runBacktest } from '../../simulations/backtest.ts';
import { type BacktestConfig, readBacktestConfig } from '../../simulations/backtest-config.ts';
import { selectDatasets } from '../../simulations/backtest-source.ts';
import type { BacktestMetrics } from '../../simulations/metrics.ts';
import { fileSource, jetstreamSource, type MarketEvent } from '../../simulations/sources/replay.ts';
import { InProcessBus } from '../../streams/in-process-bus.ts';
import { createDatabase } from '../../timescale/database.ts';
import { migrateToLatest } from '../../timescale/migrate.ts';
import { startTestBus, type TestBus } from '../support/bus.ts';
import { repoRoot, runCli, sharedDataDir } from '../support/cli.ts';
import { sampleBars } from '../support/feature-actors.ts';
import { postgresForTests } from '../support/postgres.ts';

const sentimentDataDir = join(repoRoot, 'simulations', 'data', 'sample', 'sentiment');
const base = readBacktestConfig(join(repoRoot, 'simulations', 'configs', 'sample-daily.json'));
// Three symbols over one quarter keep the lockstep run over NATS short.
const config: BacktestConfig = {
  ...base,
  data: { ...base.data, symbols: ['XOM', 'JPM', 'GE'], from: '2014-01-01', to: '2014-04-01' },
};

function events(from = config) {
  const datasets = selectDatasets(sharedDataDir, from.data.datasets, from.data.symbols);
  const window = {
    from: dateMillis(from.data.from),
    to: dateMillis(from.data.to),
    symbols: new Set(from.data.symbols),
  };
  return fileSource(datasets, window, { rejected: 0 });
}

/**
 * The replay with one hostile bar after its first event: stamped two days ahead of its ts_init, past
 * admission's one-day skew, so every actor that would get it refuses it and no output changes.
 */
async function* withOneRefused(replay: AsyncIterable<MarketEvent>): AsyncIterable<MarketEvent> {
  let first = true;
  for await (const event of replay) {
    yield event;
    if (!first) continue;
    first = false;
    yield {
      schema: 'bar.v1',
      id: 'hostile:bar:1d:XOM:ahead',
      ts_event: event.ts_init + 2 * 86_400_000,
      ts_init: event.ts_init,
      symbol: 'XOM',
      interval: '1d',
      open: 1,
      high: 1,
      low: 1,
      close: 1,
      volume: 1,
    };
  }
}

/**
 * Stores the sample's daily bars of `symbols` as the live path does: a FeatureActor with the database
 * handles them (its bar writer fills `bars`), here over the in-process bus.
 */
async function storeSampleBars(databaseUrl: string, symbols: readonly string[]): Promise<number> {
  const db = createDatabase(databaseUrl);
  try {
    await migrateToLatest(db);
    const bus = new InProcessBus(new Subjects(4));
    const actor = await FeatureActor.start({
      bus,
      db,
      set: DEFAULT_FEATURE_SET,
      partitions: [0, 1, 2, 3],
      barInterval: '1d',
    });
    let stored = 0;
    for (const bar of await sampleBars()) {
      if (!symbols.includes(bar.symbol)) continue;
      await bus.publish('bar', bus.subjects.bar(bar.symbol), bar);
      stored++;
    }
    await actor.stop();
    return stored;
  } finally {
    await db.destroy();
  }
}

/** The backtest run ids `runs` holds in a database. */
async function recordedRuns(databaseUrl: string): Promise<string[]> {
  const db = createDatabase(databaseUrl);
  try {
    return (await db.selectFrom('runs').select('id').execute()).map((row) => row.id);
  } finally {
    await db.destroy();
  }
}

/**
 * The --json analytics of the quarter's run with XOM held as its benchmark: the benchmark is XOM's own
 * closes over the window, and the ratios agree with each other and with the headline metrics.
 */
function checkAnalytics(metrics: BacktestMetrics, analytics: BacktestAnalytics, bars: readonly Bar[]): void {
  const near = (actual: number | null, expected: number, label: string, tolerance = 1e-9) =>
    assert.ok(
      actual !== null && Math.abs(actual - expected) <= tolerance,
      `${label}: ${actual} vs ${expected}`,
    );
  const benchmark = analytics.benchmark!;
  assert.equal(benchmark.name, 'buy-and-hold XOM');
  assert.deepEqual(benchmark.symbols, ['XOM']);
  assert.equal(benchmark.curve.length, metrics.periods + 1);
  const from = dateMillis(config.data.from);
  const to = dateMillis(config.data.to);
  const xom = bars.filter((bar) => bar.symbol === 'XOM' && bar.ts_init >= from && bar.ts_init < to);
  near(benchmark.totalReturn, xom.at(-1)!.close / xom[0]!.close - 1, 'XOM held over the window');
  const relative = benchmark.relative;
  assert.equal(relative.periods, metrics.periods);
  // beta = cov / var(b) = correlation · σ(r) / σ(b), with both volatilities annualised alike.
  near(relative.beta, relative.correlation! * (metrics.volatility! / benchmark.volatility!), 'beta');
  // Tracking error² = σ(r)² + σ(b)² − 2 ρ σ(r) σ(b) (annualised sample variances).
  near(
    relative.trackingError! ** 2,
    metrics.volatility! ** 2 +
      benchmark.volatility! ** 2 -
      2 * relative.correlation! * metrics.volatility! * benchmark.volatility!,
    'tracking error',
  );
  assert.ok(Math.abs(relative.correlation!) <= 1 && Math.abs(relative.alpha!) < 1, JSON.stringify(relative));
  // The benchmark against itself: beta 1, alpha 0.
  const itself = computeAnalytics({
    equity: benchmark.curve,
    periodsPerYear: metrics.periodsPerYear,
    bootstrap: { seed: 1, samples: 1 },
    benchmark,
  }).benchmark!.relative;
  near(itself.beta, 1, 'beta against itself');
  near(itself.alpha, 0, 'alpha against itself');

  assert.equal(analytics.rollingWindow, 20);
  assert.equal(analytics.rolling.length, metrics.periods - 20 + 1);
  assert.ok(analytics.drawdowns.length >= 1 && analytics.drawdowns.length <= 5);
  assert.equal(analytics.drawdowns[0]!.depth, metrics.maxDrawdown);
  for (const [index, drawdown] of analytics.drawdowns.entries()) {
    assert.ok(drawdown.start < drawdown.trough && (drawdown.recovery ?? Infinity) > drawdown.trough);
    if (index > 0) assert.ok(drawdown.depth <= analytics.drawdowns[index - 1]!.depth);
  }
  assert.ok(analytics.timeUnderWater > 0 && analytics.timeUnderWater < 1);
  assert.deepEqual(Object.keys(analytics.yearlyReturns), ['2014']);
  near(analytics.yearlyReturns['2014']!, metrics.totalReturn, 'the one year is the whole run');
  assert.equal(
    analytics.histogram.reduce((sum, bin) => sum + bin.count, 0),
    metrics.periods,
  );
  const bootstrap = analytics.bootstrap!;
  assert.equal(bootstrap.seed, config.seed);
  assert.equal(bootstrap.samples, 300);
  for (const interval of [bootstrap.totalReturn, bootstrap.sharpe!, bootstrap.maxDrawdown])
    assert.ok(interval.p5 <= interval.p50 && interval.p50 <= interval.p95, JSON.stringify(interval));
}

describe('replay backtests through the live actors', () => {
  let bus: TestBus;
  let scratch: string;
  // The CLI runs get this database, never the DATABASE_URL the test process itself was given.
  let database: Awaited<ReturnType<typeof postgresForTests>>;
  before(async () => {
    [bus, database] = await Promise.all([startTestBus(), postgresForTests()]);
    scratch = mkdtempSync(join(tmpdir(), 'sluice-bt-test-'));
  });
  after(async () => {
    await bus?.close();
    await database?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('the same backtest twice gives the same ledger hash', async () => {
    const first = await runBacktest({
      config,
      runId: 'det-1',
      mode: 'inprocess',
      events: events(),
      sentimentDataDir,
    });
    const second = await runBacktest({
      config,
      runId: 'det-2',
      mode: 'inprocess',
      events: events(),
      sentimentDataDir,
    });
    assert.ok(first.orders > 0 && first.fills > 0, `orders ${first.orders}, fills ${first.fills}`);
    assert.equal(second.ledgerHash, first.ledgerHash);
    assert.equal(second.signalHash, first.signalHash);
    assert.deepEqual(second.metrics, first.metrics);
    // The bootstrap is seeded by the config: the analytics repeat too.
    assert.deepEqual(second.analytics, first.analytics);
  });

  it('in-process and via-NATS modes give the same ledger, and a recorded session replayed gives the same signals and orders', async () => {
    const inProcess = await runBacktest({
      config,
      runId: 'mode-inprocess',
      mode: 'inprocess',
      events: events(),
      sentimentDataDir,
    });
    const runId = 'mode-nats';
    const overNats = await runBacktest({
      config,
      runId,
      mode: 'nats',
      events: events(),
      nats: { jetstream: bus.jetstream, manager: bus.manager },
      sentimentDataDir,
    });
    assert.equal(overNats.ledgerHash, inProcess.ledgerHash);
    assert.equal(overNats.signalHash, inProcess.signalHash);
    assert.equal(overNats.events, inProcess.events);

    // A refused event is counted in the summary (one dead letter per actor it would have reached),
    // alike in both modes, and changes nothing else.
    const hostile = { config, mode: 'inprocess' as const, sentimentDataDir };
    const refusedInProcess = await runBacktest({
      ...hostile,
      runId: 'hostile-inprocess',
      events: withOneRefused(events()),
    });
    const refusedOverNats = await runBacktest({
      ...hostile,
      runId: 'hostile-nats',
      mode: 'nats',
      events: withOneRefused(events()),
      nats: { jetstream: bus.jetstream, manager: bus.manager },
    });
    assert.equal(inProcess.deadLetters, 0);
    assert.ok(refusedInProcess.deadLetters > 0, 'the hostile bar is counted');
    assert.equal(refusedOverNats.deadLetters, refusedInProcess.deadLetters);
    assert.equal(refusedInProcess.ledgerHash, inProcess.ledgerHash);
    assert.equal(refusedOverNats.ledgerHash, inProcess.ledgerHash);

    // The session over NATS recorded its feed in its namespaced MARKET stream: replay that recording.
    const replayed = await runBacktest({
      config,
      runId: 'replay-of-recording',
      mode: 'inprocess',
      events: jetstreamSource(bus.jetstream, bus.manager, {}, { stream: `MARKET_bt_${runId}` }),
      sentimentDataDir,
    });
    // The recording also holds the sentiment the news actor published; replayed, it is dropped as a
    // duplicate of the score the news actor publishes again, exactly as the stream would drop it.
    assert.equal(replayed.signalHash, overNats.signalHash);
    assert.equal(replayed.ledgerHash, overNats.ledgerHash);
  });

  it('sluice backtest --json prints the summary and writes the HTML report', async () => {
    const configPath = join(scratch, 'config.json');
    // XOM held as the benchmark; a 20-day rolling window, as a quarter has fewer than 63 days.
    writeFileSync(
      configPath,
      JSON.stringify({
        ...config,
        news: false,
        benchmark: { kind: 'buy-and-hold', symbol: 'XOM' },
        analytics: { rollingWindow: 20, bootstrap: { samples: 300 } },
      }),
    );
    const result = await runCli(
      ['backtest', '--config', configPath, '--json', '--report-dir', scratch, '--no-progress'],
      { DATABASE_URL: database.url },
    );
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout) as Record<string, unknown> & {
      runId: string;
      metrics: BacktestMetrics;
      analytics: BacktestAnalytics;
      report: string;
    };
    // The run is recorded in the database this test gave the CLI.
    assert.ok((await recordedRuns(database.url)).includes(summary.runId), 'the run is in the test database');
    for (const key of [
      'runId',
      'events',
      'signals',
      'orders',
      'fills',
      'denials',
      'ledgerHash',
      'metrics',
      'report',
    ]) {
      assert.ok(key in summary, `summary has ${key}`);
    }
    for (const key of [
      'totalReturn',
      'cagr',
      'volatility',
      'sharpe',
      'sortino',
      'calmar',
      'maxDrawdown',
      'maxDrawdownDuration',
      'var95',
      'cvar95',
      'skew',
      'kurtosis',
      'winRate',
      'profitFactor',
      'expectancy',
      'turnover',
      'exposure',
      'probabilisticSharpe',
      'deflatedSharpe',
    ]) {
      assert.ok(key in summary.metrics, `metrics has ${key}`);
    }
    checkAnalytics(summary.metrics, summary.analytics, await sampleBars());
    assert.ok(existsSync(summary.report));
    assert.match(readFileSync(summary.report, 'utf8'), /Equity/i);
  });

  it('sluice backtest --source timescale replays the stored bars: same ledger as --source file', async () => {
    // News is not stored in the database: the file run reads prices only, so both replay the same bars.
    const pricesOnly: BacktestConfig = {
      ...config,
      data: { ...config.data, datasets: ['sample-prices'] },
      news: false,
    };
    const stored = await storeSampleBars(database.url, pricesOnly.data.symbols ?? []);
    assert.ok(stored > 3 * 250, `stored ${stored} bars`);
    const backtest = async (source: 'file' | 'timescale', runConfig: BacktestConfig) => {
      const configPath = join(scratch, `${source}-news-${runConfig.news}.json`);
      writeFileSync(configPath, JSON.stringify(runConfig));
      const result = await runCli(
        [
          'backtest',
          '--config',
          configPath,
          '--source',
          source,
          '--json',
          '--report-dir',
          scratch,
          '--no-progress',
        ],
        { DATABASE_URL: database.url },
      );
      assert.equal(result.code, 0, `--source ${source}: ${result.stderr}`);
      const summary = JSON.parse(result.stdout) as {
        runId: string;
        events: number;
        fills: number;
        ledgerHash: string;
      };
      return { ...summary, stderr: result.stderr };
    };
    const fromFile = await backtest('file', pricesOnly);
    const fromDatabase = await backtest('timescale', pricesOnly);
    assert.ok(fromFile.fills > 0, `fills ${fromFile.fills}`);
    assert.equal(fromDatabase.events, fromFile.events);
    assert.equal(fromDatabase.ledgerHash, fromFile.ledgerHash);
    const runs = await recordedRuns(database.url);
    assert.ok(runs.includes(fromFile.runId) && runs.includes(fromDatabase.runId));

    // A config that runs the news actor is told that this source has no news for it.
    const withNews = await backtest('timescale', { ...pricesOnly, news: true });
    assert.match(
      withNews.stderr,
      /--source timescale replays stored bars and trade ticks only: news and sentiment are not stored/,
    );
    assert.equal(withNews.ledgerHash, fromFile.ledgerHash);
  });

  it('stops with a message naming the field for a bad config', async () => {
    const configPath = join(scratch, 'bad.json');
    writeFileSync(
      configPath,
      JSON.stringify({ ...config, trading: { ...config.trading, startingCash: -5 } }),
    );
    const result = await runCli(['backtest', '--config', configPath]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /\/trading\/startingCash/);
  });
});
