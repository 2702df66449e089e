// Research analytics of a backtest beyond the headline metrics (metrics.ts): benchmark-relative ratios,
// rolling Sharpe and volatility, the worst drawdowns, calendar returns, a return histogram and a block
// bootstrap. Pure functions of the equity curve (and the benchmark's curve on the same timestamps).
//
// Definitions (quantstats / empyrical, the libraries behind pyfolio, are the reference; r = strategy,
// b = benchmark period returns on the same timestamps, a = r − b the active return, P = periodsPerYear):
// - beta = cov(r, b) / var(b) and alpha = (mean(r) − beta · mean(b)) · P: the OLS (CAPM) regression
//   r = α + β b on per-period returns, risk-free 0, alpha annualised by × P (quantstats `greeks`).
// - correlation: Pearson's r of r and b.
// - trackingError = stdev(a) · √P (sample deviation); informationRatio = mean(a) / stdev(a) · √P.
//   quantstats' `information_ratio` is the same ratio per period (not × √P); it is annualised here
//   like the Sharpe ratio beside it.
// - upCapture / downCapture (empyrical `up_capture` / `down_capture`): over the periods where b > 0
//   (resp. b < 0), the annualised compound return of r divided by that of b, each
//   (Π (1 + x))^(P / k) − 1 over those k periods.
// - Rolling Sharpe / volatility: over the trailing `window` returns ending at each point (sample deviation,
//   annualised as in metrics.ts; core/rolling-stats.ts keeps the window); the Sharpe is null where the
//   window has no variation.
// - Drawdown table: metrics.ts's drawdown episodes, the `count` deepest, deepest first.
// - Time under water: the share of points below the running peak.
// - Yearly (and monthly) returns: from the last equity of the previous calendar period (UTC), or the first
//   point, to the period's last equity.
// - Histogram: the period returns in `bins` equal-width bins from the smallest to the largest return.
// - Bootstrap: a circular block bootstrap with FIXED-length blocks (Künsch; wrapping at the end so every
//   return is equally likely): each sample draws ⌈n / L⌉ block starts uniformly from the seeded source,
//   concatenates the blocks and cuts to n returns; total return, Sharpe and max drawdown of each sample's
//   compounded path; quantiles by linear interpolation between order statistics (numpy's default).
//   The default block length is round(n^(1/3)), the usual rate for a block bootstrap of the mean.
import { SeededRandom } from '../core/random.ts';
import { RollingStats } from '../core/rolling-stats.ts';
import {
  computeMetrics,
  type DrawdownEpisode,
  drawdownEpisodes,
  type EquityPoint,
  meanAndDeviation,
  periodReturns,
  sharpeRatio,
} from './metrics.ts';

export type CurvePoint = Pick<EquityPoint, 't' | 'equity'>;

export interface BenchmarkRelative {
  /** Annualised. */
  alpha: number | null;
  beta: number | null;
  correlation: number | null;
  /** Annualised. */
  trackingError: number | null;
  /** Annualised. */
  informationRatio: number | null;
  upCapture: number | null;
  downCapture: number | null;
  periods: number;
}

export interface RollingPoint {
  t: number;
  sharpe: number | null;
  volatility: number;
}

export interface HistogramBin {
  /** Inclusive lower edge (a period return). */
  from: number;
  /** Exclusive upper edge, inclusive for the last bin. */
  to: number;
  count: number;
}

export interface Interval {
  p5: number;
  p50: number;
  p95: number;
}

export interface BootstrapOptions {
  seed: number;
  samples: number;
  /** Block length in periods; round(n^(1/3)) when absent. */
  blockLength?: number;
  periodsPerYear: number;
}

export interface BootstrapResult {
  method: 'circular-block-fixed-length';
  seed: number;
  samples: number;
  blockLength: number;
  totalReturn: Interval;
  /** Over the samples that have a Sharpe; null when none has (fewer than 2 returns, or all flat). */
  sharpe: Interval | null;
  maxDrawdown: Interval;
}

function finite(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

function mean(values: readonly number[]): number {
  let sum = 0;
  for (const value of values) sum += value;
  return sum / values.length;
}

/** Sample covariance (n − 1). */
function covariance(x: readonly number[], y: readonly number[]): number {
  const mx = mean(x);
  const my = mean(y);
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += (x[i]! - mx) * (y[i]! - my);
  return sum / (x.length - 1);
}

/** (Π (1 + x))^(P / k) − 1 over the k returns; null without returns. */
function annualisedCompound(returns: readonly number[], periodsPerYear: number): number | null {
  if (returns.length === 0) return null;
  let growth = 1;
  for (const r of returns) growth *= 1 + r;
  return finite(growth ** (periodsPerYear / returns.length) - 1);
}

function capture(
  strategy: readonly number[],
  benchmark: readonly number[],
  periodsPerYear: number,
  keep: (b: number) => boolean,
): number | null {
  const indices = benchmark.flatMap((b, i) => (keep(b) ? [i] : []));
  const ours = annualisedCompound(
    indices.map((i) => strategy[i]!),
    periodsPerYear,
  );
  const theirs = annualisedCompound(
    indices.map((i) => benchmark[i]!),
    periodsPerYear,
  );
  return ours === null || theirs === null || theirs === 0 ? null : finite(ours / theirs);
}

/** Benchmark-relative ratios of two equally long series of per-period returns (see the header). */
export function benchmarkRelative(
  strategy: readonly number[],
  benchmark: readonly number[],
  periodsPerYear: number,
): BenchmarkRelative {
  if (strategy.length !== benchmark.length)
    throw new RangeError(
      `benchmarkRelative: ${strategy.length} strategy vs ${benchmark.length} benchmark returns`,
    );
  const n = strategy.length;
  const relative: BenchmarkRelative = {
    alpha: null,
    beta: null,
    correlation: null,
    trackingError: null,
    informationRatio: null,
    upCapture: capture(strategy, benchmark, periodsPerYear, (b) => b > 0),
    downCapture: capture(strategy, benchmark, periodsPerYear, (b) => b < 0),
    periods: n,
  };
  if (n < 2) return relative;
  const benchmarkVariance = covariance(benchmark, benchmark);
  const strategyVariance = covariance(strategy, strategy);
  const cov = covariance(strategy, benchmark);
  if (benchmarkVariance > 0) {
    const beta = cov / benchmarkVariance;
    relative.beta = finite(beta);
    relative.alpha = finite((mean(strategy) - beta * mean(benchmark)) * periodsPerYear);
    if (strategyVariance > 0)
      relative.correlation = finite(cov / Math.sqrt(strategyVariance * benchmarkVariance));
  }
  const active = meanAndDeviation(strategy.map((r, i) => r - benchmark[i]!))!;
  relative.trackingError = finite(active.deviation * Math.sqrt(periodsPerYear));
  if (active.deviation > 0)
    relative.informationRatio = finite((active.mean / active.deviation) * Math.sqrt(periodsPerYear));
  return relative;
}

/** Rolling annualised Sharpe and volatility over the trailing `window` returns, one point per window end. */
export function rollingStats(
  equity: readonly CurvePoint[],
  window: number,
  periodsPerYear: number,
): RollingPoint[] {
  const returns = periodReturns(equity);
  const stats = new RollingStats(window);
  const out: RollingPoint[] = [];
  returns.forEach((r, i) => {
    stats.push(r);
    if (!stats.full) return;
    const deviation = Math.sqrt(stats.variance(1));
    out.push({
      t: equity[i + 1]!.t,
      sharpe: deviation > 0 ? finite((stats.mean() / deviation) * Math.sqrt(periodsPerYear)) : null,
      volatility: deviation * Math.sqrt(periodsPerYear),
    });
  });
  return out;
}

/** The `count` deepest drawdown episodes, deepest first (ties: the earlier first). */
export function drawdownTable(equity: readonly CurvePoint[], count = 5): DrawdownEpisode[] {
  return drawdownEpisodes(equity)
    .sort((a, b) => b.depth - a.depth || a.start - b.start)
    .slice(0, count);
}

/** Share of the points below the running peak (0 for an empty curve). */
export function timeUnderWater(equity: readonly CurvePoint[]): number {
  if (equity.length === 0) return 0;
  let peak = Number.NEGATIVE_INFINITY;
  let under = 0;
  for (const point of equity) {
    if (point.equity >= peak) peak = point.equity;
    else under++;
  }
  return under / equity.length;
}

/**
 * Calendar period (UTC; `YYYY` or `YYYY-MM`) → return from the last equity of the previous period (or
 * the first point) to its last.
 */
export function calendarReturns(
  equity: readonly CurvePoint[],
  period: 'year' | 'month',
): Map<string, number> {
  const keyLength = period === 'year' ? 4 : 7;
  const lastByPeriod = new Map<string, number>();
  for (const point of equity)
    lastByPeriod.set(new Date(point.t).toISOString().slice(0, keyLength), point.equity);
  const out = new Map<string, number>();
  let previous = equity[0]?.equity;
  for (const [key, last] of lastByPeriod) {
    if (previous !== undefined) out.set(key, last / previous - 1);
    previous = last;
  }
  return out;
}

/** Equal-width histogram of the returns from their minimum to their maximum (empty without returns). */
export function returnHistogram(returns: readonly number[], bins = 20): HistogramBin[] {
  if (returns.length === 0) return [];
  let low = Number.POSITIVE_INFINITY;
  let high = Number.NEGATIVE_INFINITY;
  for (const r of returns) {
    low = Math.min(low, r);
    high = Math.max(high, r);
  }
  // All returns equal: one bin holding them all.
  if (low === high) return [{ from: low, to: high, count: returns.length }];
  const width = (high - low) / bins;
  const out: HistogramBin[] = Array.from({ length: bins }, (_, i) => ({
    from: low + i * width,
    to: i === bins - 1 ? high : low + (i + 1) * width,
    count: 0,
  }));
  for (const r of returns) out[Math.min(bins - 1, Math.floor((r - low) / width))]!.count++;
  return out;
}

/** Quantile q of ascending values, interpolating linearly between order statistics (numpy's default). */
export function quantile(sorted: readonly number[], q: number): number {
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const above = Math.min(sorted.length - 1, below + 1);
  return sorted[below]! + (sorted[above]! - sorted[below]!) * (position - below);
}

function interval(values: number[]): Interval {
  values.sort((a, b) => a - b);
  return { p5: quantile(values, 0.05), p50: quantile(values, 0.5), p95: quantile(values, 0.95) };
}

/** Seeded circular block bootstrap of the returns (see the header); null without returns. */
export function blockBootstrap(
  returns: readonly number[],
  options: BootstrapOptions,
): BootstrapResult | null {
  const n = returns.length;
  if (n === 0) return null;
  const blockLength = Math.min(n, Math.max(1, options.blockLength ?? Math.round(Math.cbrt(n))));
  const random = new SeededRandom(options.seed);
  const totals: number[] = [];
  const sharpes: number[] = [];
  const drawdowns: number[] = [];
  const sample = new Array<number>(n);
  const path: CurvePoint[] = Array.from({ length: n + 1 }, (_, t) => ({ t, equity: 1 }));
  for (let s = 0; s < options.samples; s++) {
    for (let filled = 0; filled < n; ) {
      const start = Math.floor(random.next() * n);
      for (let k = 0; k < blockLength && filled < n; k++) sample[filled++] = returns[(start + k) % n]!;
    }
    for (let i = 0; i < n; i++) path[i + 1] = { t: i + 1, equity: path[i]!.equity * (1 + sample[i]!) };
    totals.push(path[n]!.equity - 1);
    drawdowns.push(drawdownEpisodes(path).reduce((deepest, episode) => Math.max(deepest, episode.depth), 0));
    // A sample without variation has no Sharpe: the interval is over the samples that have one.
    const sharpe = sharpeRatio(sample, options.periodsPerYear);
    if (sharpe !== null) sharpes.push(sharpe);
  }
  return {
    method: 'circular-block-fixed-length',
    seed: options.seed,
    samples: options.samples,
    blockLength,
    totalReturn: interval(totals),
    sharpe: sharpes.length > 0 ? interval(sharpes) : null,
    maxDrawdown: interval(drawdowns),
  };
}

/**
 * The benchmark's value at each of `timestamps` (ascending), starting at `startingValue`: equal weight
 * over `symbols`, rebalanced every period, so its period return is the mean of the symbols' returns over
 * that period (a symbol joins from the first period it has a price at both ends). One symbol makes it
 * that symbol's buy-and-hold. A symbol's price at t is its last close at or before t; closes make it a price
 * return (dividends count only where the bars are adjusted for them).
 */
export function benchmarkCurve(
  closesBySymbol: ReadonlyMap<string, ReadonlyMap<number, number>>,
  symbols: readonly string[],
  timestamps: readonly number[],
  startingValue: number,
): CurvePoint[] {
  const pricesAt = symbols.map((symbol) => {
    const closes = [...(closesBySymbol.get(symbol) ?? new Map<number, number>())].sort(([a], [b]) => a - b);
    let next = 0;
    let price: number | undefined;
    return timestamps.map((t) => {
      while (next < closes.length && closes[next]![0] <= t) price = closes[next++]![1];
      return price;
    });
  });
  let value = startingValue;
  return timestamps.map((t, i) => {
    if (i > 0) {
      const returns = pricesAt.flatMap((prices) => {
        const [before, now] = [prices[i - 1], prices[i]];
        return before !== undefined && now !== undefined && before > 0 ? [now / before - 1] : [];
      });
      if (returns.length > 0) value *= 1 + mean(returns);
    }
    return { t, equity: value };
  });
}

export interface BenchmarkInput {
  /** e.g. `equal-weight` or `buy-and-hold XOM`. */
  name: string;
  symbols: readonly string[];
  /** On the strategy's equity timestamps. */
  curve: readonly CurvePoint[];
}

export interface BenchmarkAnalytics {
  name: string;
  symbols: readonly string[];
  totalReturn: number;
  cagr: number | null;
  volatility: number | null;
  sharpe: number | null;
  maxDrawdown: number;
  relative: BenchmarkRelative;
  curve: readonly CurvePoint[];
}

export interface BacktestAnalytics {
  rollingWindow: number;
  rolling: RollingPoint[];
  /** The five deepest drawdowns, deepest first. */
  drawdowns: DrawdownEpisode[];
  timeUnderWater: number;
  yearlyReturns: Record<string, number>;
  histogram: HistogramBin[];
  bootstrap: BootstrapResult | null;
  benchmark: BenchmarkAnalytics | null;
}

export interface AnalyticsInput {
  equity: readonly CurvePoint[];
  periodsPerYear: number;
  /** Trailing returns per rolling point; a quarter of a year (63 for daily bars) when absent. */
  rollingWindow?: number;
  bootstrap: Omit<BootstrapOptions, 'periodsPerYear'>;
  benchmark?: BenchmarkInput;
}

export function computeAnalytics(input: AnalyticsInput): BacktestAnalytics {
  const { equity, periodsPerYear } = input;
  const returns = periodReturns(equity);
  const rollingWindow = input.rollingWindow ?? Math.max(2, Math.round(periodsPerYear / 4));
  let benchmark: BenchmarkAnalytics | null = null;
  if (input.benchmark) {
    const { curve } = input.benchmark;
    const metrics = computeMetrics({
      equity: curve.map((point) => ({ ...point, grossExposure: point.equity })),
      trades: [],
      tradedNotional: 0,
      periodsPerYear,
    });
    benchmark = {
      name: input.benchmark.name,
      symbols: input.benchmark.symbols,
      totalReturn: metrics.totalReturn,
      cagr: metrics.cagr,
      volatility: metrics.volatility,
      sharpe: metrics.sharpe,
      maxDrawdown: metrics.maxDrawdown,
      relative: benchmarkRelative(returns, periodReturns(curve), periodsPerYear),
      curve,
    };
  }
  return {
    rollingWindow,
    rolling: rollingStats(equity, rollingWindow, periodsPerYear),
    drawdowns: drawdownTable(equity),
    timeUnderWater: timeUnderWater(equity),
    yearlyReturns: Object.fromEntries(calendarReturns(equity, 'year')),
    histogram: returnHistogram(returns),
    bootstrap: blockBootstrap(returns, { ...input.bootstrap, periodsPerYear }),
    benchmark,
  };
}
