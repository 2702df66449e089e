// Each construction method against values derived by hand or closed forms: HRP worked step by
// step on three assets, two-asset minimum variance, Kelly single and multivariate, Black-Litterman
// with no view and with one view, volatility targeting; and the registry a config names them by.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Matrix } from 'ml-matrix';
import { posteriorReturns, probabilityView } from '../../core/construction/black-litterman.ts';
import { quasiDiagonalOrder, singleLinkage } from '../../core/construction/hrp.ts';
import { binaryKellyFraction } from '../../core/construction/methods.ts';
import { constructionMethods, createConstructionMethod } from '../../core/construction/registry.ts';
import {
  type Constraints,
  type ConstructionInput,
  defaultConstraints,
  type Weights,
} from '../../core/construction/types.ts';
import { ConfigError } from '../../core/errors.ts';
import { assertClose } from '../support/construction.ts';

const loose: Constraints = { longOnly: false, maxWeight: 10, maxGross: 20, maxNet: 20 };

function input(covariance: number[][], extra: Partial<ConstructionInput> = {}): ConstructionInput {
  return {
    symbols: covariance.map((_, i) => `S${i}`),
    covariance: new Matrix(covariance),
    constraints: defaultConstraints,
    ...extra,
  };
}

function assertWeights(actual: Weights, expected: readonly number[], tolerance = 1e-12): void {
  assert.deepEqual(
    Object.keys(actual),
    expected.map((_, i) => `S${i}`),
  );
  expected.forEach((value, i) => {
    assertClose(actual[`S${i}`]!, value, tolerance, `S${i}`);
  });
}

/** Covariance from volatilities and correlations. */
function covarianceOf(sd: readonly number[], correlation: readonly (readonly number[])[]): number[][] {
  return sd.map((si, i) => sd.map((sj, j) => si * sj * correlation[i]![j]!));
}

describe('equal weight and inverse volatility', () => {
  const covariance = covarianceOf(
    [0.1, 0.2, 0.4],
    [
      [1, 0.3, 0.1],
      [0.3, 1, 0.2],
      [0.1, 0.2, 1],
    ],
  );

  it('equal weight is 1/n, and within a max weight that leaves the rest in cash', () => {
    assertWeights(constructionMethods.equal_weight.create().weights(input(covariance)), [
      1 / 3,
      1 / 3,
      1 / 3,
    ]);
    const capped = { ...defaultConstraints, maxWeight: 0.25 };
    assertWeights(
      constructionMethods.equal_weight.create().weights(input(covariance, { constraints: capped })),
      [0.25, 0.25, 0.25],
    );
  });

  it('inverse volatility: 1/σ normalised, 10:5:2.5 → 4/7, 2/7, 1/7; a max weight moves the excess to the others', () => {
    const method = constructionMethods.inverse_volatility.create();
    assertWeights(method.weights(input(covariance)), [4 / 7, 2 / 7, 1 / 7]);
    // Projection onto {0 ≤ w ≤ 0.5, Σw = 1}: the 1/14 taken from the first is shared equally.
    const capped = { ...defaultConstraints, maxWeight: 0.5 };
    assertWeights(method.weights(input(covariance, { constraints: capped })), [
      0.5,
      2 / 7 + 1 / 28,
      1 / 7 + 1 / 28,
    ]);
  });

  it('a zero variance is refused with the symbol named', () => {
    assert.throws(
      () =>
        constructionMethods.inverse_volatility.create().weights(
          input([
            [0.04, 0],
            [0, 0],
          ]),
        ),
      /S1 has zero variance/,
    );
  });
});

describe('hierarchical risk parity (López de Prado 2016), worked by hand', () => {
  // σ = (0.1, 0.2, 0.15); ρ01 = 0.8, ρ02 = 0.2, ρ12 = 0.3.
  const covariance = covarianceOf(
    [0.1, 0.2, 0.15],
    [
      [1, 0.8, 0.2],
      [0.8, 1, 0.3],
      [0.2, 0.3, 1],
    ],
  );

  it('clusters by d = √(½(1 − ρ)) with single linkage and orders the leaves left to right', () => {
    // d01 = √0.1 = 0.3162, d02 = √0.4 = 0.6325, d12 = √0.35 = 0.5916.
    // First merge {0, 1} at 0.3162 → cluster 3; then 2 joins it at min(d02, d12) = 0.5916 → cluster 4,
    // listed (2, 3) since the lower id comes first. Leaves in order: 2, 0, 1.
    const merges = singleLinkage(covariance);
    assert.equal(merges.length, 2);
    assert.deepEqual([merges[0]!.left, merges[0]!.right], [0, 1]);
    assertClose(merges[0]!.distance, Math.sqrt(0.1), 1e-15);
    assert.deepEqual([merges[1]!.left, merges[1]!.right], [2, 3]);
    assertClose(merges[1]!.distance, Math.sqrt(0.35), 1e-15);
    assert.deepEqual(quasiDiagonalOrder(merges, 3), [2, 0, 1]);
  });

  it('bisects [2 | 0, 1] then [0 | 1] with inverse-variance cluster variances', () => {
    // Split 1: left {2}: V = 0.15² = 0.0225. Right {0, 1}: inverse-variance weights 1/0.01 : 1/0.04 =
    //   0.8 : 0.2, V = 0.64·0.01 + 0.04·0.04 + 2·0.8·0.2·(0.8·0.1·0.2) = 0.0064 + 0.0016 + 0.00512 = 0.01312.
    //   α = 1 − 0.0225/0.03562 = 0.01312/0.03562 → w2 = 0.368332…, {0, 1} gets 0.0225/0.03562 = 0.631668….
    // Split 2: {0}: V = 0.01, {1}: V = 0.04, α = 1 − 0.01/0.05 = 0.8 → w0 = 0.8·0.631668…, w1 = 0.2·0.631668….
    const share = 0.0225 / 0.03562;
    assertWeights(constructionMethods.hrp.create().weights(input(covariance)), [
      0.8 * share,
      0.2 * share,
      0.01312 / 0.03562,
    ]);
  });

  it('four assets in two pairs: the order is halved, not the tree followed, and pairs are clusters', () => {
    // σ = (0.1, 0.2, 0.15, 0.3); ρ01 = 0.5, ρ23 = 0.6, across the pairs 0.
    // d23 = √0.2 = 0.447 merges first (cluster 4), d01 = √0.25 = 0.5 next (cluster 5), then 4 and 5 at
    // √0.5: order 2, 3, 0, 1, halved into {2, 3} | {0, 1}.
    // {2, 3}: inverse-variance weights 1/0.0225 : 1/0.09 = 0.8 : 0.2, σ23 = 0.6·0.15·0.3 = 0.027,
    //   V = 0.64·0.0225 + 0.04·0.09 + 2·0.16·0.027 = 0.0144 + 0.0036 + 0.00864 = 0.02664.
    // {0, 1}: 1/0.01 : 1/0.04 = 0.8 : 0.2, σ01 = 0.5·0.1·0.2 = 0.01,
    //   V = 0.0064 + 0.0016 + 0.0032 = 0.0112.
    // {2, 3} gets 1 − 0.02664/0.03784 = 0.0112/0.03784, {0, 1} gets 0.02664/0.03784; inside each pair
    // the singletons split 0.8 : 0.2 (α = 1 − 0.01/0.05 and 1 − 0.0225/0.1125).
    const covariance = covarianceOf(
      [0.1, 0.2, 0.15, 0.3],
      [
        [1, 0.5, 0, 0],
        [0.5, 1, 0, 0],
        [0, 0, 1, 0.6],
        [0, 0, 0.6, 1],
      ],
    );
    assert.deepEqual(quasiDiagonalOrder(singleLinkage(covariance), 4), [2, 3, 0, 1]);
    const [left, right] = [0.0112 / 0.03784, 0.02664 / 0.03784];
    assertWeights(constructionMethods.hrp.create().weights(input(covariance)), [
      0.8 * right,
      0.2 * right,
      0.8 * left,
      0.2 * left,
    ]);
  });

  it('one asset gets everything; uncorrelated assets get inverse-variance weights only when the halves are singletons', () => {
    assertWeights(constructionMethods.hrp.create().weights(input([[0.04]])), [1]);
    // Two uncorrelated assets: α = 1 − 0.01/(0.01 + 0.04) = 0.8, the inverse-variance split.
    assertWeights(
      constructionMethods.hrp.create().weights(
        input([
          [0.01, 0],
          [0, 0.04],
        ]),
      ),
      [0.8, 0.2],
    );
  });
});

describe('minimum variance', () => {
  const twoAsset = (s1: number, s2: number, rho: number): number[][] => [
    [s1 * s1, rho * s1 * s2],
    [rho * s1 * s2, s2 * s2],
  ];
  const closedForm = (covariance: number[][]): number => {
    const [v1, c, v2] = [covariance[0]![0]!, covariance[0]![1]!, covariance[1]![1]!];
    return (v2 - c) / (v1 + v2 - 2 * c);
  };

  it('two assets match w1 = (σ2² − σ12)/(σ1² + σ2² − 2σ12)', () => {
    // σ = (0.2, 0.3), ρ = 0.25: σ12 = 0.015, w1 = (0.09 − 0.015)/(0.04 + 0.09 − 0.03) = 0.75.
    const covariance = twoAsset(0.2, 0.3, 0.25);
    assertClose(closedForm(covariance), 0.75, 1e-15);
    assertWeights(
      constructionMethods.minimum_variance.create().weights(input(covariance)),
      [0.75, 0.25],
      1e-12,
    );
  });

  it('with high correlation the closed form shorts the riskier asset; long-only stops at the corner', () => {
    // σ = (0.1, 0.3), ρ = 0.9: σ12 = 0.027, w1 = 0.063/0.046 = 1.3696 > 1.
    const covariance = twoAsset(0.1, 0.3, 0.9);
    const w1 = closedForm(covariance);
    assertClose(w1, 0.063 / 0.046, 1e-15);
    const method = constructionMethods.minimum_variance.create();
    assertWeights(method.weights(input(covariance, { constraints: loose })), [w1, 1 - w1], 1e-10);
    assertWeights(method.weights(input(covariance)), [1, 0], 1e-12);
  });
});

describe('Kelly', () => {
  it('single-asset fractional Kelly is c·μᵢ/σᵢ²', () => {
    // c = ½: ½·0.02/0.04 = 0.25, ½·(−0.03)/0.09 = −1/6.
    const covariance = [
      [0.04, 0.012],
      [0.012, 0.09],
    ];
    const method = constructionMethods.kelly.create({ fraction: 0.5 });
    assertWeights(method.weights(input(covariance, { expectedReturns: [0.02, -0.03], constraints: loose })), [
      0.25,
      -1 / 6,
    ]);
  });

  it('multivariate Kelly with a diagonal Σ equals per-asset Kelly', () => {
    const covariance = [
      [0.04, 0, 0],
      [0, 0.09, 0],
      [0, 0, 0.0225],
    ];
    const expectedReturns = [0.02, -0.03, 0.01];
    const single = constructionMethods.kelly.create({ fraction: 0.5 });
    const multi = constructionMethods.kelly_multivariate.create({ fraction: 0.5 });
    const problem = input(covariance, { expectedReturns, constraints: loose });
    assertWeights(multi.weights(problem), [0.25, -1 / 6, 0.5 * (0.01 / 0.0225)]);
    assert.deepEqual(multi.weights(problem), single.weights(problem));
  });

  it('multivariate Kelly is c·Σ⁻¹μ, worked with the 2×2 inverse', () => {
    // Σ = [[0.04, 0.012], [0.012, 0.09]], det = 0.0036 − 0.000144 = 0.003456;
    // Σ⁻¹μ = [0.09·0.02 − 0.012·0.01, −0.012·0.02 + 0.04·0.01]/det = [0.00168, 0.00016]/0.003456.
    const covariance = [
      [0.04, 0.012],
      [0.012, 0.09],
    ];
    const method = constructionMethods.kelly_multivariate.create({ fraction: 0.25 });
    assertWeights(method.weights(input(covariance, { expectedReturns: [0.02, 0.01], constraints: loose })), [
      (0.25 * 0.00168) / 0.003456,
      (0.25 * 0.00016) / 0.003456,
    ]);
  });

  it('within the constraints, long-only drops the short and the gross cap binds', () => {
    const covariance = [
      [0.04, 0],
      [0, 0.09],
    ];
    const method = constructionMethods.kelly.create({ fraction: 1 });
    // Unconstrained: 0.02/0.04 = 0.5 and −0.03/0.09 = −1/3; long-only: 0.5 and 0.
    assertWeights(method.weights(input(covariance, { expectedReturns: [0.02, -0.03] })), [0.5, 0]);
  });

  it('the binary Kelly fraction is p − (1 − p)/b', () => {
    assertClose(binaryKellyFraction(0.6, 1), 0.2, 1e-15);
    assertClose(binaryKellyFraction(0.5, 2), 0.25, 1e-15);
    assert.throws(() => binaryKellyFraction(1.2, 1), /probability/);
  });
});

describe('Black-Litterman', () => {
  const covariance = [
    [0.04, 0.006, 0.004],
    [0.006, 0.09, 0.012],
    [0.004, 0.012, 0.0625],
  ];
  const method = constructionMethods.black_litterman.create({ riskAversion: 2.5, tau: 0.05 });

  it('with no views returns the equilibrium weights (equal, or the market weights given)', () => {
    assertWeights(method.weights(input(covariance)), [1 / 3, 1 / 3, 1 / 3], 1e-12);
    const marketWeights = [0.5, 0.3, 0.2];
    assertWeights(method.weights(input(covariance, { marketWeights })), marketWeights, 1e-12);
  });

  it('one absolute view moves only its asset, by c·(q − π₀)/(δ·σ₀²)', () => {
    // π = δΣw_eq: π₀ = 2.5·(0.04 + 0.006 + 0.004)/3 = 0.041667. View: asset 0 earns 0.1, confidence ½.
    // Δw₀ = ½·(0.1 − 0.041667)/(2.5·0.04) = 0.291667.
    const pi0 = (2.5 * 0.05) / 3;
    const view = { assets: { S0: 1 }, expectedReturn: 0.1, confidence: 0.5 };
    const expected = 1 / 3 + (0.5 * (0.1 - pi0)) / (2.5 * 0.04);
    assertClose(expected, 1 / 3 + 0.291667, 1e-6);
    assertWeights(
      method.weights(input(covariance, { views: [view], constraints: loose })),
      [expected, 1 / 3, 1 / 3],
      1e-12,
    );
  });

  it('a relative view moves the pair along p = (1, −1, 0) by c·(q − p′π)/(δ·p′Σp)', () => {
    const pi = covariance.map((row) => (2.5 * row.reduce((a, b) => a + b, 0)) / 3);
    const pSigmaP = 0.04 + 0.09 - 2 * 0.006;
    const step = (0.8 * (0.02 - (pi[0]! - pi[1]!))) / (2.5 * pSigmaP);
    const view = { assets: { S0: 1, S1: -1 }, expectedReturn: 0.02, confidence: 0.8 };
    assertWeights(
      method.weights(input(covariance, { views: [view], constraints: loose })),
      [1 / 3 + step, 1 / 3 - step, 1 / 3],
      1e-12,
    );
  });

  it('a certain view holds exactly in the posterior; He-Litterman’s Ω is confidence ½', () => {
    const symbols = ['S0', 'S1', 'S2'];
    const prior = covariance.map((row) => (2.5 * row.reduce((a, b) => a + b, 0)) / 3);
    const certain = posteriorReturns(
      symbols,
      covariance,
      prior,
      [{ assets: { S1: 1 }, expectedReturn: 0.07, confidence: 1 }],
      0.05,
    );
    assertClose(certain[1]!, 0.07, 1e-15);
    // Ω = diag(τ·p′Σp): posterior = π + τΣp(q − π₁)/(2τσ₁²) → asset 1 moves half way.
    const half = posteriorReturns(
      symbols,
      covariance,
      prior,
      [{ assets: { S1: 1 }, expectedReturn: 0.07, confidence: 0.5 }],
      0.05,
    );
    assertClose(half[1]!, prior[1]! + 0.5 * (0.07 - prior[1]!), 1e-15);
  });

  it('a view from a model probability: (2p − 1)·σ, and a view on an unknown symbol is refused', () => {
    const view = probabilityView('S2', 0.6, 0.02, 0.4);
    assertClose(view.expectedReturn, 0.004, 1e-15);
    assert.deepEqual(view.assets, { S2: 1 });
    assert.throws(
      () =>
        method.weights(
          input(covariance, { views: [{ assets: { XYZ: 1 }, expectedReturn: 0.1, confidence: 0.5 }] }),
        ),
      /XYZ/,
    );
  });
});

describe('volatility target and mean-variance', () => {
  const covariance = [
    [0.0001, 0],
    [0, 0.0004],
  ];

  it('scales inverse volatility to the target annual volatility', () => {
    // Inverse volatility: σ = 1 %, 2 % daily → 2/3, 1/3; daily variance (4·0.0001 + 0.0004)/9 = 0.0008/9;
    // annual σ = √(0.0008/9·252) = 0.149666; target 0.05 → scale 0.334077.
    const method = constructionMethods.volatility_target.create({ targetVolatility: 0.05 });
    const scale = 0.05 / Math.sqrt((0.0008 / 9) * 252);
    assertWeights(method.weights(input(covariance)), [(2 / 3) * scale, (1 / 3) * scale]);
  });

  it('leverage stops at the gross cap', () => {
    const method = constructionMethods.volatility_target.create({
      targetVolatility: 0.5,
      base: 'equal_weight',
    });
    const capped = { longOnly: true, maxWeight: 1, maxGross: 1.5, maxNet: 1.5 };
    assertWeights(method.weights(input(covariance, { constraints: capped })), [0.75, 0.75]);
  });

  it('mean-variance without binding caps is (δΣ)⁻¹μ', () => {
    const method = constructionMethods.mean_variance.create({ riskAversion: 4 });
    assertWeights(
      method.weights(input(covariance, { expectedReturns: [0.0002, 0.0004], constraints: loose })),
      [0.0002 / (4 * 0.0001), 0.0004 / (4 * 0.0004)],
    );
  });

  it('mean-variance with a riskless covariance fills the best assets to their caps', () => {
    const riskless = [
      [0, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
    ];
    const capped = { longOnly: true, maxWeight: 0.5, maxGross: 1, maxNet: 1 };
    const method = constructionMethods.mean_variance.create();
    assertWeights(
      method.weights(input(riskless, { expectedReturns: [0.01, 0.02, -0.01], constraints: capped })),
      [0.5, 0.5, 0],
    );
  });

  it('methods that need expected returns say so', () => {
    assert.throws(
      () => constructionMethods.mean_variance.create().weights(input(covariance)),
      /needs expectedReturns/,
    );
  });
});

describe('the registry', () => {
  it('builds a method by name with its parameters', () => {
    assert.equal(createConstructionMethod('hrp').name, 'hrp');
    assert.equal(
      createConstructionMethod('kelly_multivariate', { fraction: 0.25 }).name,
      'kelly_multivariate',
    );
    assert.deepEqual(constructionMethods.black_litterman.defaults, { riskAversion: 2.5, tau: 0.05 });
    for (const [name, entry] of Object.entries(constructionMethods)) {
      assert.equal(entry.create().name, name);
      assert.ok(entry.description.length > 0);
    }
  });

  it('refuses unknown methods, unknown parameters, wrong types and bad values with a ConfigError', () => {
    const refused = (run: () => unknown, message: RegExp): void => {
      assert.throws(run, (error: unknown) => error instanceof ConfigError && message.test(error.message));
    };
    refused(
      () => createConstructionMethod('magic'),
      /construction method magic: is not known. Use one of equal_weight,/,
    );
    refused(
      () => createConstructionMethod('kelly', { fractoin: 0.5 }),
      /kelly: fractoin: is not a parameter of this method. Use fraction/,
    );
    refused(() => createConstructionMethod('hrp', { linkage: 'ward' }), /It takes none/);
    refused(() => createConstructionMethod('kelly', { fraction: '0.5' }), /must be a finite number/);
    refused(() => createConstructionMethod('kelly', { fraction: Number.NaN }), /must be a finite number/);
    refused(() => createConstructionMethod('kelly', { fraction: -1 }), /fraction must be > 0/);
    refused(
      () => createConstructionMethod('volatility_target', { base: 'nope' }),
      /construction method nope: is not known/,
    );
  });

  it('refuses bad input: wrong sizes, asymmetric or non-finite covariance, duplicate symbols', () => {
    const method = createConstructionMethod('equal_weight');
    assert.throws(
      () => method.weights({ ...input([[0.01]]), symbols: ['A', 'B'] }),
      /covariance is 1×1, expected 2×2/,
    );
    assert.throws(
      () =>
        method.weights(
          input([
            [0.01, 0.002],
            [0.001, 0.01],
          ]),
        ),
      /symmetric/,
    );
    assert.throws(() => method.weights(input([[Number.NaN]])), /variance|finite/);
    assert.throws(
      () =>
        method.weights({
          ...input([
            [0.01, 0],
            [0, 0.01],
          ]),
          symbols: ['A', 'A'],
        }),
      /distinct/,
    );
  });
});

describe('hostile symbols and rounding', () => {
  it('a symbol named __proto__ is a weight like any other; a covariance asymmetric by rounding is accepted', () => {
    const covariance = new Matrix([
      [0.04, 0.01 + 1e-17],
      [0.01, 0.09],
    ]);
    const weights = constructionMethods.minimum_variance
      .create()
      .weights({ symbols: ['__proto__', 'B'], covariance, constraints: loose });
    assert.deepEqual(Object.keys(weights), ['__proto__', 'B']);
    // w1 = (0.09 − 0.01)/(0.04 + 0.09 − 0.02) = 8/11.
    assertClose(Object.getOwnPropertyDescriptor(weights, '__proto__')?.value, 8 / 11, 1e-12);
    assert.equal(Object.getPrototypeOf(weights), Object.prototype);
  });
});
