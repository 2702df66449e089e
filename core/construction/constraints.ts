// The set of portfolios that meet a method's constraints, and the Euclidean projection onto it: the
// nearest such portfolio to a given vector. The projected-gradient optimiser steps through it and
// the allocation methods end with it. The set is a box per asset, a gross cap Σ|wᵢ| ≤ G and a band
// on the net Σwᵢ; its projection has the closed form wᵢ = clip(soft(vᵢ − ν, λ), lower, upper) for
// multipliers λ ≥ 0 (gross) and ν (net) found by one-dimensional searches: Σwᵢ falls with ν and, with
// ν re-fitted, Σ|wᵢ| falls with λ (the dual function is concave in λ; its slope is Σ|wᵢ| − G).
import type { Constraints } from './types.ts';

export interface FeasibleSet {
  /** Per-asset bounds: lower is 0 (long-only) or -upper. */
  readonly lower: number;
  readonly upper: number;
  readonly maxGross: number;
  /** Band on the net Σwᵢ; netLow = netHigh is a budget. */
  readonly netLow: number;
  readonly netHigh: number;
}

/** The portfolios within the caps (no budget: cash is allowed). */
export function capsSet(constraints: Constraints): FeasibleSet {
  const { longOnly, maxWeight, maxGross, maxNet } = constraints;
  return {
    lower: longOnly ? 0 : -maxWeight,
    upper: maxWeight,
    maxGross,
    netLow: longOnly ? 0 : -maxNet,
    netHigh: maxNet,
  };
}

/**
 * How much of equity a fully invested portfolio holds within the caps: 1, or less where the gross or
 * net cap, or n assets at their largest weight, allow less.
 */
export function investedBudget(constraints: Constraints, assets: number): number {
  return Math.min(1, constraints.maxGross, constraints.maxNet, assets * constraints.maxWeight);
}

/** The fully invested portfolios within the caps: Σwᵢ = investedBudget. */
export function budgetSet(constraints: Constraints, assets: number): FeasibleSet {
  const budget = investedBudget(constraints, assets);
  return { ...capsSet(constraints), netLow: budget, netHigh: budget };
}

/** The first constraint `weights` break (beyond `tolerance`), or undefined when they meet all. */
export function constraintViolation(
  weights: readonly number[],
  constraints: Constraints,
  tolerance = 1e-9,
): string | undefined {
  let gross = 0;
  let net = 0;
  for (const [i, w] of weights.entries()) {
    if (!Number.isFinite(w)) return `weight ${i} is not finite`;
    if (constraints.longOnly && w < -tolerance) return `weight ${i} is short (${w}) in a long-only portfolio`;
    if (Math.abs(w) > constraints.maxWeight + tolerance)
      return `|weight ${i}| ${Math.abs(w)} > max ${constraints.maxWeight}`;
    gross += Math.abs(w);
    net += w;
  }
  if (gross > constraints.maxGross + tolerance) return `gross ${gross} > max ${constraints.maxGross}`;
  if (Math.abs(net) > constraints.maxNet + tolerance)
    return `|net| ${Math.abs(net)} > max ${constraints.maxNet}`;
  return undefined;
}

/** Throws a RangeError naming why no portfolio meets `set`. */
function checkFeasible(set: FeasibleSet, assets: number): void {
  const most = Math.min(assets * set.upper, set.maxGross);
  const least = Math.max(assets * set.lower, -set.maxGross);
  if (
    !(
      set.lower <= 0 &&
      set.upper >= 0 &&
      set.netLow <= set.netHigh &&
      set.netLow <= most &&
      set.netHigh >= least
    )
  )
    throw new RangeError(
      `no portfolio meets the constraints: net must lie in [${set.netLow}, ${set.netHigh}] but can only reach [${least}, ${most}]`,
    );
}

function pointAt(
  v: ArrayLike<number>,
  lambda: number,
  nu: number,
  set: FeasibleSet,
  out: Float64Array,
): void {
  for (let i = 0; i < out.length; i++) {
    const x = v[i]! - nu;
    const shrunk = x > lambda ? x - lambda : x < -lambda ? x + lambda : 0;
    out[i] = Math.min(set.upper, Math.max(set.lower, shrunk));
  }
}

function sumOf(values: Float64Array): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}

function grossOf(values: Float64Array): number {
  let total = 0;
  for (const value of values) total += Math.abs(value);
  return total;
}

/**
 * Fills `out` with the point for `lambda` whose net meets the band: ν = 0 when it already does,
 * else the ν that puts the net on the nearer edge. Σwᵢ(ν) is piecewise linear and falls with ν, with
 * its kinks where some vᵢ − ν crosses ±λ or a bound; a binary search over the sorted kinks finds the
 * piece and a linear step on it the exact ν.
 */
function fitNet(v: ArrayLike<number>, lambda: number, set: FeasibleSet, out: Float64Array): void {
  pointAt(v, lambda, 0, set, out);
  const net = sumOf(out);
  if (net >= set.netLow && net <= set.netHigh) return;
  const target = net > set.netHigh ? set.netHigh : set.netLow;
  const kinks = new Float64Array(4 * out.length);
  for (let i = 0; i < out.length; i++) {
    const vi = v[i]!;
    kinks[4 * i] = vi - lambda - set.upper;
    kinks[4 * i + 1] = vi - lambda;
    kinks[4 * i + 2] = vi + lambda;
    kinks[4 * i + 3] = vi + lambda - set.lower;
  }
  kinks.sort();
  const netAt = (nu: number): number => {
    pointAt(v, lambda, nu, set, out);
    return sumOf(out);
  };
  // Left of the first kink every weight is at its upper bound, right of the last at its lower one:
  // the target lies between (checkFeasible), so some piece [kinks[lo], kinks[hi]] holds it.
  let lo = 0;
  let hi = kinks.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (netAt(kinks[mid]!) >= target) lo = mid;
    else hi = mid;
  }
  const [a, b] = [kinks[lo]!, kinks[hi]!];
  const [netA, netB] = [netAt(a), netAt(b)];
  const nu = netA === netB ? a : a + ((netA - target) * (b - a)) / (netA - netB);
  pointAt(v, lambda, Math.min(b, Math.max(a, nu)), set, out);
}

/** The point of `set` nearest to `v` (Euclidean). */
export function projectOnto(v: ArrayLike<number>, set: FeasibleSet): Float64Array {
  checkFeasible(set, v.length);
  const out = new Float64Array(v.length);
  // Rounding in a budget's sum must not count as a breach of a gross cap equal to it.
  const slack = 1e-13 * Math.max(1, set.maxGross);
  const excess = (lambda: number): number => {
    fitNet(v, lambda, set, out);
    return grossOf(out) - set.maxGross;
  };
  let excessLow = excess(0);
  if (excessLow <= slack) return out;
  let low = 0;
  let high = 1;
  for (let i = 0; i < v.length; i++) high = Math.max(high, 2 * Math.abs(v[i]!));
  let excessHigh = excess(high);
  for (let doubling = 0; doubling < 64 && excessHigh > 0; doubling++) {
    low = high;
    excessLow = excessHigh;
    high *= 2;
    excessHigh = excess(high);
  }
  // The smallest λ whose point meets the gross cap, by regula falsi with the Illinois fix: the
  // excess is piecewise linear in λ, so once the bracket lies on one piece the step lands on the root.
  let kept = 0;
  for (let step = 0; step < 200 && high - low > 1e-15 * high; step++) {
    let lambda = (low * excessHigh - high * excessLow) / (excessHigh - excessLow);
    if (!(lambda > low && lambda < high)) lambda = 0.5 * (low + high);
    const value = excess(lambda);
    if (value <= 0) {
      if (value >= -slack) return out;
      [high, excessHigh] = [lambda, value];
      if (kept === 1) excessLow /= 2;
      kept = 1;
    } else {
      [low, excessLow] = [lambda, value];
      if (kept === -1) excessHigh /= 2;
      kept = -1;
    }
  }
  fitNet(v, high, set, out);
  return out;
}
