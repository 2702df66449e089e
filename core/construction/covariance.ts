// Covariance estimators over aligned return series: `returns[asset][period]`, oldest period first,
// every series the same length. Each gives an ml-matrix Matrix in the series' order, of per-period
// returns (annualise outside). The pairwise sums run over contiguous Float64Arrays: at 500 assets ×
// 1,000 periods they are the bulk of a rebalance's work.
import { Matrix } from 'ml-matrix';

export type ReturnSeries = readonly (readonly number[])[];

function checkedSeries(returns: ReturnSeries, minimumPeriods: number): number {
  if (returns.length === 0) throw new RangeError('covariance needs at least one return series');
  const periods = returns[0]!.length;
  if (periods < minimumPeriods)
    throw new RangeError(`covariance needs at least ${minimumPeriods} periods, got ${periods}`);
  for (const series of returns) {
    if (series.length !== periods) throw new RangeError('return series must all have the same length');
    for (const r of series) if (!Number.isFinite(r)) throw new RangeError('returns must be finite');
  }
  return periods;
}

/** Each series less its mean, or as given when `demean` is false. */
function seriesRows(returns: ReturnSeries, demean: boolean): Float64Array[] {
  return returns.map((series) => {
    const row = Float64Array.from(series);
    if (demean) {
      let mean = 0;
      for (const r of row) mean += r;
      mean /= row.length;
      for (let t = 0; t < row.length; t++) row[t]! -= mean;
    }
    return row;
  });
}

/**
 * rows·rowsᵀ / divisor, symmetric by construction. The upper triangle is summed two rows by four
 * at a time: each period's six loads feed eight products, which at 500 × 1,000 takes about half the
 * time of one pair at a time.
 */
function crossProducts(rows: Float64Array[], divisor: number): Matrix {
  const n = rows.length;
  const periods = rows[0]!.length;
  const sums = new Float64Array(n * n);
  for (let i = 0; i < n; i += 2) {
    // An odd last row is paired with itself; only its own sums are kept.
    const a = rows[i]!;
    const c = rows[Math.min(i + 1, n - 1)]!;
    const rowA = i * n;
    const rowC = Math.min(i + 1, n - 1) * n;
    let j = i;
    // Plain locals, not destructuring: the inner loop must not allocate.
    for (; j + 3 < n; j += 4) {
      const b0 = rows[j]!;
      const b1 = rows[j + 1]!;
      const b2 = rows[j + 2]!;
      const b3 = rows[j + 3]!;
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      let c0 = 0;
      let c1 = 0;
      let c2 = 0;
      let c3 = 0;
      for (let t = 0; t < periods; t++) {
        const x = a[t]!;
        const y = c[t]!;
        const v0 = b0[t]!;
        const v1 = b1[t]!;
        const v2 = b2[t]!;
        const v3 = b3[t]!;
        a0 += x * v0;
        a1 += x * v1;
        a2 += x * v2;
        a3 += x * v3;
        c0 += y * v0;
        c1 += y * v1;
        c2 += y * v2;
        c3 += y * v3;
      }
      sums[rowA + j] = a0;
      sums[rowA + j + 1] = a1;
      sums[rowA + j + 2] = a2;
      sums[rowA + j + 3] = a3;
      sums[rowC + j] = c0;
      sums[rowC + j + 1] = c1;
      sums[rowC + j + 2] = c2;
      sums[rowC + j + 3] = c3;
    }
    for (; j < n; j++) {
      const b = rows[j]!;
      let sumA = 0;
      let sumC = 0;
      for (let t = 0; t < periods; t++) {
        sumA += a[t]! * b[t]!;
        sumC += c[t]! * b[t]!;
      }
      sums[rowA + j] = sumA;
      sums[rowC + j] = sumC;
    }
  }
  // Row i + 1's sums left of its diagonal are never read: the upper triangle is mirrored.
  const result = new Matrix(n, n);
  for (let r = 0; r < n; r++) {
    for (let col = r; col < n; col++) {
      const value = sums[r * n + col]! / divisor;
      result.set(r, col, value);
      result.set(col, r, value);
    }
  }
  return result;
}

/** The unbiased sample covariance (divisor T − 1). */
export function sampleCovariance(returns: ReturnSeries): Matrix {
  const periods = checkedSeries(returns, 2);
  return crossProducts(seriesRows(returns, true), periods - 1);
}

/**
 * The exponentially weighted covariance of RiskMetrics (J.P. Morgan 1996): zero mean, the return of
 * k periods ago weighted (1 − λ)λᵏ, the weights normalised to sum to 1 over the window so a short
 * window is not biased low. It is the recursion Σₜ = λΣₜ₋₁ + (1 − λ)rₜrₜ' started from nothing and
 * rescaled. `decay` is λ in (0, 1); RiskMetrics used 0.94 for daily returns.
 */
export function ewmaCovariance(returns: ReturnSeries, decay: number): Matrix {
  if (!(decay > 0 && decay < 1)) throw new RangeError('EWMA decay must lie in (0, 1)');
  const periods = checkedSeries(returns, 1);
  const scale = new Float64Array(periods);
  let total = 0;
  for (let t = 0; t < periods; t++) {
    const weight = (1 - decay) * decay ** (periods - 1 - t);
    scale[t] = Math.sqrt(weight);
    total += weight;
  }
  // Each return scaled by √weight makes the weighted sum a plain cross product.
  const rows = seriesRows(returns, false).map((row) => row.map((r, t) => r * scale[t]!));
  return crossProducts(rows, total);
}

export interface ShrunkCovariance {
  readonly covariance: Matrix;
  /** δ in [0, 1]: the weight on the target. */
  readonly shrinkage: number;
}

/**
 * Ledoit-Wolf shrinkage towards a scaled identity: the target of Ledoit & Wolf (2004, "A
 * well-conditioned estimator for large-dimensional covariance matrices"; "Honey, I shrunk the sample
 * covariance matrix", the same year, shrinks towards constant correlation instead), as scikit-learn's
 * LedoitWolf computes it: S the maximum-likelihood sample covariance of the centred returns (divisor
 * T), target F = μI with μ = tr(S)/N, shrinkage δ = min(b̄², d²)/d² where
 *   d² = ‖S − μI‖²_F / N                       (how far S is from the target)
 *   b̄² = (1/T²) Σₜ ‖xₜxₜ' − S‖²_F / N          (how noisy S is), computed as
 *        (1/(N·T)) (Σᵢⱼ Σₜ xₜᵢ²xₜⱼ² / T − Σᵢⱼ Sᵢⱼ²)
 * and Σ̂ = (1 − δ)S + δF.
 */
export function ledoitWolfCovariance(returns: ReturnSeries): ShrunkCovariance {
  const periods = checkedSeries(returns, 2);
  const rows = seriesRows(returns, true);
  const n = rows.length;
  const squares = rows.map((row) => row.map((x) => x * x));
  const sample = crossProducts(rows, periods);
  let trace = 0;
  for (let i = 0; i < n; i++) trace += sample.get(i, i);
  const mu = trace / n;
  // Σᵢⱼ Σₜ xₜᵢ²xₜⱼ²: the sum of the squares' cross products.
  const sumFourth = crossProducts(squares, 1).sum();
  let sumSampleSquares = 0;
  let distance = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const s = sample.get(i, j);
      sumSampleSquares += s * s;
      const gap = i === j ? s - mu : s;
      distance += gap * gap;
    }
  }
  distance /= n;
  const noise = Math.min(distance, (sumFourth / periods - sumSampleSquares) / (n * periods));
  const shrinkage = distance === 0 ? 0 : noise / distance;
  const covariance = sample.mul(1 - shrinkage);
  for (let i = 0; i < n; i++) covariance.set(i, i, covariance.get(i, i) + shrinkage * mu);
  return { covariance, shrinkage };
}

export type CovarianceEstimatorName = 'sample' | 'ewma' | 'ledoit_wolf';

/** The covariance estimators by the name a config gives; `decay` is EWMA's λ. */
export const covarianceEstimators: Readonly<
  Record<CovarianceEstimatorName, (returns: ReturnSeries, params?: { readonly decay?: number }) => Matrix>
> = {
  sample: (returns) => sampleCovariance(returns),
  ewma: (returns, params) => ewmaCovariance(returns, params?.decay ?? 0.94),
  ledoit_wolf: (returns) => ledoitWolfCovariance(returns).covariance,
};
