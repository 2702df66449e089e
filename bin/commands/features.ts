// `sluice features`: the FeatureActor's core over a CSV file, for research. Output rows keep the
// input's time column (for trade files: the bar close, ISO-8601 UTC) and one column per feature,
// with empty cells while an indicator warms up. Rejected rows are reported on stderr, not written.
import { existsSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parseDuration } from '../../actors/feature/bars.ts';
import { FeatureCore, type FeatureRow } from '../../actors/feature/core.ts';
import { readMarketCsv } from '../../actors/feature/csv.ts';
import { getFeatureSet } from '../../actors/feature/feature-set.ts';
import { ConfigError } from '../../core/errors.ts';

interface FeaturesOptions {
  input: string;
  output: string;
  set: string;
  interval?: string;
}

/** Quotes a cell only when CSV needs it. */
const cell = (text: string): string => (/[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text);

export function runFeatures(options: FeaturesOptions): { rows: number; counters: FeatureCore['counters'] } {
  if (!existsSync(options.input)) {
    throw new ConfigError('--input', `${options.input} does not exist`, 'Pass the path of a CSV file');
  }
  const set = getFeatureSet(options.set, '--set');
  // Checked here so that a bad value is reported against the flag.
  if (options.interval !== undefined) parseDuration(options.interval, '--interval');
  const input = readMarketCsv(options.input, { interval: options.interval });
  const core = new FeatureCore({ set, barInterval: options.interval ?? '1m' });
  const lines = [[input.timeColumn, ...set.columns].map(cell).join(',')];
  const write = (time: string, row: FeatureRow | null) => {
    if (!row) return;
    const values = set.columns.map((name) => {
      const v = row.values[name];
      return v === null || v === undefined ? '' : String(v);
    });
    lines.push(`${cell(time)},${values.join(',')}`);
  };
  if (input.kind === 'bars') {
    input.bars.forEach((bar, i) => {
      write(input.times[i]!, core.onBar(bar));
    });
  } else {
    const iso = (row: FeatureRow | null) => write(row ? new Date(row.ts_event).toISOString() : '', row);
    for (const trade of input.trades) iso(core.onTrade(trade));
    for (const row of core.flushUntil(Number.POSITIVE_INFINITY)) iso(row);
  }
  writeFileSync(options.output, `${lines.join('\n')}\n`);
  return { rows: lines.length - 1, counters: core.counters };
}

export function register(program: Command): void {
  program
    .command('features')
    .description('Compute a feature set over an OHLCV, NinjaTrader minute or trade CSV file')
    .requiredOption('--input <file>', 'input CSV')
    .requiredOption('--output <file>', 'output CSV')
    .option('--set <name>', 'feature set', 'default')
    .option(
      '--interval <span>',
      'bar length: trade files are aggregated to it; bar files default to their spacing',
    )
    .action((options: FeaturesOptions) => {
      const { rows, counters } = runFeatures(options);
      const rejected =
        counters.rejected_invalid + counters.rejected_out_of_order + counters.rejected_duplicate;
      console.error(`sluice features: ${rows} rows to ${options.output}; ${rejected} input rows rejected`);
    });
}
