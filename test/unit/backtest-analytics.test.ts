// Research analytics (simulations/analytics.ts) against values worked out by hand on short series; the
// working is in the comments next to each expectation.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SeededRandom } from '../../core/random.ts';
import {
  benchmarkCurve,
  benchmarkRelative,
  blockBootstrap,
  calendarReturns,
  computeAnalytics,
  drawdownTable,
  quantile,
  returnHistogram,
  rollingStats,
  timeUnderWater,
} from '../../simulations/analytics.ts';
import { computeMetrics, type EquityPoint } from '../../simulations/metrics.ts';

const DAY = 86_400_000;

function close(actual: number | null | undefined, expected: number, label: string, tolerance = 1e-12): void {
  assert.ok(actual !== null && actual !== undefined, `${label}: ${actual}`);
  assert.ok(Math.abs(actual - expected) <= tolerance, `${label}: ${actual} vs ${expected}`);
}

const curve = (values: readonly number[], step = DAY) => values.map((equity, i) => ({ t: i * step, equity }));

describe('benchmark-relative ratios', () => {
  // r (strategy) and b (benchmark) per-period returns, P = 12 periods a year.
  const r = [0.02, -0.01, 0.04, -0.01];
  const b = [0.01, -0.02, 0.03, 0.0];
  const relative = benchmarkRelative(r, b, 12);

  it('alpha, beta and correlation are the CAPM regression on per-period returns', () => {
    // mean(r) = 0.04 / 4 = 0.01, mean(b) = 0.02 / 4 = 0.005.
    // Deviations: r − 0.01 = 0.01, −0.02, 0.03, −0.02; b − 0.005 = 0.005, −0.025, 0.025, −0.005.
    // var(b) = (0.25 + 6.25 + 6.25 + 0.25)e−4 / 3 = 13e−4 / 3.
    // cov(r, b) = (0.5 + 5 + 7.5 + 1)e−4 / 3 = 14e−4 / 3, so beta = 14 / 13 = 1.0769231…
    close(relative.beta, 14 / 13, 'beta');
    // alpha = (0.01 − 14/13 · 0.005) · 12 = 0.12 − 0.84 / 13 = 0.0553846…
    close(relative.alpha, 0.12 - 0.84 / 13, 'alpha');
    close(relative.alpha, 0.0553846, 'alpha by value', 1e-7);
    // var(r) = (1 + 4 + 9 + 4)e−4 / 3 = 18e−4 / 3; correlation = 14 / √(18 · 13) = 14 / √234 = 0.9152086…
    close(relative.correlation, 14 / Math.sqrt(234), 'correlation');
  });

  it('tracking error and information ratio come from the active returns, annualised', () => {
    // a = r − b = 0.01, 0.01, 0.01, −0.01: mean 0.005; deviations 0.005 ×3 and −0.015, squares sum
    // 3 · 0.25e−4 + 2.25e−4 = 3e−4, sample variance 1e−4, deviation 0.01.
    // trackingError = 0.01 · √12 = 0.0346410…; informationRatio = 0.005 / 0.01 · √12 = √3 = 1.7320508…
    close(relative.trackingError, 0.01 * Math.sqrt(12), 'tracking error');
    close(relative.informationRatio, Math.sqrt(3), 'information ratio');
  });

  it('capture ratios compare annualised compound returns over the up (down) benchmark periods', () => {
    // Up periods (b > 0): the 1st and 3rd. Strategy (1.02 · 1.04)^(12/2) − 1 = 1.0608⁶ − 1 = 0.4249547…,
    // benchmark (1.01 · 1.03)⁶ − 1 = 1.0403⁶ − 1 = 0.2675106…; up capture = 1.5885530…
    close(relative.upCapture, (1.0608 ** 6 - 1) / (1.0403 ** 6 - 1), 'up capture', 1e-9);
    close(relative.upCapture, 1.58855301, 'up capture, by value', 1e-8);
    // Down periods (b < 0): the 2nd only (b = 0 is neither). Strategy 0.99¹² − 1 = −0.1136151…,
    // benchmark 0.98¹² − 1 = −0.2152833…; down capture = 0.5277471…
    close(relative.downCapture, (0.99 ** 12 - 1) / (0.98 ** 12 - 1), 'down capture', 1e-9);
    close(relative.downCapture, 0.52774712, 'down capture, by value', 1e-8);
    assert.equal(relative.periods, 4);
  });

  it('a series against itself: beta and correlation 1, no alpha, no tracking error, capture 1', () => {
    const self = benchmarkRelative(r, r, 252);
    close(self.beta, 1, 'beta');
    close(self.correlation, 1, 'correlation');
    close(self.alpha, 0, 'alpha');
    close(self.trackingError, 0, 'tracking error');
    assert.equal(self.informationRatio, null, 'no active risk: no information ratio');
    close(self.upCapture, 1, 'up capture');
    close(self.downCapture, 1, 'down capture');
  });

  it('degenerate input gives nulls, never NaN', () => {
    const flat = benchmarkRelative([0.01, 0.02], [0, 0], 252);
    assert.equal(flat.beta, null);
    assert.equal(flat.alpha, null);
    assert.equal(flat.correlation, null);
    assert.equal(flat.upCapture, null);
    assert.equal(flat.downCapture, null);
    const one = benchmarkRelative([0.01], [0.02], 252);
    assert.equal(one.beta, null);
    assert.equal(one.trackingError, null);
    assert.throws(() => benchmarkRelative([0.01], [], 252), RangeError);
  });
});

describe('benchmark curve from closes', () => {
  it('weights the symbols equally every period; one symbol is its buy-and-hold', () => {
    const closes = new Map([
      [
        'A',
        new Map([
          [0, 10],
          [DAY, 11],
          [2 * DAY, 12.1],
        ]),
      ],
      // B first trades on day 1: it joins from period 2.
      [
        'B',
        new Map([
          [DAY, 20],
          [2 * DAY, 18],
        ]),
      ],
      // C has no close on day 2: its day-1 price carries (a 0 return in period 2).
      [
        'C',
        new Map([
          [0, 5],
          [DAY, 5.5],
        ]),
      ],
    ]);
    const days = [0, DAY, 2 * DAY];
    // Period 1: A +10 %, C +10 % → 1000 · 1.1 = 1100. Period 2: A +10 %, B −10 %, C 0 → mean 0 → 1100.
    const equal = benchmarkCurve(closes, ['A', 'B', 'C'], days, 1000);
    assert.deepEqual(
      equal.map((point) => point.t),
      days,
    );
    close(equal[1]!.equity, 1100, 'day 1', 1e-9);
    close(equal[2]!.equity, 1100, 'day 2', 1e-9);
    // B held: no price on day 0 (stays 1000), then 20 → 18: 900.
    const held = benchmarkCurve(closes, ['B'], days, 1000);
    assert.deepEqual(
      held.map((point) => point.equity),
      [1000, 1000, 900],
    );
    // A symbol without bars leaves the benchmark flat.
    assert.deepEqual(
      benchmarkCurve(closes, ['Z'], days, 1000).map((point) => point.equity),
      [1000, 1000, 1000],
    );
  });
});

describe('drawdowns, time under water, calendar returns, histogram, rolling', () => {
  // Day:      0    1    2   3    4    5    6   7   8    9
  const values = [100, 110, 99, 105, 110, 120, 90, 96, 121, 115];
  const equity = curve(values);

  it('lists the deepest drawdowns with start, trough, recovery, depth and length', () => {
    // Episodes: peak 110 (day 1) → 99 (day 2, 1 − 99/110 = 10 %) → back to 110 on day 4;
    // peak 120 (day 5) → 90 (day 6, 25 %) → 121 on day 8; peak 121 (day 8) → 115 (day 9, 6/121),
    // not recovered by the last point.
    assert.deepEqual(drawdownTable(equity), [
      { start: 5 * DAY, trough: 6 * DAY, recovery: 8 * DAY, depth: 0.25, periods: 3, duration: 3 * DAY },
      { start: DAY, trough: 2 * DAY, recovery: 4 * DAY, depth: 1 - 99 / 110, periods: 3, duration: 3 * DAY },
      { start: 8 * DAY, trough: 9 * DAY, recovery: null, depth: 1 - 115 / 121, periods: 1, duration: DAY },
    ]);
    assert.equal(drawdownTable(equity, 1).length, 1);
    // The headline metrics come from the same episodes.
    const metrics = computeMetrics({
      equity: equity.map((point) => ({ ...point, grossExposure: 0 })),
      trades: [],
      tradedNotional: 0,
    });
    assert.equal(metrics.maxDrawdown, 0.25);
    assert.equal(metrics.maxDrawdownDuration, 3 * DAY);
    assert.deepEqual(drawdownTable(curve([100, 101, 102])), []);
  });

  it('time under water is the share of points below the running peak', () => {
    // Below the peak: days 2, 3, 6, 7, 9 → 5 of 10.
    assert.equal(timeUnderWater(equity), 0.5);
    assert.equal(timeUnderWater(curve([1, 1, 2])), 0);
    assert.equal(timeUnderWater([]), 0);
  });

  it('yearly returns run from the previous year-end equity', () => {
    const points = [
      { t: Date.UTC(2020, 11, 30), equity: 100 },
      { t: Date.UTC(2020, 11, 31), equity: 110 },
      { t: Date.UTC(2021, 5, 30), equity: 99 },
      { t: Date.UTC(2021, 11, 31), equity: 120 },
      { t: Date.UTC(2022, 2, 1), equity: 90 },
    ];
    // 2020: 110/100 − 1 = 0.1; 2021: 120/110 − 1 = 0.0909…; 2022: 90/120 − 1 = −0.25.
    assert.deepEqual(
      [...calendarReturns(points, 'year')],
      [
        ['2020', 110 / 100 - 1],
        ['2021', 120 / 110 - 1],
        ['2022', 90 / 120 - 1],
      ],
    );
  });

  it('the histogram has equal-width bins from the smallest to the largest return', () => {
    // From −0.5 to 0.75 in 5 bins of 0.25: −0.5 → bin 0; −0.25 twice → bin 1; 0 → bin 2; 0.75 (the
    // maximum) → the last bin.
    const bins = returnHistogram([-0.5, -0.25, -0.25, 0, 0.75], 5);
    assert.deepEqual(
      bins.map((bin) => bin.count),
      [1, 2, 1, 0, 1],
    );
    assert.deepEqual(
      bins.map((bin) => bin.from),
      [-0.5, -0.25, 0, 0.25, 0.5],
    );
    assert.equal(bins.at(-1)!.to, 0.75);
    assert.deepEqual(returnHistogram([0.01, 0.01], 5), [{ from: 0.01, to: 0.01, count: 2 }]);
    assert.deepEqual(returnHistogram([]), []);
  });

  it('rolling Sharpe and volatility over the trailing window', () => {
    // Returns 0, 0, 0.1 with a window of 2 and P = 4: [0, 0] has no variation (Sharpe null, volatility 0);
    // [0, 0.1]: mean 0.05, sample deviation √(2 · 0.05²) = 0.0707107, Sharpe 0.05 / 0.0707107 · 2 = √2,
    // volatility 0.0707107 · 2 = 0.1414214.
    const rolling = rollingStats(curve([100, 100, 100, 110]), 2, 4);
    assert.equal(rolling.length, 2);
    assert.deepEqual(rolling[0], { t: 2 * DAY, sharpe: null, volatility: 0 });
    assert.equal(rolling[1]!.t, 3 * DAY);
    close(rolling[1]!.sharpe, Math.SQRT2, 'Sharpe', 1e-9);
    close(rolling[1]!.volatility, 0.1 * Math.SQRT2, 'volatility', 1e-9);
    assert.deepEqual(rollingStats(curve([1, 2]), 2, 4), []);
  });

  it('quantiles interpolate between order statistics', () => {
    // (5 − 1) · 0.05 = 0.2 → 1 + 0.2 · (2 − 1); (5 − 1) · 0.95 = 3.8 → 4 + 0.8 · (10 − 4).
    assert.equal(quantile([1, 2, 3, 4, 10], 0.05), 1.2);
    assert.equal(quantile([1, 2, 3, 4, 10], 0.5), 3);
    close(quantile([1, 2, 3, 4, 10], 0.95), 8.8, 'p95', 1e-12);
  });
});

describe('block bootstrap', () => {
  /** A daily-looking series from a seeded source: mean 0.05 %, some spread. */
  function seededReturns(seed: number, n: number): number[] {
    const random = new SeededRandom(seed);
    return Array.from({ length: n }, () => 0.0005 + (random.next() - 0.5) * 0.04);
  }

  it('is deterministic for a seed and orders its intervals', () => {
    const returns = seededReturns(3, 500);
    const options = { seed: 11, samples: 400, periodsPerYear: 252 };
    const first = blockBootstrap(returns, options)!;
    assert.deepEqual(blockBootstrap(returns, options), first);
    assert.notDeepEqual(blockBootstrap(returns, { ...options, seed: 12 }), first);
    // Default blocks: round(500^(1/3)) = round(7.94) = 8.
    assert.equal(first.blockLength, 8);
    assert.equal(first.method, 'circular-block-fixed-length');
    for (const interval of [first.totalReturn, first.sharpe!, first.maxDrawdown]) {
      assert.ok(interval.p5 < interval.p50 && interval.p50 < interval.p95, JSON.stringify(interval));
    }
    assert.ok(first.maxDrawdown.p5 > 0);
    // The observed Sharpe of the series lies within its own 90 % interval.
    const observed = computeMetrics({
      equity: returns.reduce<EquityPoint[]>(
        (points, r, i) => {
          points.push({ t: (i + 1) * DAY, equity: points[i]!.equity * (1 + r), grossExposure: 0 });
          return points;
        },
        [{ t: 0, equity: 1, grossExposure: 0 }],
      ),
      trades: [],
      tradedNotional: 0,
      periodsPerYear: 252,
    }).sharpe!;
    assert.ok(first.sharpe!.p5 < observed && observed < first.sharpe!.p95, `${observed}`);
  });

  it('resamples whole blocks: two returns, blocks of one, every outcome worked out', () => {
    // Returns +100 % and −50 %, blocks of 1: each sample is two independent draws.
    //   (+1, +1):   total 2 · 2 − 1 = 3,      max drawdown 0,     Sharpe undefined (no variation);
    //   (+1, −0.5) or (−0.5, +1): total 0,    max drawdown 0.5,   Sharpe 0.25 / √(2 · 0.75²) · √252 = 3.7416574;
    //   (−0.5, −0.5): total −0.75,            max drawdown 0.75,  Sharpe undefined.
    // With probabilities ¼, ½, ¼ the 5/50/95 % points of 4000 samples are the three outcomes.
    const result = blockBootstrap([1, -0.5], {
      seed: 5,
      samples: 4000,
      blockLength: 1,
      periodsPerYear: 252,
    })!;
    assert.deepEqual(result.totalReturn, { p5: -0.75, p50: 0, p95: 3 });
    assert.deepEqual(result.maxDrawdown, { p5: 0, p50: 0.5, p95: 0.75 });
    const sharpe = (0.25 / Math.sqrt(2 * 0.75 ** 2)) * Math.sqrt(252);
    close(result.sharpe!.p5, sharpe, 'Sharpe p5', 1e-9);
    close(result.sharpe!.p95, sharpe, 'Sharpe p95', 1e-9);
    close(sharpe, 3.7416574, 'Sharpe by value', 1e-7);
  });

  it('one block as long as the series is a rotation of it: the same total return every time', () => {
    // Rotations of +10 %, −50 %, +100 % all compound to 1.1 · 0.5 · 2 − 1 = 0.1.
    const result = blockBootstrap([0.1, -0.5, 1], {
      seed: 1,
      samples: 50,
      blockLength: 3,
      periodsPerYear: 252,
    })!;
    close(result.totalReturn.p5, 0.1, 'p5', 1e-12);
    close(result.totalReturn.p95, 0.1, 'p95', 1e-12);
    assert.equal(blockBootstrap([], { seed: 1, samples: 10, periodsPerYear: 252 }), null);
    assert.equal(blockBootstrap([0.01], { seed: 1, samples: 10, periodsPerYear: 252 })!.sharpe, null);
  });
});

describe('computeAnalytics', () => {
  it('gathers every part; the default rolling window is a quarter of a year', () => {
    const values = [100, 110, 99, 105, 110, 120, 90, 96, 121, 115];
    const equity = curve(values);
    const analytics = computeAnalytics({
      equity,
      periodsPerYear: 12,
      bootstrap: { seed: 1, samples: 20 },
      benchmark: { name: 'itself', symbols: ['X'], curve: equity },
    });
    assert.equal(analytics.rollingWindow, 3);
    assert.equal(analytics.rolling.length, 9 - 3 + 1);
    assert.equal(analytics.drawdowns.length, 3);
    assert.equal(analytics.timeUnderWater, 0.5);
    assert.deepEqual(analytics.yearlyReturns, { '1970': 115 / 100 - 1 });
    assert.equal(
      analytics.histogram.reduce((sum, bin) => sum + bin.count, 0),
      9,
    );
    assert.equal(analytics.bootstrap!.samples, 20);
    const benchmark = analytics.benchmark!;
    close(benchmark.totalReturn, 0.15, 'benchmark total return', 1e-12);
    close(benchmark.relative.beta, 1, 'beta');
    close(benchmark.relative.alpha, 0, 'alpha');
    assert.equal(benchmark.maxDrawdown, 0.25);
    assert.equal(
      computeAnalytics({ equity, periodsPerYear: 252, bootstrap: { seed: 1, samples: 1 } }).rollingWindow,
      63,
    );
  });
});
