// `sluice backtest --config FILE`: a replay backtest through the live actors (simulations/backtest.ts)
// from CSV files, TimescaleDB or JetStream, in-process or over NATS; prints a summary (or one JSON
// object with --json) and writes the HTML report.
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { readEnvironment } from '../../core/config.ts';
import { checkDate, dateMillis } from '../../core/config-file.ts';
import { countDatasetRows } from '../../core/dataset-files.ts';
import { ConfigError } from '../../core/errors.ts';
import { createLogger } from '../../core/logger.ts';
import { type BacktestMode, type BacktestSummary, runBacktest } from '../../simulations/backtest.ts';
import {
  type BacktestConfig,
  checkBenchmarkSymbol,
  checkModelPrices,
  readBacktestConfig,
} from '../../simulations/backtest-config.ts';
import {
  backtestWindow,
  bundledSampleDir,
  configFileSource,
  configTimescaleSource,
  TIMESCALE_SOURCE_SCOPE,
} from '../../simulations/backtest-source.ts';
import { jetstreamSource, type MarketEvent } from '../../simulations/sources/replay.ts';
import { EXIT_REASONS } from '../../simulations/trades.ts';
import { createDatabase } from '../../timescale/database.ts';
import { migrateToLatest } from '../../timescale/migrate.ts';
import { connectBus, reachDatabase } from '../services.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface BacktestCommandOptions {
  config: string;
  from?: string;
  to?: string;
  symbols?: string;
  source: string;
  mode: string;
  json?: boolean;
  reportDir: string;
  dataDir: string;
  progress?: boolean;
  /** Turns trading.barrierExits on for this run. */
  barrierExits?: boolean;
}

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(
      flag,
      `must be one of ${allowed.join(', ')}, got "${value}"`,
      `Use ${flag} ${allowed[0]}`,
    );
  }
  return value as T;
}

function withOverrides(config: BacktestConfig, options: BacktestCommandOptions): BacktestConfig {
  for (const [flag, value] of [
    ['--from', options.from],
    ['--to', options.to],
  ] as const) {
    if (value !== undefined) checkDate(flag, value);
  }
  const symbols = options.symbols
    ?.split(',')
    .map((symbol) => symbol.trim())
    .filter(Boolean);
  const data = {
    ...config.data,
    ...(options.from ? { from: options.from } : {}),
    ...(options.to ? { to: options.to } : {}),
    ...(symbols && symbols.length > 0 ? { symbols } : {}),
  };
  if (dateMillis(data.to) <= dateMillis(data.from)) {
    throw new ConfigError('--to', `${data.to} is not after ${data.from}`, 'Give a later end date');
  }
  const trading = options.barrierExits ? { ...config.trading, barrierExits: true } : config.trading;
  return { ...config, data, trading };
}

/** A run id people can read and no two runs share: config name, UTC time, random suffix. */
export function newRunId(name: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return `${name}-${stamp}-${randomBytes(2).toString('hex')}`;
}

export async function backtestCommand(options: BacktestCommandOptions): Promise<BacktestSummary> {
  const config = withOverrides(readBacktestConfig(options.config), options);
  const symbolsField = options.symbols ? '--symbols' : '/data/symbols';
  checkModelPrices(config, symbolsField);
  checkBenchmarkSymbol(config, symbolsField);
  const source = oneOf('--source', options.source, ['file', 'timescale', 'jetstream'] as const);
  const mode = oneOf<BacktestMode>('--mode', options.mode, ['inprocess', 'nats']);
  const environment = readEnvironment();
  const logger = createLogger({ actor: 'backtest' });
  const window = backtestWindow(config);
  const needsNats = mode === 'nats' || source === 'jetstream';
  // A jetstream source reads the live MARKET stream; a NATS-mode run makes its own `bt.<run>.` streams.
  const bus = needsNats
    ? await connectBus('sluice-backtest', source === 'jetstream' ? 'require' : 'none')
    : undefined;
  if (environment.databaseUrl) await reachDatabase(environment.databaseUrl);
  const db = environment.databaseUrl ? createDatabase(environment.databaseUrl) : undefined;
  if (db) await migrateToLatest(db, logger);
  else if (source === 'timescale') {
    throw new ConfigError(
      'DATABASE_URL',
      'is not set',
      'Set it to read the time-series source, or use --source file',
    );
  }
  try {
    let events: AsyncIterable<MarketEvent>;
    let total = 0;
    if (source === 'file') {
      const file = configFileSource(config, resolve(options.dataDir), undefined, symbolsField);
      for (const dataset of file.datasets) total += await countDatasetRows(dataset);
      events = file.events;
    } else if (source === 'timescale') {
      events = configTimescaleSource(config, db!, logger);
    } else {
      // Stored time is when the feed published, not event time: read it all, keep the window by ts_init.
      events = jetstreamSource(bus!.jetstream, bus!.manager, window);
    }
    const bar =
      options.progress !== false && total > 0
        ? new SingleBar({
            format: 'backtest {bar} {percentage}% | {value}/{total} events | {duration_formatted}',
            stream: process.stderr,
            hideCursor: true,
          })
        : undefined;
    bar?.start(total, 0);
    const summary = await runBacktest({
      config,
      runId: newRunId(config.name),
      mode,
      events,
      ...(bus ? { nats: { jetstream: bus.jetstream, manager: bus.manager } } : {}),
      ...(db ? { db } : {}),
      reportDir: resolve(options.reportDir),
      sentimentDataDir: join(bundledSampleDir, 'sentiment'),
      partitions: environment.partitions,
      onEvent: (done) => {
        if (done % 500 === 0) bar?.update(done);
      },
      logger,
    });
    bar?.update(total);
    bar?.stop();
    return summary;
  } finally {
    await db?.destroy();
    await bus?.connection.drain();
  }
}

export function printSummary(summary: BacktestSummary): void {
  const m = summary.metrics;
  const pct = (value: number | null) => (value === null ? 'n/a' : `${(value * 100).toFixed(2)}%`);
  const num = (value: number | null) => (value === null ? 'n/a' : value.toFixed(3));
  console.log(`Backtest ${summary.runId} (${summary.mode})`);
  console.log(
    `  events ${summary.events}  signals ${summary.signals}  orders ${summary.orders}  fills ${summary.fills}  denials ${summary.denials}  dead letters ${summary.deadLetters}`,
  );
  console.log(`  total return ${pct(m.totalReturn)}  CAGR ${pct(m.cagr)}  volatility ${pct(m.volatility)}`);
  console.log(
    `  Sharpe ${num(m.sharpe)}  Sortino ${num(m.sortino)}  Calmar ${num(m.calmar)}  max drawdown ${pct(m.maxDrawdown)}`,
  );
  console.log(
    `  win rate ${pct(m.winRate)}  profit factor ${num(m.profitFactor)}  PSR ${num(m.probabilisticSharpe)}`,
  );
  const benchmark = summary.analytics.benchmark;
  if (benchmark) {
    const r = benchmark.relative;
    console.log(
      `  benchmark ${benchmark.name}: total return ${pct(benchmark.totalReturn)}  Sharpe ${num(benchmark.sharpe)}  alpha ${pct(r.alpha)}  beta ${num(r.beta)}  IR ${num(r.informationRatio)}  capture up ${num(r.upCapture)} down ${num(r.downCapture)}`,
    );
  }
  const bootstrap = summary.analytics.bootstrap;
  if (bootstrap) {
    const range = (interval: { p5: number; p95: number } | null, format: (value: number) => string) =>
      interval === null ? 'n/a' : `${format(interval.p5)} … ${format(interval.p95)}`;
    console.log(
      `  bootstrap 90% (${bootstrap.samples}, blocks of ${bootstrap.blockLength}): total return ${range(bootstrap.totalReturn, pct)}  Sharpe ${range(bootstrap.sharpe, num)}  max drawdown ${range(bootstrap.maxDrawdown, pct)}`,
    );
  }
  const exits = EXIT_REASONS.map((reason) => {
    const { exits: count, pnl } = summary.exits.byReason[reason];
    return `${reason} ${count}${count > 0 ? ` (pnl ${pnl.toFixed(2)})` : ''}`;
  });
  console.log(`  exits ${exits.join('  ')}`);
  if (summary.exits.bracketedEntries > 0) {
    console.log(
      `  barrier exits on ${summary.exits.bracketedEntries} entries (${summary.exits.timeLimitedEntries} with a time limit)`,
    );
  }
  console.log(`  ledger ${summary.ledgerHash}`);
  if (summary.report) console.log(`  report ${summary.report}`);
}

export function register(program: Command): void {
  program
    .command('backtest')
    .description('replay history through the live actors; prints metrics and writes an HTML report')
    .requiredOption('--config <file>', 'backtest config (JSON), e.g. simulations/configs/sample-daily.json')
    .option('--from <date>', 'start date YYYY-MM-DD (overrides the config)')
    .option('--to <date>', 'end date YYYY-MM-DD, exclusive (overrides the config)')
    .option('--symbols <list>', 'comma-separated symbols (overrides the config)')
    .option('--source <source>', `file | timescale (${TIMESCALE_SOURCE_SCOPE}) | jetstream`, 'file')
    .option('--mode <mode>', 'inprocess | nats', 'inprocess')
    .option('--report-dir <dir>', 'where the HTML report goes', join(repoRoot, 'reports'))
    .option('--data-dir <dir>', 'shared data folder for file sources', join(repoRoot, '..', 'shared', 'data'))
    .option('--no-progress', 'no progress bar')
    .option('--barrier-exits', "give entries their model's triple-barrier exits (trading.barrierExits)")
    .option('--json', 'print one JSON object')
    .action(async (options: BacktestCommandOptions) => {
      const summary = await backtestCommand(options);
      if (options.json) console.log(JSON.stringify(summary, null, 2));
      else printSummary(summary);
    });
}
