// A small convex quadratic programme solver for the constrained methods (minimum variance,
// mean-variance, Kelly, Black-Litterman): minimise ½w'Qw − c'w over a FeasibleSet by accelerated
// projected gradient (FISTA with gradient-based adaptive restart, O'Donoghue & Candès 2015). The
// projection is exact (constraints.ts), the step 1/L uses Q's largest eigenvalue, and the start is
// the unconstrained optimum projected onto the set, so where no constraint binds the answer is
// that closed form and the iterations stop at once. No npm QP package is a dependency; this one is
// small, deterministic and tested against closed forms and random feasible points.
import { CholeskyDecomposition, EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { type FeasibleSet, projectOnto } from './constraints.ts';

export interface QuadraticProgram {
  /** Q: symmetric positive semi-definite. */
  readonly quadratic: readonly (readonly number[])[];
  /** c. */
  readonly linear: readonly number[];
  readonly set: FeasibleSet;
}

const MAX_ITERATIONS = 100_000;
const TOLERANCE = 1e-13;

/**
 * The unconstrained optimum: Q⁻¹c, or with a budget (netLow = netHigh = b) the minimiser of ½w'Qw − c'w
 * on Σwᵢ = b, Q⁻¹(c + κ1) with κ = (b − 1'Q⁻¹c) / 1'Q⁻¹1. Undefined when Q is not positive definite.
 */
function unconstrainedOptimum(program: QuadraticProgram): number[] | undefined {
  const n = program.linear.length;
  const cholesky = new CholeskyDecomposition(new Matrix(program.quadratic.map((row) => [...row])));
  if (!cholesky.isPositiveDefinite()) return undefined;
  const x = cholesky.solve(Matrix.columnVector([...program.linear])).to1DArray();
  const { netLow, netHigh } = program.set;
  if (netLow !== netHigh) return x;
  const y = cholesky.solve(Matrix.columnVector(new Array<number>(n).fill(1))).to1DArray();
  const kappa = (netLow - x.reduce((a, b) => a + b, 0)) / y.reduce((a, b) => a + b, 0);
  return x.map((xi, i) => xi + kappa * y[i]!);
}

function largestEigenvalue(quadratic: readonly (readonly number[])[]): number {
  const eigen = new EigenvalueDecomposition(new Matrix(quadratic.map((row) => [...row])), {
    assumeSymmetric: true,
  });
  return Math.max(...eigen.realEigenvalues);
}

export function solveQuadraticProgram(program: QuadraticProgram): Float64Array {
  const { quadratic: q, linear: c, set } = program;
  const n = c.length;
  const start = unconstrainedOptimum(program) ?? new Array<number>(n).fill(0);
  let x = projectOnto(start, set);
  // With no risk (Q = 0) the programme is linear: a long step lands on the best vertex of the set.
  const step = 1 / Math.max(largestEigenvalue(q), 1e-12);
  const y = Float64Array.from(x);
  let momentum = 1;
  const gradientStep = new Float64Array(n);
  for (let iteration = 0; iteration < MAX_ITERATIONS; iteration++) {
    for (let i = 0; i < n; i++) {
      const row = q[i]!;
      let qy = 0;
      for (let j = 0; j < n; j++) qy += row[j]! * y[j]!;
      gradientStep[i] = y[i]! - step * (qy - c[i]!);
    }
    const next = projectOnto(gradientStep, set);
    let change = 0;
    let size = 0;
    let restart = 0;
    for (let i = 0; i < n; i++) {
      change = Math.max(change, Math.abs(next[i]! - x[i]!));
      size = Math.max(size, Math.abs(next[i]!));
      restart += (y[i]! - next[i]!) * (next[i]! - x[i]!);
    }
    if (change <= TOLERANCE * (1 + size)) return next;
    // Momentum that points uphill is dropped (the adaptive restart), which keeps convergence linear.
    const nextMomentum = restart > 0 ? 1 : (1 + Math.sqrt(1 + 4 * momentum * momentum)) / 2;
    const beta = restart > 0 ? 0 : (momentum - 1) / nextMomentum;
    for (let i = 0; i < n; i++) y[i] = next[i]! + beta * (next[i]! - x[i]!);
    x = next;
    momentum = nextMomentum;
  }
  return x;
}
