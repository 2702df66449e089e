// The shapes every portfolio construction method shares: what a rebalance hands a method (symbols,
// covariance, expected returns, views, constraints) and what it gets back (a weight per symbol).
// Weights are fractions of account equity: 0.25 is a long position worth a quarter of equity, -0.1 a
// short worth a tenth. Everything here is pure: no clock, no I/O, no randomness.
import type { Matrix } from 'ml-matrix';

/** Target weight per symbol, as a fraction of account equity (negative: short). */
export type Weights = Readonly<Record<string, number>>;

/**
 * The limits a target portfolio must meet. Every method's result meets them: optimisers solve
 * within them, the allocation methods are brought inside by Euclidean projection (the nearest
 * portfolio that meets them, see constraints.ts).
 */
export interface Constraints {
  /** No short positions. */
  readonly longOnly: boolean;
  /** Largest |weight| of one asset. */
  readonly maxWeight: number;
  /** Largest gross exposure, Σ|wᵢ| (1 = unlevered). */
  readonly maxGross: number;
  /** Largest net exposure, |Σwᵢ|. */
  readonly maxNet: number;
}

export const defaultConstraints: Constraints = { longOnly: true, maxWeight: 1, maxGross: 1, maxNet: 1 };

/**
 * A Black-Litterman view: the portfolio `assets` (a row of P; {A: 1} is an absolute view on A,
 * {A: 1, B: -1} says A beats B) earns `expectedReturn` (Q, per period) with `confidence` in (0, 1]:
 * 1 is certainty, 0.5 the He-Litterman uncertainty (see black-litterman.ts).
 */
export interface View {
  readonly assets: Readonly<Record<string, number>>;
  readonly expectedReturn: number;
  readonly confidence: number;
}

/** What a rebalance hands a method. Vectors are in `symbols` order. */
export interface ConstructionInput {
  readonly symbols: readonly string[];
  /** Covariance of per-period returns (e.g. daily), symmetric positive semi-definite. */
  readonly covariance: Matrix;
  /** Expected per-period return per symbol, on the covariance's period; Kelly and mean-variance need it. */
  readonly expectedReturns?: readonly number[];
  /** Black-Litterman views (none: the equilibrium). */
  readonly views?: readonly View[];
  /** Black-Litterman equilibrium (market capitalisation) weights; equal weights when absent. */
  readonly marketWeights?: readonly number[];
  readonly constraints: Constraints;
}

/** One pluggable way to turn a rebalance's input into target weights. */
export interface ConstructionMethod {
  readonly name: string;
  weights(input: ConstructionInput): Weights;
}

/** Weights keyed by symbol from a vector in `symbols` order; -0 becomes 0 so results compare and hash alike. */
export function weightsOf(symbols: readonly string[], values: ArrayLike<number>): Weights {
  // fromEntries makes every symbol an own property, even one named __proto__.
  return Object.fromEntries(symbols.map((symbol, i) => [symbol, values[i]! + 0]));
}

/**
 * Checks a rebalance's input and gives its covariance as rows, exactly symmetric. Bad input (a
 * non-square or non-finite covariance, a vector of the wrong length, impossible constraints) throws
 * a RangeError that says which, so the caller can dead-letter the rebalance with the reason.
 */
export function checkedCovariance(input: ConstructionInput): number[][] {
  const n = input.symbols.length;
  if (n === 0) throw new RangeError('construction needs at least one symbol');
  if (new Set(input.symbols).size !== n) throw new RangeError('construction symbols must be distinct');
  const { covariance } = input;
  if (covariance.rows !== n || covariance.columns !== n)
    throw new RangeError(
      `covariance is ${covariance.rows}×${covariance.columns}, expected ${n}×${n} for the symbols`,
    );
  const rows = covariance.to2DArray();
  for (let i = 0; i < n; i++) {
    if (!(rows[i]![i]! >= 0))
      throw new RangeError(`covariance has a negative or missing variance for ${input.symbols[i]}`);
    for (let j = 0; j < n; j++) {
      if (!Number.isFinite(rows[i]![j]!)) throw new RangeError('covariance must be finite');
      if (Math.abs(rows[i]![j]! - rows[j]![i]!) > 1e-12 * Math.max(1, Math.abs(rows[i]![j]!)))
        throw new RangeError('covariance must be symmetric');
    }
  }
  // Symmetric to the last bit, as the decompositions require; the check above bounds what this moves.
  for (let i = 0; i < n; i++)
    for (let j = 0; j < i; j++) rows[i]![j] = rows[j]![i]! = 0.5 * (rows[i]![j]! + rows[j]![i]!);
  checkVector(input.expectedReturns, n, 'expectedReturns');
  checkVector(input.marketWeights, n, 'marketWeights');
  checkConstraints(input.constraints);
  return rows;
}

function checkVector(values: readonly number[] | undefined, n: number, what: string): void {
  if (values === undefined) return;
  if (values.length !== n) throw new RangeError(`${what} has ${values.length} values, expected ${n}`);
  if (!values.every(Number.isFinite)) throw new RangeError(`${what} must be finite`);
}

function checkConstraints(constraints: Constraints): void {
  for (const key of ['maxWeight', 'maxGross', 'maxNet'] as const) {
    const value = constraints[key];
    if (!(Number.isFinite(value) && value >= 0))
      throw new RangeError(`constraint ${key} must be finite and ≥ 0`);
  }
}

/** The expected returns a method needs, or a clear reason why it cannot run. */
export function requiredExpectedReturns(input: ConstructionInput, method: string): readonly number[] {
  if (input.expectedReturns === undefined) throw new RangeError(`${method} needs expectedReturns`);
  return input.expectedReturns;
}

/** The per-asset standard deviations on the covariance's diagonal. */
export function volatilities(covariance: readonly (readonly number[])[]): number[] {
  return covariance.map((row, i) => Math.sqrt(row[i]!));
}

/** w'Σw. */
export function quadraticForm(covariance: readonly (readonly number[])[], w: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < covariance.length; i++) {
    const row = covariance[i]!;
    let rowSum = 0;
    for (let j = 0; j < row.length; j++) rowSum += row[j]! * w[j]!;
    total += w[i]! * rowSum;
  }
  return total;
}
