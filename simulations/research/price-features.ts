// Daily price features for research and benchmarks: 20 numbers per bar from past OHLCV only (lagged
// log returns, rolling volatility, momentum, range, volume surprise), read from the stocknet
// Yahoo-format CSVs (Date,Open,High,Low,Close,Adj Close,Volume) by their one reader, core/datasets.ts.
import { readFileSync } from 'node:fs';
import { barDate, parseDatasetText, stocknetPriceFile } from '../../core/datasets.ts';
import { rollingVolatility } from '../../core/volatility.ts';

export interface DailyBar {
  readonly date: string;
  readonly open: number;
  readonly high: number;
  readonly low: number;
  readonly close: number;
  /** Close adjusted for splits and dividends: returns are taken on this. */
  readonly adjClose: number;
  readonly volume: number;
}

/**
 * Reads one symbol's daily bars in date order; rows the reader refuses (missing values, "null") and
 * rows without a positive adjusted close or low are skipped: a return or a range needs both.
 */
export function readDailyBars(path: string): DailyBar[] {
  const bars: DailyBar[] = [];
  for (const row of parseDatasetText(stocknetPriceFile(path), readFileSync(path, 'utf8'))) {
    if (row.kind !== 'bar') continue;
    const { event, adjClose = Number.NaN } = row;
    if (!Number.isFinite(adjClose) || adjClose <= 0 || event.low <= 0) continue;
    bars.push({
      date: barDate(event),
      open: event.open,
      high: event.high,
      low: event.low,
      close: event.close,
      adjClose,
      volume: event.volume,
    });
  }
  return bars;
}

const returnLags = 10;
const longWindow = 20;

export const priceFeatureNames: readonly string[] = [
  ...Array.from({ length: returnLags }, (_, i) => `log_return_lag${i + 1}`),
  'volatility_5',
  'volatility_10',
  'volatility_20',
  'momentum_5',
  'momentum_10',
  'momentum_20',
  'high_low_range',
  'volume_z_20',
  'close_vs_sma_20',
  'volatility_ratio_5_20',
];

/** Definition string for featureSetVersion: changing a window must change the version. */
export const priceFeatureDefinition =
  'daily adj-close log returns; lags 1-10; vol 5/10/20; momentum 5/10/20; v1';

/** First bar with a full history behind it. */
export const priceFeatureWarmup = longWindow + 1;

/**
 * Features at bar t (from bars ≤ t) for every t ≥ priceFeatureWarmup, row-major
 * [rows × priceFeatureNames.length]; `firstBar` is the bar index of row 0.
 */
export function priceFeatures(bars: readonly DailyBar[]): {
  rows: Float64Array;
  firstBar: number;
  count: number;
} {
  const width = priceFeatureNames.length;
  const closes = bars.map((b) => b.adjClose);
  const vol5 = rollingVolatility(closes, 5);
  const vol10 = rollingVolatility(closes, 10);
  const vol20 = rollingVolatility(closes, 20);
  const logVolume = bars.map((b) => Math.log(Math.max(b.volume, 1)));
  const count = Math.max(0, bars.length - priceFeatureWarmup);
  const rows = new Float64Array(count * width);
  for (let r = 0; r < count; r++) {
    const t = r + priceFeatureWarmup;
    const row: number[] = [];
    for (let lag = 1; lag <= returnLags; lag++) row.push(Math.log(closes[t - lag + 1]! / closes[t - lag]!));
    row.push(vol5[t]!, vol10[t]!, vol20[t]!);
    for (const n of [5, 10, 20]) row.push(Math.log(closes[t]! / closes[t - n]!));
    row.push(Math.log(bars[t]!.high / bars[t]!.low));
    let mean = 0;
    for (let k = t - longWindow; k < t; k++) mean += logVolume[k]!;
    mean /= longWindow;
    let variance = 0;
    for (let k = t - longWindow; k < t; k++) variance += (logVolume[k]! - mean) ** 2;
    const std = Math.sqrt(variance / longWindow);
    row.push(std > 0 ? (logVolume[t]! - mean) / std : 0);
    let sma = 0;
    for (let k = t - longWindow + 1; k <= t; k++) sma += closes[k]!;
    row.push(Math.log(closes[t]! / (sma / longWindow)));
    row.push(vol20[t]! > 0 ? vol5[t]! / vol20[t]! : 1);
    rows.set(row, r * width);
  }
  return { rows, firstBar: priceFeatureWarmup, count };
}
