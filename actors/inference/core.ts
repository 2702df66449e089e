// The pure core of the InferenceActor, no I/O: the rules that turn feature vectors into signals (a
// model's fit to the live feature set, a vector's row in the model's order, the direction rule) and
// the micro-batcher that groups rows by event time, so the same replay always forms the same batches.
// The binding (actor.ts) runs the model (onnx-runner.ts) and talks to the bus.
import type { FeatureVector } from '../../schemas/messages.ts';
import type { ModelManifest } from '../../schemas/model-manifest.ts';
import type { FeatureSet } from '../feature/feature-set.ts';

export interface SignalDecision {
  readonly direction: -1 | 0 | 1;
  readonly probability: number;
}

/**
 * The direction rule: with pUp / pDown the model's probabilities of label +1 / -1, the edge is
 * pUp - pDown. direction = +1 when edge > neutralBand, -1 when edge < -neutralBand, else 0;
 * probability = max(pUp, pDown), the probability of the likelier side.
 */
export function decideDirection(pUp: number, pDown: number, neutralBand: number): SignalDecision {
  const edge = pUp - pDown;
  const direction = edge > neutralBand ? 1 : edge < -neutralBand ? -1 : 0;
  return { direction, probability: Math.min(1, Math.max(0, Math.max(pUp, pDown))) };
}

/** pUp and pDown of output row `row` of a one-output (P(+1)) or three-output (P(-1), P(0), P(+1)) model. */
export function sides(output: Float32Array, row: number, width: number): [pUp: number, pDown: number] {
  if (width === 1) {
    const p = output[row]!;
    return [p, 1 - p];
  }
  return [output[row * width + 2]!, output[row * width]!];
}

/** Why `manifest` cannot serve the live feature set, or undefined when it can. */
export function manifestMismatch(
  manifest: ModelManifest,
  featureSet: Pick<FeatureSet, 'version' | 'columns'>,
): string | undefined {
  if (manifest.featureSet.version !== featureSet.version) {
    return `model ${manifest.modelId} was trained on feature set ${manifest.featureSet.version}, the live set is ${featureSet.version}`;
  }
  const missing = manifest.featureSet.names.filter((name) => !featureSet.columns.includes(name));
  if (missing.length > 0)
    return `model ${manifest.modelId} needs features the live set lacks: ${missing.join(', ')}`;
  const classes = manifest.output.classes.length;
  if (classes !== 1 && classes !== 3) {
    return `model ${manifest.modelId} has ${classes} outputs; signals need P(+1) or P(-1), P(0), P(+1)`;
  }
  return undefined;
}

/** A realistic row for a model's smoke inference: the means of its training features. */
export function trainingMeans(manifest: ModelManifest): Float32Array {
  return Float32Array.from(manifest.featureSet.names, (name) => {
    const reference = manifest.referenceDistributions.find((d) => d.name === name);
    return reference?.mean ?? 0;
  });
}

/** Why a vector cannot be scored by a model; `kind` names the counter it adds to. */
export interface RowRefusal {
  readonly kind: 'rejected_version' | 'rejected_missing';
  readonly reason: string;
}

/** The vector's values in the manifest's order, or why it cannot be scored. */
export function vectorRow(manifest: ModelManifest, vector: FeatureVector): Float32Array | RowRefusal {
  if (vector.feature_set_version !== manifest.featureSet.version) {
    return {
      kind: 'rejected_version',
      reason: `feature_set_version ${vector.feature_set_version} does not match model ${manifest.modelId} (${manifest.featureSet.version})`,
    };
  }
  const names = manifest.featureSet.names;
  const row = new Float32Array(names.length);
  for (let j = 0; j < names.length; j++) {
    const v = vector.values[names[j]!];
    if (v === undefined || !Number.isFinite(v)) {
      return { kind: 'rejected_missing', reason: `feature ${names[j]} is missing or not finite` };
    }
    row[j] = v;
  }
  return row;
}

/** A feature row waiting for inference. `eventTime` is the event's own time (ms), never arrival. */
export interface PendingRow {
  /** Id of the feature row: signals carry it back to what caused them. */
  readonly id: string;
  readonly symbol: string;
  readonly eventTime: number;
  readonly features: ArrayLike<number>;
}

export type BatchCloseReason = 'size' | 'wait' | 'flush';

export interface Batch<R extends PendingRow> {
  readonly rows: readonly R[];
  /** Row-major [rows.length × width]; owned by the batch. */
  readonly features: Float32Array;
  /** Event time of the batch's first row. */
  readonly openedAt: number;
  readonly reason: BatchCloseReason;
}

export interface MicroBatcherOptions {
  readonly width: number;
  readonly maxBatchSize: number;
  /** A row joins the open batch only if its event time is at most this far after the first row's. */
  readonly maxWaitMs: number;
}

/**
 * Groups rows across symbols into batches by size and event time only (no timers, no wall clock):
 * the same input sequence always yields the same batches, live or in replay. Time is the watermark,
 * the latest event time seen, so a late row cannot hold a batch open.
 */
export class MicroBatcher<R extends PendingRow = PendingRow> {
  private rows: R[] = [];
  private readonly features: Float32Array;
  private openedAt = 0;
  private watermark = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: MicroBatcherOptions) {
    if (!Number.isInteger(options.maxBatchSize) || options.maxBatchSize < 1) {
      throw new RangeError('maxBatchSize must be a positive integer');
    }
    if (!(options.maxWaitMs >= 0)) throw new RangeError('maxWaitMs must be ≥ 0');
    if (!Number.isInteger(options.width) || options.width < 1)
      throw new RangeError('width must be a positive integer');
    this.features = new Float32Array(options.maxBatchSize * options.width);
  }

  get pending(): number {
    return this.rows.length;
  }

  /**
   * Adds a row; returns the batch this closed, if any: the open batch when the row comes too late
   * to join it, or the batch the row filled (never both: a row that starts a batch cannot fill it
   * unless maxBatchSize is 1, and then no batch is ever left open).
   */
  push(row: R): Batch<R> | undefined {
    if (row.features.length !== this.options.width) {
      throw new RangeError(
        `row ${row.id} has ${row.features.length} features, expected ${this.options.width}`,
      );
    }
    if (!Number.isFinite(row.eventTime)) throw new RangeError(`row ${row.id} has no event time`);
    const expired = this.advanceTo(row.eventTime);
    if (this.rows.length === 0) this.openedAt = this.watermark;
    this.features.set(row.features, this.rows.length * this.options.width);
    this.rows.push(row);
    return this.rows.length === this.options.maxBatchSize ? this.close('size') : expired;
  }

  /**
   * Moves event time forward without a row (a heartbeat or the end of a replay step); closes the
   * open batch once no later row could still join it.
   */
  advanceTo(eventTime: number): Batch<R> | undefined {
    this.watermark = Math.max(this.watermark, eventTime);
    if (this.rows.length > 0 && this.watermark - this.openedAt > this.options.maxWaitMs)
      return this.close('wait');
    return undefined;
  }

  /** Closes the open batch now (shutdown, model swap). */
  flush(): Batch<R> | undefined {
    return this.rows.length > 0 ? this.close('flush') : undefined;
  }

  private close(reason: BatchCloseReason): Batch<R> {
    const batch: Batch<R> = {
      rows: this.rows,
      features: this.features.slice(0, this.rows.length * this.options.width),
      openedAt: this.openedAt,
      reason,
    };
    this.rows = [];
    return batch;
  }
}
