// Feature updates per second: every indicator of the default set per bar, 50 symbols, 1M bars, one
// core, beside the same indicators through technicalindicators' `nextValue` and trading-signals'
// `add` on the same bars in the same run.
//
// Bars: the first 50 stocknet daily series, each cycled (and re-stamped one day apart, so they
// stay in order) to 20,000 bars, interleaved by time. All 1M bar objects are built before timing.
// Ours is timed through FeatureCore.onBar (validation, all indicators, news columns, the row
// object). Peers have no session VWAP, log-return volatility or z-score: VWAP is their cumulative
// VWAP, volatility their rolling standard deviation of log returns (technicalindicators SD,
// trading-signals BollingerBands(20, 1)), z-score from their Bollinger middle and width.
// A peer that is too slow for the time budget runs a prefix of the same bars; `_bars` says how many.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ti from 'technicalindicators';
import * as ts from 'trading-signals';
import { FeatureCore } from '../actors/feature/core.ts';
import { readMarketCsv } from '../actors/feature/csv.ts';
import { DEFAULT_FEATURE_SET } from '../actors/feature/feature-set.ts';
import type { Bar } from '../schemas/messages.ts';

const SYMBOLS = 50;
const TOTAL_BARS = 1_000_000;
const PEER_BUDGET_MS = 15_000;
const DAY_MS = 86_400_000;
const PRICE_DIR = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'shared',
  'data',
  'stocknet',
  'price_raw',
);

function buildBars(): Bar[] {
  const files = readdirSync(PRICE_DIR)
    .filter((name) => name.endsWith('.csv'))
    .sort()
    .slice(0, SYMBOLS);
  const series = files.map((file) => {
    const input = readMarketCsv(join(PRICE_DIR, file));
    return input.kind === 'bars' ? input.bars : [];
  });
  const perSymbol = TOTAL_BARS / SYMBOLS;
  const start = series[0]![0]!.ts_event;
  const bars: Bar[] = new Array(TOTAL_BARS);
  for (let k = 0; k < perSymbol; k++) {
    series.forEach((source, s) => {
      const bar = source[k % source.length]!;
      const ts_event = start + k * DAY_MS;
      bars[k * SYMBOLS + s] = { ...bar, ts_event, ts_init: ts_event, id: `${bar.symbol}:1d:${ts_event}` };
    });
  }
  return bars;
}

/** Per-bar work of one implementation over one symbol's state; returns the z-score (kept live). */
type Updater = (bar: Bar) => number;

function technicalIndicatorsSymbol(): Updater {
  const sma = new ti.SMA({ period: 20, values: [] });
  const ema = new ti.EMA({ period: 20, values: [] });
  const rsi = new ti.RSI({ period: 14, values: [] });
  const macd = new ti.MACD({
    values: [],
    fastPeriod: 12,
    slowPeriod: 26,
    signalPeriod: 9,
    SimpleMAOscillator: false,
    SimpleMASignal: false,
  });
  const bb = new ti.BollingerBands({ period: 20, stdDev: 2, values: [] });
  const atr = new ti.ATR({ period: 14, high: [], low: [], close: [] });
  const adx = new ti.ADX({ period: 14, high: [], low: [], close: [] });
  const mfi = new ti.MFI({ period: 14, high: [], low: [], close: [], volume: [] });
  const obv = new ti.OBV({ close: [], volume: [] });
  const roc = new ti.ROC({ period: 10, values: [] });
  const vwap = new ti.VWAP({ high: [], low: [], close: [], volume: [] });
  const vol = new ti.SD({ period: 20, values: [] });
  let prevClose = Number.NaN;
  return (bar) => {
    sma.nextValue(bar.close);
    ema.nextValue(bar.close);
    rsi.nextValue(bar.close);
    macd.nextValue(bar.close);
    const bands = bb.nextValue(bar.close);
    atr.nextValue(bar);
    // Its declaration says number; the implementation takes a candle (as ATR and MFI do).
    adx.nextValue(bar as unknown as number);
    mfi.nextValue(bar);
    obv.nextValue(bar);
    roc.nextValue(bar.close);
    vwap.nextValue(bar);
    if (!Number.isNaN(prevClose)) vol.nextValue(Math.log(bar.close / prevClose));
    prevClose = bar.close;
    return bands ? (bar.close - bands.middle) / ((bands.upper - bands.middle) / 2) : 0;
  };
}

function tradingSignalsSymbol(): Updater {
  const sma = new ts.SMA(20);
  const ema = new ts.EMA(20);
  const rsi = new ts.RSI(14);
  const macd = new ts.MACD(new ts.EMA(12), new ts.EMA(26), new ts.EMA(9));
  const bb = new ts.BollingerBands(20, 2);
  const atr = new ts.ATR(14);
  const adx = new ts.ADX(14);
  const mfi = new ts.MFI(14);
  const obv = new ts.OBV(2);
  const roc = new ts.ROC(10);
  const vwap = new ts.VWAP();
  const vol = new ts.BollingerBands(20, 1);
  let prevClose = Number.NaN;
  return (bar) => {
    sma.add(bar.close);
    ema.add(bar.close);
    rsi.add(bar.close);
    macd.add(bar.close);
    const bands = bb.add(bar.close);
    atr.add(bar);
    adx.add(bar);
    mfi.add(bar);
    obv.add(bar);
    roc.add(bar.close);
    vwap.add(bar);
    if (!Number.isNaN(prevClose)) vol.add(Math.log(bar.close / prevClose));
    prevClose = bar.close;
    return bands ? (bar.close - bands.middle) / ((bands.upper - bands.middle) / 2) : 0;
  };
}

/** Bars per second of a peer over a prefix of `bars`, stopping early once the budget is spent. */
function timePeer(
  bars: readonly Bar[],
  makeSymbol: () => Updater,
): { rate: number; bars: number; sink: number } {
  const warm = new Map<string, Updater>();
  for (let i = 0; i < 20_000; i++) {
    const bar = bars[i]!;
    if (!warm.has(bar.symbol)) warm.set(bar.symbol, makeSymbol());
    warm.get(bar.symbol)!(bar);
  }
  const bySymbol = new Map<string, Updater>();
  for (const bar of bars.slice(0, SYMBOLS)) bySymbol.set(bar.symbol, makeSymbol());
  const updaters = bars.slice(0, SYMBOLS).map((bar) => bySymbol.get(bar.symbol)!);
  const started = performance.now();
  let done = 0;
  let sink = 0;
  while (done < bars.length && performance.now() - started < PEER_BUDGET_MS) {
    const end = Math.min(done + 50_000, bars.length);
    for (let i = done; i < end; i++) sink += updaters[i % SYMBOLS]!(bars[i]!);
    done = end;
  }
  return { rate: done / ((performance.now() - started) / 1000), bars: done, sink };
}

export default async function featureBench(): Promise<Record<string, number>> {
  const bars = buildBars();

  new FeatureCore({ set: DEFAULT_FEATURE_SET }).onBar(bars[0]!);
  const warmCore = new FeatureCore({ set: DEFAULT_FEATURE_SET });
  for (let i = 0; i < 20_000; i++) warmCore.onBar(bars[i]!);

  const core = new FeatureCore({ set: DEFAULT_FEATURE_SET });
  let warmRows = 0;
  const started = performance.now();
  for (let i = 0; i < bars.length; i++) {
    if (core.onBar(bars[i]!)?.warm) warmRows++;
  }
  const ours = bars.length / ((performance.now() - started) / 1000);
  if (core.counters.bars !== bars.length || warmRows === 0) {
    throw new Error(`bench bars were rejected: ${JSON.stringify(core.counters)}`);
  }

  const tiPeer = timePeer(bars, technicalIndicatorsSymbol);
  const tsPeer = timePeer(bars, tradingSignalsSymbol);
  return {
    feature_bar_updates_per_s: Math.round(ours),
    feature_peer_technicalindicators_per_s: Math.round(tiPeer.rate),
    feature_peer_technicalindicators_bars: tiPeer.bars,
    feature_peer_trading_signals_per_s: Math.round(tsPeer.rate),
    feature_peer_trading_signals_bars: tsPeer.bars,
  };
}
