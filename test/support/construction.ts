// Helpers the construction tests and bench share: closeness checks, real daily returns (stocknet),
// and seeded random covariance matrices and return series (core/random.ts).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Matrix } from 'ml-matrix';
import { parseDatasetText, stocknetPriceFile } from '../../core/datasets.ts';
import { SeededRandom } from '../../core/random.ts';
import { sharedDataDir } from './cli.ts';

export function assertClose(actual: number, expected: number, tolerance: number, what = ''): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what} ${actual} ≠ ${expected} (±${tolerance})`);
}

export function assertMatrix(actual: number[][], expected: number[][], tolerance = 1e-12): void {
  assert.equal(actual.length, expected.length);
  for (const [i, row] of actual.entries())
    for (const [j, value] of row.entries()) assertClose(value, expected[i]![j]!, tolerance, `[${i}][${j}]`);
}

/** A standard normal draw (Box-Muller). */
export function gaussian(random: SeededRandom): number {
  const u = 1 - random.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random.next());
}

/**
 * Daily-like return series `[asset][period]` from a few common factors plus noise, so assets
 * cluster as real ones do: volatilities 1–3 % a day.
 */
export function syntheticReturns(seed: number, assets: number, periods: number, factors = 5): number[][] {
  const random = new SeededRandom(seed);
  const loadings = Array.from({ length: assets }, () =>
    Array.from({ length: factors }, () => gaussian(random)),
  );
  const scale = Array.from({ length: assets }, () => 0.01 + 0.02 * random.next());
  const factorReturns = Array.from({ length: factors }, () =>
    Array.from({ length: periods }, () => gaussian(random)),
  );
  return loadings.map((loading, i) => {
    const norm = Math.sqrt(loading.reduce((sum, l) => sum + l * l, 0) + 1);
    return Array.from({ length: periods }, (_, t) => {
      let r = gaussian(random);
      for (let k = 0; k < factors; k++) r += loading[k]! * factorReturns[k]![t]!;
      return (scale[i]! * r) / norm;
    });
  });
}

/** A random positive definite covariance AAᵀ/k + εI with per-period volatilities around 1–3 %. */
export function randomCovariance(seed: number, assets: number): Matrix {
  const random = new SeededRandom(seed);
  const k = assets + 2;
  const a = Matrix.from1DArray(
    assets,
    k,
    Array.from({ length: assets * k }, () => gaussian(random) * 0.02),
  );
  const covariance = a.mmul(a.transpose()).div(k);
  for (let i = 0; i < assets; i++) covariance.set(i, i, covariance.get(i, i) + 1e-5);
  // Exactly symmetric, as an estimator's output is.
  for (let i = 0; i < assets; i++) for (let j = 0; j < i; j++) covariance.set(i, j, covariance.get(j, i));
  return covariance;
}

/** Daily log returns `[symbol][day]` over the last `periods` days all the symbols trade (stocknet, real). */
export function realReturns(symbols: readonly string[], periods: number): number[][] {
  const closes = symbols.map((symbol) => {
    const path = join(sharedDataDir, 'stocknet', 'price_raw', `${symbol}.csv`);
    const byDay = new Map<number, number>();
    for (const row of parseDatasetText(stocknetPriceFile(path), readFileSync(path, 'utf8')))
      if (row.kind === 'bar') byDay.set(row.event.ts_event, row.event.close);
    return byDay;
  });
  const days = [...closes[0]!.keys()]
    .filter((day) => closes.every((series) => series.has(day)))
    .sort((a, b) => a - b);
  const recent = days.slice(-(periods + 1));
  return closes.map((series) =>
    recent.slice(1).map((day, t) => Math.log(series.get(day)! / series.get(recent[t]!)!)),
  );
}
