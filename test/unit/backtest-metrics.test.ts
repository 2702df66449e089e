// Backtest metrics against (a) a separately written textbook implementation on real AAPL closes from
// stocknet and (b) values worked out by hand on a tiny curve and from the PSR/DSR formulas.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  type ClosedTrade,
  computeMetrics,
  type EquityPoint,
  expectedMaxSharpe,
  inferPeriodsPerYear,
  normalCdf,
  normalQuantile,
  probabilisticSharpeRatio,
} from '../../simulations/metrics.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DAY = 86_400_000;

function close(actual: number | null, expected: number, tolerance: number, label: string): void {
  assert.ok(actual !== null, `${label}: null`);
  assert.ok(
    Math.abs(actual - expected) <= tolerance * Math.max(1, Math.abs(expected)),
    `${label}: ${actual} vs ${expected}`,
  );
}

/** Date and close from stocknet's raw AAPL prices, stamped at the end of each UTC day. */
function aaplCloses(): { t: number; close: number }[] {
  const path = join(repoRoot, '..', 'shared', 'data', 'stocknet', 'price_raw', 'AAPL.csv');
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => {
      const [date, , , , closePrice] = line.split(',');
      return { t: Date.parse(`${date}T00:00:00Z`) + DAY, close: Number(closePrice) };
    });
}

// --- the independent implementation: plain loops, textbook formulas ---------------------------------

/** erf by its Maclaurin series (converges for every x; fine to |x| < 5 in doubles). */
function erfSeries(x: number): number {
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
const phi = (x: number) => 0.5 * (1 + erfSeries(x / Math.SQRT2));

/** Φ⁻¹ by bisection on the series CDF. */
function phiInverse(p: number): number {
  let lo = -8;
  let hi = 8;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (phi(mid) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

function reference(points: EquityPoint[], trades: ClosedTrade[], notional: number, ppy: number) {
  const r: number[] = [];
  for (let i = 1; i < points.length; i++)
    r.push((points[i]!.equity - points[i - 1]!.equity) / points[i - 1]!.equity);
  const n = r.length;
  let s = 0;
  for (let i = 0; i < n; i++) s += r[i]!;
  const mu = s / n;
  let ss = 0;
  let s3 = 0;
  let s4 = 0;
  let down = 0;
  for (let i = 0; i < n; i++) {
    ss += (r[i]! - mu) ** 2;
    s3 += (r[i]! - mu) ** 3;
    s4 += (r[i]! - mu) ** 4;
    if (r[i]! < 0) down += r[i]! ** 2;
  }
  const sd = Math.sqrt(ss / (n - 1));
  const variancePop = ss / n;
  const skew = s3 / n / variancePop ** 1.5;
  const kurt = s4 / n / variancePop ** 2 - 3;
  const e0 = points[0]!.equity;
  const e1 = points[points.length - 1]!.equity;
  const years = (points[points.length - 1]!.t - points[0]!.t) / (365.25 * DAY);
  const cagr = (e1 / e0) ** (1 / years) - 1;
  // Drawdown: brute force over every (peak, later point) pair.
  let maxDd = 0;
  let maxDuration = 0;
  for (let i = 0; i < points.length; i++) {
    let isPeak = true;
    for (let j = 0; j < i; j++) if (points[j]!.equity > points[i]!.equity) isPeak = false;
    if (!isPeak) continue;
    let recovered = points.length - 1;
    for (let j = i + 1; j < points.length; j++) {
      maxDd = Math.max(maxDd, (points[i]!.equity - points[j]!.equity) / points[i]!.equity);
      if (points[j]!.equity >= points[i]!.equity) {
        recovered = j;
        break;
      }
    }
    if (recovered > i + 1 || (recovered === i + 1 && points[recovered]!.equity < points[i]!.equity))
      maxDuration = Math.max(maxDuration, points[recovered]!.t - points[i]!.t);
  }
  const sorted = [...r].sort((a, b) => a - b);
  const k = Math.ceil(n * 0.05);
  let tail = 0;
  for (let i = 0; i < k; i++) tail += sorted[i]!;
  let wins = 0;
  let profit = 0;
  let loss = 0;
  let total = 0;
  for (const trade of trades) {
    total += trade.pnl;
    if (trade.pnl > 0) {
      wins++;
      profit += trade.pnl;
    } else loss += -trade.pnl;
  }
  let equitySum = 0;
  let exposureSum = 0;
  for (const point of points) {
    equitySum += point.equity;
    exposureSum += point.grossExposure / point.equity;
  }
  const sr = mu / sd;
  const psr = phi((sr * Math.sqrt(n - 1)) / Math.sqrt(1 - skew * sr + ((kurt + 3 - 1) / 4) * sr * sr));
  return {
    totalReturn: e1 / e0 - 1,
    cagr,
    volatility: sd * Math.sqrt(ppy),
    sharpe: sr * Math.sqrt(ppy),
    sortino: (mu / Math.sqrt(down / n)) * Math.sqrt(ppy),
    calmar: cagr / maxDd,
    maxDrawdown: maxDd,
    maxDrawdownDuration: maxDuration,
    var95: -sorted[k - 1]!,
    cvar95: -tail / k,
    skew,
    kurtosis: kurt,
    winRate: wins / trades.length,
    profitFactor: profit / loss,
    expectancy: total / trades.length,
    turnover: (notional / (equitySum / points.length)) * (ppy / n),
    exposure: exposureSum / points.length,
    probabilisticSharpe: psr,
    srPerPeriod: sr,
    skewRaw: skew,
    kurtRaw: kurt,
    n,
  };
}

// --- a real-data curve: hold 100 AAPL shares while the close is above its 50-day mean -------------

function aaplStrategy(): { points: EquityPoint[]; trades: ClosedTrade[]; notional: number } {
  const bars = aaplCloses();
  const points: EquityPoint[] = [];
  const trades: ClosedTrade[] = [];
  let cash = 20_000;
  let shares = 0;
  let entry = { t: 0, price: 0 };
  let notional = 0;
  let window = 0;
  for (let i = 0; i < bars.length; i++) {
    const bar = bars[i]!;
    window += bar.close;
    if (i >= 50) window -= bars[i - 50]!.close;
    const want = i >= 49 && bar.close > window / 50 ? 100 : 0;
    if (want !== shares) {
      notional += Math.abs(want - shares) * bar.close;
      cash -= (want - shares) * bar.close;
      if (want > 0) entry = { t: bar.t, price: bar.close };
      else
        trades.push({
          symbol: 'AAPL',
          side: 'long',
          quantity: 100,
          entryTs: entry.t,
          exitTs: bar.t,
          entryPrice: entry.price,
          exitPrice: bar.close,
          pnl: 100 * (bar.close - entry.price),
        });
      shares = want;
    }
    points.push({ t: bar.t, equity: cash + shares * bar.close, grossExposure: shares * bar.close });
  }
  return { points, trades, notional };
}

describe('backtest metrics', () => {
  it('match an independent implementation on a real AAPL curve', () => {
    const { points, trades, notional } = aaplStrategy();
    assert.ok(points.length > 1000 && trades.length > 10);
    const trials = { count: 50, sharpeVariance: 0.0016 };
    const metrics = computeMetrics({ equity: points, trades, tradedNotional: notional, trials });
    assert.equal(metrics.periodsPerYear, 252);
    const expected = reference(points, trades, notional, 252);
    assert.equal(metrics.periods, expected.n);
    for (const key of [
      'totalReturn',
      'cagr',
      'volatility',
      'sharpe',
      'sortino',
      'calmar',
      'maxDrawdown',
      'var95',
      'cvar95',
      'skew',
      'kurtosis',
      'winRate',
      'profitFactor',
      'expectancy',
      'turnover',
      'exposure',
      'probabilisticSharpe',
    ] as const) {
      close(metrics[key], expected[key], 1e-6, key);
    }
    assert.equal(metrics.maxDrawdownDuration, expected.maxDrawdownDuration);
    assert.equal(metrics.maxDrawdownDuration % DAY, 0);
    // DSR: the PSR against the expected maximum Sharpe of 50 trials with SD 0.04.
    const g = 0.5772156649015329;
    const sr0 = 0.04 * ((1 - g) * phiInverse(1 - 1 / 50) + g * phiInverse(1 - 1 / (50 * Math.E)));
    const dsr = phi(
      ((expected.srPerPeriod - sr0) * Math.sqrt(expected.n - 1)) /
        Math.sqrt(
          1 -
            expected.skewRaw * expected.srPerPeriod +
            ((expected.kurtRaw + 2) / 4) * expected.srPerPeriod ** 2,
        ),
    );
    close(metrics.deflatedSharpe, dsr, 1e-6, 'deflatedSharpe');
    assert.ok(metrics.deflatedSharpe! < metrics.probabilisticSharpe!);
    // Sanity on the real series: some drawdown, a fat left tail.
    assert.ok(metrics.maxDrawdown > 0.05 && metrics.kurtosis! > 0);
  });

  it('gives hand-computed values on a five-return curve', () => {
    const t0 = Date.UTC(2020, 0, 6);
    const equity = [100, 110, 99, 99, 121, 110];
    const exposure = [0, 50, 50, 0, 0, 0];
    const points = equity.map((value, i) => ({
      t: t0 + i * DAY,
      equity: value,
      grossExposure: exposure[i]!,
    }));
    const trades = [10, -5, 20, 0].map((pnl, i) => ({
      symbol: 'X',
      side: 'long' as const,
      quantity: 1,
      entryTs: t0 + i * DAY,
      exitTs: t0 + (i + 1) * DAY,
      entryPrice: 100,
      exitPrice: 100 + pnl,
      pnl,
    }));
    const m = computeMetrics({ equity: points, trades, tradedNotional: 300 });
    close(m.totalReturn, 0.1, 1e-12, 'totalReturn');
    // Peak 110 → trough 99 is 10 %; 121 → 110 only 9.09 %.
    close(m.maxDrawdown, 0.1, 1e-12, 'maxDrawdown');
    // Under water from day 1 (110) until day 4 (121): three days; the open 121 → 110 dip lasts one.
    assert.equal(m.maxDrawdownDuration, 3 * DAY);
    // Returns 0.1, −0.1, 0, 0.2222, −0.0909: the worst (k = ceil(0.25) = 1) is −0.1.
    close(m.var95, 0.1, 1e-12, 'var95');
    close(m.cvar95, 0.1, 1e-12, 'cvar95');
    // Trades +10, −5, +20, 0: 2 winners of 4 (0 is not a win), 30 / 5, 25 / 4.
    assert.equal(m.winRate, 0.5);
    assert.equal(m.profitFactor, 6);
    assert.equal(m.expectancy, 6.25);
    close(m.exposure, (50 / 110 + 50 / 99) / 6, 1e-12, 'exposure');
    // Mean equity 639 / 6 = 106.5; 300 traded over 5 daily periods, annualised by 252.
    close(m.turnover, (300 / 106.5) * (252 / 5), 1e-12, 'turnover');
    // Mean return (0.1 − 0.1 + 0 + 2/9 − 1/11) / 5; downside √((0.01 + 1/121) / 5).
    const meanReturn = (2 / 9 - 1 / 11) / 5;
    close(m.sortino, (meanReturn / Math.sqrt((0.01 + 1 / 121) / 5)) * Math.sqrt(252), 1e-12, 'sortino');
  });

  it('infers periods per year from the sampling interval', () => {
    const weekdays = [0, 1, 2, 3, 4, 7, 8, 9, 10, 11, 14].map((day) => day * DAY);
    assert.equal(inferPeriodsPerYear(weekdays), 252);
    assert.equal(inferPeriodsPerYear([0, 7, 14, 21].map((day) => day * DAY)), 52);
    assert.equal(inferPeriodsPerYear([0, 31, 59, 90].map((day) => day * DAY)), 12);
    assert.equal(inferPeriodsPerYear([0, 3_600_000, 7_200_000]), 252 * 6.5);
  });

  it('computes PSR and DSR as worked by hand from the formula', () => {
    // SR 0.1 over 253 returns, normal: z = 0.1 √252 / √(1 + 0.5 · 0.01) = 1.583497; Φ(z) = 0.943346.
    close(probabilisticSharpeRatio(0.1, 0, 253, 0, 0), 0.943346, 1e-6, 'psr');
    // 100 trials, SD 0.05: SR* = 0.05 (0.4227843 · 2.3263479 + 0.5772157 · 2.6802104) = 0.1265301.
    close(expectedMaxSharpe({ count: 100, sharpeVariance: 0.0025 }), 0.1265301, 1e-6, 'sr0');
    // Skew −0.5, excess kurtosis 3: variance term 1 + 0.05 + 1.25 · 0.01 = 1.0625;
    // z = (0.1 − 0.1265301) √252 / √1.0625 = −0.4085784; Φ(z) = 0.341425.
    close(probabilisticSharpeRatio(0.1, 0.1265301, 253, -0.5, 3), 0.341425, 1e-6, 'dsr');
    close(normalCdf(-1.959964), 0.025, 1e-6, 'Φ');
    close(normalQuantile(0.975), 1.959964, 1e-6, 'Φ⁻¹');
    close(normalQuantile(0.001), -3.090232, 1e-6, 'Φ⁻¹ tail');
    assert.equal(expectedMaxSharpe({ count: 1, sharpeVariance: 0.01 }), 0);
  });

  it('gives documented values, never NaN, on degenerate input', () => {
    const one = computeMetrics({
      equity: [{ t: 0, equity: 100, grossExposure: 0 }],
      trades: [],
      tradedNotional: 0,
    });
    assert.equal(one.totalReturn, 0);
    assert.equal(one.maxDrawdown, 0);
    assert.equal(one.maxDrawdownDuration, 0);
    assert.equal(one.periods, 0);
    for (const key of [
      'cagr',
      'volatility',
      'sharpe',
      'var95',
      'winRate',
      'profitFactor',
      'expectancy',
      'turnover',
    ] as const)
      assert.equal(one[key], null, key);
    const flat = computeMetrics({
      equity: [0, 1, 2, 3].map((day) => ({ t: day * DAY, equity: 100, grossExposure: 0 })),
      trades: [],
      tradedNotional: 0,
    });
    assert.equal(flat.volatility, 0);
    assert.equal(flat.turnover, 0);
    assert.equal(flat.exposure, 0);
    for (const key of [
      'sharpe',
      'sortino',
      'calmar',
      'skew',
      'kurtosis',
      'probabilisticSharpe',
      'deflatedSharpe',
    ] as const)
      assert.equal(flat[key], null, key);
    const winnersOnly = computeMetrics({
      equity: [0, 1].map((day) => ({ t: day * DAY, equity: 100 + day, grossExposure: 0 })),
      trades: [
        {
          symbol: 'X',
          side: 'long',
          quantity: 1,
          entryTs: 0,
          exitTs: DAY,
          entryPrice: 1,
          exitPrice: 2,
          pnl: 1,
        },
      ],
      tradedNotional: 3,
    });
    assert.equal(winnersOnly.profitFactor, null);
    assert.equal(winnersOnly.winRate, 1);
    for (const value of [one, flat, winnersOnly].flatMap((m) => Object.values(m)))
      assert.ok(value === null || Number.isFinite(value));
    assert.doesNotMatch(JSON.stringify([one, flat, winnersOnly]), /NaN|Infinity/);
    assert.throws(() => computeMetrics({ equity: [], trades: [], tradedNotional: 0 }), RangeError);
  });
});
