// A Gaussian hidden Markov model of market regimes (DCA manual §3.1): K hidden states, each emitting
// a d-dimensional observation (e.g. [log return, rolling volatility]) from its own multivariate normal
// with a FULL covariance matrix (return and volatility are correlated within a regime, which a diagonal
// model would miss). Fitting (Baum-Welch) is research work; live use runs only the forward filter, so
// the regime probability at bar t is computed from observations 0..t and never from anything later.
//
// The forward-backward passes are scaled: each step's forward vector is normalised to sum to 1 and the
// scale is kept in log space, emission densities are evaluated as log densities and shifted by their
// maximum before exponentiating, so neither long series nor far-out observations underflow.
import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import { ConfigError } from '../errors.ts';
import { type RandomSource, SeededRandom } from '../random.ts';

/** A fitted model as plain data (JSON-safe, so it can be stored with a model artifact or snapshot). */
export interface GaussianHmm {
  /** P(S_0 = i). */
  readonly initial: readonly number[];
  /** transition[i][j] = P(S_t = j | S_t-1 = i); rows sum to 1. */
  readonly transition: readonly (readonly number[])[];
  /** Per state, the emission mean (length d). */
  readonly means: readonly (readonly number[])[];
  /** Per state, the full d x d emission covariance. */
  readonly covariances: readonly (readonly (readonly number[])[])[];
}

export type Observation = ArrayLike<number>;

export interface HmmFitOptions {
  readonly states: number;
  /** Seed of the restarts' initial guesses: the same seed and data give the same model. */
  readonly seed: number;
  /** Independent starts; the one with the highest log-likelihood wins. Default 5. */
  readonly restarts?: number;
  /** Stop when one iteration raises the log-likelihood by less than this. Default 1e-6. */
  readonly tolerance?: number;
  /** Default 500. */
  readonly maxIterations?: number;
  /**
   * Added to each covariance's diagonal, as a fraction of the data's variance per dimension, so a
   * state that collapses onto a few points keeps an invertible covariance. Default 1e-6.
   */
  readonly varianceFloor?: number;
}

export interface HmmFit {
  readonly model: GaussianHmm;
  readonly logLikelihood: number;
  readonly iterations: number;
  /** False when the best restart stopped at maxIterations. */
  readonly converged: boolean;
  /** The log-likelihood each restart ended with, in restart order. */
  readonly restartLogLikelihoods: readonly number[];
}

/** Fewer observations per state than this cannot pin down a mean, a covariance and a transition row. */
export const MIN_OBSERVATIONS_PER_STATE = 20;

const LOG_2PI = Math.log(2 * Math.PI);

/** One state's emission density, factorised once: log N(x) = constant - |L^-1 (x - mean)|^2 / 2. */
class GaussianEmission {
  private readonly lower: Float64Array;
  private readonly constant: number;
  private readonly scratch: Float64Array;

  constructor(
    private readonly mean: readonly number[],
    covariance: readonly (readonly number[])[],
    field: string,
  ) {
    const d = mean.length;
    const cholesky = new CholeskyDecomposition(new Matrix(covariance.map((row) => [...row])));
    if (!cholesky.isPositiveDefinite()) {
      throw new ConfigError(field, 'is not positive definite', 'Give each state a covariance of full rank');
    }
    const lower = cholesky.lowerTriangularMatrix;
    this.lower = new Float64Array(d * d);
    let logDet = 0;
    for (let i = 0; i < d; i++) {
      for (let j = 0; j <= i; j++) this.lower[i * d + j] = lower.get(i, j);
      logDet += 2 * Math.log(lower.get(i, i));
    }
    this.constant = -0.5 * (d * LOG_2PI + logDet);
    this.scratch = new Float64Array(d);
  }

  logDensity(x: Observation): number {
    const d = this.mean.length;
    const z = this.scratch;
    let quadratic = 0;
    // Forward substitution L z = x - mean.
    for (let i = 0; i < d; i++) {
      let v = x[i]! - this.mean[i]!;
      for (let j = 0; j < i; j++) v -= this.lower[i * d + j]! * z[j]!;
      z[i] = v / this.lower[i * d + i]!;
      quadratic += z[i]! * z[i]!;
    }
    return this.constant - 0.5 * quadratic;
  }
}

/** Checks a model's shapes and probabilities; returns its emissions. Bad models are ConfigErrors. */
function emissionsOf(model: GaussianHmm): GaussianEmission[] {
  const k = model.initial.length;
  const d = model.means[0]?.length ?? 0;
  if (k < 1 || d < 1) throw new ConfigError('hmm', 'has no states or no dimensions', 'Fit the model first');
  const probabilities = (row: readonly number[], field: string): void => {
    const sum = row.reduce((a, p) => a + p, 0);
    if (row.length !== k || row.some((p) => !(p >= 0)) || Math.abs(sum - 1) > 1e-9) {
      throw new ConfigError(
        field,
        `must be ${k} probabilities summing to 1`,
        'Use the fitted model unchanged',
      );
    }
  };
  probabilities(model.initial, 'hmm.initial');
  if (model.transition.length !== k) throw new ConfigError('hmm.transition', `needs ${k} rows`, 'Refit');
  model.transition.forEach((row, i) => {
    probabilities(row, `hmm.transition[${i}]`);
  });
  if (model.means.length !== k || model.covariances.length !== k) {
    throw new ConfigError('hmm.means', `needs ${k} means and covariances`, 'Refit');
  }
  return model.means.map((mean, i) => {
    const covariance = model.covariances[i]!;
    const field = `hmm.covariances[${i}]`;
    if (mean.length !== d || !mean.every(Number.isFinite)) {
      throw new ConfigError(`hmm.means[${i}]`, `must be ${d} finite numbers`, 'Refit');
    }
    if (
      covariance.length !== d ||
      covariance.some((row) => row.length !== d || !row.every(Number.isFinite))
    ) {
      throw new ConfigError(field, `must be a finite ${d}x${d} matrix`, 'Refit');
    }
    return new GaussianEmission(mean, covariance, field);
  });
}

function checkObservation(x: Observation, d: number, field: string): void {
  if (x.length !== d)
    throw new ConfigError(field, `has ${x.length} values, the model ${d}`, 'Give every dimension');
  for (let j = 0; j < d; j++) {
    if (!Number.isFinite(x[j]!)) {
      throw new ConfigError(`${field}[${j}]`, `is ${x[j]}`, 'Drop or fill non-finite observations first');
    }
  }
}

/**
 * One scaled forward step: from the filtered probabilities after t-1 (or the initial distribution,
 * `previous` undefined), the filtered probabilities after observation t are written to `out`; returns
 * log P(x_t | x_0..t-1). `logDensities` is scratch of length K.
 */
function forwardStep(
  model: GaussianHmm,
  emissions: readonly GaussianEmission[],
  previous: Float64Array | undefined,
  x: Observation,
  logDensities: Float64Array,
  out: Float64Array,
): number {
  const k = emissions.length;
  let peak = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < k; i++) {
    logDensities[i] = emissions[i]!.logDensity(x);
    if (logDensities[i]! > peak) peak = logDensities[i]!;
  }
  let total = 0;
  for (let j = 0; j < k; j++) {
    let prior: number;
    if (previous === undefined) prior = model.initial[j]!;
    else {
      prior = 0;
      for (let i = 0; i < k; i++) prior += previous[i]! * model.transition[i]![j]!;
    }
    out[j] = prior * Math.exp(logDensities[j]! - peak);
    total += out[j]!;
  }
  // The state nearest the observation has density exp(0) = 1 after the shift, so total is 0 only if
  // every state with that density is unreachable; fall back to the densities alone rather than 0/0.
  if (!(total > 0)) {
    total = 0;
    for (let j = 0; j < k; j++) total += out[j] = Math.exp(logDensities[j]! - peak);
  }
  for (let j = 0; j < k; j++) out[j]! /= total;
  return Math.log(total) + peak;
}

/**
 * The live filter: feed observations in time order; each `update` returns P(S_t = i | x_0..x_t), so a
 * regime read at t can never depend on data after t. Its state is the last probability vector, which
 * `probabilities` exposes for snapshots and the constructor takes back.
 */
export class RegimeFilter {
  private readonly emissions: GaussianEmission[];
  private readonly dimension: number;
  private readonly logDensities: Float64Array;
  private current: Float64Array | undefined;
  private next: Float64Array;
  private taken = 0;

  constructor(
    private readonly model: GaussianHmm,
    /** Filtered probabilities to resume from (a snapshot's); absent, the first update uses `initial`. */
    resumeFrom?: readonly number[],
  ) {
    this.emissions = emissionsOf(model);
    this.dimension = model.means[0]!.length;
    const k = this.emissions.length;
    this.logDensities = new Float64Array(k);
    this.next = new Float64Array(k);
    if (resumeFrom !== undefined) {
      const sum = resumeFrom.reduce((a, p) => a + p, 0);
      if (resumeFrom.length !== k || resumeFrom.some((p) => !(p >= 0)) || Math.abs(sum - 1) > 1e-9) {
        throw new ConfigError(
          'regime filter resume',
          `must be ${k} probabilities summing to 1`,
          'Use a snapshot',
        );
      }
      this.current = Float64Array.from(resumeFrom);
    }
  }

  /** Observations taken since construction. */
  get seen(): number {
    return this.taken;
  }

  /** The filtered probabilities after the last update (undefined before the first). */
  get probabilities(): readonly number[] | undefined {
    return this.current && Array.from(this.current);
  }

  /**
   * Takes observation t; returns the filtered regime probabilities at t (a fresh array). A non-finite
   * or wrongly sized observation is a ConfigError and leaves the filter as it was.
   */
  update(observation: Observation): number[] {
    checkObservation(observation, this.dimension, `regime observation ${this.taken}`);
    forwardStep(this.model, this.emissions, this.current, observation, this.logDensities, this.next);
    const done = this.next;
    this.next = this.current ?? new Float64Array(done.length);
    this.current = done;
    this.taken++;
    return Array.from(done);
  }
}

function checkObservations(observations: readonly Observation[], d: number): void {
  observations.forEach((x, t) => {
    checkObservation(x, d, `hmm observations[${t}]`);
  });
}

interface ForwardPass {
  /** T x K filtered probabilities, row-major. */
  readonly filtered: Float64Array;
  /** log P(x_t | x_0..t-1) per t: the scales. */
  readonly logScales: Float64Array;
  readonly logLikelihood: number;
}

function forward(
  model: GaussianHmm,
  emissions: readonly GaussianEmission[],
  xs: readonly Observation[],
): ForwardPass {
  const k = emissions.length;
  const n = xs.length;
  const filtered = new Float64Array(n * k);
  const logScales = new Float64Array(n);
  const logDensities = new Float64Array(k);
  let logLikelihood = 0;
  for (let t = 0; t < n; t++) {
    const previous = t === 0 ? undefined : filtered.subarray((t - 1) * k, t * k);
    logScales[t] = forwardStep(model, emissions, previous, xs[t]!, logDensities, filtered.subarray(t * k));
    logLikelihood += logScales[t]!;
  }
  return { filtered, logScales, logLikelihood };
}

/**
 * The batch forward pass: row t holds P(S_t | x_0..x_t), exactly what a RegimeFilter fed the same
 * observations returns at t. Also the model's log-likelihood of the series.
 */
export function filterRegimes(
  model: GaussianHmm,
  observations: readonly Observation[],
): { readonly probabilities: number[][]; readonly logLikelihood: number } {
  const emissions = emissionsOf(model);
  checkObservations(observations, model.means[0]!.length);
  const { filtered, logLikelihood } = forward(model, emissions, observations);
  const k = emissions.length;
  const probabilities = observations.map((_, t) => Array.from(filtered.subarray(t * k, (t + 1) * k)));
  return { probabilities, logLikelihood };
}

/** The most likely state sequence given the whole series (research only: it looks ahead). */
export function viterbi(model: GaussianHmm, observations: readonly Observation[]): number[] {
  const emissions = emissionsOf(model);
  checkObservations(observations, model.means[0]!.length);
  const k = emissions.length;
  const n = observations.length;
  if (n === 0) return [];
  const logA = model.transition.map((row) => row.map(Math.log));
  let score = model.initial.map((p, i) => Math.log(p) + emissions[i]!.logDensity(observations[0]!));
  const back = new Int32Array(n * k);
  for (let t = 1; t < n; t++) {
    const next = new Array<number>(k);
    for (let j = 0; j < k; j++) {
      let best = 0;
      let bestScore = Number.NEGATIVE_INFINITY;
      for (let i = 0; i < k; i++) {
        const s = score[i]! + logA[i]![j]!;
        if (s > bestScore) {
          bestScore = s;
          best = i;
        }
      }
      back[t * k + j] = best;
      next[j] = bestScore + emissions[j]!.logDensity(observations[t]!);
    }
    score = next;
  }
  const path = new Array<number>(n);
  path[n - 1] = score.indexOf(Math.max(...score));
  for (let t = n - 1; t > 0; t--) path[t - 1] = back[t * k + path[t]!]!;
  return path;
}

/** Per-dimension mean and variance of the data, and its covariance (the restarts' starting spread). */
function moments(xs: readonly Observation[], d: number): { mean: number[]; covariance: number[][] } {
  const n = xs.length;
  const mean = new Array<number>(d).fill(0);
  for (const x of xs) for (let j = 0; j < d; j++) mean[j]! += x[j]! / n;
  const covariance = Array.from({ length: d }, () => new Array<number>(d).fill(0));
  for (const x of xs) {
    for (let a = 0; a < d; a++) {
      for (let b = 0; b < d; b++) covariance[a]![b]! += ((x[a]! - mean[a]!) * (x[b]! - mean[b]!)) / n;
    }
  }
  return { mean, covariance };
}

/** A restart's first guess: means at K distinct random observations, the data's covariance, sticky rows. */
function initialGuess(
  xs: readonly Observation[],
  k: number,
  covariance: number[][],
  random: RandomSource,
): GaussianHmm {
  const picked = new Set<number>();
  while (picked.size < k) picked.add(Math.floor(random.next() * xs.length));
  const means = [...picked].map((t) => Array.from(xs[t]!));
  const transition = Array.from({ length: k }, (_, i) => {
    const row = Array.from({ length: k }, (_, j) => (i === j ? 0.8 * k : 0) + random.next() + 0.05);
    const sum = row.reduce((a, v) => a + v, 0);
    return row.map((v) => v / sum);
  });
  return {
    initial: new Array<number>(k).fill(1 / k),
    transition,
    means,
    covariances: means.map(() => covariance.map((row) => [...row])),
  };
}

interface Improvement {
  model: GaussianHmm;
  logLikelihood: number;
  iterations: number;
  converged: boolean;
}

/** Baum-Welch (EM) from one starting model, with scaled forward-backward. */
function baumWelch(
  start: GaussianHmm,
  xs: readonly Observation[],
  floor: readonly number[],
  tolerance: number,
  maxIterations: number,
): Improvement {
  const k = start.initial.length;
  const d = floor.length;
  const n = xs.length;
  let model = start;
  let previousLogLikelihood = Number.NEGATIVE_INFINITY;
  const posterior = new Float64Array(n * k);
  const beta = new Float64Array(n * k);
  const scaledDensities = new Float64Array(n * k);
  for (let iteration = 0; iteration < maxIterations; iteration++) {
    const emissions = emissionsOf(model);
    const { filtered, logScales, logLikelihood } = forward(model, emissions, xs);
    if (iteration > 0 && logLikelihood - previousLogLikelihood < tolerance) {
      return { model, logLikelihood, iterations: iteration, converged: true };
    }
    previousLogLikelihood = logLikelihood;
    // b_j(x_t) / c_t with c_t = P(x_t | x_<t): the densities the scaled backward pass and xi use.
    for (let t = 0; t < n; t++) {
      for (let j = 0; j < k; j++) {
        scaledDensities[t * k + j] = Math.exp(emissions[j]!.logDensity(xs[t]!) - logScales[t]!);
      }
    }
    // Scaled backward pass: beta_t(i) = sum_j a_ij b_j(x_t+1) beta_t+1(j) / c_t+1.
    beta.fill(1, (n - 1) * k);
    for (let t = n - 2; t >= 0; t--) {
      for (let i = 0; i < k; i++) {
        let sum = 0;
        for (let j = 0; j < k; j++) {
          sum += model.transition[i]![j]! * scaledDensities[(t + 1) * k + j]! * beta[(t + 1) * k + j]!;
        }
        beta[t * k + i] = sum;
      }
    }
    // gamma_t(i) = alpha_t(i) beta_t(i); xi_t(i, j) = alpha_t(i) a_ij b_j(x_t+1) beta_t+1(j) / c_t+1.
    const transitionCounts = Array.from({ length: k }, () => new Array<number>(k).fill(0));
    for (let t = 0; t < n; t++) {
      for (let i = 0; i < k; i++) posterior[t * k + i] = filtered[t * k + i]! * beta[t * k + i]!;
      if (t === n - 1) continue;
      for (let i = 0; i < k; i++) {
        const alpha = filtered[t * k + i]!;
        for (let j = 0; j < k; j++) {
          transitionCounts[i]![j]! +=
            alpha * model.transition[i]![j]! * scaledDensities[(t + 1) * k + j]! * beta[(t + 1) * k + j]!;
        }
      }
    }
    model = maximise(xs, posterior, transitionCounts, floor, k, d);
  }
  const { logLikelihood } = forward(model, emissionsOf(model), xs);
  return { model, logLikelihood, iterations: maxIterations, converged: false };
}

/** The M step: weighted means and covariances (plus the floor), normalised transition counts. */
function maximise(
  xs: readonly Observation[],
  posterior: Float64Array,
  transitionCounts: number[][],
  floor: readonly number[],
  k: number,
  d: number,
): GaussianHmm {
  const n = xs.length;
  const initial = Array.from(posterior.subarray(0, k));
  const transition = transitionCounts.map((row, i) => {
    const sum = row.reduce((a, v) => a + v, 0);
    // A state never visited before the last bar keeps itself: a valid row rather than 0/0.
    return sum > 0 ? row.map((v) => v / sum) : row.map((_, j) => (j === i ? 1 : 0));
  });
  const means: number[][] = [];
  const covariances: number[][][] = [];
  for (let i = 0; i < k; i++) {
    let weight = 0;
    const mean = new Array<number>(d).fill(0);
    for (let t = 0; t < n; t++) {
      const g = posterior[t * k + i]!;
      weight += g;
      for (let a = 0; a < d; a++) mean[a]! += g * xs[t]![a]!;
    }
    const covariance = Array.from({ length: d }, () => new Array<number>(d).fill(0));
    if (weight > 0) {
      for (let a = 0; a < d; a++) mean[a]! /= weight;
      for (let t = 0; t < n; t++) {
        const g = posterior[t * k + i]! / weight;
        for (let a = 0; a < d; a++) {
          const da = xs[t]![a]! - mean[a]!;
          for (let b = 0; b <= a; b++) covariance[a]![b]! += g * da * (xs[t]![b]! - mean[b]!);
        }
      }
    }
    for (let a = 0; a < d; a++) {
      covariance[a]![a]! += floor[a]!;
      for (let b = 0; b < a; b++) covariance[b]![a] = covariance[a]![b]!;
    }
    means.push(mean);
    covariances.push(covariance);
  }
  return { initial, transition, means, covariances };
}

/**
 * The states renumbered by the manual's score mean_0 - variance_0 / 2 (dimension 0 is the return),
 * highest first: state 0 is the calmest bull, the last the bear, whichever restart found them.
 */
function ordered(model: GaussianHmm): GaussianHmm {
  const score = (i: number): number => model.means[i]![0]! - 0.5 * model.covariances[i]![0]![0]!;
  const order = model.initial.map((_, i) => i).sort((a, b) => score(b) - score(a));
  return {
    initial: order.map((i) => model.initial[i]!),
    transition: order.map((i) => order.map((j) => model.transition[i]![j]!)),
    means: order.map((i) => model.means[i]!),
    covariances: order.map((i) => model.covariances[i]!),
  };
}

/**
 * Fits a K-state Gaussian HMM (full covariances) by Baum-Welch from `restarts` seeded starts and keeps
 * the most likely. States come ordered by mean_0 - variance_0 / 2, highest first. Non-finite values,
 * too few observations or a dimension with no variance are ConfigErrors naming the problem.
 */
export function fitGaussianHmm(observations: readonly Observation[], options: HmmFitOptions): HmmFit {
  const { states: k, seed } = options;
  const restarts = options.restarts ?? 5;
  const tolerance = options.tolerance ?? 1e-6;
  const maxIterations = options.maxIterations ?? 500;
  const floorFraction = options.varianceFloor ?? 1e-6;
  if (!Number.isInteger(k) || k < 1)
    throw new ConfigError('hmm states', `must be an integer >= 1, got ${k}`, 'Use 2');
  if (!Number.isInteger(restarts) || restarts < 1) {
    throw new ConfigError('hmm restarts', `must be an integer >= 1, got ${restarts}`, 'Use e.g. 5');
  }
  if (!Number.isInteger(maxIterations) || maxIterations < 1) {
    throw new ConfigError(
      'hmm maxIterations',
      `must be an integer >= 1, got ${maxIterations}`,
      'Use e.g. 500',
    );
  }
  if (!(tolerance > 0))
    throw new ConfigError('hmm tolerance', `must be > 0, got ${tolerance}`, 'Use e.g. 1e-6');
  if (!(floorFraction > 0)) {
    throw new ConfigError('hmm varianceFloor', `must be > 0, got ${floorFraction}`, 'Use e.g. 1e-6');
  }
  const needed = MIN_OBSERVATIONS_PER_STATE * k;
  if (observations.length < needed) {
    throw new ConfigError(
      'hmm observations',
      `${observations.length} given, ${needed} needed for ${k} states`,
      'Fit on a longer history or fewer states',
    );
  }
  const d = observations[0]!.length;
  if (d < 1)
    throw new ConfigError('hmm observations[0]', 'is empty', 'Give at least one value per observation');
  checkObservations(observations, d);
  const { covariance } = moments(observations, d);
  const variances = covariance.map((row, j) => row[j]!);
  for (let j = 0; j < d; j++) {
    // Exact sameness, not a variance threshold: the mean of a constant column need not be exact.
    const first = observations[0]![j]!;
    if (observations.every((x) => x[j] === first)) {
      throw new ConfigError(
        `hmm observations dimension ${j}`,
        'has no variance (every value is the same)',
        'Drop the constant dimension or use a longer history',
      );
    }
  }
  const floor = variances.map((v) => v * floorFraction);
  const random = new SeededRandom(seed);
  let best: Improvement | undefined;
  const restartLogLikelihoods: number[] = [];
  for (let r = 0; r < restarts; r++) {
    const result = baumWelch(
      initialGuess(observations, k, covariance, random),
      observations,
      floor,
      tolerance,
      maxIterations,
    );
    restartLogLikelihoods.push(result.logLikelihood);
    if (best === undefined || result.logLikelihood > best.logLikelihood) best = result;
  }
  const winner = best!;
  if (!Number.isFinite(winner.logLikelihood)) {
    throw new ConfigError(
      'hmm observations',
      'give no finite likelihood under any restart',
      'Check the data scale',
    );
  }
  return {
    model: ordered(winner.model),
    logLikelihood: winner.logLikelihood,
    iterations: winner.iterations,
    converged: winner.converged,
    restartLogLikelihoods,
  };
}

/**
 * The gross-exposure multiplier for filtered regime probabilities: the probability-weighted mean of a
 * per-state multiplier (states in the fitted order, bull first), e.g. [1, 0.5] halves exposure in a
 * certain bear and scales smoothly between.
 */
export function regimeExposureScale(probabilities: readonly number[], perState: readonly number[]): number {
  if (perState.length !== probabilities.length || !perState.every((s) => Number.isFinite(s) && s >= 0)) {
    throw new ConfigError(
      'regime exposure scale',
      `needs ${probabilities.length} finite multipliers >= 0, got [${perState.join(', ')}]`,
      'Give one multiplier per regime state',
    );
  }
  return probabilities.reduce((sum, p, i) => sum + p * perState[i]!, 0);
}
