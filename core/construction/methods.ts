// The construction methods. Allocation methods (equal weight, inverse volatility, HRP) give a long
// shape summing to 1 and are fully invested within the caps by projection onto the budget set;
// volatility target rescales another method's weights; the optimisers (Kelly, minimum variance,
// mean-variance, Black-Litterman) solve their problem inside the constraints. Every result meets
// the input's constraints.

import { equilibriumReturns, posteriorReturns } from './black-litterman.ts';
import { budgetSet, capsSet, projectOnto } from './constraints.ts';
import { hierarchicalRiskParity } from './hrp.ts';
import { solveQuadraticProgram } from './optimizer.ts';
import {
  type ConstructionInput,
  type ConstructionMethod,
  checkedCovariance,
  quadraticForm,
  requiredExpectedReturns,
  volatilities,
  type Weights,
  weightsOf,
} from './types.ts';

function positiveVolatilities(
  input: ConstructionInput,
  covariance: readonly (readonly number[])[],
): number[] {
  const sd = volatilities(covariance);
  sd.forEach((value, i) => {
    if (!(value > 0))
      throw new RangeError(`${input.symbols[i]} has zero variance; risk-based weights need a positive one`);
  });
  return sd;
}

/** A long shape (summing to 1) made fully invested within the caps. */
function allocation(input: ConstructionInput, shape: ArrayLike<number>): Weights {
  return weightsOf(input.symbols, projectOnto(shape, budgetSet(input.constraints, input.symbols.length)));
}

export function equalWeight(): ConstructionMethod {
  return {
    name: 'equal_weight',
    weights(input) {
      checkedCovariance(input);
      return allocation(input, new Array<number>(input.symbols.length).fill(1 / input.symbols.length));
    },
  };
}

/** wᵢ ∝ 1/σᵢ. */
export function inverseVolatility(): ConstructionMethod {
  return {
    name: 'inverse_volatility',
    weights(input) {
      const inverse = positiveVolatilities(input, checkedCovariance(input)).map((sd) => 1 / sd);
      const total = inverse.reduce((a, b) => a + b, 0);
      return allocation(
        input,
        inverse.map((value) => value / total),
      );
    },
  };
}

export function hrp(): ConstructionMethod {
  return {
    name: 'hrp',
    weights(input) {
      const covariance = checkedCovariance(input);
      positiveVolatilities(input, covariance);
      return allocation(input, hierarchicalRiskParity(covariance));
    },
  };
}

export interface VolatilityTargetOptions {
  /** Annualised volatility to aim for, e.g. 0.10. */
  readonly targetVolatility: number;
  /** Covariance periods in a year (252 for daily returns). */
  readonly periodsPerYear: number;
  /** The method whose weights are rescaled. */
  readonly base: ConstructionMethod;
}

/**
 * The base method's weights times s = target / σ_annual (σ_annual = √(w'Σw · periodsPerYear)), s
 * held down so gross and net stay within their caps (leverage is what the caps limit), then brought
 * within the per-asset caps.
 */
export function volatilityTarget(options: VolatilityTargetOptions): ConstructionMethod {
  if (!(options.targetVolatility > 0 && options.periodsPerYear > 0))
    throw new RangeError('volatility target needs targetVolatility > 0 and periodsPerYear > 0');
  return {
    name: 'volatility_target',
    weights(input) {
      const covariance = checkedCovariance(input);
      const baseWeights = options.base.weights(input);
      const base = input.symbols.map((symbol) => baseWeights[symbol]!);
      const annualVolatility = Math.sqrt(quadraticForm(covariance, base) * options.periodsPerYear);
      const gross = base.reduce((sum, w) => sum + Math.abs(w), 0);
      const net = Math.abs(base.reduce((sum, w) => sum + w, 0));
      const { maxGross, maxNet } = input.constraints;
      const scale = Math.min(
        annualVolatility > 0 ? options.targetVolatility / annualVolatility : Number.POSITIVE_INFINITY,
        gross > 0 ? maxGross / gross : Number.POSITIVE_INFINITY,
        net > 0 ? maxNet / net : Number.POSITIVE_INFINITY,
      );
      const scaled = base.map((w) => (Number.isFinite(scale) ? w * scale : 0));
      return weightsOf(input.symbols, projectOnto(scaled, capsSet(input.constraints)));
    },
  };
}

/**
 * Growth-optimal (Kelly) weights: maximising the log-growth approximation μ'w − ½w'Σw gives Σ⁻¹μ,
 * and a fraction c of it maximises μ'w − (1/2c)w'Σw, so fractional Kelly within the constraints is
 * that programme solved inside them (unconstrained it is exactly c·Σ⁻¹μ). Single-asset Kelly sizes
 * each asset alone, cᵢ·μᵢ/σᵢ², by keeping only Σ's diagonal.
 */
export function kelly(options: {
  readonly fraction: number;
  readonly multivariate: boolean;
}): ConstructionMethod {
  if (!(options.fraction > 0)) throw new RangeError('Kelly fraction must be > 0');
  const name = options.multivariate ? 'kelly_multivariate' : 'kelly';
  return {
    name,
    weights(input) {
      const covariance = checkedCovariance(input);
      const mu = requiredExpectedReturns(input, name);
      const quadratic = covariance.map((row, i) =>
        row.map((value, j) => (options.multivariate || i === j ? value / options.fraction : 0)),
      );
      return optimised(input, quadratic, mu, 'caps');
    },
  };
}

/**
 * The binary Kelly fraction for a bet won with probability p that pays `payoff` times the stake
 * and loses the stake otherwise: f* = p − (1 − p)/payoff (negative: take the other side). A signal's
 * probability and its barrier distances (take-profit / stop-loss) give p and payoff.
 */
export function binaryKellyFraction(probability: number, payoff: number): number {
  if (!(probability >= 0 && probability <= 1 && payoff > 0))
    throw new RangeError('binary Kelly needs a probability in [0, 1] and a payoff > 0');
  return probability - (1 - probability) / payoff;
}

/** Minimum variance, fully invested within the caps: min w'Σw s.t. Σwᵢ = investedBudget, caps. */
export function minimumVariance(): ConstructionMethod {
  return {
    name: 'minimum_variance',
    weights(input) {
      const covariance = checkedCovariance(input);
      return optimised(input, covariance, new Array<number>(covariance.length).fill(0), 'budget');
    },
  };
}

/** Mean-variance: max μ'w − (δ/2)w'Σw within the caps (cash allowed). */
export function meanVariance(options: { readonly riskAversion: number }): ConstructionMethod {
  if (!(options.riskAversion > 0)) throw new RangeError('mean-variance risk aversion must be > 0');
  return {
    name: 'mean_variance',
    weights(input) {
      const covariance = checkedCovariance(input);
      const mu = requiredExpectedReturns(input, 'mean_variance');
      return optimised(input, scaled(covariance, options.riskAversion), mu, 'caps');
    },
  };
}

/**
 * Black-Litterman: the posterior returns (black-litterman.ts) held by mean-variance with the same δ,
 * within the caps. With no views, and caps the equilibrium meets, that is the equilibrium itself.
 */
export function blackLitterman(options: {
  readonly riskAversion: number;
  readonly tau: number;
}): ConstructionMethod {
  if (!(options.riskAversion > 0 && options.tau > 0))
    throw new RangeError('Black-Litterman needs riskAversion > 0 and tau > 0');
  return {
    name: 'black_litterman',
    weights(input) {
      const covariance = checkedCovariance(input);
      const n = covariance.length;
      const equilibrium = input.marketWeights ?? new Array<number>(n).fill(1 / n);
      const prior = equilibriumReturns(covariance, equilibrium, options.riskAversion);
      const mu = posteriorReturns(input.symbols, covariance, prior, input.views ?? [], options.tau);
      return optimised(input, scaled(covariance, options.riskAversion), mu, 'caps');
    },
  };
}

function scaled(matrix: readonly (readonly number[])[], factor: number): number[][] {
  return matrix.map((row) => row.map((value) => value * factor));
}

function optimised(
  input: ConstructionInput,
  quadratic: readonly (readonly number[])[],
  linear: readonly number[],
  set: 'caps' | 'budget',
): Weights {
  const feasible =
    set === 'caps' ? capsSet(input.constraints) : budgetSet(input.constraints, input.symbols.length);
  return weightsOf(input.symbols, solveQuadraticProgram({ quadratic, linear, set: feasible }));
}
