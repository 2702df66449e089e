// The InferenceActor's lifecycle machine, direction rule, registry rollback log and drift watch.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideDirection } from '../../actors/inference/core.ts';
import { DriftMonitor, ksStatistic, populationStabilityIndex } from '../../actors/inference/drift.ts';
import { createInferenceLifecycle } from '../../actors/inference/machine.ts';
import { activationStack } from '../../actors/inference/registry.ts';
import { SeededRandom } from '../../core/random.ts';
import { referenceDistribution } from '../../simulations/research/onnx-export.ts';

describe('inference lifecycle machine', () => {
  it('loading → serving ⇄ swapping; a refused swap goes back to serving with the old model', () => {
    const actor = createInferenceLifecycle();
    const state = () => actor.getSnapshot().value;
    assert.equal(state(), 'loading');
    actor.send({ type: 'LOADED', modelId: 'a', provider: 'cpu' });
    assert.equal(state(), 'serving');
    actor.send({ type: 'SWAP_REQUESTED', modelId: 'b' });
    assert.equal(state(), 'swapping');
    assert.equal(actor.getSnapshot().context.candidate, 'b');
    actor.send({ type: 'SWAP_REFUSED', modelId: 'b', reason: 'feature set differs' });
    assert.equal(state(), 'serving');
    assert.equal(actor.getSnapshot().context.activeModel, 'a');
    assert.equal(actor.getSnapshot().context.refusedModels, 1);
    actor.send({ type: 'SWAP_REQUESTED', modelId: 'c' });
    actor.send({ type: 'SWAPPED', modelId: 'c', provider: 'cuda' });
    assert.equal(state(), 'serving');
    assert.deepEqual(
      [actor.getSnapshot().context.activeModel, actor.getSnapshot().context.provider],
      ['c', 'cuda'],
    );
    actor.send({ type: 'STOP' });
    assert.equal(state(), 'stopped');
  });

  it('degraded when no model loads, or a batch fails; recovers or swaps out of it', () => {
    const actor = createInferenceLifecycle();
    const state = () => actor.getSnapshot().value;
    actor.send({ type: 'LOAD_FAILED', reason: 'no model is active' });
    assert.equal(state(), 'degraded');
    actor.send({ type: 'RECOVERED' });
    assert.equal(state(), 'degraded', 'nothing to serve with');
    actor.send({ type: 'SWAP_REQUESTED', modelId: 'bad' });
    actor.send({ type: 'SWAP_REFUSED', modelId: 'bad', reason: 'smoke test failed' });
    assert.equal(state(), 'degraded', 'a refusal with no model to fall back on stays degraded');
    actor.send({ type: 'SWAP_REQUESTED', modelId: 'a' });
    actor.send({ type: 'SWAPPED', modelId: 'a', provider: 'cpu' });
    assert.equal(state(), 'serving');
    actor.send({ type: 'RUNTIME_FAILED', reason: 'boom' });
    assert.equal(state(), 'degraded');
    assert.equal(actor.getSnapshot().context.lastError, 'boom');
    actor.send({ type: 'RECOVERED' });
    assert.equal(state(), 'serving');
    // A batch failing during a swap: a refused candidate then leaves the actor degraded.
    actor.send({ type: 'SWAP_REQUESTED', modelId: 'b' });
    actor.send({ type: 'RUNTIME_FAILED', reason: 'boom again' });
    assert.equal(state(), 'swapping');
    actor.send({ type: 'SWAP_REFUSED', modelId: 'b', reason: 'bad bytes' });
    assert.equal(state(), 'degraded');
  });
});

describe('direction rule', () => {
  it('+1 / -1 outside the neutral band, 0 inside; probability of the likelier side', () => {
    assert.deepEqual(decideDirection(0.7, 0.3, 0.1), { direction: 1, probability: 0.7 });
    assert.deepEqual(decideDirection(0.2, 0.8, 0.1), { direction: -1, probability: 0.8 });
    assert.deepEqual(decideDirection(0.54, 0.46, 0.1), { direction: 0, probability: 0.54 });
    // Three-class output: the flat class lowers both sides.
    assert.deepEqual(decideDirection(0.3, 0.25, 0.1), { direction: 0, probability: 0.3 });
    assert.deepEqual(decideDirection(0.55, 0.05, 0.1), { direction: 1, probability: 0.55 });
  });
});

describe('activation log', () => {
  it('rollback pops the last activation; truncated history still names the current model', () => {
    assert.deepEqual(
      activationStack([
        { modelId: 'a', action: 'activate' },
        { modelId: 'b', action: 'activate' },
        { modelId: 'c', action: 'activate' },
        { modelId: 'b', action: 'rollback' },
      ]),
      ['a', 'b'],
    );
    assert.deepEqual(activationStack([{ modelId: 'x', action: 'rollback' }]), ['x']);
  });
});

describe('drift watch', () => {
  const random = new SeededRandom(11);
  const normal = (mean: number, sd: number) => {
    const u = Math.max(random.next(), 1e-12);
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random.next());
  };
  const sample = (n: number, mean: number, sd: number) =>
    Float64Array.from({ length: n }, () => normal(mean, sd));
  const reference = referenceDistribution('x', sample(5_000, 0, 1));

  it('PSI and KS stay small for the same distribution and grow with the shift', () => {
    const same = sample(1_000, 0, 1);
    assert.ok(populationStabilityIndex(reference, same) < 0.05);
    assert.ok(ksStatistic(reference, same) < 0.06);
    const small = sample(1_000, 0.25, 1);
    const large = sample(1_000, 1, 1);
    assert.ok(populationStabilityIndex(reference, large) > 0.5);
    assert.ok(ksStatistic(reference, large) > 0.3);
    assert.ok(populationStabilityIndex(reference, small) < populationStabilityIndex(reference, large));
    assert.ok(ksStatistic(reference, small) < ksStatistic(reference, large));
    // A wider spread with the same mean: KS on the deciles sees it too.
    assert.ok(ksStatistic(reference, sample(1_000, 0, 2.5)) > 0.15);
  });

  it('alerts once per feature when it drifts, re-arms after it returns', () => {
    const monitor = new DriftMonitor(
      [reference, referenceDistribution('y', sample(5_000, 5, 2))],
      {
        modelId: 'm1',
        source: 'inference:test',
      },
      { window: 200, evaluateEvery: 50, psiThreshold: 0.25, ksThreshold: 0.2 },
    );
    const feed = (rows: number, xMean: number, ts0: number) => {
      const alerts = [];
      for (let i = 0; i < rows; i++)
        alerts.push(...monitor.observe([normal(xMean, 1), normal(5, 2)], ts0 + i));
      return alerts;
    };
    assert.deepEqual(feed(400, 0, 0), []);
    const shifted = feed(400, 1.5, 1_000);
    assert.equal(shifted.length, 1, 'one alert for a lasting shift');
    assert.equal(shifted[0]!.dedupe_key, 'drift:m1:x');
    assert.equal(shifted[0]!.code, 'feature_drift');
    assert.deepEqual(shifted[0]!.labels, { model: 'm1', feature: 'x' });
    assert.ok(monitor.latest.find((d) => d.feature === 'x')!.psi > 0.25);
    assert.deepEqual(feed(400, 0, 2_000), [], 'back to normal: no alert');
    assert.equal(feed(400, -1.5, 3_000).length, 1, 're-armed: a new shift alerts again');
  });
});
