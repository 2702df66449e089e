import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dateMillis } from '../../core/config-file.ts';
import { runBacktest } from '../../simulations/backtest.ts';
import { type BacktestConfig, readBacktestConfig } from '../../simulations/backtest-config.ts';
import { selectDatasets } from '../../simulations/backtest-source.ts';
import { fileSource, jetstreamSource } from '../../simulations/sources/replay.ts';
import { startTestBus, type TestBus } from '../support/bus.ts';
import { repoRoot, runCli, sharedDataDir } from '../support/cli.ts';

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

describe('replay backtests through the live actors', () => {
  let bus: TestBus;
  let scratch: string;
  before(async () => {
    bus = await startTestBus();
    scratch = mkdtempSync(join(tmpdir(), 'sluice-bt-test-'));
  });
  after(async () => {
    await bus?.close();
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
    writeFileSync(configPath, JSON.stringify({ ...config, news: false }));
    const result = await runCli([
      'backtest',
      '--config',
      configPath,
      '--json',
      '--report-dir',
      scratch,
      '--no-progress',
    ]);
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout) as Record<string, unknown> & {
      metrics: Record<string, unknown>;
      report: string;
    };
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
    assert.ok(existsSync(summary.report));
    assert.match(readFileSync(summary.report, 'utf8'), /Equity/i);
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
