// The regime HMM: Baum-Welch recovers the parameters of a known two-state model from data drawn with a
// seeded source; the live filter at t is the same whether or not later data exists, and equals the
// batch forward pass; hostile input is a ConfigError naming the problem, never a NaN probability.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../core/errors.ts';
import {
  filterRegimes,
  fitGaussianHmm,
  type GaussianHmm,
  RegimeFilter,
  regimeExposureScale,
  viterbi,
} from '../../core/regimes/gaussian-hmm.ts';
import { regimeObservations } from '../../core/regimes/observations.ts';
import { sampleGaussianHmm } from '../support/gaussian-hmm-sample.ts';

/** Daily [return, volatility]-like regimes: a calm bull and a volatile bear, return and vol correlated. */
const truth: GaussianHmm = {
  initial: [0.5, 0.5],
  transition: [
    [0.97, 0.03],
    [0.05, 0.95],
  ],
  means: [
    [0.001, 0.01],
    [-0.002, 0.03],
  ],
  covariances: [
    [
      [0.0001, -0.000002],
      [-0.000002, 0.000004],
    ],
    [
      [0.0009, -0.00003],
      [-0.00003, 0.000025],
    ],
  ],
};

const { states, observations } = sampleGaussianHmm(truth, 4000, 7);

describe('Gaussian HMM fit', () => {
  const fit = fitGaussianHmm(observations, { states: 2, seed: 11 });

  it('recovers means, covariances and the transition matrix of the model the data was drawn from', () => {
    assert.ok(fit.converged);
    const { model } = fit;
    // State 0 is the one with the higher mean - variance / 2 of the return: the bull, as in the truth.
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 2; j++) {
        const sd = Math.sqrt(truth.covariances[i]![j]![j]!);
        assert.ok(Math.abs(model.means[i]![j]! - truth.means[i]![j]!) < 0.1 * sd, `mean ${i},${j}`);
        const variance = truth.covariances[i]![j]![j]!;
        assert.ok(Math.abs(model.covariances[i]![j]![j]! / variance - 1) < 0.1, `variance ${i},${j}`);
        assert.ok(
          Math.abs(model.transition[i]![j]! - truth.transition[i]![j]!) < 0.015,
          `transition ${i},${j}`,
        );
      }
      const c = truth.covariances[i]!;
      const correlation = c[0]![1]! / Math.sqrt(c[0]![0]! * c[1]![1]!);
      const m = model.covariances[i]!;
      assert.ok(
        Math.abs(m[0]![1]! / Math.sqrt(m[0]![0]! * m[1]![1]!) - correlation) < 0.1,
        `correlation ${i}`,
      );
    }
    for (const row of model.transition) assert.ok(Math.abs(row[0]! + row[1]! - 1) < 1e-12);
  });

  it('fits at least as well as the true model, and every restart ends with a finite likelihood', () => {
    const underTruth = filterRegimes(truth, observations).logLikelihood;
    assert.ok(fit.logLikelihood >= underTruth - 1e-6);
    assert.equal(fit.restartLogLikelihoods.length, 5);
    assert.ok(fit.restartLogLikelihoods.every(Number.isFinite));
    assert.ok(fit.restartLogLikelihoods.every((ll) => ll <= fit.logLikelihood));
  });

  it('is deterministic for a seed', () => {
    assert.deepEqual(
      fitGaussianHmm(observations.slice(0, 600), { states: 2, seed: 3, restarts: 2 }),
      fitGaussianHmm(observations.slice(0, 600), { states: 2, seed: 3, restarts: 2 }),
    );
  });

  it('decodes the drawn states: the filter and Viterbi agree with them on most bars', () => {
    const filtered = filterRegimes(fit.model, observations).probabilities;
    const filterHits = filtered.filter((p, t) => (p[0]! >= 0.5 ? 0 : 1) === states[t]).length;
    const path = viterbi(fit.model, observations);
    const viterbiHits = path.filter((s, t) => s === states[t]).length;
    assert.ok(filterHits / states.length > 0.9, `filter ${filterHits}`);
    assert.ok(viterbiHits >= filterHits, 'the smoother sees the future, so it should not do worse');
  });

  it('stops at maxIterations and says so', () => {
    const short = fitGaussianHmm(observations, { states: 2, seed: 11, restarts: 1, maxIterations: 2 });
    assert.equal(short.iterations, 2);
    assert.equal(short.converged, false);
  });
});

describe('regime filter, point in time', () => {
  it('gives at t the same probabilities whether or not data after t exists', () => {
    const cut = 1234;
    const prefix = filterRegimes(truth, observations.slice(0, cut + 1)).probabilities;
    const full = filterRegimes(truth, observations).probabilities;
    for (let t = 0; t <= cut; t++) assert.deepEqual(prefix[t], full[t]);
    // And the later data does matter to later bars, so the comparison above could have failed.
    const changed = observations.slice(0, cut + 1).map((x) => [...x]);
    changed[cut] = [-0.2, 0.2];
    assert.notDeepEqual(filterRegimes(truth, changed).probabilities[cut], prefix[cut]);
    assert.deepEqual(filterRegimes(truth, changed).probabilities[cut - 1], prefix[cut - 1]);
  });

  it('updates one observation at a time exactly as the batch forward pass', () => {
    const batch = filterRegimes(truth, observations).probabilities;
    const filter = new RegimeFilter(truth);
    observations.forEach((x, t) => {
      assert.deepEqual(filter.update(x), batch[t]);
    });
    assert.equal(filter.seen, observations.length);
  });

  it('resumes from its probabilities (a snapshot) and continues as if never stopped', () => {
    const batch = filterRegimes(truth, observations.slice(0, 200)).probabilities;
    const first = new RegimeFilter(truth);
    for (const x of observations.slice(0, 100)) first.update(x);
    const resumed = new RegimeFilter(truth, first.probabilities);
    for (let t = 100; t < 200; t++) assert.deepEqual(resumed.update(observations[t]!), batch[t]);
  });

  it('keeps probabilities finite for an observation far from every state', () => {
    const filter = new RegimeFilter(truth);
    const p = filter.update([50, -40]);
    assert.ok(p.every(Number.isFinite));
    assert.ok(Math.abs(p[0]! + p[1]! - 1) < 1e-12);
  });

  it('scales gross exposure by the probability-weighted per-state multiplier', () => {
    assert.equal(regimeExposureScale([0.75, 0.25], [1, 0.5]), 0.875);
    assert.throws(() => regimeExposureScale([0.5, 0.5], [1]), ConfigError);
    assert.throws(() => regimeExposureScale([0.5, 0.5], [1, Number.NaN]), ConfigError);
  });

  it('builds [log return, volatility] observations from closes up to each bar only', () => {
    const closes = [100, 101, 99, 102, 104, 103, 105];
    const { observations: all, firstIndex } = regimeObservations(closes, 3);
    const { observations: prefix } = regimeObservations(closes.slice(0, 6), 3);
    assert.equal(firstIndex, 3);
    assert.equal(all.length, 4);
    assert.deepEqual(all.slice(0, prefix.length), prefix);
    assert.equal(all[0]![0], Math.log(102 / 99));
    const r = [Math.log(101 / 100), Math.log(99 / 101), Math.log(102 / 99)];
    const mean = (r[0]! + r[1]! + r[2]!) / 3;
    const sd = Math.sqrt(r.reduce((a, x) => a + (x - mean) ** 2, 0) / 2);
    assert.ok(Math.abs(all[0]![1] - sd) < 1e-15);
  });
});

describe('regime model, hostile input', () => {
  const rejects = (run: () => unknown, pattern: RegExp): void => {
    assert.throws(run, (error: unknown) => error instanceof ConfigError && pattern.test(error.message));
  };

  it('rejects NaN and infinite observations, naming the one at fault', () => {
    const bad = observations.slice(0, 200).map((x) => [...x]);
    bad[57]![1] = Number.NaN;
    rejects(() => fitGaussianHmm(bad, { states: 2, seed: 1 }), /observations\[57\]\[1\]: is NaN/);
    const filter = new RegimeFilter(truth);
    filter.update(observations[0]!);
    const before = filter.probabilities;
    rejects(() => filter.update([Number.POSITIVE_INFINITY, 0.01]), /observation 1\[0\]: is Infinity/);
    rejects(() => filter.update([0.01]), /has 1 values, the model 2/);
    assert.deepEqual(filter.probabilities, before, 'a refused observation leaves the filter as it was');
    rejects(() => filterRegimes(truth, [[0, Number.NaN]]), /is NaN/);
  });

  it('rejects too few observations for the number of states', () => {
    rejects(() => fitGaussianHmm(observations.slice(0, 39), { states: 2, seed: 1 }), /39 given, 40 needed/);
    rejects(() => fitGaussianHmm([], { states: 2, seed: 1 }), /0 given/);
  });

  it('rejects a dimension with no variance', () => {
    const flat = observations.slice(0, 200).map((x) => [x[0]!, 0.02]);
    rejects(() => fitGaussianHmm(flat, { states: 2, seed: 1 }), /dimension 1: has no variance/);
  });

  it('keeps a state that collapses onto repeated points invertible (the variance floor)', () => {
    // Half the series is one repeated point: a state can sit on it with zero sample variance.
    const data = observations.slice(0, 200).map((x, t) => (t % 2 === 0 ? [0.001, 0.01] : [...x]));
    const fit = fitGaussianHmm(data, { states: 2, seed: 5, restarts: 3 });
    assert.ok(Number.isFinite(fit.logLikelihood));
    for (const p of filterRegimes(fit.model, data).probabilities) assert.ok(p.every(Number.isFinite));
  });

  it('rejects a model whose covariance is singular or whose rows are not probabilities', () => {
    const singular: GaussianHmm = {
      ...truth,
      covariances: [
        truth.covariances[0]!,
        [
          [1, 1],
          [1, 1],
        ],
      ],
    };
    rejects(() => new RegimeFilter(singular), /covariances\[1\]: is not positive definite/);
    const badRow: GaussianHmm = { ...truth, transition: [[0.5, 0.6], truth.transition[1]!] };
    rejects(() => new RegimeFilter(badRow), /transition\[0\]: must be 2 probabilities summing to 1/);
    rejects(() => new RegimeFilter(truth, [0.5, Number.NaN]), /resume/);
  });

  it('rejects bad options', () => {
    rejects(() => fitGaussianHmm(observations, { states: 0, seed: 1 }), /states/);
    rejects(() => fitGaussianHmm(observations, { states: 2, seed: 1, restarts: 0 }), /restarts/);
    rejects(() => fitGaussianHmm(observations, { states: 2, seed: 1, tolerance: Number.NaN }), /tolerance/);
  });
});
