// A walk-forward sweep of the pipeline backtest over a real nats-server, through the CLI as an operator
// runs it: `sluice sweep submit`, two `sluice worker` processes, `sluice sweep results`.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dateMillis } from '../../core/config-file.ts';
import { runBacktest } from '../../simulations/backtest.ts';
import { type BacktestConfig, readBacktestConfig } from '../../simulations/backtest-config.ts';
import { selectDatasets } from '../../simulations/backtest-source.ts';
import { fileSource } from '../../simulations/sources/replay.ts';
import {
  pendingSweepJobs,
  readSweepResults,
  type SweepJobResult,
  type SweepRow,
  submitSweep,
  sweepJob,
  type WorkerSummary,
} from '../../simulations/sweep-queue.ts';
import { startTestBus, type TestBus } from '../support/bus.ts';
import { repoRoot, runCli, sharedDataDir } from '../support/cli.ts';
import { freePort } from '../support/ports.ts';

const SAMPLE = join(repoRoot, 'simulations', 'configs', 'sample-daily.json');
const sample = readBacktestConfig(SAMPLE);
const SWEEP = 'bt-wf';
// 2 notionals × 2 folds (train 365 days, test the next 90), news scoring off to keep each run short.
const submitArgs = [
  'sweep',
  'submit',
  '--config',
  SAMPLE,
  '--id',
  SWEEP,
  '--grid',
  '{"trading.sizing.notional":[25000,50000],"news":[false]}',
  '--walk-forward',
  '365d:90d',
  '--from',
  '2013-01-01',
  '--to',
  '2014-07-01',
  '--json',
];

/** The same run as a job, built by hand: the sample config, the fold's window, the grid point. */
async function directRun(notional: number, trainFrom: string, from: string, to: string) {
  const config: BacktestConfig = {
    ...sample,
    news: false,
    data: { ...sample.data, from, to },
    model: { ...sample.model, trainFrom },
    trading: { ...sample.trading, sizing: { kind: 'fixed-notional', notional } },
  };
  const datasets = selectDatasets(sharedDataDir, config.data.datasets, config.data.symbols);
  const window = { from: dateMillis(from), to: dateMillis(to), symbols: new Set(config.data.symbols) };
  return runBacktest({
    config,
    runId: 'direct',
    mode: 'inprocess',
    events: fileSource(datasets, window, { rejected: 0 }),
    sentimentDataDir: join(repoRoot, 'simulations', 'data', 'sample', 'sentiment'),
  });
}

describe('backtest sweeps: sluice sweep submit, sluice worker, sluice sweep results', () => {
  let bus: TestBus;
  let env: Record<string, string>;
  before(async () => {
    bus = await startTestBus();
    env = { NATS_URL: bus.url };
  });
  after(async () => {
    await bus?.close();
  });

  it('runs every job of a 2 × 2 walk-forward sweep exactly once on 2 workers and aggregates them', async () => {
    // Submitted before any worker exists: submit creates the streams itself.
    const submitted = await runCli(submitArgs, env);
    assert.equal(submitted.code, 0, submitted.stderr);
    const report = JSON.parse(submitted.stdout) as {
      jobs: number;
      gridPoints: number;
      published: number;
      duplicates: number;
      folds: Record<string, string>[];
    };
    assert.deepEqual(
      { jobs: report.jobs, gridPoints: report.gridPoints, published: report.published },
      { jobs: 4, gridPoints: 2, published: 4 },
    );
    assert.deepEqual(report.folds, [
      { 'model.trainFrom': '2013-01-01', 'data.from': '2014-01-01', 'data.to': '2014-04-01' },
      { 'model.trainFrom': '2013-04-01', 'data.from': '2014-04-01', 'data.to': '2014-06-30' },
    ]);
    // A job that gets past the submitter with a bad override (here published directly) fails on the
    // worker with a ConfigError naming the field, stored at once instead of retried.
    const bad = sweepJob('bt-bad', 'backtest', {
      config: JSON.parse(JSON.stringify(sample)),
      'trading.sizing.notionl': 1,
    });
    await submitSweep(bus.jetstream, [bad]);

    const [resubmitted, badArgs, unreachable, ...workers] = await Promise.all([
      runCli(submitArgs, env),
      runCli([...submitArgs.slice(0, -1), '--grid', '{"inference.neutralBnd":[0.1]}'], env),
      freePort().then((port) =>
        runCli(['sweep', 'results', SWEEP], { NATS_URL: `nats://127.0.0.1:${port}` }),
      ),
      runCli(['worker', '--idle-exit', '4', '--json'], env, 180_000),
      runCli(['worker', '--idle-exit', '4', '--json'], env, 180_000),
    ]);
    // Submitting the same sweep again adds nothing (Nats-Msg-Id = job id).
    assert.equal(resubmitted.code, 0, resubmitted.stderr);
    assert.deepEqual(
      (({ published, duplicates }) => ({ published, duplicates }))(JSON.parse(resubmitted.stdout)),
      { published: 0, duplicates: 4 },
    );
    assert.equal(badArgs.code, 2, badArgs.stderr);
    assert.match(badArgs.stderr, /inference\.neutralBnd: is not a backtest config field/);
    assert.equal(unreachable.code, 3, unreachable.stderr);
    assert.match(unreachable.stderr, /unreachable/);

    for (const worker of workers) assert.equal(worker.code, 0, worker.stderr);
    const summaries = workers.map((worker) => JSON.parse(worker.stdout.trim()) as WorkerSummary);
    // Executions, not just stored results: 5 jobs ran once each between the two workers, both took part.
    assert.equal(summaries[0]!.processed + summaries[1]!.processed, 5);
    assert.equal(summaries[0]!.retried + summaries[1]!.retried, 0);
    assert.equal(summaries[0]!.failed + summaries[1]!.failed, 1);
    for (const summary of summaries) assert.ok(summary.processed >= 1, `worker ${summary.worker} ran no job`);

    const results = await readSweepResults(bus.jetstream, SWEEP);
    assert.equal(results.length, 4);
    assert.equal(new Set(results.map((result) => result.jobId)).size, 4);
    for (const result of results) {
      assert.equal(result.status, 'ok', result.error ?? '');
      assert.equal(result.delivery, 1);
      assert.equal(result.kind, 'backtest');
      assert.match(String(result.details?.ledgerHash), /^[0-9a-f]{64}$/);
      assert.ok(Number(result.details?.orders) > 0 && Number(result.details?.fills) > 0);
    }
    assert.equal(await pendingSweepJobs(bus.manager, SWEEP), 0);
    const [failed] = await readSweepResults(bus.jetstream, 'bt-bad');
    assert.equal(failed?.status, 'failed');
    assert.equal(failed?.delivery, 1);
    assert.match(String(failed?.error), /^trading\.sizing\.notionl: is not a backtest config field/);

    // Determinism: a job's ledger is the one a direct run of the same config and window gives.
    const job = results.find(
      (result) =>
        result.params['trading.sizing.notional'] === 25_000 &&
        result.params['model.trainFrom'] === '2013-01-01',
    ) as SweepJobResult;
    const direct = await directRun(25_000, '2013-01-01', '2014-01-01', '2014-04-01');
    assert.equal(job.details?.ledgerHash, direct.ledgerHash);
    assert.equal(job.details?.orders, direct.orders);
    assert.equal(job.details?.fills, direct.fills);
    assert.deepEqual(job.metrics, JSON.parse(JSON.stringify(direct.metrics)));

    const [asJson, asTable] = await Promise.all([
      runCli(['sweep', 'results', SWEEP, '--json', '--wait', '30'], env),
      runCli(['sweep', 'results', SWEEP], env),
    ]);
    assert.equal(asJson.code, 0, asJson.stderr);
    const table = JSON.parse(asJson.stdout) as {
      trials: number;
      pending: number;
      expectedMaxSharpe: number;
      rows: SweepRow[];
      failed: unknown[];
    };
    assert.equal(table.trials, 4);
    assert.equal(table.pending, 0);
    assert.deepEqual(table.failed, []);
    assert.ok(table.expectedMaxSharpe > 0);
    assert.deepEqual(table.rows.map((row) => row.jobId).sort(), results.map((result) => result.jobId).sort());
    for (const row of table.rows) {
      assert.equal(typeof row.deflatedSharpe, 'number', row.jobId);
      // Against the expected best of 4 trials, deflated is below the plain probabilistic Sharpe.
      assert.ok(row.deflatedSharpe! < row.probabilisticSharpe!, row.jobId);
      assert.equal('config' in row.params, false);
    }
    for (let i = 1; i < table.rows.length; i++)
      assert.ok(table.rows[i - 1]!.sharpe! >= table.rows[i]!.sharpe!);

    assert.equal(asTable.code, 0, asTable.stderr);
    assert.match(asTable.stdout, /sweep bt-wf: 4 trials, 0 failed, 0 still queued or running/);
    assert.match(asTable.stdout, /Sharpe\s+DSR\s+PSR/);
    for (const result of results)
      assert.ok(asTable.stdout.includes(String(result.details?.ledgerHash).slice(0, 12)), result.jobId);
  });
});
