// Hot swap over real NATS: a steady stream of real feature vectors (FeatureCore over stocknet daily
// bars, so they carry the live feature set's names and version) flows through the InferenceActor
// while models are activated in the registry. Every vector yields exactly one signal; signals after
// the swap carry the new model; broken models are refused with an alert and the old one keeps serving.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Objm } from '@nats-io/obj';
import { FeatureCore } from '../../actors/feature/core.ts';
import { readMarketCsv } from '../../actors/feature/csv.ts';
import { DEFAULT_FEATURE_SET } from '../../actors/feature/feature-set.ts';
import { InferenceActor } from '../../actors/inference/actor.ts';
import { MODELS_BUCKET, ModelRegistry } from '../../actors/inference/registry.ts';
import { sha256Hex } from '../../core/hash.ts';
import { signalIdFor } from '../../core/lineage-ids.ts';
import { SeededRandom } from '../../core/random.ts';
import type { Alert, FeatureVector, Signal } from '../../schemas/messages.ts';
import type { ModelManifest } from '../../schemas/model-manifest.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { parseTrainConfig, type TrainResult, trainTabularModel } from '../../simulations/research/train.ts';
import { NatsActorBus } from '../../streams/bus.ts';
import { applyStreams } from '../../streams/topology.ts';
import { startTestBus, type TestBus } from '../support/bus.ts';
import { sharedDataDir } from '../support/cli.ts';

const STRATEGY = 'trend';

/** Warm feature vectors of a few symbols, merged in event-time order. */
function featureVectors(symbols: readonly string[], perSymbol: number): FeatureVector[] {
  const vectors: FeatureVector[] = [];
  for (const symbol of symbols) {
    const csv = readMarketCsv(join(sharedDataDir, 'stocknet', 'price_raw', `${symbol}.csv`), {
      interval: '1d',
    });
    assert.equal(csv.kind, 'bars');
    if (csv.kind !== 'bars') continue;
    const core = new FeatureCore({ set: DEFAULT_FEATURE_SET });
    let taken = 0;
    for (const bar of csv.bars) {
      const row = core.onBar(bar);
      if (!row?.warm || taken >= perSymbol) continue;
      taken++;
      vectors.push({
        schema: 'feature_vector.v1',
        id: `fv:${row.feature_set}:${row.bar_id}`,
        ts_event: row.ts_event,
        ts_init: row.ts_event,
        symbol,
        feature_set: row.feature_set,
        feature_set_version: row.feature_set_version,
        values: row.values as Record<string, number>,
        bar_id: row.bar_id,
      });
    }
  }
  return vectors.sort((a, b) => a.ts_event - b.ts_event || (a.symbol < b.symbol ? -1 : 1));
}

async function until(what: string, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('InferenceActor hot swap over NATS', () => {
  let bus: TestBus;
  let dir: string;
  let modelA: TrainResult;
  let modelB: TrainResult;
  let registry: ModelRegistry;

  before(async () => {
    bus = await startTestBus();
    dir = await mkdtemp(join(tmpdir(), 'sluice-hotswap-'));
    const config = (modelId: string, l2: number) =>
      parseTrainConfig({
        model: 'logistic',
        symbols: ['AAPL', 'XOM', 'JPM'],
        folds: 2,
        l2,
        outputDir: dir,
        modelId,
      });
    modelA = trainTabularModel(config('model-a', 10));
    modelB = trainTabularModel(config('model-b', 0.1));
    registry = await ModelRegistry.open(bus.jetstream);
  });
  after(async () => {
    await bus?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('registry: push checks the sha256, activate needs a pushed model, rollback follows the KV history', async () => {
    await registry.push(modelA.manifest, modelA.onnx);
    await registry.push(modelB.manifest, modelB.onnx);
    await assert.rejects(registry.push(modelA.manifest, modelB.onnx), /do not match the manifest/);
    assert.deepEqual(
      (await registry.list()).map((m) => m.modelId),
      ['model-a', 'model-b'],
    );
    await assert.rejects(registry.activate('other', 'no-such-model'), /not in the registry/);
    await registry.activate('other', 'model-a');
    await registry.activate('other', 'model-b');
    assert.equal(await registry.active('other'), 'model-b');
    assert.equal(await registry.rollback('other'), 'model-a');
    assert.equal(await registry.active('other'), 'model-a');
    await assert.rejects(registry.rollback('other'), /no earlier activation/);
    const loaded = await registry.load('model-b');
    assert.equal(sha256Hex(loaded.bytes), modelB.manifest.onnx.sha256);
  });

  it('registry: refuses a manifest that breaks its contract, pushed or found in the object store', async () => {
    const newer = { ...modelA.manifest, modelId: 'model-v2', manifestVersion: 2 };
    await assert.rejects(
      registry.push(newer as unknown as ModelManifest, modelA.onnx),
      /model-v2: refused a bad manifest: model_manifest\.v1: \/manifestVersion: is 2/,
    );
    // Written past push (another tool, a hand edit): every read refuses it and says why.
    const objects = await new Objm(bus.jetstream).open(MODELS_BUCKET);
    const { featureSet: _dropped, ...headless } = modelA.manifest;
    await objects.putBlob(
      {
        name: 'model-forged',
        metadata: { manifest: JSON.stringify({ ...headless, modelId: 'model-forged' }) },
      },
      modelA.onnx,
    );
    try {
      const reason = /model-forged: the registry holds a bad manifest: model_manifest\.v1: .*featureSet/;
      await assert.rejects(registry.load('model-forged'), reason);
      await assert.rejects(registry.activate('forged', 'model-forged'), reason);
      await assert.rejects(registry.list(), reason);
    } finally {
      await objects.delete('model-forged');
    }
  });

  it('acknowledges a vector only once its signal is stored, not while it waits in the open batch', async () => {
    // Own namespace, so this consumer reads only these vectors. A batch of 64 that stays open for a
    // year of event time (and a minute of wall-clock quiet) never closes on these three vectors: only
    // a checkpoint can score it.
    const subjects = new Subjects(4, 'bt.acks.');
    await applyStreams(bus.manager, { replicas: 1, namespace: subjects.namespace });
    await registry.activate('acks', 'model-a');
    const actorBus = new NatsActorBus(bus.jetstream, bus.manager, subjects);
    const actor = await InferenceActor.start({
      bus: actorBus,
      models: registry,
      strategy: 'acks',
      featureSet: DEFAULT_FEATURE_SET,
      maxBatchSize: 64,
      maxWaitMs: 365 * 86_400_000,
      idleFlushMs: 60_000,
      executionProviders: ['cpu'],
      drift: false,
    });
    const vectors = featureVectors(['AAPL', 'XOM', 'JPM'], 1);
    for (const v of vectors) await actorBus.publish('feature_vector', subjects.feature(v.symbol), v);
    await actorBus.flush();

    const consumer = () => bus.manager.consumers.info('FEATURES_bt_acks', 'inference-acks');
    const deadline = performance.now() + 15_000;
    while ((await consumer()).ack_floor.stream_seq < vectors.length) {
      assert.ok(performance.now() < deadline, 'the vectors were never acknowledged');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const stored = await bus.manager.streams.info('SIGNALS_bt_acks');
    assert.equal(stored.state.messages, vectors.length, 'each acknowledged vector has its signal stored');
    await actor.stop();
  });

  it('swaps models under a steady stream: one signal per vector, broken models refused', async () => {
    await registry.activate(STRATEGY, 'model-a');
    const actorBus = new NatsActorBus(bus.jetstream, bus.manager, bus.subjects);
    const signals: Signal[] = [];
    const alerts: Alert[] = [];
    const observer = new NatsActorBus(bus.jetstream, bus.manager, bus.subjects);
    await observer.subscribe({
      durable: 'test-signals',
      stream: 'SIGNALS',
      filterSubject: 'sig.>',
      messages: ['signal'],
      handler: (signal) => {
        signals.push(signal);
      },
    });
    await observer.subscribe({
      durable: 'test-alerts',
      stream: 'ALERTS',
      filterSubject: 'alert.>',
      messages: ['alert'],
      handler: (alert) => {
        alerts.push(alert);
      },
    });
    const actor = await InferenceActor.start({
      bus: actorBus,
      models: registry,
      strategy: STRATEGY,
      featureSet: DEFAULT_FEATURE_SET,
      maxBatchSize: 16,
      maxWaitMs: 0,
      idleFlushMs: 50,
      executionProviders: ['cpu'],
      drift: false,
    });
    assert.equal(actor.status().state, 'serving');
    assert.equal(actor.status().activeModel, 'model-a');
    assert.equal(actor.status().executionProvider, 'cpu');

    const vectors = featureVectors(['AAPL', 'XOM', 'JPM', 'PG', 'MSFT'], 60);
    assert.equal(vectors.length, 300);
    const publisher = new NatsActorBus(bus.jetstream, bus.manager, bus.subjects);
    const send = async (batch: readonly FeatureVector[]) => {
      for (const [i, v] of batch.entries()) {
        await publisher.publish('feature_vector', bus.subjects.feature(v.symbol), v);
        // A steady stream, not one burst: the swap lands in the middle of it.
        if (i % 10 === 9) {
          await publisher.flush();
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }
      await publisher.flush();
    };

    await send(vectors.slice(0, 100));
    await until('100 signals', () => signals.length >= 100);
    await registry.activate(STRATEGY, 'model-b');
    await send(vectors.slice(100, 200));
    await until('the swap', () => actor.status().activeModel === 'model-b');
    await until('200 signals', () => signals.length >= 200);
    assert.equal(actor.status().activeModel, 'model-b');
    assert.equal(actor.status().counters.swaps, 1);

    // Broken models: a manifest for another feature set, and bytes that are not ONNX.
    const otherSet = {
      ...modelA.manifest,
      modelId: 'model-other-set',
      featureSet: { ...modelA.manifest.featureSet, version: 'f'.repeat(64) },
    };
    const random = new SeededRandom(4);
    const junk = Uint8Array.from({ length: 512 }, () => Math.floor(random.next() * 256));
    const badBytes = {
      ...modelA.manifest,
      modelId: 'model-bad-bytes',
      onnx: { ...modelA.manifest.onnx, sha256: sha256Hex(junk), bytes: junk.length },
    };
    await registry.push(otherSet, modelA.onnx);
    await registry.push(badBytes, junk);
    await registry.activate(STRATEGY, 'model-other-set');
    await send(vectors.slice(200, 250));
    await until('the first refusal', () => actor.status().counters.refused_models === 1);
    await registry.activate(STRATEGY, 'model-bad-bytes');
    await send(vectors.slice(250, 300));
    await until('the second refusal', () => actor.status().counters.refused_models === 2);
    await actor.swapSettled();

    // A vector of another feature-set version is counted and dead-lettered, not scored.
    const stray = { ...vectors[0]!, id: 'fv:stray', feature_set_version: 'e'.repeat(64) };
    await publisher.publish('feature_vector', bus.subjects.feature(stray.symbol), stray);
    await publisher.flush();
    await until('300 signals and 2 alerts', () => signals.length >= 300 && alerts.length >= 2);
    await until('the stray vector', () => actor.status().counters.rejected_version === 1);

    const status = actor.status();
    assert.equal(status.state, 'serving');
    assert.equal(status.activeModel, 'model-b');
    assert.equal(status.counters.signals, 300, 'the actor scored each vector once');
    assert.equal(signals.length, 300);
    assert.deepEqual(
      signals.map((s) => s.feature_id).sort(),
      vectors.map((v) => v.id).sort(),
      'exactly one signal per feature vector',
    );
    for (const s of signals) {
      assert.equal(s.id, signalIdFor(STRATEGY, s.feature_id));
      assert.ok(s.probability >= 0.5 && s.probability <= 1);
    }
    // In stream order: model-a until the swap, model-b from then on, never back.
    const versions = signals.map((s) => s.model_version);
    const firstB = versions.indexOf('model-b');
    assert.ok(firstB >= 100 && firstB <= 200, `swap landed at signal ${firstB}`);
    assert.ok(versions.slice(0, firstB).every((v) => v === 'model-a'));
    assert.ok(versions.slice(firstB).every((v) => v === 'model-b'));
    // Both models really differ on these rows (else the version label would prove nothing).
    assert.ok(new Set(signals.map((s) => `${s.model_version}:${s.probability.toFixed(3)}`)).size > 10);

    const refused = alerts.filter((a) => a.code === 'model_refused');
    assert.deepEqual(refused.map((a) => a.labels?.model).sort(), ['model-bad-bytes', 'model-other-set']);
    assert.match(refused.find((a) => a.labels?.model === 'model-other-set')!.message, /feature set f{64}/);

    await actor.stop();
    await observer.close();
    assert.equal(actor.status().state, 'stopped');
  });
});
