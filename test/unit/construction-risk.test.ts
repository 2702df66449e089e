// Parametric VaR and its Euler decomposition: a two-position book worked by hand, components that
// sum to the VaR on seeded random books, marginal VaR against a finite difference, and the normal
// quantile against published values.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Matrix } from 'ml-matrix';
import { decomposeRisk, normalQuantile } from '../../core/construction/risk.ts';
import { SeededRandom } from '../../core/random.ts';
import { assertClose, randomCovariance } from '../support/construction.ts';

describe('normal quantile (AS 241)', () => {
  it('matches published quantiles to 1e-15', () => {
    for (const [p, z] of [
      [0.5, 0],
      [0.95, 1.6448536269514722],
      [0.975, 1.959963984540054],
      [0.99, 2.3263478740408408],
      [0.999, 3.090232306167813],
      [0.01, -2.3263478740408408],
      [1e-10, -6.361340902404056],
    ] as const)
      assertClose(normalQuantile(p), z, 2e-15, `Φ⁻¹(${p})`);
    assert.throws(() => normalQuantile(1), /p in \(0, 1\)/);
  });
});

describe('VaR decomposition', () => {
  it('a long 100 / short 50 book, by hand', () => {
    // Σ = [[0.04, 0.01], [0.01, 0.09]], x = (100, −50): Σx = (4 − 0.5, 1 − 4.5) = (3.5, −3.5);
    // σ² = 100·3.5 + 50·3.5 = 525; VaR99 = 2.3263·√525; components in proportion 350 : 175 = ⅔ : ⅓.
    const result = decomposeRisk({
      exposures: [100, -50],
      covariance: new Matrix([
        [0.04, 0.01],
        [0.01, 0.09],
      ]),
      confidence: 0.99,
    });
    const z = 2.3263478740408408;
    assertClose(result.volatility, Math.sqrt(525), 1e-12);
    assertClose(result.valueAtRisk, z * Math.sqrt(525), 1e-12);
    assertClose(result.marginal[0]!, (z * 3.5) / Math.sqrt(525), 1e-14);
    assertClose(result.marginal[1]!, (z * -3.5) / Math.sqrt(525), 1e-14);
    assertClose(result.component[0]!, (2 / 3) * result.valueAtRisk, 1e-12);
    assertClose(result.component[1]!, (1 / 3) * result.valueAtRisk, 1e-12);
  });

  it('a ten-day horizon scales by √10; an empty book has no VaR', () => {
    const covariance = new Matrix([[0.0004]]);
    const oneDay = decomposeRisk({ exposures: [1000], covariance, confidence: 0.95 });
    const tenDay = decomposeRisk({ exposures: [1000], covariance, confidence: 0.95, horizonPeriods: 10 });
    assertClose(tenDay.valueAtRisk, oneDay.valueAtRisk * Math.sqrt(10), 1e-12);
    const empty = decomposeRisk({ exposures: [0], covariance, confidence: 0.95 });
    assert.deepEqual([empty.valueAtRisk, ...empty.component, ...empty.marginal], [0, 0, 0]);
  });

  it('components sum to the VaR and marginals are its derivatives, on seeded random books', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 12 }), (seed, n) => {
        const covariance = randomCovariance(seed, n);
        const random = new SeededRandom(seed ^ 0x5bd1e995);
        const exposures = Array.from({ length: n }, () => (random.next() - 0.4) * 1e6);
        const result = decomposeRisk({ exposures, covariance, confidence: 0.99 });
        const sum = result.component.reduce((a, b) => a + b, 0);
        assertClose(sum, result.valueAtRisk, 1e-9 * result.valueAtRisk, 'Σ components');
        // Central difference of VaR in position i.
        const i = seed % n;
        const h = 1e-3 * (1 + Math.abs(exposures[i]!));
        const bumped = (delta: number) =>
          decomposeRisk({
            exposures: exposures.map((x, j) => (j === i ? x + delta : x)),
            covariance,
            confidence: 0.99,
          }).valueAtRisk;
        const derivative = (bumped(h) - bumped(-h)) / (2 * h);
        assertClose(result.marginal[i]!, derivative, 1e-6 * (1 + Math.abs(derivative)), 'marginal');
      }),
      { seed: 18, numRuns: 200 },
    );
  });

  it('refuses a mismatched covariance or a confidence outside (0.5, 1)', () => {
    const covariance = new Matrix([[0.0004]]);
    assert.throws(
      () => decomposeRisk({ exposures: [1, 2], covariance, confidence: 0.99 }),
      /one row per exposure/,
    );
    assert.throws(() => decomposeRisk({ exposures: [1], covariance, confidence: 1 }), /confidence/);
  });
});
