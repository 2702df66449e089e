// The per-event core of the InferenceActor, free of NATS and xstate: an ONNX runner that picks the
// first execution provider that loads (CUDA, then CPU by default) and a micro-batcher that groups
// feature rows by event time, so the same replay always forms the same batches.
import * as ort from 'onnxruntime-node';

export type ExecutionProvider = 'cuda' | 'tensorrt' | 'cpu';

export const defaultExecutionProviders: readonly ExecutionProvider[] = ['cuda', 'cpu'];

export interface OnnxRunnerOptions {
  /** Tried in order; the first that creates a session serves. */
  readonly executionProviders?: readonly ExecutionProvider[];
  /** CPU threads per run; 1 suits small models and leaves cores to the other actors. */
  readonly intraOpThreads?: number;
  /** Batch sizes run once on zeros before serving, so the first real batch pays no set-up cost. */
  readonly warmupBatchSizes?: readonly number[];
}

export interface ProviderFailure {
  readonly provider: ExecutionProvider;
  readonly error: string;
}

/** An onnxruntime session over a model with one float32 [batch × width] input and output. */
export class OnnxModelRunner {
  private constructor(
    private readonly session: ort.InferenceSession,
    /** The execution provider that serves. */
    readonly provider: ExecutionProvider,
    /** Providers tried before it, and why each failed (for logs and `status`). */
    readonly failedProviders: readonly ProviderFailure[],
    readonly inputWidth: number,
    readonly outputWidth: number,
  ) {}

  /** Creates the session, checks the model's single input/output, and warms it up. */
  static async load(modelBytes: Uint8Array, options: OnnxRunnerOptions = {}): Promise<OnnxModelRunner> {
    const providers = options.executionProviders ?? defaultExecutionProviders;
    if (providers.length === 0) throw new Error('no execution providers configured');
    const failures: ProviderFailure[] = [];
    for (const provider of providers) {
      let session: ort.InferenceSession;
      try {
        session = await ort.InferenceSession.create(modelBytes, {
          executionProviders: [provider],
          intraOpNumThreads: options.intraOpThreads ?? 1,
          interOpNumThreads: 1,
          executionMode: 'sequential',
          graphOptimizationLevel: 'all',
        });
      } catch (error) {
        failures.push({ provider, error: error instanceof Error ? error.message : String(error) });
        continue;
      }
      try {
        const runner = OnnxModelRunner.fromSession(session, provider, failures);
        await runner.warmUp(options.warmupBatchSizes ?? [1, 32, 256]);
        return runner;
      } catch (error) {
        await session.release();
        throw error;
      }
    }
    throw new Error(
      `no execution provider could load the model: ${failures.map((f) => `${f.provider}: ${f.error}`).join('; ')}`,
    );
  }

  private static fromSession(
    session: ort.InferenceSession,
    provider: ExecutionProvider,
    failures: readonly ProviderFailure[],
  ): OnnxModelRunner {
    if (session.inputNames.length !== 1 || session.outputNames.length !== 1) {
      throw new Error('the model must have exactly one input and one output');
    }
    const width = (meta: ort.InferenceSession.ValueMetadata | undefined, what: string): number => {
      const shape = meta?.isTensor ? meta.shape : [];
      const w = shape[1];
      if (meta?.isTensor !== true || meta.type !== 'float32' || shape.length !== 2 || typeof w !== 'number') {
        throw new Error(`the model's ${what} must be float32 [batch × fixed width]`);
      }
      return w;
    };
    return new OnnxModelRunner(
      session,
      provider,
      failures,
      width(session.inputMetadata[0], 'input'),
      width(session.outputMetadata[0], 'output'),
    );
  }

  private async warmUp(batchSizes: readonly number[]): Promise<void> {
    for (const size of batchSizes) {
      const out = await this.runBatch(new Float32Array(size * this.inputWidth), size);
      if (out.length !== size * this.outputWidth) throw new Error('warm-up output has the wrong shape');
      for (const v of out) if (!Number.isFinite(v)) throw new Error('warm-up output is not finite');
    }
  }

  /**
   * Scores `count` row-major rows of `inputWidth` floats (extra capacity in `rows` is ignored);
   * returns row-major [count × outputWidth].
   */
  async runBatch(rows: Float32Array, count: number): Promise<Float32Array> {
    const size = count * this.inputWidth;
    if (!Number.isInteger(count) || count < 1 || rows.length < size) {
      throw new RangeError(`need ${count} rows of ${this.inputWidth} floats, got ${rows.length} floats`);
    }
    const input = new ort.Tensor('float32', rows.length === size ? rows : rows.subarray(0, size), [
      count,
      this.inputWidth,
    ]);
    const results = await this.session.run({ [this.session.inputNames[0]!]: input });
    const output = results[this.session.outputNames[0]!];
    if (output === undefined || !(output.data instanceof Float32Array))
      throw new Error('model gave no float32 output');
    return output.data;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
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
