// The ONNX runner the inference and news bindings score with: an onnxruntime session on the first
// execution provider that loads (CUDA, then CPU by default), checked for one float32 input and output
// of fixed width and warmed up. I/O and native code: kept out of the pure core (core.ts).
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
