// Model admission, once for every actor that serves a model (inference, news): a model is served only
// after it passed, in order, the registry-entry check, the actor's own fit (feature set, classes), the
// SHA-256 of its bytes against the manifest, an onnxruntime load with a warm-up on zeros, the graph's
// widths against the manifest, and a smoke inference on a realistic row that must give probabilities.
// A model that fails any is refused with the reason; a runner already made is released.
import type { ModelManifest } from '../../schemas/model-manifest.ts';
import { OnnxModelRunner, type OnnxRunnerOptions } from './onnx-runner.ts';
import { type ModelSource, verifyModelBytes } from './registry.ts';

/** What an actor needs of a model beyond what every model must keep. */
export interface ModelRequirements {
  /** Why `manifest` cannot serve this actor (feature set, normalisation, classes), or undefined. */
  mismatch(manifest: ModelManifest): string | undefined;
  /** The input width the graph must have for `manifest`. */
  inputWidth(manifest: ModelManifest): number;
  /** A realistic input row (beyond the warm-up's zeros) for the smoke inference. */
  smokeRow(manifest: ModelManifest): Float32Array;
}

export interface AdmittedModel {
  readonly manifest: ModelManifest;
  readonly runner: OnnxModelRunner;
}

export async function admitModel(
  models: ModelSource,
  modelId: string,
  requirements: ModelRequirements,
  runnerOptions: OnnxRunnerOptions,
): Promise<AdmittedModel> {
  const { manifest, bytes } = await models.load(modelId);
  if (manifest.modelId !== modelId)
    throw new Error(`registry entry ${modelId} holds model ${manifest.modelId}`);
  const mismatch = requirements.mismatch(manifest);
  if (mismatch) throw new Error(mismatch);
  verifyModelBytes(manifest, bytes);
  const runner = await OnnxModelRunner.load(bytes, runnerOptions);
  try {
    const width = requirements.inputWidth(manifest);
    const classes = manifest.output.classes.length;
    if (runner.inputWidth !== width || runner.outputWidth !== classes) {
      throw new Error(
        `model ${modelId} is [${runner.inputWidth} → ${runner.outputWidth}], its manifest says [${width} → ${classes}]`,
      );
    }
    const out = await runner.runBatch(requirements.smokeRow(manifest), 1);
    if (!Array.from(out).every((p) => Number.isFinite(p) && p >= 0 && p <= 1)) {
      throw new Error(
        `model ${modelId} gave ${Array.from(out).join(', ')} on its smoke row, not probabilities`,
      );
    }
  } catch (error) {
    await runner.release();
    throw error;
  }
  return { manifest, runner };
}
