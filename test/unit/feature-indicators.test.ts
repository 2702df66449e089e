// Every indicator against TA-Lib (the oracle) on real data: several stocknet daily series and the SPY
// minute bars. Our seeding replicates TA-Lib's (default compatibility, unstable period 0), so the
// comparison starts at TA-Lib's first output, which must also be our first non-null value:
// SMA/EMA/BB n, RSI/ATR/MFI/ROC n+1, MACD slow+signal-1, ADX 2n, OBV 1 bars.
// Error measure: see relativeError. VWAP, log-return volatility and z-score have no TA-Lib equivalent: checked against direct formulas.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readMarketCsv } from '../../actors/feature/csv.ts';
import { DEFAULT_FEATURE_SET } from '../../actors/feature/feature-set.ts';
import { createIndicator, type IndicatorSpec } from '../../actors/feature/indicators.ts';
import { RollingStats } from '../../core/rolling-stats.ts';
import type { Bar } from '../../schemas/messages.ts';

const DATA = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'data');
const talib = createRequire(import.meta.url)('talib') as {
  execute(request: Record<string, unknown>): {
    begIndex: number;
    nbElement: number;
    result: Record<string, number[]>;
  };
};

function loadBars(path: string): Bar[] {
  const input = readMarketCsv(join(DATA, path));
  assert.equal(input.kind, 'bars');
  return input.kind === 'bars' ? input.bars : [];
}

const DATASETS: Record<string, Bar[]> = {
  AAPL: loadBars('stocknet/price_raw/AAPL.csv'),
  XOM: loadBars('stocknet/price_raw/XOM.csv'),
  BABA: loadBars('stocknet/price_raw/BABA.csv'),
  GMRE: loadBars('stocknet/price_raw/GMRE.csv'),
  SPY_1m: loadBars('spy-minute-pyalgotrade/ninjatrader_spy_minute_2011-01.csv'),
};

/** Runs one indicator over the bars; one array per output column. */
function run(spec: IndicatorSpec, bars: readonly Bar[]): Float64Array[] {
  const indicator = createIndicator(spec);
  const width = indicator.columns.length;
  const out = new Float64Array(width);
  const series = indicator.columns.map(() => new Float64Array(bars.length));
  bars.forEach((bar, i) => {
    indicator.update(bar, out, 0);
    for (let c = 0; c < width; c++) series[c]![i] = out[c]!;
  });
  return series;
}

/** TA-Lib's call and output names for each of our specs, in our column order. */
function oracle(
  spec: IndicatorSpec,
): { name: string; options: Record<string, number>; outputs: string[] } | null {
  switch (spec.kind) {
    case 'sma':
    case 'ema':
    case 'rsi':
    case 'atr':
    case 'adx':
    case 'mfi':
    case 'roc':
      return {
        name: spec.kind.toUpperCase(),
        options: { optInTimePeriod: spec.period },
        outputs: ['outReal'],
      };
    case 'macd':
      return {
        name: 'MACD',
        options: { optInFastPeriod: spec.fast, optInSlowPeriod: spec.slow, optInSignalPeriod: spec.signal },
        outputs: ['outMACD', 'outMACDSignal', 'outMACDHist'],
      };
    case 'bbands':
      return {
        name: 'BBANDS',
        options: {
          optInTimePeriod: spec.period,
          optInNbDevUp: spec.stddev,
          optInNbDevDn: spec.stddev,
          optInMAType: 0,
        },
        outputs: ['outRealLowerBand', 'outRealMiddleBand', 'outRealUpperBand'],
      };
    case 'obv':
      return { name: 'OBV', options: {}, outputs: ['outReal'] };
    default:
      return null;
  }
}

/**
 * Relative error, with |expected| floored at `floor`. The floor is 1e-12 except for MFI (0..100):
 * where its exact value is 0 (no positive flow in the window) TA-Lib's running sums leave a residue
 * up to ~5e-12 (even negative), and a relative error against a residue measures nothing; MFI values
 * under 0.01 are therefore compared at 1e-11 absolute.
 */
const relativeError = (actual: number, expected: number, floor = 1e-12): number =>
  actual === expected ? 0 : Math.abs(actual - expected) / Math.max(Math.abs(expected), floor);

describe('indicators match TA-Lib to 1e-9 relative error once warm', () => {
  const specs = DEFAULT_FEATURE_SET.indicators.filter((spec) => oracle(spec) !== null);
  for (const [dataset, bars] of Object.entries(DATASETS)) {
    test(dataset, () => {
      const close = bars.map((b) => b.close);
      const inputs = {
        inReal: close,
        high: bars.map((b) => b.high),
        low: bars.map((b) => b.low),
        close,
        volume: bars.map((b) => b.volume),
      };
      for (const spec of specs) {
        const { name, options, outputs } = oracle(spec)!;
        const expected = talib.execute({ name, startIdx: 0, endIdx: bars.length - 1, ...inputs, ...options });
        const ours = run(spec, bars);
        const warmup = createIndicator(spec).warmup;
        assert.equal(expected.begIndex, warmup - 1, `${name} warm-up`);
        outputs.forEach((output, c) => {
          const series = ours[c]!;
          const reference = expected.result[output]!;
          assert.ok(Number.isNaN(series[warmup - 2] ?? Number.NaN), `${name}.${output} null before warm-up`);
          let worst = 0;
          for (let k = 0; k < reference.length; k++) {
            const err = relativeError(series[warmup - 1 + k]!, reference[k]!, name === 'MFI' ? 1e-2 : 1e-12);
            if (!(err <= worst)) worst = err;
          }
          assert.ok(worst <= 1e-9, `${dataset} ${name}.${output}: max relative error ${worst}`);
        });
      }
    });
  }
});

describe('indicators without a TA-Lib equivalent match direct computations', () => {
  const bars = DATASETS.SPY_1m!;
  const window = (values: readonly number[], end: number, n: number) => values.slice(end - n + 1, end + 1);
  const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const sampleStd = (xs: readonly number[]) => {
    const m = mean(xs);
    return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
  };
  const close = bars.map((b) => b.close);

  test('session VWAP restarts each UTC day', () => {
    const [vwap] = run({ kind: 'vwap', anchorMs: 86_400_000, label: 'D' }, bars);
    let pv = 0;
    let volume = 0;
    let day = -1;
    bars.forEach((bar, i) => {
      const barDay = Math.floor((bar.ts_event - 1) / 86_400_000);
      if (barDay !== day) [day, pv, volume] = [barDay, 0, 0];
      pv += ((bar.high + bar.low + bar.close) / 3) * bar.volume;
      volume += bar.volume;
      assert.ok(relativeError(vwap![i]!, pv / volume) <= 1e-9, `VWAP at ${i}`);
    });
  });

  test('log-return volatility (sample std of 20 log returns)', () => {
    const [vol] = run({ kind: 'logret_std', period: 20 }, bars);
    const returns = close.map((c, i) => (i === 0 ? Number.NaN : Math.log(c / close[i - 1]!)));
    assert.ok(Number.isNaN(vol![19]!));
    for (let i = 20; i < bars.length; i++) {
      const expected = sampleStd(window(returns, i, 20));
      assert.ok(Math.abs(vol![i]! - expected) <= 1e-9 * Math.max(expected, 1e-6), `vol at ${i}`);
    }
  });

  test('rolling z-score of the close (sample std, 0 when flat)', () => {
    const [z] = run({ kind: 'zscore', period: 20 }, bars);
    for (let i = 19; i < bars.length; i++) {
      const xs = window(close, i, 20);
      const std = sampleStd(xs);
      const expected = std > 1e-9 ? (close[i]! - mean(xs)) / std : 0;
      assert.ok(Math.abs(z![i]! - expected) <= 1e-7 * Math.max(Math.abs(expected), 1), `z at ${i}`);
    }
  });

  test('rolling sums do not drift over 1M updates', () => {
    const stats = new RollingStats(20);
    const xs: number[] = [];
    for (let i = 0; i < 1_000_000; i++) {
      const x = 100 + Math.sin(i) * 5 + (i % 7) * 1e-3;
      stats.push(x);
      if (i >= 1_000_000 - 20) xs.push(x);
    }
    const m = mean(xs);
    const variance = xs.reduce((a, x) => a + (x - m) ** 2, 0) / 20;
    assert.ok(relativeError(stats.mean(), m) <= 1e-12);
    assert.ok(relativeError(stats.variance(0), variance) <= 1e-9);
  });
});
