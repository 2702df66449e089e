// Reads the market data files of core/datasets.ts from disk: streamed row by row (a file may be
// larger than memory, and may be gzipped), so ingest and the replay source publish as they read.
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { parse } from 'csv-parse';
import { csvOptions, type Dataset, type DatasetFile, type DatasetRow, datasetRowReader } from './datasets.ts';
import { fileError } from './errors.ts';

/**
 * Reads each file of the data set up to its first data row: a ConfigError for a file of the wrong
 * shape or with no rows, so that a command can refuse before it publishes anything.
 */
export async function checkDatasetFiles(dataset: Dataset): Promise<void> {
  for (const file of dataset.files) {
    for await (const _ of readDatasetFile(file)) break;
  }
}

/** Lines in the data set's files (a progress-bar total; headers included). */
export async function countDatasetRows(dataset: Dataset): Promise<number> {
  let newlines = 0;
  for (const file of dataset.files) {
    const input = createReadStream(file.path);
    const text = file.path.endsWith('.gz') ? input.pipe(createGunzip()) : input;
    for await (const chunk of text as AsyncIterable<Buffer>) {
      for (let index = chunk.indexOf(10); index !== -1; index = chunk.indexOf(10, index + 1)) newlines++;
    }
  }
  return newlines;
}

/**
 * Reads one file row by row; parse failures of a row become error rows, never exceptions. A file of
 * the wrong shape or with no rows is a ConfigError before any row.
 */
export async function* readDatasetFile(file: DatasetFile): AsyncGenerator<DatasetRow> {
  const input = createReadStream(file.path);
  const gunzip = file.path.endsWith('.gz') ? createGunzip() : undefined;
  const parser = parse(csvOptions(file));
  // pipe() passes no errors on: a missing file or a bad .gz must end the reading below, not the process.
  for (const stream of [input, gunzip]) stream?.on('error', (error: Error) => parser.destroy(error));
  (gunzip ? input.pipe(gunzip) : input).pipe(parser);
  const reader = datasetRowReader(file);
  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      const row = reader.next(record);
      if (row) yield row;
    }
  } catch (error) {
    // A missing or unreadable file, or a .gz that is not gzip: the whole file, not a row.
    if (typeof (error as NodeJS.ErrnoException).code !== 'string') throw error;
    throw fileError('--data-dir', file.path, error, 'Give a data folder laid out like ../shared/data');
  } finally {
    // A reader that stops early (checkDatasetFiles) must not leave the file open.
    input.destroy();
  }
  reader.finish();
}
