// The sample backtest (simulations/configs/sample-daily.json, the bundled stocknet sample) with barrier
// exits on: once through `sluice backtest --barrier-exits` as a user runs it, once through runBacktest
// with trading.barrierExits in the config. Both give the same ledger (its hash is over the ledger's
// bytes: two replays, byte-identical); the report and the summary show exits by reason, take-profit
// and stop-loss among them (the simulated venue works the brackets), and every entry with barrier exits
// carried a time limit.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type BacktestSummary, runBacktest } from '../../simulations/backtest.ts';
import { readBacktestConfig } from '../../simulations/backtest-config.ts';
import { bundledSampleDir, configFileSource } from '../../simulations/backtest-source.ts';
import { EXIT_REASONS } from '../../simulations/trades.ts';
import { repoRoot, runCli, sharedDataDir } from '../support/cli.ts';

const configPath = join(repoRoot, 'simulations', 'configs', 'sample-daily.json');

describe('the sample backtest with barrier exits on', () => {
  let scratch: string;
  before(() => {
    scratch = mkdtempSync(join(tmpdir(), 'sluice-bt-barriers-'));
  });
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('reports exits by reason, deterministically, and every barrier entry has a time limit', async () => {
    const sample = readBacktestConfig(configPath);
    assert.equal(
      sample.trading.barrierExits,
      false,
      'off in the sample config: the demo ledger stays as it is',
    );

    const result = await runCli(
      [
        'backtest',
        '--config',
        configPath,
        '--barrier-exits',
        '--json',
        '--no-progress',
        '--report-dir',
        scratch,
      ],
      { DATABASE_URL: '', NATS_URL: '' },
      600_000,
    );
    assert.equal(result.code, 0, result.stderr);
    const cli = JSON.parse(result.stdout) as BacktestSummary;

    const config = { ...sample, trading: { ...sample.trading, barrierExits: true } };
    const direct = await runBacktest({
      config,
      runId: 'barriers-direct',
      mode: 'inprocess',
      events: configFileSource(config, sharedDataDir, undefined, '/data/symbols').events,
      sentimentDataDir: join(bundledSampleDir, 'sentiment'),
    });
    assert.equal(direct.ledgerHash, cli.ledgerHash, 'the same ledger across two runs');
    assert.deepEqual(direct.exits, cli.exits);

    const { byReason, bracketedEntries, timeLimitedEntries } = cli.exits;
    assert.deepEqual(Object.keys(byReason).sort(), [...EXIT_REASONS].sort());
    const reasons = EXIT_REASONS.filter((reason) => byReason[reason].exits > 0);
    assert.ok(reasons.length > 1, `exits of more than one reason: ${JSON.stringify(byReason)}`);
    assert.ok(byReason.time.exits > 0, 'positions ended at their time limit');
    assert.ok(byReason.take_profit.exits > 0, 'bracket take-profits filled at the simulated venue');
    assert.ok(byReason.stop_loss.exits > 0, 'bracket stop-losses triggered at the simulated venue');
    assert.ok(
      byReason.take_profit.exits + byReason.stop_loss.exits <= bracketedEntries,
      'one bracket exit at most per entry (one-cancels-other)',
    );
    assert.ok(byReason.take_profit.pnl > 0 && byReason.stop_loss.pnl < 0, JSON.stringify(byReason));
    assert.ok(bracketedEntries > 0, 'entries had barrier exits');
    assert.equal(timeLimitedEntries, bracketedEntries, 'every barrier entry has a time limit');
    // Every exit is a closing order counted once: no more exits than orders.
    const exits = EXIT_REASONS.reduce((sum, reason) => sum + byReason[reason].exits, 0);
    assert.ok(exits <= cli.orders, `${exits} exits, ${cli.orders} orders`);

    // The HTML report shows the same figures.
    const html = readFileSync(cli.report!, 'utf8');
    const section = html.match(/<section id="exits">[\s\S]*?<\/section>/)?.[0] ?? '';
    assert.match(section, new RegExp(`<tr><th>Time limit</th><td>${byReason.time.exits}</td>`));
    assert.match(section, new RegExp(`<tr><th>Signal</th><td>${byReason.signal.exits}</td>`));
    assert.match(section, new RegExp(`<tr><th>Take-profit</th><td>${byReason.take_profit.exits}</td>`));
    assert.match(section, new RegExp(`<tr><th>Stop-loss</th><td>${byReason.stop_loss.exits}</td>`));
    assert.match(section, new RegExp(`${bracketedEntries} entries had barrier exits`));
  });
});
