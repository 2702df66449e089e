// `sluice ingest`: publishes the shared real data sets (or a folder laid out like them) to JetStream.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { checkDatasetFiles, countDatasetRows } from '../../core/dataset-files.ts';
import { ConfigError } from '../../core/errors.ts';
import { selectDatasets } from '../../simulations/backtest-source.ts';
import { type IngestSummary, ingestDataset } from '../../streams/ingest.ts';
import { EventPublisher } from '../../streams/publisher.ts';
import { connectBus } from '../services.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

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
    .option(
      '--symbols <list>',
      'comma-separated symbols to publish, each held by a chosen data set (default: all)',
    )
    .option('--json', 'print the summary as JSON')
    .action(async (names: string[], options: { dataDir: string; symbols?: string; json?: boolean }) => {
      const symbols = options.symbols
        ?.split(',')
        .map((symbol) => symbol.trim())
        .filter(Boolean);
      if (symbols?.length === 0) {
        throw new ConfigError('--symbols', 'names no symbol', 'Give comma-separated symbols, e.g. AAPL,MSFT');
      }
      const datasets = selectDatasets(resolve(options.dataDir), names, symbols);
      for (const dataset of datasets) await checkDatasetFiles(dataset);
      const bus = await connectBus('sluice-ingest', 'require');
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
              ...(symbols ? { symbols: new Set(symbols) } : {}),
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
        summaries.map(({ dataset, rows, published, duplicates, rejected, skipped }) => ({
          dataset,
          rows,
          published,
          duplicates,
          rejected,
          skipped,
        })),
      );
    });
}
