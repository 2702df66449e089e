// Market data files as Sluice events, without touching the disk: what each file layout means (the
// real data sets in ../shared/data and the bundled sample), row by row. Each CSV record becomes an
// event, or a row error with its number and reason, so a caller (ingest, the replay source) can
// dead-letter bad rows and go on. A whole file of the wrong shape (another separator, missing
// columns, no rows) is refused with a ConfigError instead: every row of it would fail the same way.
// Reading the files is core/dataset-files.ts (streamed) or the caller's (parseDatasetText).
//
// Historical rows are stamped ts_init = ts_event: they are "received" when they happened, which keeps
// replays of the same file byte-identical. Daily bars close at the end of their UTC date.
import { basename } from 'node:path';
import { parse } from 'csv-parse/sync';
import type { Bar, NewsItem, QuoteTick, TradeTick } from '../schemas/messages.ts';
import { ConfigError } from './errors.ts';

export type DatasetEvent =
  /** `adjClose`: the close adjusted for splits and dividends, where the source has one (stocknet). */
  | { kind: 'bar'; event: Bar; adjClose?: number }
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

/** The UTC date (YYYY-MM-DD) of a daily bar: the day it closes at the end of. */
export function barDate(bar: Bar): string {
  return new Date(bar.ts_event - DAY_MS).toISOString().slice(0, 10);
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

/** The header of a stocknet price file (Yahoo's daily layout). */
export const STOCKNET_PRICE_HEADER = ['Date', 'Open', 'High', 'Low', 'Close', 'Adj Close', 'Volume'] as const;

/**
 * stocknet price_raw/<SYMBOL>.csv: Date, Open, High, Low, Close, Adj Close, Volume. The one reader of
 * these files: ingest, the replay source, `sluice features`, training and research all take their
 * bars (ids `stocknet:bar:1d:<SYMBOL>:<close ms>`) from it. Adj Close is not required (NaN without).
 */
export function stocknetPriceFile(path: string, symbol = basename(path, '.csv')): DatasetFile {
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
      adjClose: Number(column(header, record, 'Adj Close') ?? Number.NaN),
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
 * Turns a file's CSV records into rows, one record at a time (the same steps for a streamed file and
 * for one read whole): the first record is checked against the file's columns, a header gives no
 * row, a record its parser refuses is an error row. `finish` refuses a file without data rows.
 */
export function datasetRowReader(file: DatasetFile): {
  next(record: string[]): DatasetRow | undefined;
  finish(): void;
} {
  let header: string[] | undefined;
  let row = 0;
  return {
    next(record) {
      row++;
      if (row === 1) checkFirstRow(file, record);
      if (file.hasHeader && header === undefined) {
        header = record.map((name) => name.trim());
        return undefined;
      }
      try {
        return { row, ...file.parse(record, header) };
      } catch (error) {
        if (!(error instanceof RowError)) throw error;
        return {
          row,
          kind: 'error',
          reason: error.message,
          raw: record.join(file.delimiter ?? ','),
          file: file.path,
        };
      }
    },
    finish() {
      if (row > (file.hasHeader ? 1 : 0)) return;
      throw new ConfigError(
        file.path,
        row === 0 ? 'is empty' : 'has a header but no rows',
        'Give a file with data rows',
      );
    },
  };
}

/** The options every reader parses a dataset file's CSV with. */
export function csvOptions(file: DatasetFile) {
  return {
    delimiter: file.delimiter ?? ',',
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: true,
  };
}

/** Every row of a file already in memory (`text` is its content), as the streamed reader gives them. */
export function parseDatasetText(file: DatasetFile, text: string): DatasetRow[] {
  const reader = datasetRowReader(file);
  const rows: DatasetRow[] = [];
  for (const record of parse(text, csvOptions(file)) as string[][]) {
    const row = reader.next(record);
    if (row) rows.push(row);
  }
  reader.finish();
  return rows;
}
