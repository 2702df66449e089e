// Draws a series from a known Gaussian HMM with a seeded source, for tests that check a fit recovers
// the parameters it was drawn with.
import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import { SeededRandom } from '../../core/random.ts';
import type { GaussianHmm } from '../../core/regimes/gaussian-hmm.ts';

/** Standard normal by Box-Muller (1 - u keeps the logarithm finite). */
function normal(random: SeededRandom): number {
  const u = 1 - random.next();
  const v = random.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

function draw(probabilities: readonly number[], random: SeededRandom): number {
  let u = random.next();
  for (let i = 0; i < probabilities.length - 1; i++) {
    u -= probabilities[i]!;
    if (u < 0) return i;
  }
  return probabilities.length - 1;
}

export function sampleGaussianHmm(
  model: GaussianHmm,
  length: number,
  seed: number,
): { states: number[]; observations: number[][] } {
  const random = new SeededRandom(seed);
  const lowers = model.covariances.map(
    (c) => new CholeskyDecomposition(new Matrix(c.map((row) => [...row]))).lowerTriangularMatrix,
  );
  const states: number[] = [];
  const observations: number[][] = [];
  let state = draw(model.initial, random);
  for (let t = 0; t < length; t++) {
    if (t > 0) state = draw(model.transition[state]!, random);
    const mean = model.means[state]!;
    const lower = lowers[state]!;
    const z = mean.map(() => normal(random));
    observations.push(mean.map((m, i) => m + z.reduce((sum, zj, j) => sum + lower.get(i, j) * zj, 0)));
    states.push(state);
  }
  return { states, observations };
}
