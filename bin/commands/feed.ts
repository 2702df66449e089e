// `sluice feed`: a live market-data feed (actors/feed/actor.ts) from one provider onto md.tick/bar/news,
// as the NATS user `feed`, until SIGINT or SIGTERM. Bad flags, an unknown provider or channel, missing
// or refused credentials: one line and exit 2, before anything is published. `sluice feed replay`
// backtests a recorded session, `sluice feed check` reports what a feed delivered (both read only,
// as the NATS user `replay`).
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { parseDuration } from '../../actors/feature/bars.ts';
import type { FeedActor } from '../../actors/feed/actor.ts';
import {
  checkChannels,
  createFeedAdapter,
  parseFeedChannels,
  parseFeedProvider,
} from '../../actors/feed/adapters/index.ts';
import { assetClassOfProvider } from '../../actors/feed/integrity.ts';
import { ModelRegistry } from '../../actors/inference/registry.ts';
import { DEFAULT_SENTIMENT_MODEL_KEY } from '../../actors/news/actor.ts';
import { startFeedActor } from '../../actors/runtime/runtime.ts';
import { WallClock } from '../../core/clock.ts';
import { checkDate, dateMillis } from '../../core/config-file.ts';
import { ConfigError } from '../../core/errors.ts';
import { createLogger } from '../../core/logger.ts';
import { SeededRandom } from '../../core/random.ts';
import {
  type BacktestConfig,
  checkModelPrices,
  readBacktestConfig,
} from '../../simulations/backtest-config.ts';
import { bundledSampleDir } from '../../simulations/backtest-source.ts';
import { submitFeedBackfills } from '../../simulations/feed-backfill-job.ts';
import {
  feedCheckReport,
  formatFeedCheckJson,
  formatFeedCheckText,
  reportGaps,
} from '../../simulations/feed-check.ts';
import { type FeedReplaySummary, replayRecordedSession } from '../../simulations/feed-replay.ts';
import { connectBus } from '../services.ts';
import { newRunId, printSummary } from './backtest.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface FeedCommandOptions {
  provider?: string;
  symbols?: string;
  channels?: string;
  record?: boolean;
  staleAfter?: string;
}

/** How long a stop (SIGTERM) may take to publish what is in hand before the process exits anyway. */
const STOP_TIMEOUT_MS = 30_000;

/** `--symbols A,B`: at least one, none empty or repeated. */
export function parseSymbols(list: string | undefined, field = '--symbols'): string[] {
  const fix = 'Give comma-separated symbols as the provider names them, e.g. SPY,AAPL or BTC/USDT';
  if (list === undefined) throw new ConfigError(field, 'is required', fix);
  const symbols = list.split(',').map((symbol) => symbol.trim());
  if (symbols.some((symbol) => symbol === ''))
    throw new ConfigError(field, `"${list}" has an empty symbol`, fix);
  if (new Set(symbols).size !== symbols.length)
    throw new ConfigError(field, `"${list}" names a symbol twice`, fix);
  return symbols;
}

/** A whole number of milliseconds, at least `minimum`. */
function millis(flag: string, text: string, minimum: number): number {
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(value) || value < minimum) {
    throw new ConfigError(
      flag,
      `"${text}" is not a number of milliseconds ≥ ${minimum}`,
      `Use e.g. ${flag} 30000`,
    );
  }
  return value;
}

/**
 * Rejects when the provider refuses the feed after it started (credentials revoked at a reconnect):
 * the actor has stopped itself, and the operator must act.
 */
function refusedLater(actor: FeedActor): { promise: Promise<never>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setInterval(() => {
      const status = actor.status();
      if (status.state !== 'stopped') return;
      reject(
        new ConfigError(
          '--provider',
          `${status.provider} refused the feed: ${status.lastError ?? 'no reason given'}`,
          'Check the credentials, symbols and channels',
        ),
      );
    }, 1_000);
  });
  return { promise, cancel: () => clearInterval(timer) };
}

export async function feedMain(options: FeedCommandOptions): Promise<void> {
  if (options.provider === undefined) {
    throw new ConfigError('--provider', 'is required', 'Use --provider alpaca, polygon or ccxt:<exchange>');
  }
  const provider = parseFeedProvider(options.provider);
  const symbols = parseSymbols(options.symbols);
  const channels = parseFeedChannels((options.channels ?? '').split(','));
  const staleAfterMs =
    options.staleAfter === undefined ? undefined : millis('--stale-after', options.staleAfter, 1);
  const clock = new WallClock();
  const logger = createLogger({ actor: 'feed' });
  const adapter = await createFeedAdapter(provider, { clock, channels });
  checkChannels(adapter, channels);

  const bus = await connectBus(`sluice-feed-${provider}`, 'require');
  const stopRequested = new Promise<NodeJS.Signals>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      resolve(signal);
      // Armed at the signal, so it also ends a start that waits on a provider that never answers.
      setTimeout(() => {
        logger.error({ signal, drainTimeoutMs: STOP_TIMEOUT_MS }, 'did not stop in time; exiting');
        process.exit(1);
      }, STOP_TIMEOUT_MS).unref();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  try {
    const actor = await startFeedActor(
      adapter,
      {
        symbols,
        channels,
        record: options.record === true,
        ...(staleAfterMs !== undefined ? { staleAfterMs } : {}),
      },
      {
        jetstream: bus.jetstream,
        subjects: bus.subjects,
        clock,
        // Jitter of the reconnect backoff only: nothing published depends on it.
        random: new SeededRandom(clock.now()),
        logger,
      },
    );
    logger.info({ provider, symbols, channels, record: options.record === true }, 'feed started');
    const refused = refusedLater(actor);
    try {
      const signal = await Promise.race([stopRequested, refused.promise]);
      logger.info({ signal, status: actor.status() }, 'stopping');
    } finally {
      refused.cancel();
      await actor.stop();
    }
  } finally {
    await bus.connection.drain();
  }
}

export interface ReplayCommandOptions {
  provider?: string;
  session?: string;
  from?: string;
  to?: string;
  config: string;
  /** Train the config's model walk-forward instead of scoring with the registry's active models. */
  trained?: boolean;
  reportDir: string;
  json?: boolean;
}

/** `2026-03-02` (UTC midnight) or `2026-03-02T14:30:00Z`: epoch ms. */
function instant(flag: string, text: string): number {
  const match = /^(\d{4}-\d{2}-\d{2})(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/.exec(text);
  const fix = 'Use YYYY-MM-DD (UTC) or an ISO time such as 2026-03-02T14:30:00Z';
  if (!match) throw new ConfigError(flag, `"${text}" is not a date or time`, fix);
  checkDate(flag, match[1]!);
  const millis = match[2] ? Date.parse(text) : dateMillis(text);
  if (!Number.isFinite(millis)) throw new ConfigError(flag, `"${text}" is not a time`, fix);
  return millis;
}

const DAY_MS = 86_400_000;
const isoDay = (millis: number) => new Date(millis).toISOString().slice(0, 10);

/**
 * The backtest replays events whose ts_init (here the receive time) falls in its data window (and
 * with --trained trains its model on the days before it): --from and --to move the window to the
 * days they cover.
 */
function withReplayWindow(config: BacktestConfig, fromMs?: number, toMs?: number): BacktestConfig {
  const data = {
    ...config.data,
    ...(fromMs !== undefined ? { from: isoDay(fromMs) } : {}),
    ...(toMs !== undefined ? { to: isoDay(Math.floor((toMs - 1) / DAY_MS) * DAY_MS + DAY_MS) } : {}),
  };
  if (dateMillis(data.to) <= dateMillis(data.from)) {
    throw new ConfigError(
      fromMs !== undefined ? '--from' : '--to',
      `the backtest window ${data.from} to ${data.to} is empty`,
      'Give --from and --to together, or a config whose data window holds the session',
    );
  }
  return { ...config, data };
}

/**
 * A recorded session (RAW, `sluice feed --record`) through the same adapter's decode and then a
 * backtest (simulations/feed-replay.ts): scored by the registry's active models, the ledger the live
 * session gave; with --trained, what the config's strategy would have done on it.
 */
export async function replayMain(options: ReplayCommandOptions): Promise<FeedReplaySummary> {
  if (options.provider === undefined) {
    throw new ConfigError('--provider', 'is required', 'Name the recorded feed, e.g. --provider alpaca');
  }
  const provider = parseFeedProvider(options.provider);
  const fromMs = options.from === undefined ? undefined : instant('--from', options.from);
  const toMs = options.to === undefined ? undefined : instant('--to', options.to);
  if (fromMs !== undefined && toMs !== undefined && toMs <= fromMs) {
    throw new ConfigError('--to', `${options.to} is not after ${options.from}`, 'Give a later end');
  }
  const config = withReplayWindow(readBacktestConfig(options.config), fromMs, toMs);
  if (options.trained) checkModelPrices(config, '/data/symbols');
  const adapter = await createFeedAdapter(provider, { clock: new WallClock(), decodeOnly: true });
  const bus = await connectBus('sluice-feed-replay', 'require');
  try {
    const models = options.trained ? undefined : await ModelRegistry.open(bus.jetstream);
    // The session's models must be there to score it as live did; say so in one line, not a stack.
    for (const key of models
      ? [config.strategy, ...(config.news ? [DEFAULT_SENTIMENT_MODEL_KEY] : [])]
      : []) {
      if ((await models?.active(key)) === undefined) {
        throw new ConfigError(
          '--config',
          `no model is active for ${key} in the registry`,
          'Activate the models the session ran with (sluice models activate), or give --trained',
        );
      }
    }
    return await replayRecordedSession({
      config,
      runId: newRunId(`${config.name}-replay`),
      jetstream: bus.jetstream,
      manager: bus.manager,
      subjects: bus.subjects,
      adapter,
      selection: {
        ...(options.session !== undefined ? { session: options.session } : {}),
        ...(fromMs !== undefined ? { fromMs } : {}),
        ...(toMs !== undefined ? { toMs } : {}),
      },
      ...(models ? { models } : {}),
      reportDir: resolve(options.reportDir),
      sentimentDataDir: join(bundledSampleDir, 'sentiment'),
      partitions: bus.environment.partitions,
      logger: createLogger({ actor: 'feed-replay' }),
    });
  } finally {
    await bus.connection.drain();
  }
}

export interface CheckCommandOptions {
  provider?: string;
  symbols?: string;
  from?: string;
  to?: string;
  barInterval?: string;
  trades?: boolean;
  submitBackfills?: boolean;
  json?: boolean;
}

/**
 * What MARKET holds of the symbols over the window, judged against their trading calendar: events,
 * gaps, price jumps and rejects per symbol and day; with --submit-backfills each gap becomes a
 * catch-up job for `sluice worker`.
 */
export async function checkMain(options: CheckCommandOptions): Promise<void> {
  if (options.provider === undefined) {
    throw new ConfigError('--provider', 'is required', 'Name the feed, e.g. --provider alpaca');
  }
  const provider = parseFeedProvider(options.provider);
  const symbols = parseSymbols(options.symbols);
  const window = 'Give --from and --to, e.g. --from 2026-03-02 --to 2026-03-03';
  if (options.from === undefined) throw new ConfigError('--from', 'is required', window);
  if (options.to === undefined) throw new ConfigError('--to', 'is required', window);
  const fromMs = instant('--from', options.from);
  const toMs = instant('--to', options.to);
  if (toMs <= fromMs)
    throw new ConfigError('--to', `${options.to} is not after ${options.from}`, 'Give a later end');
  if (options.barInterval !== undefined) parseDuration(options.barInterval, '--bar-interval');
  const bus = await connectBus('sluice-feed-check', 'require');
  try {
    const report = await feedCheckReport({
      jetstream: bus.jetstream,
      manager: bus.manager,
      symbols,
      fromMs,
      toMs,
      integrity: { defaultClass: assetClassOfProvider(provider) },
      expect: {
        ...(options.barInterval !== undefined ? { barInterval: options.barInterval } : {}),
        ...(options.trades ? { trades: true } : {}),
      },
    });
    process.stdout.write(options.json ? formatFeedCheckJson(report) : formatFeedCheckText(report));
    if (options.submitBackfills) {
      const { published, duplicates } = await submitFeedBackfills(
        bus.jetstream,
        provider,
        reportGaps(report),
      );
      // On stderr, so --json stays one document.
      console.error(
        `catch-up jobs: ${published} submitted, ${duplicates} already queued (run \`sluice worker\`)`,
      );
    }
  } finally {
    await bus.connection.drain();
  }
}

export function register(program: Command): void {
  // Parent options before the subcommand name only, so `--provider` after `feed replay` is replay's.
  program.enablePositionalOptions();
  const feed = program
    .command('feed')
    .description('live market data from a provider onto md.tick/bar/news, as NATS user feed, until SIGTERM')
    .enablePositionalOptions()
    .option('--provider <provider>', 'alpaca | polygon | ccxt:<exchange> (e.g. ccxt:binance)')
    .option('--symbols <list>', 'comma-separated symbols as the provider names them (SPY,AAPL; BTC/USDT)')
    .option('--channels <list>', 'comma-separated subset of trades,quotes,bars,news')
    .option('--record', 'also write every raw frame to the RAW stream (for `sluice feed replay`)')
    .option(
      '--stale-after <ms>',
      'no frame for this long: alert.warning.feed_stale, then a catch-up backfill',
    )
    .action(async (options: FeedCommandOptions) => {
      await feedMain(options);
    });
  feed
    .command('replay')
    .description('a recorded session (RAW) through the same adapter, then a backtest; prints the ledger hash')
    .option('--provider <provider>', 'the recorded feed: alpaca | polygon | ccxt:<exchange>')
    .option('--session <id>', 'one recorded session (default: every session of the provider)')
    .option(
      '--from <time>',
      'frames received from this time, YYYY-MM-DD (UTC) or ISO; the backtest window starts that day',
    )
    .option(
      '--to <time>',
      'frames received before this time, YYYY-MM-DD (UTC) or ISO; the window ends after that day',
    )
    .option(
      '--config <file>',
      'backtest config: strategy, risk, venue, and the model --trained trains',
      'simulations/configs/sample-daily.json',
    )
    .option(
      '--trained',
      "train the config's model on the days before the window instead of scoring with the registry's active models (those the live session ran with)",
    )
    .option('--report-dir <dir>', 'where the HTML report goes', join(repoRoot, 'reports'))
    .option('--json', 'print one JSON object')
    .action(async (options: ReplayCommandOptions) => {
      const summary = await replayMain(options);
      if (options.json) {
        console.log(JSON.stringify(summary, null, 2));
        return;
      }
      const { frames, events, duplicates, refused, malformed } = summary.recording;
      console.log(
        `Recorded ${options.provider}: frames ${frames}  events ${events}  duplicates ${duplicates}  refused ${refused}  malformed ${malformed}`,
      );
      printSummary(summary);
    });
  feed
    .command('check')
    .description(
      'gaps, price jumps and rejects per symbol and day of what MARKET holds, against the calendar',
    )
    .option(
      '--provider <provider>',
      'the feed: alpaca | polygon | ccxt:<exchange> (its asset class and calendar)',
    )
    .option('--symbols <list>', 'comma-separated symbols')
    .option('--from <time>', 'window start on ts_event: YYYY-MM-DD (UTC) or ISO time')
    .option('--to <time>', 'window end (exclusive): YYYY-MM-DD (UTC) or ISO time')
    .option('--bar-interval <interval>', 'expect bars of this interval in every session (e.g. 1m)')
    .option('--trades', 'expect trades throughout every session (silences are gaps)')
    .option('--submit-backfills', 'submit each gap as a catch-up job on the work queue (as admin)')
    .option('--json', 'print the report as one JSON document')
    .action(async (options: CheckCommandOptions) => {
      await checkMain(options);
    });
}
