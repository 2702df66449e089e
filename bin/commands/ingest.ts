// `sluice ingest`: publishes the shared real data sets (or a folder laid out like them) to JetStream.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { ConfigError } from '../../core/errors.ts';
import {
  bundledSampleDatasets,
  countDatasetRows,
  type Dataset,
  sharedDatasets,
} from '../../simulations/sources/datasets.ts';
import { type IngestSummary, ingestDataset } from '../../streams/ingest.ts';
import { EventPublisher } from '../../streams/publisher.ts';
import { connectBus } from '../services.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const bundledSampleDir = join(repoRoot, 'simulations', 'data', 'sample');

/** Data sets by name: the shared ones under dataDir and the sample bundled in the repo. */
export function selectDatasets(dataDir: string, names: string[], symbols: string[] | undefined): Dataset[] {
  const shared = sharedDatasets(dataDir, symbols);
  const known: Record<string, Dataset> = { ...shared, ...bundledSampleDatasets(bundledSampleDir) };
  const chosen = names.length > 0 ? names : Object.keys(shared);
  return chosen.map((name) => {
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
}

export function register(program: Command): void {
  program
    .command('ingest')
    .description(
      'publish real data sets from CSV to JetStream (validated; bad rows to the dead-letter stream)',
    )
    .argument(
      '[datasets...]',
      'stocknet-prices, stocknet-tweets, binance-trades, plotly-daily, spy-minute (default: all of these), or the bundled sample-prices, sample-tweets',
    )
    .option('--data-dir <dir>', 'folder holding the data sets', join(repoRoot, '..', 'shared', 'data'))
    .option('--symbols <list>', 'comma-separated stocknet symbols to take (default: all)')
    .option('--json', 'print the summary as JSON')
    .action(async (names: string[], options: { dataDir: string; symbols?: string; json?: boolean }) => {
      const symbols = options.symbols
        ?.split(',')
        .map((symbol) => symbol.trim())
        .filter(Boolean);
      const datasets = selectDatasets(resolve(options.dataDir), names, symbols);
      const bus = await connectBus('sluice-ingest', true);
      const target = {
        events: new EventPublisher(bus.jetstream),
        deadLetters: new EventPublisher(bus.jetstream),
        subjects: bus.subjects,
      };
      const summaries: IngestSummary[] = [];
      try {
        for (const dataset of datasets) {
          const total = await countDatasetRows(dataset);
          const bar = new SingleBar({
            format: `${dataset.name.padEnd(16)} {bar} {percentage}% | {value}/{total} rows | {duration_formatted}`,
            stream: process.stderr,
            hideCursor: true,
          });
          bar.start(total, 0);
          summaries.push(
            await ingestDataset(dataset, target, {
              receivedAt: Date.now(),
              onRow: (rows) => {
                if (rows % 500 === 0) bar.update(rows);
              },
            }),
          );
          bar.update(total);
          bar.stop();
        }
      } finally {
        await bus.connection.drain();
      }
      if (options.json) {
        console.log(JSON.stringify(summaries, null, 2));
        return;
      }
      console.table(
        summaries.map(({ dataset, rows, published, duplicates, rejected }) => ({
          dataset,
          rows,
          published,
          duplicates,
          rejected,
        })),
      );
    });
}
