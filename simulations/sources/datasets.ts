// Readers for the real data sets in ../shared/data (and the bundled sample). Each turns CSV rows
// into Sluice events, or into a row error with its number and reason, so a caller (ingest, the file
// replay source) can dead-letter bad rows and go on. A whole file of the wrong shape (another
// separator, missing columns, no rows) is refused up front with a ConfigError instead: every row of it
// would fail the same way.
//
// Historical rows are stamped ts_init = ts_event: they are "received" when they happened, which keeps
// replays of the same file byte-identical. Daily bars close at the end of their UTC date.
import { createReadStream, existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { parse } from 'csv-parse';
import { ConfigError, fileError } from '../../core/errors.ts';
import type { Bar, NewsItem, QuoteTick, TradeTick } from '../../schemas/messages.ts';

export type DatasetEvent =
  | { kind: 'bar'; event: Bar }
  | { kind: 'trade'; event: TradeTick }
  | { kind: 'quote'; event: QuoteTick }
  | { kind: 'news'; event: NewsItem };

export type DatasetRow =
  | ({ row: number } & DatasetEvent)
  | { row: number; kind: 'error'; reason: string; raw: string; file: string };

export interface DatasetFile {
  path: string;
  parse: (record: string[], header: string[] | undefined) => DatasetEvent;
  delimiter?: string;
  hasHeader: boolean;
  /** Header names the parser reads; for a file without a header, the fields of a row in order. */
  columns: readonly string[];
}

export interface Dataset {
  name: string;
  description: string;
  files: DatasetFile[];
  /** The symbols its events carry (known without reading it), to refuse a `--symbols` it lacks. */
  symbols: readonly string[];
}

const DAY_MS = 86_400_000;

/** Thrown by row parsers; becomes a row error with this reason. */
export class RowError extends Error {}

function number(value: string | undefined, field: string): number {
  const parsed = Number(value);
  if (value === undefined || value.trim() === '' || !Number.isFinite(parsed)) {
    throw new RowError(`${field}: not a number: ${JSON.stringify(value)}`);
  }
  return parsed;
}

function epochMillis(value: string | undefined, field: string): number {
  const parsed = Date.parse(value ?? '');
  if (!Number.isFinite(parsed)) throw new RowError(`${field}: not a timestamp: ${JSON.stringify(value)}`);
  return parsed;
}

/** `2012-09-04` -> close of that UTC day. */
function dailyClose(date: string | undefined): number {
  if (!date || !/^\d{4}-\d{2}-\d{2}$/.test(date))
    throw new RowError(`Date: not YYYY-MM-DD: ${JSON.stringify(date)}`);
  return epochMillis(`${date}T00:00:00Z`, 'Date') + DAY_MS;
}

function bar(source: string, symbol: string, interval: string, closeTime: number, ohlcv: number[]): Bar {
  const [open = Number.NaN, high = Number.NaN, low = Number.NaN, close = Number.NaN, volume = Number.NaN] =
    ohlcv;
  return {
    schema: 'bar.v1',
    id: `${source}:bar:${interval}:${symbol}:${closeTime}`,
    ts_event: closeTime,
    ts_init: closeTime,
    symbol,
    interval,
    open,
    high,
    low,
    close,
    volume,
  };
}

function column(header: string[] | undefined, record: string[], name: string): string | undefined {
  const index = header?.indexOf(name) ?? -1;
  return index >= 0 ? record[index] : undefined;
}

const OHLCV = ['Open', 'High', 'Low', 'Close', 'Volume'];

/** stocknet price_raw/<SYMBOL>.csv: Date, Open, High, Low, Close, Adj Close, Volume. */
export function stocknetPriceFile(path: string): DatasetFile {
  const symbol = basename(path, '.csv');
  return {
    path,
    hasHeader: true,
    columns: ['Date', ...OHLCV],
    parse: (record, header) => ({
      kind: 'bar',
      event: bar(
        'stocknet',
        symbol,
        '1d',
        dailyClose(column(header, record, 'Date')),
        OHLCV.map((field) => number(column(header, record, field), field)),
      ),
    }),
  };
}

/** stocknet tweets: created_at_utc, symbol, tweet_id, lang, retweet_count, text. */
export function stocknetTweetFile(path: string): DatasetFile {
  return {
    path,
    hasHeader: true,
    columns: ['created_at_utc', 'symbol', 'tweet_id', 'text'],
    parse: (record, header) => {
      const symbol = column(header, record, 'symbol') ?? '';
      const tweetId = column(header, record, 'tweet_id') ?? '';
      const createdAt = epochMillis(column(header, record, 'created_at_utc'), 'created_at_utc');
      if (!symbol || !tweetId) throw new RowError('symbol and tweet_id are required');
      return {
        kind: 'news',
        event: {
          schema: 'news_item.v1',
          id: `stocknet:news:${symbol}:${tweetId}`,
          ts_event: createdAt,
          ts_init: createdAt,
          symbol,
          headline: column(header, record, 'text') ?? '',
          source: 'twitter',
        },
      };
    },
  };
}

/** Binance trades: timestamp_utc, trade_id, price, quantity, buyer_maker (True = sell aggressor). */
export function binanceTradeFile(path: string, symbol = 'BTCUSDT'): DatasetFile {
  return {
    path,
    hasHeader: true,
    columns: ['timestamp_utc', 'trade_id', 'price', 'quantity', 'buyer_maker'],
    parse: (record, header) => {
      const ts = epochMillis(column(header, record, 'timestamp_utc'), 'timestamp_utc');
      const tradeId = column(header, record, 'trade_id') ?? '';
      const buyerMaker = column(header, record, 'buyer_maker');
      return {
        kind: 'trade',
        event: {
          schema: 'trade_tick.v1',
          id: `binance:trade:${symbol}:${tradeId}`,
          ts_event: ts,
          ts_init: ts,
          symbol,
          price: number(column(header, record, 'price'), 'price'),
          size: number(column(header, record, 'quantity'), 'quantity'),
          aggressor: buyerMaker === 'True' ? 'sell' : buyerMaker === 'False' ? 'buy' : 'unknown',
          trade_id: tradeId,
          venue: 'BINANCE',
        },
      };
    },
  };
}

/** Binance quotes: timestamp_utc, symbol, ask_size, ask, bid_size, bid (ids from the row number). */
export function binanceQuoteFile(path: string, symbol = 'BTCUSDT'): DatasetFile {
  let row = 0;
  return {
    path,
    hasHeader: true,
    columns: ['timestamp_utc', 'ask_size', 'ask', 'bid_size', 'bid'],
    parse: (record, header) => {
      row++;
      const ts = epochMillis(column(header, record, 'timestamp_utc'), 'timestamp_utc');
      return {
        kind: 'quote',
        event: {
          schema: 'quote_tick.v1',
          id: `binance:quote:${symbol}:${ts}:${row}`,
          ts_event: ts,
          ts_init: ts,
          symbol,
          bid: number(column(header, record, 'bid'), 'bid'),
          ask: number(column(header, record, 'ask'), 'ask'),
          bid_size: number(column(header, record, 'bid_size'), 'bid_size'),
          ask_size: number(column(header, record, 'ask_size'), 'ask_size'),
          venue: 'BINANCE',
        },
      };
    },
  };
}

/** plotly dash-stock-ticker-demo.csv: (index), Date, Open, High, Low, Close, Volume, …, Stock. */
export function plotlyDailyFile(path: string): DatasetFile {
  return {
    path,
    hasHeader: true,
    columns: ['Date', ...OHLCV, 'Stock'],
    parse: (record, header) => {
      const symbol = column(header, record, 'Stock');
      if (!symbol) throw new RowError('Stock: missing symbol');
      return {
        kind: 'bar',
        event: bar(
          'plotly',
          symbol,
          '1d',
          dailyClose(column(header, record, 'Date')),
          OHLCV.map((field) => number(column(header, record, field), field)),
        ),
      };
    },
  };
}

/** NinjaTrader SPY minute bars: `YYYYMMDD HHMMSS;open;high;low;close;volume`, UTC bar-close times. */
export function ninjaTraderMinuteFile(path: string, symbol = 'SPY'): DatasetFile {
  return {
    path,
    delimiter: ';',
    hasHeader: false,
    columns: ['time', 'open', 'high', 'low', 'close', 'volume'],
    parse: (record) => {
      const stamp = record[0] ?? '';
      const match = /^(\d{4})(\d{2})(\d{2}) (\d{2})(\d{2})(\d{2})$/.exec(stamp);
      if (!match) throw new RowError(`time: not "YYYYMMDD HHMMSS": ${JSON.stringify(stamp)}`);
      const [, year, month, day, hour, minute, second] = match;
      const close = epochMillis(`${year}-${month}-${day}T${hour}:${minute}:${second}Z`, 'time');
      return {
        kind: 'bar',
        event: bar(
          'ninjatrader',
          symbol,
          '1m',
          close,
          [1, 2, 3, 4, 5].map((index) =>
            number(record[index], ['open', 'high', 'low', 'close', 'volume'][index - 1] ?? ''),
          ),
        ),
      };
    },
  };
}

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
 * A ConfigError unless the file's first row has the columns its parser reads: its header names them,
 * or (no header) it has as many fields. Says which separator the row seems to use when it is not ours.
 */
function checkFirstRow(file: DatasetFile, record: string[]): void {
  const delimiter = file.delimiter ?? ',';
  const missing = file.hasHeader
    ? file.columns.filter((name) => !record.some((cell) => cell.trim() === name))
    : file.columns.slice(record.length);
  if (missing.length === 0) return;
  const joined = record.join(delimiter);
  const other = [',', ';', '\t', '|'].find(
    (candidate) => candidate !== delimiter && joined.includes(candidate),
  );
  const seems = other ? ` (it seems separated by ${JSON.stringify(other)})` : '';
  const found = file.hasHeader
    ? `its header lacks ${missing.join(', ')} (it has ${JSON.stringify(record.map((cell) => cell.trim()))})`
    : `its first row has ${record.length} fields`;
  throw new ConfigError(
    file.path,
    `${found}${seems}; expected ${file.hasHeader ? 'columns' : 'fields'} ${file.columns.join(', ')} separated by ${JSON.stringify(delimiter)}`,
    'Give a file in that layout',
  );
}

/**
 * Reads one file row by row; parse failures of a row become error rows, never exceptions. A file of
 * the wrong shape or with no rows is a ConfigError before any row.
 */
export async function* readDatasetFile(file: DatasetFile): AsyncGenerator<DatasetRow> {
  const input = createReadStream(file.path);
  const gunzip = file.path.endsWith('.gz') ? createGunzip() : undefined;
  const parser = parse({
    delimiter: file.delimiter ?? ',',
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: true,
  });
  // pipe() passes no errors on: a missing file or a bad .gz must end the reading below, not the process.
  for (const stream of [input, gunzip]) stream?.on('error', (error: Error) => parser.destroy(error));
  (gunzip ? input.pipe(gunzip) : input).pipe(parser);
  let header: string[] | undefined;
  let row = 0;
  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      row++;
      if (row === 1) checkFirstRow(file, record);
      if (file.hasHeader && header === undefined) {
        header = record.map((name) => name.trim());
        continue;
      }
      try {
        yield { row, ...file.parse(record, header) };
      } catch (error) {
        if (!(error instanceof RowError)) throw error;
        yield {
          row,
          kind: 'error',
          reason: error.message,
          raw: record.join(file.delimiter ?? ','),
          file: file.path,
        };
      }
    }
  } catch (error) {
    // A missing or unreadable file, or a .gz that is not gzip: the whole file, not a row.
    if (typeof (error as NodeJS.ErrnoException).code !== 'string') throw error;
    throw fileError('--data-dir', file.path, error, 'Give a data folder laid out like ../shared/data');
  } finally {
    // A reader that stops early (checkDatasetFiles) must not leave the file open.
    input.destroy();
  }
  if (row <= (file.hasHeader ? 1 : 0)) {
    throw new ConfigError(
      file.path,
      row === 0 ? 'is empty' : 'has a header but no rows',
      'Give a file with data rows',
    );
  }
}

/**
 * Daily prices and tweets laid out like stocknet (price_raw/<SYMBOL>.csv and a tweets CSV); with
 * `symbols`, only their price files are read (the tweets file holds every symbol).
 */
function stocknetDatasets(
  prefix: string,
  priceDir: string,
  tweetsPath: string,
  symbols?: readonly string[],
): Record<string, Dataset> {
  const held = listPriceSymbols(priceDir);
  return {
    [`${prefix}-prices`]: {
      name: `${prefix}-prices`,
      description: `${prefix} daily OHLCV (MIT)`,
      files: held
        .filter((symbol) => !symbols || symbols.includes(symbol))
        .map((symbol) => stocknetPriceFile(join(priceDir, `${symbol}.csv`))),
      symbols: held,
    },
    [`${prefix}-tweets`]: {
      name: `${prefix}-tweets`,
      description: `${prefix} tweets with cashtag symbols (MIT)`,
      files: [stocknetTweetFile(tweetsPath)],
      symbols: held,
    },
  };
}

/** The sample bundled in the repo (simulations/data/sample): ten stocknet symbols, prices and tweets. */
export function bundledSampleDatasets(
  sampleDir: string,
  symbols?: readonly string[],
): Record<string, Dataset> {
  return stocknetDatasets(
    'sample',
    join(sampleDir, 'prices'),
    join(sampleDir, 'tweets_2014-2016.csv.gz'),
    symbols,
  );
}

/** The shared real data sets that `sluice ingest` knows by name. */
export function sharedDatasets(dataDir: string, symbols?: readonly string[]): Record<string, Dataset> {
  return {
    ...stocknetDatasets(
      'stocknet',
      join(dataDir, 'stocknet', 'price_raw'),
      join(dataDir, 'stocknet', 'tweets_2014-2016.csv.gz'),
      symbols,
    ),
    'binance-trades': {
      name: 'binance-trades',
      description: 'Binance BTCUSDT trades and quotes, 2021-01-08',
      files: [
        binanceTradeFile(join(dataDir, 'binance-btcusdt-ticks', 'btcusdt_trades_2021-01-08.csv')),
        binanceQuoteFile(join(dataDir, 'binance-btcusdt-ticks', 'btcusdt_quotes_2021-01-08.csv')),
      ],
      symbols: ['BTCUSDT'],
    },
    'plotly-daily': {
      name: 'plotly-daily',
      description: 'plotly daily OHLCV for AAPL, GOOGL, TSLA, COKE, YHOO 2015-2017 (MIT)',
      files: [plotlyDailyFile(join(dataDir, 'daily-ohlcv-plotly', 'dash-stock-ticker-demo.csv'))],
      symbols: ['AAPL', 'GOOGL', 'TSLA', 'COKE', 'YHOO'],
    },
    'spy-minute': {
      name: 'spy-minute',
      description: 'SPY 1-minute bars, January 2011 (Apache-2.0)',
      files: [
        ninjaTraderMinuteFile(join(dataDir, 'spy-minute-pyalgotrade', 'ninjatrader_spy_minute_2011-01.csv')),
      ],
      symbols: ['SPY'],
    },
  };
}

function listPriceSymbols(priceDir: string): string[] {
  if (!existsSync(priceDir)) return [];
  return readdirSync(priceDir)
    .filter((name) => name.endsWith('.csv'))
    .map((name) => basename(name, '.csv'))
    .sort();
}
