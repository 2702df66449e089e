// Reads market CSVs into bars or trade ticks for `sluice features`, the oracle tests and the bench.
// Formats:
// - stocknet daily prices (Date,Open,High,Low,Close,Adj Close,Volume): read by their one reader,
//   core/datasets.ts, so the bars and their ids are the ones ingest and the replay source give.
// - OHLCV with a header: a time column (date, time, timestamp, datetime, timestamp_utc, any case)
//   and open/high/low/close/volume (any case). The time is the bar START; ts_event = start + interval.
// - NinjaTrader minute bars as in spy-minute-pyalgotrade: ';'-separated, no header,
//   'yyyyMMdd HHmmss;open;high;low;close;volume'.
// - trades with a header: a time column, price, and quantity/qty/size/amount (binance-btcusdt-ticks),
//   or headerless 'epoch,price,amount' (crypto-trades-pyalgotrade Bitstamp).
// Times without a zone are read as UTC; epoch numbers as seconds, milliseconds or microseconds by size.
import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { parse } from 'csv-parse/sync';
import { barDate, parseDatasetText, STOCKNET_PRICE_HEADER, stocknetPriceFile } from '../../core/datasets.ts';
import { ConfigError } from '../../core/errors.ts';
import type { Bar, TradeTick } from '../../schemas/messages.ts';
import { parseDuration } from './bars.ts';

export type MarketCsv =
  | {
      readonly kind: 'bars';
      readonly timeColumn: string;
      readonly times: readonly string[];
      readonly bars: Bar[];
      /** Rows the file's reader refused (stocknet rows with missing values); the core rejects the rest. */
      readonly refused: number;
    }
  | { readonly kind: 'trades'; readonly timeColumn: string; readonly trades: TradeTick[] };

const TIME_COLUMNS = ['timestamp_utc', 'timestamp', 'datetime', 'date', 'time'];
const SIZE_COLUMNS = ['quantity', 'qty', 'size', 'amount', 'volume'];
const NINJA_ROW = /^(\d{4})(\d{2})(\d{2}) (\d{2})(\d{2})(\d{2})$/;

/** Epoch ms of a time cell; NaN when unreadable (the core then rejects the row and counts it). */
export function parseTime(text: string): number {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) {
    const n = Number(trimmed);
    if (n < 1e11) return Math.round(n * 1000);
    return n < 1e14 ? Math.round(n) : Math.round(n / 1000);
  }
  const ninja = NINJA_ROW.exec(trimmed);
  if (ninja) {
    const [, y, mo, d, h, mi, s] = ninja.map(Number) as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    return Date.UTC(y, mo - 1, d, h, mi, s);
  }
  const iso = trimmed.replace(' ', 'T');
  const hasZone = /([zZ]|[+-]\d{2}:?\d{2})$/.test(iso) || !iso.includes('T');
  return Date.parse(hasZone ? iso : `${iso}Z`);
}

/** '1m' style for a span in ms: the largest unit that divides it. */
function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

function makeBar(symbol: string, interval: string, intervalMs: number, start: number, cells: number[]): Bar {
  const end = start + intervalMs;
  return {
    schema: 'bar.v1',
    id: `${symbol}:${interval}:${end}`,
    ts_event: end,
    ts_init: end,
    symbol,
    interval,
    open: cells[0]!,
    high: cells[1]!,
    low: cells[2]!,
    close: cells[3]!,
    volume: cells[4]!,
  };
}

/** Bar length: the flag if given, else the smallest gap between the first rows' times. */
function barInterval(starts: readonly number[], interval: string | undefined): [string, number] {
  if (interval !== undefined) return [interval, parseDuration(interval, '--interval')];
  let gap = Number.POSITIVE_INFINITY;
  for (let i = 1; i < Math.min(starts.length, 200); i++) {
    const d = starts[i]! - starts[i - 1]!;
    if (d > 0 && d < gap) gap = d;
  }
  const ms = Number.isFinite(gap) ? gap : 86_400_000;
  return [formatDuration(ms), ms];
}

function barsOf(
  symbol: string,
  timeColumn: string,
  rows: readonly string[][],
  timeIndex: number,
  ohlcvIndex: readonly number[],
  interval: string | undefined,
): MarketCsv {
  const times = rows.map((row) => row[timeIndex] ?? '');
  const starts = times.map(parseTime);
  const [name, ms] = barInterval(starts, interval);
  const bars = rows.map((row, i) =>
    makeBar(
      symbol,
      name,
      ms,
      starts[i]!,
      ohlcvIndex.map((c) => Number(row[c] ?? Number.NaN)),
    ),
  );
  return { kind: 'bars', timeColumn, times, bars, refused: 0 };
}

/** A stocknet price file: daily bars only, so an `interval` other than 1d is a mistake said at once. */
function stocknetBars(path: string, symbol: string, text: string, interval: string | undefined): MarketCsv {
  if (interval !== undefined && interval !== '1d') {
    throw new ConfigError(
      '--interval',
      `${path} holds stocknet daily bars, not ${interval} ones`,
      'Leave --interval out or give 1d',
    );
  }
  const rows = parseDatasetText(stocknetPriceFile(path, symbol), text);
  const bars = rows.flatMap((row) => (row.kind === 'bar' ? [row.event] : []));
  return {
    kind: 'bars',
    timeColumn: 'Date',
    times: bars.map(barDate),
    bars,
    refused: rows.length - bars.length,
  };
}

function tradesOf(
  symbol: string,
  rows: readonly string[][],
  time: number,
  price: number,
  size: number,
  id: number,
) {
  return rows.map((row): TradeTick => {
    const ts = parseTime(row[time] ?? '');
    const tradeId = id >= 0 ? row[id] : undefined;
    return {
      schema: 'trade_tick.v1',
      id: `${symbol}:${tradeId ?? ts}`,
      ts_event: ts,
      ts_init: ts,
      symbol,
      price: Number(row[price] ?? Number.NaN),
      size: Number(row[size] ?? Number.NaN),
      aggressor: 'unknown',
      ...(tradeId === undefined ? {} : { trade_id: tradeId }),
    };
  });
}

/**
 * Reads one symbol's file (the symbol is the file name without extension unless given).
 * `interval` is the bar length of a bar file (inferred when absent); trade files return ticks.
 */
export function readMarketCsv(path: string, options: { symbol?: string; interval?: string } = {}): MarketCsv {
  const text = readFileSync(path, 'utf8');
  const symbol = options.symbol ?? basename(path, extname(path));
  const firstLine = (text.split('\n', 1)[0] ?? '').trim();
  if (
    firstLine
      .split(',')
      .map((cell) => cell.trim())
      .join() === STOCKNET_PRICE_HEADER.join()
  ) {
    return stocknetBars(path, symbol, text, options.interval);
  }
  if (NINJA_ROW.test(firstLine.split(';')[0] ?? '')) {
    const rows: string[][] = parse(text, { delimiter: ';', skip_empty_lines: true, trim: true });
    return barsOf(symbol, 'datetime', rows, 0, [1, 2, 3, 4, 5], options.interval ?? '1m');
  }
  const delimiter = firstLine.includes(';') && !firstLine.includes(',') ? ';' : ',';
  const rows: string[][] = parse(text, {
    delimiter,
    skip_empty_lines: true,
    trim: true,
    relax_column_count: true,
  });
  const header = rows[0] ?? [];
  if (header.length === 3 && header.every((cell) => cell !== '' && Number.isFinite(Number(cell)))) {
    return { kind: 'trades', timeColumn: 'timestamp', trades: tradesOf(symbol, rows, 0, 1, 2, -1) };
  }
  const lower = header.map((cell) => cell.toLowerCase());
  const find = (names: readonly string[]): number => {
    for (const name of names) {
      const at = lower.indexOf(name);
      if (at >= 0) return at;
    }
    return -1;
  };
  const time = find(TIME_COLUMNS);
  if (time < 0) {
    throw new ConfigError(
      '--input',
      `${path} has no time column`,
      `Name one of: ${TIME_COLUMNS.join(', ')} (any case)`,
    );
  }
  const timeColumn = header[time]!;
  const ohlcv = ['open', 'high', 'low', 'close', 'volume'].map((name) => lower.indexOf(name));
  const data = rows.slice(1);
  if (ohlcv.every((at) => at >= 0)) return barsOf(symbol, timeColumn, data, time, ohlcv, options.interval);
  const price = find(['price']);
  const size = find(SIZE_COLUMNS);
  if (price >= 0 && size >= 0) {
    return {
      kind: 'trades',
      timeColumn,
      trades: tradesOf(symbol, data, time, price, size, find(['trade_id', 'id'])),
    };
  }
  throw new ConfigError(
    '--input',
    `${path} is neither an OHLCV file (open, high, low, close, volume) nor a trade file (price, quantity)`,
    'Use a CSV with one of those header sets, or the NinjaTrader minute format',
  );
}
