// Where a backtest's market events come from when they are read from files: the data sets its config
// names (the shared ones under a data folder, or the sample bundled in the repository), windowed to the
// config's dates and symbols. `sluice backtest --source file` and the sweep's `backtest` job both build
// their source here, so a sweep job replays exactly what the command would.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kysely } from 'kysely';
import { dateMillis } from '../core/config-file.ts';
import type { Dataset } from '../core/datasets.ts';
import { ConfigError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { Database } from '../timescale/database.ts';
import type { BacktestConfig } from './backtest-config.ts';
import { bundledSampleDatasets, sharedDatasets } from './sources/datasets.ts';
import {
  fileSource,
  type MarketEvent,
  type ReplayStats,
  type ReplayWindow,
  timescaleSource,
} from './sources/replay.ts';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const bundledSampleDir = join(repoRoot, 'simulations', 'data', 'sample');
/** The shared data folder next to the repository (`../shared/data`). */
export const defaultSharedDataDir = join(repoRoot, '..', 'shared', 'data');

/**
 * Data sets by name: the shared ones under dataDir and the sample bundled in the repo. With `symbols`,
 * each must be held by one of them (a ConfigError on `symbolsField` otherwise), and price folders
 * are read for those symbols only.
 */
export function selectDatasets(
  dataDir: string,
  names: string[],
  symbols: string[] | undefined,
  symbolsField = '--symbols',
): Dataset[] {
  const shared = sharedDatasets(dataDir, symbols);
  const known: Record<string, Dataset> = { ...shared, ...bundledSampleDatasets(bundledSampleDir, symbols) };
  const chosen = names.length > 0 ? names : Object.keys(shared);
  const datasets = chosen.map((name) => {
    const dataset = known[name];
    if (!dataset) {
      throw new ConfigError(
        'dataset',
        `unknown data set "${name}"`,
        `Use one of: ${Object.keys(known).join(', ')}.`,
      );
    }
    if (name in shared && !existsSync(dataDir)) {
      throw new ConfigError(
        '--data-dir',
        `${dataDir} does not exist`,
        'Point it at the shared data folder (../shared/data).',
      );
    }
    return dataset;
  });
  const held = new Set(datasets.flatMap((dataset) => dataset.symbols));
  const unknown = symbols?.filter((symbol) => !held.has(symbol)) ?? [];
  if (unknown.length > 0) {
    const some = [...held].slice(0, 12).join(', ');
    throw new ConfigError(
      symbolsField,
      `${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} in none of ${chosen.join(', ')}`,
      `Use symbols they hold: ${some}${held.size > 12 ? `, … (${held.size} in all)` : ''}`,
    );
  }
  return datasets;
}

/** The config's replay window: [data.from, data.to) and its symbols. */
export function backtestWindow(config: BacktestConfig): ReplayWindow {
  return {
    from: dateMillis(config.data.from),
    to: dateMillis(config.data.to),
    ...(config.data.symbols ? { symbols: new Set(config.data.symbols) } : {}),
  };
}

/**
 * The config's data sets read from CSV files, merged in replay order over the config's window;
 * `symbolsField` is what a symbol none of them holds is reported against.
 */
export function configFileSource(
  config: BacktestConfig,
  dataDir: string,
  stats: ReplayStats = { rejected: 0 },
  symbolsField = '/data/symbols',
): { datasets: Dataset[]; events: AsyncIterable<MarketEvent> } {
  const datasets = selectDatasets(dataDir, config.data.datasets, config.data.symbols, symbolsField);
  return { datasets, events: fileSource(datasets, backtestWindow(config), stats) };
}

/** What the database source replays, for the CLI's help and its warning. */
export const TIMESCALE_SOURCE_SCOPE =
  'stored bars and trade ticks only: news and sentiment are not stored in the database';

/**
 * The config's window read from the database (bars and ticks the feature actor stored). A config that
 * runs the news actor gets a warning: it will get no news from this source, so its results differ from
 * --source file or jetstream, which replay news.
 */
export function configTimescaleSource(
  config: BacktestConfig,
  db: Kysely<Database>,
  logger?: Logger,
): AsyncIterable<MarketEvent> {
  if (config.news) {
    logger?.warn(
      { source: 'timescale', news: config.news },
      `--source timescale replays ${TIMESCALE_SOURCE_SCOPE}; this config's news actor gets none (use --source file or jetstream to include news)`,
    );
  }
  return timescaleSource(db, backtestWindow(config));
}
