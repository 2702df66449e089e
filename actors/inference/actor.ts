// The InferenceActor binding: feature vectors (feat.>, stream FEATURES) in, one signal per vector out
// on sig.<strategy>.<symbol>. Works on any ActorBus (JetStream live, in-process for backtests).
//
// - Rows are ordered by the manifest's feature names and micro-batched across symbols by EVENT time
//   (MicroBatcher), so a replay forms the same batches. Live, a wall-clock idle flush (`idleFlushMs`)
//   scores a batch that no later row would close, and so does each consumer checkpoint, since live
//   vectors are acknowledged only after their signals are stored. Either changes only when a row is
//   scored, never its signal, since each row's output does not depend on its batch.
// - All per-row work, batch scoring and model swaps run one after another on one lane, so a swap
//   lands between batches: the open batch is scored by the old model first, and no row is dropped or
//   scored twice.
// - A vector whose feature_set_version differs from the model's, or that lacks a feature, is counted
//   and dead-lettered with the reason; the actor keeps going.
// - Direction rule (core.ts decideDirection): pUp / pDown are the model's probabilities of label +1 /
//   -1 (a one-output model gives pUp and pDown = 1 - pUp; a three-output model P(-1), P(0), P(+1)).
// - Hot swap: a model activated in the registry is loaded and checked in the background (feature-set
//   version and names match the live set, sha256 matches, onnxruntime loads it, a smoke inference on
//   the training means gives finite probabilities) and then swapped in. A model that fails is
//   refused with an alert; the old one keeps serving.
// - A batch that fails at run time is kept; the actor turns degraded, raises an alert and refuses
//   new vectors (the bus retries them with backoff) until the kept batch scores or a new model lands.

import { signalIdFor } from '../../core/lineage-ids.ts';
import type { Logger } from '../../core/logger.ts';
import type { Alert, FeatureVector, Signal } from '../../schemas/messages.ts';
import type { ModelManifest } from '../../schemas/model-manifest.ts';
import {
  type ActorBus,
  checkpointAfterStoring,
  type Delivery,
  publishRefused,
  type Subscription,
} from '../../streams/bus.ts';
import type { Actor } from '../actor.ts';
import type { FeatureSet } from '../feature/feature-set.ts';
import {
  decideDirection,
  MicroBatcher,
  manifestMismatch,
  type PendingRow,
  sides,
  trainingMeans,
  vectorRow,
} from './core.ts';
import { DriftMonitor, type DriftOptions, type FeatureDrift } from './drift.ts';
import { createInferenceLifecycle, type InferenceLifecycleState } from './machine.ts';
import { admitModel } from './model-admission.ts';
import type { ExecutionProvider, OnnxModelRunner, ProviderFailure } from './onnx-runner.ts';
import type { ModelSource, ModelWatch } from './registry.ts';

export interface InferenceActorOptions {
  readonly bus: ActorBus;
  readonly models: ModelSource;
  readonly strategy: string;
  /** The live feature set: a model must have been trained on this version. */
  readonly featureSet: Pick<FeatureSet, 'version' | 'columns'>;
  /** Rows per batch at most; default 64. */
  readonly maxBatchSize?: number;
  /** Event-time span a batch stays open after its first row; default 1000 ms. */
  readonly maxWaitMs?: number;
  /** |pUp - pDown| at or under this gives direction 0; default 0.1. */
  readonly neutralBand?: number;
  readonly executionProviders?: readonly ExecutionProvider[];
  /** Wall-clock quiet time after which the open batch is scored (live); off when undefined. */
  readonly idleFlushMs?: number;
  /** Durable consumer name; default `inference-<strategy>`. */
  readonly durable?: string;
  /** Drift watch settings, or false to turn it off. */
  readonly drift?: DriftOptions | false;
  readonly logger?: Logger;
}

export interface InferenceCounters {
  vectors: number;
  signals: number;
  batches: number;
  rejected_version: number;
  rejected_missing: number;
  swaps: number;
  refused_models: number;
  runtime_failures: number;
}

export interface InferenceStatus {
  readonly state: InferenceLifecycleState;
  readonly strategy: string;
  readonly activeModel: string | undefined;
  readonly executionProvider: ExecutionProvider | undefined;
  readonly failedProviders: readonly ProviderFailure[];
  /** The model being checked while swapping. */
  readonly candidate: string | undefined;
  readonly lastError: string | undefined;
  readonly pendingRows: number;
  readonly counters: Readonly<InferenceCounters>;
  readonly drift: readonly FeatureDrift[];
}

interface VectorRow extends PendingRow {
  readonly vector: FeatureVector;
}

/** A model that passed its checks, ready to serve. */
interface ServingModel {
  readonly manifest: ModelManifest;
  readonly runner: OnnxModelRunner;
  readonly drift: DriftMonitor | undefined;
}

export class InferenceActor implements Actor<InferenceStatus> {
  readonly counters: InferenceCounters = {
    vectors: 0,
    signals: 0,
    batches: 0,
    rejected_version: 0,
    rejected_missing: 0,
    swaps: 0,
    refused_models: 0,
    runtime_failures: 0,
  };
  private readonly lifecycle = createInferenceLifecycle();
  private readonly durable: string;
  private readonly maxBatchSize: number;
  private readonly maxWaitMs: number;
  private readonly neutralBand: number;
  private model: ServingModel | undefined;
  private batcher: MicroBatcher<VectorRow> | undefined;
  /** Rows of a batch that failed at run time, waiting for a retry. */
  private stalled: VectorRow[] = [];
  private lane: Promise<void> = Promise.resolve();
  private subscription: Subscription | undefined;
  private watchHandle: ModelWatch | undefined;
  private swapInFlight: Promise<void> | undefined;
  /** Latest activation seen while a load or swap was in flight. */
  private nextModel: string | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Latest event time seen: stamps alerts that have no event of their own. */
  private eventTime = 0;
  private stopped = false;

  private constructor(private readonly options: InferenceActorOptions) {
    this.durable = options.durable ?? `inference-${options.strategy}`;
    this.maxBatchSize = options.maxBatchSize ?? 64;
    this.maxWaitMs = options.maxWaitMs ?? 1_000;
    this.neutralBand = options.neutralBand ?? 0.1;
    if (!(this.neutralBand >= 0 && this.neutralBand < 1))
      throw new RangeError('neutralBand must be in [0, 1)');
  }

  /** Loads the active model and starts consuming; with no usable model it waits, degraded. */
  static async start(options: InferenceActorOptions): Promise<InferenceActor> {
    const actor = new InferenceActor(options);
    await actor.begin();
    return actor;
  }

  private async begin(): Promise<void> {
    // Watch before reading the active model, so an activation in between is not missed.
    this.watchHandle = await this.options.models.watch(this.options.strategy, (id) => this.onActivated(id));
    const modelId = await this.options.models.active(this.options.strategy);
    if (modelId === undefined) {
      await this.failLoad(`no model is active for strategy ${this.options.strategy}`);
    } else {
      try {
        const model = await this.prepare(modelId);
        this.install(model);
        this.lifecycle.send({ type: 'LOADED', modelId, provider: model.runner.provider });
        await this.ensureSubscribed();
      } catch (error) {
        await this.failLoad(`model ${modelId} failed its checks: ${(error as Error).message}`);
      }
    }
    this.takeNext();
  }

  status(): InferenceStatus {
    const { value, context } = this.lifecycle.getSnapshot();
    return {
      state: value as InferenceLifecycleState,
      strategy: this.options.strategy,
      activeModel: context.activeModel,
      executionProvider: context.provider,
      failedProviders: this.model?.runner.failedProviders ?? [],
      candidate: context.candidate,
      lastError: context.lastError,
      pendingRows: (this.batcher?.pending ?? 0) + this.stalled.length,
      counters: { ...this.counters },
      drift: this.model?.drift?.latest ?? [],
    };
  }

  /** Scores the open batch now (end of a replay step, shutdown). */
  flush(): Promise<void> {
    return this.enqueue(() => this.flushOpen());
  }

  /** Resolves when no model load or swap is in flight. */
  async swapSettled(): Promise<void> {
    while (this.swapInFlight) await this.swapInFlight;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watchHandle?.stop();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    await this.subscription?.drain();
    await this.swapSettled();
    await this.flush();
    await this.model?.runner.release();
    this.lifecycle.send({ type: 'STOP' });
  }

  /** Runs `task` after every task queued before it; a failure reaches the caller, not the lane. */
  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.lane.then(task);
    this.lane = run.catch(() => undefined);
    return run;
  }

  private async ensureSubscribed(): Promise<void> {
    if (this.subscription || this.stopped) return;
    this.subscription = await this.options.bus.subscribe({
      durable: this.durable,
      stream: 'FEATURES',
      filterSubject: `${this.options.bus.subjects.namespace}feat.>`,
      messages: ['feature_vector'],
      handler: (vector, delivery) => this.enqueue(() => this.onVector(vector, delivery)),
      // Live, a vector is acknowledged only once its signal is stored: each checkpoint scores the open
      // batch first, so a crash cannot lose rows acknowledged while they waited in it. A replay keeps
      // batches cut by event time alone (the same ledger in-process and over NATS); it is run again
      // from its start, never resumed, so its early acknowledgements lose nothing.
      ...(this.options.idleFlushMs === undefined
        ? {}
        : checkpointAfterStoring(this.options.bus, () => this.flush())),
    });
  }

  private async onVector(vector: FeatureVector, delivery: Delivery): Promise<void> {
    // Refuse before touching the batcher, so the bus's retry cannot score the vector twice.
    if (this.stalled.length > 0) await this.retryStalled();
    const model = this.model;
    if (!model) throw new Error('no model is serving');
    this.eventTime = Math.max(this.eventTime, vector.ts_event);
    const features = this.rowFeatures(model.manifest, vector);
    if (typeof features === 'string') {
      await this.reject(vector, delivery, features);
      const closed = this.batcher?.advanceTo(vector.ts_event);
      if (closed) await this.score(closed.rows, closed.features);
      return;
    }
    this.counters.vectors++;
    for (const alert of model.drift?.observe(features, vector.ts_event) ?? []) await this.publishAlert(alert);
    const closed = this.batcher?.push({
      id: vector.id,
      symbol: vector.symbol,
      eventTime: vector.ts_event,
      features,
      vector,
    });
    if (closed) await this.score(closed.rows, closed.features);
    this.armIdleFlush();
  }

  /** The vector's row for `manifest` (core's vectorRow), or why not, counted. */
  private rowFeatures(manifest: ModelManifest, vector: FeatureVector): Float32Array | string {
    const row = vectorRow(manifest, vector);
    if (row instanceof Float32Array) return row;
    this.counters[row.kind]++;
    return row.reason;
  }

  private async reject(vector: FeatureVector, delivery: Delivery, reason: string): Promise<void> {
    const { bus } = this.options;
    this.options.logger?.warn({ id: vector.id, reason }, 'feature vector rejected');
    await publishRefused(bus, delivery, {
      reason,
      consumer: this.durable,
      payload: vector,
      receivedAt: vector.ts_init,
    });
  }

  /**
   * Scores rows and publishes their signals. A run-time failure keeps the rows for a retry, degrades
   * and returns false: the vector being handled is already in the batcher, so it must not be retried.
   */
  private async score(rows: readonly VectorRow[], features: Float32Array, kept = false): Promise<boolean> {
    const model = this.model;
    if (!model) throw new Error('no model is serving');
    let output: Float32Array;
    try {
      output = await model.runner.runBatch(features, rows.length);
      for (const v of output) if (!Number.isFinite(v)) throw new Error('model output is not finite');
    } catch (error) {
      const first = this.stalled.length === 0;
      if (!kept) this.stalled.push(...rows);
      this.counters.runtime_failures++;
      const reason = `model ${model.manifest.modelId} failed on a batch of ${rows.length}: ${(error as Error).message}`;
      this.lifecycle.send({ type: 'RUNTIME_FAILED', reason });
      this.options.logger?.error({ reason }, 'batch failed; rows kept for a retry');
      if (first) await this.publishAlert(this.lifecycleAlert('critical', 'model_runtime_failure', reason));
      return false;
    }
    const width = model.runner.outputWidth;
    const { bus, strategy } = this.options;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      const [pUp, pDown] = sides(output, i, width);
      const signal: Signal = {
        schema: 'signal.v1',
        id: signalIdFor(strategy, row.id),
        ts_event: row.eventTime,
        ts_init: row.vector.ts_init,
        strategy,
        symbol: row.symbol,
        model_version: model.manifest.modelId,
        ...decideDirection(pUp, pDown, this.neutralBand),
        feature_id: row.id,
      };
      await bus.publish('signal', bus.subjects.signal(strategy, row.symbol), signal);
    }
    this.counters.signals += rows.length;
    this.counters.batches++;
    return true;
  }

  /** Scores the kept rows with the current model; throws (so the caller's vector waits) if that fails. */
  private async retryStalled(): Promise<void> {
    const model = this.model;
    if (!model) throw new Error('no model is serving');
    const width = model.runner.inputWidth;
    // The rows may have been built for the model that failed: rebuild them for this one.
    const rows: VectorRow[] = [];
    for (const row of this.stalled) {
      const features = this.rowFeatures(model.manifest, row.vector);
      if (typeof features === 'string') {
        this.options.logger?.warn({ id: row.id, reason: features }, 'kept row does not fit the new model');
      } else {
        rows.push({ ...row, features });
      }
    }
    this.stalled = rows;
    while (this.stalled.length > 0) {
      const chunk = this.stalled.slice(0, this.maxBatchSize);
      const features = new Float32Array(chunk.length * width);
      chunk.forEach((row, i) => {
        features.set(row.features, i * width);
      });
      if (!(await this.score(chunk, features, true))) throw new Error('the model is failing; vector refused');
      this.stalled = this.stalled.slice(chunk.length);
    }
    if (!this.lifecycle.getSnapshot().context.healthy) this.lifecycle.send({ type: 'RECOVERED' });
  }

  private async flushOpen(): Promise<void> {
    if (this.stalled.length > 0) await this.retryStalled();
    const closed = this.batcher?.flush();
    if (closed) await this.score(closed.rows, closed.features);
  }

  private armIdleFlush(): void {
    const idleMs = this.options.idleFlushMs;
    if (idleMs === undefined) return;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if ((this.batcher?.pending ?? 0) === 0) return;
    this.idleTimer = setTimeout(() => {
      this.flush().catch((error: unknown) =>
        this.options.logger?.error({ err: error }, 'idle flush failed; rows kept for retry'),
      );
    }, idleMs);
    this.idleTimer.unref();
  }

  /** Loads and checks a model (model-admission.ts) without touching the one serving. */
  private async prepare(modelId: string): Promise<ServingModel> {
    const { manifest, runner } = await admitModel(
      this.options.models,
      modelId,
      {
        mismatch: (candidate) => manifestMismatch(candidate, this.options.featureSet),
        inputWidth: (candidate) => candidate.featureSet.names.length,
        smokeRow: trainingMeans,
      },
      {
        ...(this.options.executionProviders ? { executionProviders: this.options.executionProviders } : {}),
        warmupBatchSizes: [1, this.maxBatchSize],
      },
    );
    this.options.logger?.info(
      { model: modelId, provider: runner.provider, failedProviders: runner.failedProviders },
      'model loaded and checked',
    );
    return {
      manifest,
      runner,
      drift:
        this.options.drift === false
          ? undefined
          : new DriftMonitor(
              manifest.featureSet.names.map((name) => {
                const reference = manifest.referenceDistributions.find((d) => d.name === name);
                if (!reference) throw new Error(`model ${modelId} has no reference distribution for ${name}`);
                return reference;
              }),
              { modelId, source: `inference:${this.options.strategy}` },
              this.options.drift,
            ),
    };
  }

  private install(model: ServingModel): void {
    this.model = model;
    this.batcher = new MicroBatcher<VectorRow>({
      width: model.manifest.featureSet.names.length,
      maxBatchSize: this.maxBatchSize,
      maxWaitMs: this.maxWaitMs,
    });
  }

  private onActivated(modelId: string): void {
    if (this.stopped) return;
    this.nextModel = modelId;
    // A load or swap in flight picks it up when it finishes.
    if (this.swapInFlight === undefined && this.lifecycle.getSnapshot().value !== 'loading') this.takeNext();
  }

  private takeNext(): void {
    const modelId = this.nextModel;
    this.nextModel = undefined;
    if (modelId === undefined || this.stopped || modelId === this.model?.manifest.modelId) return;
    this.lifecycle.send({ type: 'SWAP_REQUESTED', modelId });
    this.swapInFlight = this.swap(modelId).finally(() => {
      this.swapInFlight = undefined;
      this.takeNext();
    });
  }

  private async swap(modelId: string): Promise<void> {
    let candidate: ServingModel;
    try {
      candidate = await this.prepare(modelId);
    } catch (error) {
      const reason = `model ${modelId} refused: ${(error as Error).message}`;
      this.counters.refused_models++;
      this.lifecycle.send({ type: 'SWAP_REFUSED', modelId, reason });
      this.options.logger?.error({ model: modelId, reason }, 'model refused; the old one keeps serving');
      await this.publishAlert(this.lifecycleAlert('warning', 'model_refused', reason, modelId));
      return;
    }
    await this.enqueue(async () => {
      const old = this.model;
      // The open batch was built for the old model: it scores it before leaving (or keeps its rows
      // for the new one when it fails).
      const closed = this.batcher?.flush();
      if (closed) await this.score(closed.rows, closed.features);
      this.install(candidate);
      this.counters.swaps += old ? 1 : 0;
      this.lifecycle.send({ type: 'SWAPPED', modelId, provider: candidate.runner.provider });
      if (this.stalled.length > 0) await this.retryStalled().catch(() => undefined); // stays degraded
      await old?.runner.release();
    });
    await this.ensureSubscribed();
  }

  private async failLoad(reason: string): Promise<void> {
    this.lifecycle.send({ type: 'LOAD_FAILED', reason });
    this.options.logger?.error({ reason }, 'no model can serve; waiting for an activation');
    await this.publishAlert(this.lifecycleAlert('critical', 'model_unavailable', reason));
  }

  private lifecycleAlert(
    severity: Alert['severity'],
    code: string,
    message: string,
    modelId?: string,
  ): Alert {
    const key = `inference:${this.options.strategy}:${code}${modelId ? `:${modelId}` : ''}`;
    return {
      schema: 'alert.v1',
      // Counted so a second refusal of the same model is a new message, not a Nats-Msg-Id duplicate.
      id: `${key}:${this.counters.refused_models}:${this.counters.runtime_failures}:${this.eventTime}`,
      ts_event: this.eventTime,
      ts_init: this.eventTime,
      severity,
      code,
      message,
      source: `inference:${this.options.strategy}`,
      dedupe_key: key,
      labels: { strategy: this.options.strategy, ...(modelId ? { model: modelId } : {}) },
    };
  }

  private async publishAlert(alert: Alert): Promise<void> {
    const { bus } = this.options;
    await bus.publish('alert', bus.subjects.alert(alert.severity, alert.code), alert);
  }
}
