// A model manifest for tests of what reads only a manifest's labels (the risk gate's barrier exits).
import { sha256Hex } from '../../core/hash.ts';
import type { TripleBarrierConfig } from '../../core/triple-barrier.ts';
import type { ModelManifest } from '../../schemas/model-manifest.ts';

/** A manifest for `modelId` whose ONNX bytes are `bytes` (the gate reads only its labels). */
export function manifestFor(modelId: string, bytes: Uint8Array, labels: TripleBarrierConfig): ModelManifest {
  return {
    manifestVersion: 1,
    modelId,
    kind: 'logistic',
    createdAt: '2012-06-30',
    featureSet: { version: 'fs-test', names: ['ret_1'] },
    input: { name: 'features', dtype: 'float32', width: 1 },
    output: { name: 'probabilities', classes: ['+1'] },
    normalisation: { kind: 'standard', mean: [0], std: [1] },
    labels: { kind: 'triple-barrier', target: 'P(label = +1)', ...labels },
    trainingData: { from: '2012-01-03', to: '2012-06-29', samples: 120, sources: ['test'] },
    metrics: {
      folds: [],
      outOfSample: { samples: 0, logLoss: null, rocAuc: null, accuracy: null, brier: null },
    },
    referenceDistributions: [],
    onnx: { file: `${modelId}.onnx`, sha256: sha256Hex(bytes), bytes: bytes.length, opset: 13, irVersion: 7 },
  };
}
