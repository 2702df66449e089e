// Covariance estimators against hand-derived values: the sample covariance, the RiskMetrics EWMA,
// and Ledoit-Wolf shrinkage worked step by step on a small case and checked on real daily returns
// (stocknet) against the paper's definition of the noise term, computed the long way.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  covarianceEstimators,
  ewmaCovariance,
  ledoitWolfCovariance,
  sampleCovariance,
} from '../../core/construction/covariance.ts';
import { assertMatrix, realReturns, syntheticReturns } from '../support/construction.ts';

describe('sample covariance', () => {
  it('a = [1, 2, 3], b = [1, 0, −1]: deviations [−1, 0, 1] and [1, 0, −1] over T − 1 = 2', () => {
    assertMatrix(
      sampleCovariance([
        [1, 2, 3],
        [1, 0, -1],
      ]).to2DArray(),
      [
        [1, -1],
        [-1, 1],
      ],
    );
  });

  it('equals the two-pass definition for 1 to 11 assets (every blocking remainder)', () => {
    for (let assets = 1; assets <= 11; assets++) {
      const returns = syntheticReturns(assets, assets, 37);
      const centred = returns.map((series) => {
        const mean = series.reduce((sum, r) => sum + r, 0) / series.length;
        return series.map((r) => r - mean);
      });
      const expected = centred.map((a) =>
        centred.map((b) => a.reduce((sum, x, t) => sum + x * b[t]!, 0) / 36),
      );
      assertMatrix(sampleCovariance(returns).to2DArray(), expected, 1e-18);
    }
  });

  it('refuses ragged or non-finite series with a reason', () => {
    assert.throws(
      () =>
        sampleCovariance([
          [1, 2, 3],
          [1, 2],
        ]),
      /same length/,
    );
    assert.throws(() => sampleCovariance([[1, Number.NaN]]), /finite/);
    assert.throws(() => sampleCovariance([[1]]), /at least 2 periods/);
  });
});

describe('EWMA covariance (RiskMetrics)', () => {
  it('λ = ½ over three periods: weights ⅛, ¼, ½ (oldest first), normalised by ⅞, zero mean', () => {
    // aa = (⅛·1 + ¼·4 + ½·9)/⅞ = 45/7;  bb = (⅛·1 + 0 + ½·1)/⅞ = 5/7;  ab = (⅛·1 + 0 − ½·3)/⅞ = −11/7
    assertMatrix(
      ewmaCovariance(
        [
          [1, 2, 3],
          [1, 0, -1],
        ],
        0.5,
      ).to2DArray(),
      [
        [45 / 7, -11 / 7],
        [-11 / 7, 5 / 7],
      ],
    );
  });

  it('is the recursion Σₜ = λΣₜ₋₁ + (1 − λ)rₜrₜ′ rescaled by its total weight 1 − λᵀ', () => {
    const returns = realReturns(['AAPL', 'MSFT', 'XOM'], 60);
    const decay = 0.94;
    let recursion = [0, 1, 2].map(() => [0, 0, 0]);
    for (let t = 0; t < 60; t++)
      recursion = recursion.map((row, i) =>
        row.map((value, j) => decay * value + (1 - decay) * returns[i]![t]! * returns[j]![t]!),
      );
    const expected = recursion.map((row) => row.map((value) => value / (1 - decay ** 60)));
    assertMatrix(ewmaCovariance(returns, decay).to2DArray(), expected, 1e-15);
    assert.throws(() => ewmaCovariance(returns, 1), /decay/);
  });
});

describe('Ledoit-Wolf shrinkage (identity target, as scikit-learn)', () => {
  it('a hand-worked case: 2 assets, 8 centred periods', () => {
    // a = [2, −2, 1, −1] twice, b = [1, −1, −1, 1] twice; both have mean 0.
    // S (divisor T = 8): aa = (4+4+1+1)·2/8 = 2.5, bb = 1, ab = (2+2−1−1)·2/8 = 0.5.
    // μ = tr(S)/N = 1.75.  d² = ‖S − μI‖²/N = (0.75² + 0.75² + 2·0.5²)/2 = 0.8125 = 13/16.
    // Σₜ xₜᵢ²xₜⱼ² over ordered pairs: aa = (16+16+1+1)·2 = 68, bb = 8, ab = ba = (4+4+1+1)·2 = 20 → 116.
    // ΣS² = 6.25 + 1 + 2·0.25 = 7.75.  b̄² = (116/8 − 7.75)/(N·T) = 6.75/16 = 27/64 ≤ d².
    // δ = b̄²/d² = 27/52;  Σ̂ = (25/52)·S + (27/52)·1.75·I:
    //   aa = 62.5/52 + 47.25/52 = 439/208,  bb = 25/52 + 47.25/52 = 289/208,  ab = 12.5/52 = 50/208.
    const a = [2, -2, 1, -1, 2, -2, 1, -1];
    const b = [1, -1, -1, 1, 1, -1, -1, 1];
    const { covariance, shrinkage } = ledoitWolfCovariance([a, b]);
    assert.ok(Math.abs(shrinkage - 27 / 52) < 1e-15, `${shrinkage}`);
    assertMatrix(covariance.to2DArray(), [
      [439 / 208, 50 / 208],
      [50 / 208, 289 / 208],
    ]);
  });

  it('four periods of the same data are too noisy: δ is capped at 1, the target itself', () => {
    // b̄² = (58/4 − 7.75)/(2·4) = 27/32 > d² = 13/16, so δ = min(b̄², d²)/d² = 1 and Σ̂ = 1.75·I.
    const { covariance, shrinkage } = ledoitWolfCovariance([
      [2, -2, 1, -1],
      [1, -1, -1, 1],
    ]);
    assert.equal(shrinkage, 1);
    assertMatrix(covariance.to2DArray(), [
      [1.75, 0],
      [0, 1.75],
    ]);
  });

  it('on real daily returns equals the paper’s definition, b̄² = (1/T²)Σₜ‖xₜxₜ′ − S‖²/N, computed the long way', () => {
    const symbols = ['AAPL', 'MSFT', 'XOM', 'JPM', 'GE', 'PFE', 'WMT', 'INTC'];
    const returns = realReturns(symbols, 250);
    const [n, periods] = [symbols.length, 250];
    const x = returns.map((series) => {
      const mean = series.reduce((s, r) => s + r, 0) / periods;
      return series.map((r) => r - mean);
    });
    const s = x.map((xi) => x.map((xj) => xi.reduce((sum, v, t) => sum + v * xj[t]!, 0) / periods));
    const mu = s.reduce((sum, row, i) => sum + row[i]!, 0) / n;
    let d2 = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) d2 += (s[i]![j]! - (i === j ? mu : 0)) ** 2 / n;
    let b2 = 0;
    for (let t = 0; t < periods; t++)
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) b2 += (x[i]![t]! * x[j]![t]! - s[i]![j]!) ** 2 / (n * periods * periods);
    const expectedShrinkage = Math.min(b2, d2) / d2;
    const { covariance, shrinkage } = ledoitWolfCovariance(returns);
    assert.ok(shrinkage > 0 && shrinkage < 1, `${shrinkage}`);
    assert.ok(Math.abs(shrinkage - expectedShrinkage) < 1e-9, `${shrinkage} vs ${expectedShrinkage}`);
    const expected = s.map((row, i) =>
      row.map((value, j) => (1 - expectedShrinkage) * value + (i === j ? expectedShrinkage * mu : 0)),
    );
    assertMatrix(covariance.to2DArray(), expected, 1e-15);
  });
});

describe('the estimator registry', () => {
  it('names every estimator', () => {
    const returns = [
      [1, 2, 3],
      [1, 0, -1],
    ];
    assert.deepEqual(covarianceEstimators.sample(returns).to2DArray(), sampleCovariance(returns).to2DArray());
    assert.deepEqual(
      covarianceEstimators.ewma(returns, { decay: 0.5 }).to2DArray(),
      ewmaCovariance(returns, 0.5).to2DArray(),
    );
    assert.deepEqual(
      covarianceEstimators.ledoit_wolf(returns).to2DArray(),
      ledoitWolfCovariance(returns).covariance.to2DArray(),
    );
  });
});
