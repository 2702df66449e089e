// `sluice sweep submit | results`: parameter sweeps and walk-forward folds of the pipeline backtest as
// jobs on the SWEEP_JOBS work-queue stream (simulations/sweep.ts), run by `sluice worker` processes on any
// machines, and the aggregate table of their results with the deflated Sharpe ratio over all trials.
// Exit codes: 0 done, 2 bad arguments (ConfigError), 3 NATS unreachable.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { Command } from 'commander';
import { readEnvironment } from '../../core/config.ts';
import { checkDate } from '../../core/config-file.ts';
import { ConfigError } from '../../core/errors.ts';
import { readBacktestConfig } from '../../simulations/backtest-config.ts';
import {
  BACKTEST_JOB_KIND,
  backtestSweepJobs,
  type FoldOverrides,
  parseSweepGrid,
  parseWalkForward,
  walkForwardOverrides,
} from '../../simulations/backtest-job.ts';
import {
  aggregateSweep,
  applySweepStreams,
  checkSweepId,
  pendingSweepJobs,
  readSweepResults,
  SWEEP_JOB_STREAM,
  SWEEP_RESULT_STREAM,
  type SweepJobResult,
  type SweepParams,
  type SweepSummary,
  submitSweep,
} from '../../simulations/sweep-queue.ts';
import { streamExists } from '../../streams/nats-errors.ts';
import { badArgsExitTwo, operatorConnection } from './control.ts';

interface SubmitOptions {
  config: string;
  id: string;
  grid?: string;
  walkForward?: string;
  from?: string;
  to?: string;
  dataDir?: string;
  json?: boolean;
}

export interface SubmitReport {
  sweep: string;
  kind: string;
  jobs: number;
  gridPoints: number;
  folds: FoldOverrides[];
  published: number;
  duplicates: number;
}

function sweepId(raw: string, flag: string): string {
  try {
    return checkSweepId(raw);
  } catch (error) {
    throw new ConfigError(flag, (error as Error).message, 'e.g. notional-wf-1');
  }
}

/** Builds and checks every job (ConfigError on any bad argument), then publishes them. */
export async function submitCommand(options: SubmitOptions): Promise<SubmitReport> {
  const sweep = sweepId(options.id, '--id');
  const config = readBacktestConfig(options.config);
  const grid = options.grid !== undefined ? parseSweepGrid(options.grid) : {};
  if (options.from !== undefined) checkDate('--from', options.from);
  if (options.to !== undefined) checkDate('--to', options.to);
  let folds: FoldOverrides[] = [];
  const overrides: Record<string, string> = {};
  if (options.walkForward !== undefined) {
    // The folds' span includes their training windows: by default the config's training start to its end.
    folds = walkForwardOverrides(
      options.from ?? config.model.trainFrom,
      options.to ?? config.data.to,
      parseWalkForward(options.walkForward),
    );
  } else {
    if (options.from !== undefined) overrides['data.from'] = options.from;
    if (options.to !== undefined) overrides['data.to'] = options.to;
  }
  const jobs = backtestSweepJobs({
    sweep,
    config,
    grid,
    folds,
    overrides,
    ...(options.dataDir !== undefined ? { dataDir: options.dataDir } : {}),
  });

  const connection = await operatorConnection('sluice-sweep-submit');
  try {
    await applySweepStreams(await jetstreamManager(connection), readEnvironment().streamReplicas);
    const { published, duplicates } = await submitSweep(jetstream(connection), jobs);
    return {
      sweep,
      kind: BACKTEST_JOB_KIND,
      jobs: jobs.length,
      gridPoints: Object.values(grid).reduce((points, values) => points * values.length, 1),
      folds,
      published,
      duplicates,
    };
  } finally {
    await connection.close();
  }
}

/** Params as shown: without an inline backtest config (a config path stays). */
function shownParams(params: SweepParams): SweepParams {
  const { config, ...rest } = params;
  return typeof config === 'object' && config !== null ? rest : params;
}

function describeParams(params: SweepParams): string {
  return (
    Object.entries(shownParams(params))
      .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
      .join(' ') || '(base config)'
  );
}

/** The latest result per job (a job re-submitted after the 24 h duplicate window stores another). */
function latestPerJob(results: readonly SweepJobResult[]): SweepJobResult[] {
  const byJob = new Map<string, SweepJobResult>();
  for (const result of results) {
    byJob.delete(result.jobId);
    byJob.set(result.jobId, result);
  }
  return [...byJob.values()];
}

export interface ResultsReport extends SweepSummary {
  /** Jobs still queued or running when the results were read. */
  pending: number;
}

/** Reads the sweep's results, after waiting up to `waitSeconds` for its queued jobs to finish. */
export async function resultsCommand(sweep: string, waitSeconds = 0): Promise<ResultsReport> {
  const connection = await operatorConnection('sluice-sweep-results');
  try {
    const manager = await jetstreamManager(connection);
    const js = jetstream(connection);
    // Waiting is operational (when to stop polling), so the wall clock is fine here.
    const deadline = performance.now() + waitSeconds * 1000;
    let pending = 0;
    for (;;) {
      pending = (await streamExists(manager, SWEEP_JOB_STREAM)) ? await pendingSweepJobs(manager, sweep) : 0;
      if (pending === 0 || performance.now() >= deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const results = (await streamExists(manager, SWEEP_RESULT_STREAM))
      ? latestPerJob(await readSweepResults(js, sweep))
      : [];
    const summary = aggregateSweep(sweep, results);
    return {
      ...summary,
      rows: summary.rows.map((row) => ({ ...row, params: shownParams(row.params) })),
      failed: summary.failed.map((failure) => ({ ...failure, params: shownParams(failure.params) })),
      pending,
    };
  } finally {
    await connection.close();
  }
}

function table(header: string[], rows: string[][], rightAligned: ReadonlySet<number>): string[] {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]!.length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) =>
        column === cells.length - 1
          ? cell
          : rightAligned.has(column)
            ? cell.padStart(widths[column]!)
            : cell.padEnd(widths[column]!),
      )
      .join('  ');
  return [line(header), ...rows.map(line)];
}

function printResults(report: ResultsReport): void {
  const num = (value: number | null | undefined) =>
    value === null || value === undefined || !Number.isFinite(value) ? 'n/a' : value.toFixed(3);
  const pct = (value: number) => `${(value * 100).toFixed(2)}%`;
  const variance = report.sharpeVariance === null ? 'n/a' : report.sharpeVariance.toExponential(2);
  console.log(
    `sweep ${report.sweep}: ${report.trials} trials, ${report.failed.length} failed, ${report.pending} still queued or running`,
  );
  console.log(
    `  deflated Sharpe against the expected best of ${report.trials} trials: ${num(report.expectedMaxSharpe)} per period (Sharpe variance ${variance})`,
  );
  if (report.rows.length > 0) {
    const rows = report.rows.map((row, index) => {
      const details = row.details ?? {};
      const ledger = typeof details.ledgerHash === 'string' ? details.ledgerHash.slice(0, 12) : '';
      return [
        String(index + 1),
        num(row.sharpe),
        num(row.deflatedSharpe),
        num(row.probabilisticSharpe),
        pct(row.totalReturn),
        pct(row.maxDrawdown),
        details.orders === undefined ? '' : String(details.orders),
        details.fills === undefined ? '' : String(details.fills),
        ledger,
        describeParams(row.params),
      ];
    });
    const header = ['#', 'Sharpe', 'DSR', 'PSR', 'return', 'maxDD', 'orders', 'fills', 'ledger', 'params'];
    for (const line of table(header, rows, new Set([0, 1, 2, 3, 4, 5, 6, 7]))) console.log(`  ${line}`);
  } else if (report.failed.length === 0) {
    console.log('  no results yet');
  }
  for (const failure of report.failed)
    console.log(`  FAILED ${failure.jobId} (${describeParams(failure.params)}): ${failure.error}`);
}

function nonNegativeSeconds(raw: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0)
    throw new ConfigError('--wait', `must be whole seconds ≥ 0, got "${raw}"`, 'e.g. --wait 600');
  return value;
}

export function register(program: Command): void {
  const sweep = program
    .command('sweep')
    .description('parameter sweeps and walk-forward folds of the backtest as jobs for `sluice worker`');

  const submit = sweep
    .command('submit')
    .description('submit grid points × walk-forward folds as `backtest` jobs to the SWEEP_JOBS work queue')
    .requiredOption('--config <file>', 'backtest config (JSON), sent inline in every job')
    .requiredOption('--id <sweep>', 'sweep id (letters, digits, _ or -); results are read by it')
    .option(
      '--grid <json>',
      `config fields by dotted path and their values, e.g. '{"inference.neutralBand":[0.05,0.1]}'`,
    )
    .option(
      '--walk-forward <train:test>',
      'rolling folds of TRAIN days of training and TEST days of test, e.g. 365d:90d',
    )
    .option('--from <date>', 'YYYY-MM-DD: walk-forward span start (default model.trainFrom), else data.from')
    .option('--to <date>', 'YYYY-MM-DD, exclusive: walk-forward span end (default data.to), else data.to')
    .option(
      '--data-dir <dir>',
      "shared data folder as the workers see it (default: each worker's ../shared/data)",
    )
    .option('--json', 'print one JSON object')
    .action(async (options: SubmitOptions) => {
      const report = await submitCommand(options);
      if (options.json) console.log(JSON.stringify(report, null, 2));
      else {
        const folds = report.folds.length > 0 ? ` × ${report.folds.length} walk-forward folds` : '';
        console.log(
          `sweep ${report.sweep}: ${report.jobs} ${report.kind} jobs (${report.gridPoints} grid points${folds}); ${report.published} submitted, ${report.duplicates} already submitted`,
        );
        console.log(
          `  run \`sluice worker\` anywhere, then \`sluice sweep results ${report.sweep} --wait 600\``,
        );
      }
    });
  badArgsExitTwo(submit);

  const results = sweep
    .command('results')
    .description("a sweep's results as one table: metrics per trial, deflated Sharpe over all trials")
    .argument('<sweep>', 'sweep id given to `sluice sweep submit --id`')
    .option(
      '--wait <seconds>',
      'wait up to this long for queued and running jobs to finish',
      nonNegativeSeconds,
    )
    .option('--json', 'print one JSON object')
    .action(async (id: string, options: { wait?: number; json?: boolean }) => {
      const report = await resultsCommand(sweepId(id, 'SWEEP_ID'), options.wait ?? 0);
      if (options.json) console.log(JSON.stringify(report, null, 2));
      else printResults(report);
    });
  badArgsExitTwo(results);
  badArgsExitTwo(sweep);
}
