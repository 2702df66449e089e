// `sluice features`: the FeatureActor's core over a CSV file, for research. Output rows keep the
// input's time column (for trade files: the bar close, ISO-8601 UTC) and one column per feature,
// with empty cells while an indicator warms up. Rejected rows are reported on stderr, not written.
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import type { Command } from 'commander';
import { parseDuration } from '../../actors/feature/bars.ts';
import { FeatureCore, type FeatureRow } from '../../actors/feature/core.ts';
import { type MarketCsv, readMarketCsv } from '../../actors/feature/csv.ts';
import { getFeatureSet } from '../../actors/feature/feature-set.ts';
import { ConfigError, fileError } from '../../core/errors.ts';

interface FeaturesOptions {
  input: string;
  output: string;
  set: string;
  interval?: string;
}

/** Quotes a cell only when CSV needs it. */
const cell = (text: string): string => (/[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text);

const INPUT_FIX = 'Pass the path of a CSV file';

/** A regular file of UTF-8 text (a binary file would otherwise fail deep in the CSV parser). */
function checkTextFile(path: string): void {
  const bytes = Buffer.alloc(65_536);
  let length: number;
  try {
    const file = openSync(path, 'r');
    try {
      length = readSync(file, bytes); // EISDIR for a folder
    } finally {
      closeSync(file);
    }
  } catch (error) {
    throw fileError('--input', path, error, INPUT_FIX);
  }
  let text = true;
  try {
    // `stream` leaves a character cut at the 64 KiB boundary undecoded instead of failing on it.
    text = !new TextDecoder('utf-8', { fatal: true })
      .decode(bytes.subarray(0, length), { stream: true })
      .includes('\0');
  } catch {
    text = false;
  }
  if (!text) throw new ConfigError('--input', `${path} is not a text file (binary bytes)`, INPUT_FIX);
}

/** The file read by readMarketCsv; CSV syntax errors (csv-parse codes CSV_*) are said against --input. */
function readCsv(path: string, interval: string | undefined): MarketCsv {
  try {
    return readMarketCsv(path, { interval });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code !== 'string' || !code.startsWith('CSV_')) throw error;
    throw new ConfigError('--input', `${path} is not valid CSV: ${(error as Error).message}`, INPUT_FIX);
  }
}

export function runFeatures(options: FeaturesOptions): {
  rows: number;
  counters: FeatureCore['counters'];
  /** Input rows the file's reader refused before the core saw them. */
  refused: number;
} {
  checkTextFile(options.input);
  const set = getFeatureSet(options.set, '--set');
  // Checked here so that a bad value is reported against the flag.
  if (options.interval !== undefined) parseDuration(options.interval, '--interval');
  const input = readCsv(options.input, options.interval);
  // Opened before the work, so that an unwritable path is said at once.
  let output: number;
  try {
    output = openSync(options.output, 'w');
  } catch (error) {
    throw fileError('--output', options.output, error, 'Give a file path in a writable folder', 'write');
  }
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
  try {
    writeSync(output, `${lines.join('\n')}\n`);
  } catch (error) {
    throw fileError('--output', options.output, error, 'Give a file path with room to write', 'write');
  } finally {
    closeSync(output);
  }
  return {
    rows: lines.length - 1,
    counters: core.counters,
    refused: input.kind === 'bars' ? input.refused : 0,
  };
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
      const { rows, counters, refused } = runFeatures(options);
      const rejected =
        refused + counters.rejected_invalid + counters.rejected_out_of_order + counters.rejected_duplicate;
      console.error(`sluice features: ${rows} rows to ${options.output}; ${rejected} input rows rejected`);
    });
}
