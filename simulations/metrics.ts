// Performance metrics of a backtest, from its equity curve, its closed trades and its traded notional.
//
// Conventions (each is a choice; the report and JSON output rely on them):
// - Period returns are simple returns between consecutive equity points: r_i = E_i / E_{i-1} - 1.
// - periodsPerYear, unless given, is inferred from the median sampling interval Δ: 20 h ≤ Δ ≤ 4 d →
//   252 (trading days; weekends make 3-day gaps), 5–9 d → 52, 25–35 d → 12, Δ < 20 h → 252 · 6.5 h / Δ
//   (a US equity session; pass periodsPerYear for 24/7 markets), anything else → 365.25 d / Δ.
// - Risk-free rate 0. Volatility is the sample (n − 1) standard deviation × √periodsPerYear; Sharpe is
//   mean / that deviation × √periodsPerYear; Sortino divides by the downside deviation
//   √(Σ min(r, 0)² / n) over all n periods.
// - CAGR uses calendar time between the first and last point (365.25-day years); Calmar = CAGR / maxDrawdown.
// - maxDrawdown is a positive fraction below the running peak (0.25 = 25 % down). maxDrawdownDuration is in
//   milliseconds: the longest time from a peak until equity first gets back to it (or until the last point
//   when it never does).
// - var95 / cvar95 are historical, on period returns, as positive losses: with k = ceil(0.05 n) worst returns,
//   var95 = −(k-th worst) and cvar95 = −(mean of the k worst).
// - skew and kurtosis are moment estimates (biased: m3 / m2^1.5, m4 / m2²); kurtosis is EXCESS kurtosis
//   (0 for a normal distribution).
// - winRate = share of trades with pnl > 0; profitFactor = gross profit / gross loss; expectancy = mean pnl
//   per trade (currency units).
// - turnover = traded notional / mean equity, annualised (× periodsPerYear / periods); exposure = mean over
//   the points of grossExposure / equity.
// - probabilisticSharpe: PSR of Bailey & López de Prado against a benchmark per-period Sharpe of 0:
//   Φ((SR − SR*) √(n − 1) / √(1 − skew·SR + (kurtosis + 2)/4 · SR²)), SR per period (not annualised),
//   kurtosis excess (so (γ4 − 1)/4 = (kurtosis + 2)/4).
// - deflatedSharpe: the PSR against SR* = √V · ((1 − γ) Φ⁻¹(1 − 1/N) + γ Φ⁻¹(1 − 1/(N e))), the expected
//   maximum per-period Sharpe of N trials whose per-period Sharpe ratios have variance V (γ = Euler–Mascheroni).
//   With N ≤ 1 (a single backtest) SR* = 0, so the DSR equals the PSR.
//
// Degenerate input never gives NaN: a metric that is undefined for the input is null. One point (or a flat
// curve) gives totalReturn 0, maxDrawdown 0, maxDrawdownDuration 0, exposure from the points, and null for
// every ratio whose denominator is zero (volatility is 0 on a flat curve, null with fewer than 2 returns).
// No trades give null winRate, profitFactor and expectancy; trades without losses give a null profitFactor.

export interface EquityPoint {
  /** Epoch milliseconds. */
  readonly t: number;
  readonly equity: number;
  /** Gross position value Σ |quantity · price| at t, in the equity's currency. */
  readonly grossExposure: number;
}

/** A closed round trip. */
export interface ClosedTrade {
  readonly symbol: string;
  readonly side: 'long' | 'short';
  readonly quantity: number;
  readonly entryTs: number;
  readonly exitTs: number;
  readonly entryPrice: number;
  readonly exitPrice: number;
  /** Net of fees. */
  readonly pnl: number;
}

export interface TrialSet {
  /** Number of independent configurations tried (N). */
  readonly count: number;
  /** Variance of the trials' per-period (not annualised) Sharpe ratios (V). */
  readonly sharpeVariance: number;
}

export interface MetricsInput {
  readonly equity: readonly EquityPoint[];
  readonly trades: readonly ClosedTrade[];
  /** Σ |fill quantity · fill price| over the run. */
  readonly tradedNotional: number;
  /** Overrides the inference from the sampling interval. */
  readonly periodsPerYear?: number;
  /** For the deflated Sharpe; absent means one trial. */
  readonly trials?: TrialSet;
}

export interface BacktestMetrics {
  totalReturn: number;
  cagr: number | null;
  volatility: number | null;
  sharpe: number | null;
  sortino: number | null;
  calmar: number | null;
  maxDrawdown: number;
  /** Milliseconds. */
  maxDrawdownDuration: number;
  var95: number | null;
  cvar95: number | null;
  skew: number | null;
  /** Excess kurtosis. */
  kurtosis: number | null;
  winRate: number | null;
  profitFactor: number | null;
  expectancy: number | null;
  turnover: number | null;
  exposure: number;
  probabilisticSharpe: number | null;
  deflatedSharpe: number | null;
  /** Number of period returns the ratios are computed from. */
  periods: number;
  periodsPerYear: number;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const YEAR_MS = 365.25 * DAY_MS;
export const EULER_MASCHERONI = 0.5772156649015329;

export function inferPeriodsPerYear(timestamps: readonly number[]): number {
  const gaps: number[] = [];
  for (let i = 1; i < timestamps.length; i++) gaps.push(timestamps[i]! - timestamps[i - 1]!);
  const positive = gaps.filter((gap) => gap > 0).sort((a, b) => a - b);
  if (positive.length === 0) return 252;
  const middle = positive.length / 2;
  const median = Number.isInteger(middle)
    ? (positive[middle - 1]! + positive[middle]!) / 2
    : positive[Math.floor(middle)]!;
  if (median >= 20 * HOUR_MS && median <= 4 * DAY_MS) return 252;
  if (median >= 5 * DAY_MS && median <= 9 * DAY_MS) return 52;
  if (median >= 25 * DAY_MS && median <= 35 * DAY_MS) return 12;
  if (median < 20 * HOUR_MS) return (252 * 6.5 * HOUR_MS) / median;
  return YEAR_MS / median;
}

export function periodReturns(equity: readonly Pick<EquityPoint, 'equity'>[]): number[] {
  const returns: number[] = [];
  for (let i = 1; i < equity.length; i++) returns.push(equity[i]!.equity / equity[i - 1]!.equity - 1);
  return returns;
}

function mean(values: readonly number[]): number {
  let sum = 0;
  for (const value of values) sum += value;
  return sum / values.length;
}

/** Central moments m2, m3, m4 (divided by n). */
function centralMoments(values: readonly number[]): [number, number, number] {
  const average = mean(values);
  let m2 = 0;
  let m3 = 0;
  let m4 = 0;
  for (const value of values) {
    const d = value - average;
    m2 += d * d;
    m3 += d * d * d;
    m4 += d * d * d * d;
  }
  return [m2 / values.length, m3 / values.length, m4 / values.length];
}

/** Standard normal CDF via erfc (Numerical Recipes' Chebyshev fit, relative error < 1.2e-7). */
export function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * z);
  const erfc =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - erfc / 2 : erfc / 2;
}

/** Inverse standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  if (p <= 0) return Number.NEGATIVE_INFINITY;
  if (p >= 1) return Number.POSITIVE_INFINITY;
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const tail = (q: number) =>
    (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + 4.374664141464968) * q + 2.938163982698783) /
    ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + 2.506628277459239) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}

/**
 * PSR: probability that the true per-period Sharpe exceeds `benchmark`, given `observations` returns with
 * this skew and excess kurtosis. null when the variance term is not positive or there are < 2 observations.
 */
export function probabilisticSharpeRatio(
  sharpe: number,
  benchmark: number,
  observations: number,
  skew: number,
  excessKurtosis: number,
): number | null {
  const variance = 1 - skew * sharpe + ((excessKurtosis + 2) / 4) * sharpe * sharpe;
  if (observations < 2 || !(variance > 0)) return null;
  return normalCdf(((sharpe - benchmark) * Math.sqrt(observations - 1)) / Math.sqrt(variance));
}

/** Expected maximum per-period Sharpe among N trials with Sharpe variance V (0 when N ≤ 1). */
export function expectedMaxSharpe(trials: TrialSet): number {
  if (trials.count <= 1 || !(trials.sharpeVariance > 0)) return 0;
  const n = trials.count;
  return (
    Math.sqrt(trials.sharpeVariance) *
    ((1 - EULER_MASCHERONI) * normalQuantile(1 - 1 / n) +
      EULER_MASCHERONI * normalQuantile(1 - 1 / (n * Math.E)))
  );
}

/**
 * One stretch under water: from the last point at the running peak (start) through the lowest point
 * (trough) to the first point back at or above the peak (recovery; null when the curve ends under water).
 * A point equal to the peak counts as a new peak, so flat stretches at the peak are not under water.
 */
export interface DrawdownEpisode {
  /** Epoch milliseconds of the peak the episode falls from. */
  readonly start: number;
  readonly trough: number;
  readonly recovery: number | null;
  /** Positive fraction below the peak at the trough (0.25 = 25 % down). */
  readonly depth: number;
  /** Return periods from start to recovery (or to the last point when not recovered). */
  readonly periods: number;
  /** Milliseconds from start to recovery (or to the last point when not recovered). */
  readonly duration: number;
}

/** Every drawdown episode of the curve, in time order. */
export function drawdownEpisodes(equity: readonly Pick<EquityPoint, 't' | 'equity'>[]): DrawdownEpisode[] {
  const episodes: DrawdownEpisode[] = [];
  if (equity.length === 0) return episodes;
  let peak = equity[0]!.equity;
  let peakIndex = 0;
  let troughIndex = -1;
  let depth = 0;
  const close = (end: number, recovered: boolean) => {
    episodes.push({
      start: equity[peakIndex]!.t,
      trough: equity[troughIndex]!.t,
      recovery: recovered ? equity[end]!.t : null,
      depth,
      periods: end - peakIndex,
      duration: equity[end]!.t - equity[peakIndex]!.t,
    });
    troughIndex = -1;
    depth = 0;
  };
  equity.forEach((point, index) => {
    if (point.equity >= peak) {
      if (troughIndex >= 0) close(index, true);
      peak = point.equity;
      peakIndex = index;
    } else {
      const below = 1 - point.equity / peak;
      if (troughIndex < 0 || below > depth) {
        depth = below;
        troughIndex = index;
      }
    }
  });
  // A drawdown still open at the end lasts until the last point.
  if (troughIndex >= 0) close(equity.length - 1, false);
  return episodes;
}

function drawdown(equity: readonly EquityPoint[]): { depth: number; duration: number } {
  let depth = 0;
  let duration = 0;
  for (const episode of drawdownEpisodes(equity)) {
    depth = Math.max(depth, episode.depth);
    duration = Math.max(duration, episode.duration);
  }
  return { depth, duration };
}

/** Mean and sample (n − 1) standard deviation; null with fewer than 2 values. */
export function meanAndDeviation(values: readonly number[]): { mean: number; deviation: number } | null {
  const n = values.length;
  if (n < 2) return null;
  const average = mean(values);
  let squares = 0;
  for (const value of values) squares += (value - average) ** 2;
  return { mean: average, deviation: Math.sqrt(squares / (n - 1)) };
}

/** Annualised Sharpe (risk-free 0, sample deviation): null with < 2 returns or no variation. */
export function sharpeRatio(returns: readonly number[], periodsPerYear: number): number | null {
  const stats = meanAndDeviation(returns);
  if (stats === null || !(stats.deviation > 0)) return null;
  return finiteOrNull((stats.mean / stats.deviation) * Math.sqrt(periodsPerYear));
}

function finiteOrNull(value: number | null): number | null {
  return value !== null && Number.isFinite(value) ? value : null;
}

export function computeMetrics(input: MetricsInput): BacktestMetrics {
  const { equity, trades } = input;
  if (equity.length === 0) throw new RangeError('computeMetrics: the equity curve has no points');
  const first = equity[0]!;
  const last = equity[equity.length - 1]!;
  const periodsPerYear = input.periodsPerYear ?? inferPeriodsPerYear(equity.map((point) => point.t));
  const returns = periodReturns(equity);
  const n = returns.length;

  const totalReturn = last.equity / first.equity - 1;
  const years = (last.t - first.t) / YEAR_MS;
  const cagr = years > 0 && last.equity > 0 ? (last.equity / first.equity) ** (1 / years) - 1 : null;

  let volatility: number | null = null;
  let sharpe: number | null = null;
  let sortino: number | null = null;
  let skew: number | null = null;
  let kurtosis: number | null = null;
  let var95: number | null = null;
  let cvar95: number | null = null;
  let probabilisticSharpe: number | null = null;
  let deflatedSharpe: number | null = null;
  if (n >= 1) {
    const sorted = [...returns].sort((a, b) => a - b);
    const k = Math.ceil(0.05 * n);
    var95 = -sorted[k - 1]!;
    cvar95 = -mean(sorted.slice(0, k));
  }
  if (n >= 2) {
    const average = mean(returns);
    const [m2, m3, m4] = centralMoments(returns);
    const { deviation } = meanAndDeviation(returns)!;
    volatility = deviation * Math.sqrt(periodsPerYear);
    let downside = 0;
    for (const r of returns) if (r < 0) downside += r * r;
    downside = Math.sqrt(downside / n);
    if (downside > 0) sortino = (average / downside) * Math.sqrt(periodsPerYear);
    if (m2 > 0) {
      const perPeriodSharpe = average / deviation;
      sharpe = perPeriodSharpe * Math.sqrt(periodsPerYear);
      skew = m3 / m2 ** 1.5;
      kurtosis = m4 / (m2 * m2) - 3;
      probabilisticSharpe = probabilisticSharpeRatio(perPeriodSharpe, 0, n, skew, kurtosis);
      deflatedSharpe = probabilisticSharpeRatio(
        perPeriodSharpe,
        expectedMaxSharpe(input.trials ?? { count: 1, sharpeVariance: 0 }),
        n,
        skew,
        kurtosis,
      );
    }
  }

  const { depth: maxDrawdown, duration: maxDrawdownDuration } = drawdown(equity);
  const calmar = cagr !== null && maxDrawdown > 0 ? cagr / maxDrawdown : null;

  let wins = 0;
  let grossProfit = 0;
  let grossLoss = 0;
  for (const trade of trades) {
    if (trade.pnl > 0) {
      wins++;
      grossProfit += trade.pnl;
    } else {
      grossLoss -= trade.pnl;
    }
  }
  const hasTrades = trades.length > 0;

  let meanEquity = 0;
  let exposure = 0;
  for (const point of equity) {
    meanEquity += point.equity / equity.length;
    exposure += point.grossExposure / point.equity / equity.length;
  }

  return {
    totalReturn: finiteOrNull(totalReturn) ?? 0,
    cagr: finiteOrNull(cagr),
    volatility: finiteOrNull(volatility),
    sharpe: finiteOrNull(sharpe),
    sortino: finiteOrNull(sortino),
    calmar: finiteOrNull(calmar),
    maxDrawdown: finiteOrNull(maxDrawdown) ?? 0,
    maxDrawdownDuration,
    var95: finiteOrNull(var95),
    cvar95: finiteOrNull(cvar95),
    skew: finiteOrNull(skew),
    kurtosis: finiteOrNull(kurtosis),
    winRate: hasTrades ? wins / trades.length : null,
    profitFactor: hasTrades && grossLoss > 0 ? grossProfit / grossLoss : null,
    expectancy: hasTrades ? (grossProfit - grossLoss) / trades.length : null,
    turnover: n >= 1 ? finiteOrNull(((input.tradedNotional / meanEquity) * periodsPerYear) / n) : null,
    exposure: finiteOrNull(exposure) ?? 0,
    probabilisticSharpe,
    deflatedSharpe,
    periods: n,
    periodsPerYear,
  };
}
