// Property tests: on seeded random covariances (core/random.ts) and random constraints, every
// construction method's weights meet every constraint; the projection is the nearest feasible point
// (no random feasible point is closer); and the optimiser's answer is no worse than any random
// feasible point, for minimum variance, mean-variance and Kelly alike.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  budgetSet,
  capsSet,
  constraintViolation,
  type FeasibleSet,
  projectOnto,
} from '../../core/construction/constraints.ts';
import { solveQuadraticProgram } from '../../core/construction/optimizer.ts';
import { constructionMethods } from '../../core/construction/registry.ts';
import type { Constraints, ConstructionInput } from '../../core/construction/types.ts';
import { SeededRandom } from '../../core/random.ts';
import { randomCovariance } from '../support/construction.ts';

const constraintsArbitrary: fc.Arbitrary<Constraints> = fc.record({
  longOnly: fc.boolean(),
  maxWeight: fc.double({ min: 0.05, max: 1.5, noNaN: true }),
  maxGross: fc.double({ min: 0.3, max: 3, noNaN: true }),
  maxNet: fc.double({ min: 0.1, max: 2, noNaN: true }),
});

const caseArbitrary = fc.record({
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  assets: fc.integer({ min: 1, max: 9 }),
  constraints: constraintsArbitrary,
});

/** A rebalance's input with seeded expected returns (±5 bp a day) and one view per asset on half of them. */
function randomInput(seed: number, assets: number, constraints: Constraints): ConstructionInput {
  const random = new SeededRandom(seed ^ 0x9e3779b9);
  const symbols = Array.from({ length: assets }, (_, i) => `S${i}`);
  return {
    symbols,
    covariance: randomCovariance(seed, assets),
    expectedReturns: symbols.map(() => (random.next() - 0.5) * 0.001),
    views: symbols
      .filter(() => random.next() < 0.5)
      .map((symbol) => ({
        assets: { [symbol]: 1 },
        expectedReturn: (random.next() - 0.5) * 0.002,
        confidence: 0.05 + 0.95 * random.next(),
      })),
    constraints,
  };
}

function randomVector(random: SeededRandom, n: number, scale: number): number[] {
  return Array.from({ length: n }, () => (random.next() - 0.5) * 2 * scale);
}

function distanceSquared(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < a.length; i++) total += (a[i]! - b[i]!) ** 2;
  return total;
}

function violation(weights: ArrayLike<number>, set: FeasibleSet, tolerance = 1e-9): string | undefined {
  let [gross, net] = [0, 0];
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i]!;
    if (w < set.lower - tolerance || w > set.upper + tolerance)
      return `weight ${i} = ${w} outside [${set.lower}, ${set.upper}]`;
    gross += Math.abs(w);
    net += w;
  }
  if (gross > set.maxGross + tolerance) return `gross ${gross} > ${set.maxGross}`;
  if (net < set.netLow - tolerance || net > set.netHigh + tolerance)
    return `net ${net} outside [${set.netLow}, ${set.netHigh}]`;
  return undefined;
}

describe('construction properties', () => {
  it('every method’s weights meet every constraint', () => {
    const methods = Object.entries(constructionMethods).map(
      ([name, entry]) => [name, entry.create()] as const,
    );
    fc.assert(
      fc.property(caseArbitrary, ({ seed, assets, constraints }) => {
        const input = randomInput(seed, assets, constraints);
        for (const [name, method] of methods) {
          const weights = method.weights(input);
          assert.deepEqual(Object.keys(weights), input.symbols, name);
          const values = input.symbols.map((symbol) => weights[symbol]!);
          const broken = constraintViolation(values, constraints);
          assert.equal(broken, undefined, `${name}: ${broken} for ${JSON.stringify(constraints)}`);
        }
      }),
      { seed: 1818, numRuns: 150 },
    );
  });

  it('allocation and minimum-variance portfolios are fully invested up to the caps', () => {
    fc.assert(
      fc.property(caseArbitrary, ({ seed, assets, constraints }) => {
        const input = randomInput(seed, assets, constraints);
        const budget = Math.min(1, constraints.maxGross, constraints.maxNet, assets * constraints.maxWeight);
        for (const name of ['equal_weight', 'inverse_volatility', 'hrp', 'minimum_variance'] as const) {
          const weights = constructionMethods[name].create().weights(input);
          const net = Object.values(weights).reduce((a, b) => a + b, 0);
          assert.ok(Math.abs(net - budget) < 1e-9, `${name}: net ${net}, budget ${budget}`);
        }
      }),
      { seed: 1819, numRuns: 100 },
    );
  });

  it('the projection is feasible and no random feasible point is nearer', () => {
    fc.assert(
      fc.property(caseArbitrary, fc.boolean(), ({ seed, assets, constraints }, budget) => {
        const set = budget ? budgetSet(constraints, assets) : capsSet(constraints);
        const random = new SeededRandom(seed);
        const target = randomVector(random, assets, 2);
        const projected = projectOnto(target, set);
        assert.equal(violation(projected, set), undefined);
        const nearest = distanceSquared(projected, target);
        for (let k = 0; k < 30; k++) {
          const other = projectOnto(randomVector(random, assets, 3), set);
          assert.ok(
            distanceSquared(other, target) >= nearest - 1e-12,
            'a feasible point is nearer than the projection',
          );
          // Points between two feasible points are feasible too (convexity) and no nearer either.
          const mid = projected.map((p, i) => 0.9 * p + 0.1 * other[i]!);
          assert.ok(distanceSquared(mid, target) >= nearest - 1e-12);
        }
      }),
      { seed: 1820, numRuns: 300 },
    );
  });

  it('the optimiser’s objective is no worse than any random feasible point', () => {
    fc.assert(
      fc.property(caseArbitrary, fc.boolean(), ({ seed, assets, constraints }, budget) => {
        const covariance = randomCovariance(seed, assets).to2DArray();
        const random = new SeededRandom(seed + 7);
        const linear = budget ? new Array<number>(assets).fill(0) : randomVector(random, assets, 0.001);
        const set = budget ? budgetSet(constraints, assets) : capsSet(constraints);
        const objective = (w: ArrayLike<number>): number => {
          let value = 0;
          for (let i = 0; i < assets; i++) {
            let row = 0;
            for (let j = 0; j < assets; j++) row += covariance[i]![j]! * w[j]!;
            value += 0.5 * w[i]! * row - linear[i]! * w[i]!;
          }
          return value;
        };
        const solution = solveQuadraticProgram({ quadratic: covariance, linear, set });
        assert.equal(violation(solution, set), undefined);
        const best = objective(solution);
        for (let k = 0; k < 40; k++) {
          const other = projectOnto(randomVector(random, assets, 2), set);
          const near = solution.map((s, i) => 0.99 * s + 0.01 * other[i]!);
          for (const candidate of [other, near])
            assert.ok(
              objective(candidate) >= best - 1e-12 * (1 + Math.abs(best)),
              `${objective(candidate)} < ${best}`,
            );
        }
      }),
      { seed: 1821, numRuns: 200 },
    );
  });
});
