// ONNX export of the research models, and the manifest that travels with each model file. The
// graphs take raw inputs (standardisation is part of the graph), so a serving process needs nothing
// but the .onnx file and the manifest's feature order. onnx-proto gives the protobuf classes; the
// graphs use opset 13 operators that every onnxruntime execution provider implements.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { sha256Hex } from '../../core/hash.ts';
import {
  type FeatureDistribution,
  MODEL_MANIFEST_VERSION,
  type ModelManifest,
} from '../../schemas/model-manifest.ts';
import type { TabularModel } from './models.ts';
import type { SentimentModel } from './sentiment.ts';

const { onnx } = onnxProto;
type ValueInfo = InstanceType<typeof onnx.ValueInfoProto>;
type Node = InstanceType<typeof onnx.NodeProto>;
type Tensor = InstanceType<typeof onnx.TensorProto>;

export const onnxOpset = 13;
export const onnxIrVersion = 8;
/** Name of the single input of every exported graph: float32 [batch × width]. */
export const onnxInputName = 'features';
/** Name of the single output: float32 [batch × outputs] probabilities. */
export const onnxOutputName = 'probabilities';

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

function floatTensor(name: string, dims: number[], values: ArrayLike<number>): Tensor {
  // raw_data is little-endian by the ONNX spec; DataView writes it so on any host.
  const raw = new Uint8Array(values.length * 4);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return onnx.TensorProto.create({ name, dims, dataType: FLOAT, rawData: raw });
}

function int64Tensor(name: string, values: number[]): Tensor {
  return onnx.TensorProto.create({ name, dims: [values.length], dataType: INT64, int64Data: values });
}

function node(
  opType: string,
  inputs: string[],
  outputs: string[],
  attributes: Record<string, number> = {},
): Node {
  return onnx.NodeProto.create({
    opType,
    name: outputs[0],
    input: inputs,
    output: outputs,
    attribute: Object.entries(attributes).map(([name, i]) =>
      onnx.AttributeProto.create({ name, i, type: onnx.AttributeProto.AttributeType.INT }),
    ),
  });
}

function matrixInfo(name: string, width: number): ValueInfo {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: { elemType: FLOAT, shape: { dim: [{ dimParam: 'batch' }, { dimValue: width }] } },
    },
  });
}

function encodeModel(
  graphName: string,
  nodes: Node[],
  initializers: Tensor[],
  inputWidth: number,
  outputWidth: number,
  docString: string,
): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: onnxIrVersion,
    opsetImport: [{ domain: '', version: onnxOpset }],
    producerName: 'sluice',
    docString,
    graph: {
      name: graphName,
      node: nodes,
      initializer: initializers,
      input: [matrixInfo(onnxInputName, inputWidth)],
      output: [matrixInfo(onnxOutputName, outputWidth)],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/**
 * Logistic regression: sigmoid(((x − mean) / std) · w + b) → [batch × 1].
 * MLP: softmax(act(((x − mean) / std) · W1 + b1) · W2 + b2) → [batch × classes].
 */
export function exportTabularOnnx(model: TabularModel): Uint8Array {
  const d = model.featureCount;
  const { mean, std } = model.standardizer;
  const initializers = [floatTensor('mean', [d], mean), floatTensor('std', [d], std)];
  const nodes = [
    node('Sub', [onnxInputName, 'mean'], ['centred']),
    node('Div', ['centred', 'std'], ['scaled']),
  ];
  if (model.kind === 'logistic') {
    initializers.push(floatTensor('weights', [d, 1], model.weights), floatTensor('bias', [1], [model.bias]));
    nodes.push(
      node('MatMul', ['scaled', 'weights'], ['product']),
      node('Add', ['product', 'bias'], ['logit']),
      node('Sigmoid', ['logit'], [onnxOutputName]),
    );
    return encodeModel(
      'logistic_regression',
      nodes,
      initializers,
      d,
      1,
      'L2 logistic regression, P(label = 1)',
    );
  }
  const hidden = model.b1.length;
  initializers.push(
    floatTensor('w1', [d, hidden], model.w1.flat()),
    floatTensor('b1', [hidden], model.b1),
    floatTensor('w2', [hidden, model.classes], model.w2.flat()),
    floatTensor('b2', [model.classes], model.b2),
  );
  nodes.push(
    node('MatMul', ['scaled', 'w1'], ['hidden_product']),
    node('Add', ['hidden_product', 'b1'], ['hidden_pre']),
    node(model.activation === 'tanh' ? 'Tanh' : 'Relu', ['hidden_pre'], ['hidden']),
    node('MatMul', ['hidden', 'w2'], ['output_product']),
    node('Add', ['output_product', 'b2'], ['logits']),
    node('Softmax', ['logits'], [onnxOutputName], { axis: 1 }),
  );
  return encodeModel(
    'mlp',
    nodes,
    initializers,
    d,
    model.classes,
    `MLP, ${model.activation}, class probabilities`,
  );
}

/**
 * Sentiment: the input row is `maxNonZeros` bucket indices (as floats) then as many values (see
 * packSparseRows). The graph gathers the weight rows of those buckets, scales them by the values
 * and sums: the sparse dot product, without a dense [batch × 2^18] input.
 */
export function exportSentimentOnnx(model: SentimentModel): Uint8Array {
  const k = model.vectorizer.maxNonZeros;
  const c = model.classes.length;
  const buckets = 1 << model.vectorizer.bucketBits;
  const initializers = [
    floatTensor('weights', [buckets, c], model.weights),
    floatTensor('bias', [c], model.bias),
    int64Tensor('index_start', [0]),
    int64Tensor('value_start', [k]),
    int64Tensor('value_end', [2 * k]),
    int64Tensor('columns', [1]),
    int64Tensor('value_axis', [2]),
  ];
  const nodes = [
    node('Slice', [onnxInputName, 'index_start', 'value_start', 'columns'], ['index_floats']),
    node('Slice', [onnxInputName, 'value_start', 'value_end', 'columns'], ['values']),
    node('Cast', ['index_floats'], ['indices'], { to: INT64 }),
    node('Gather', ['weights', 'indices'], ['gathered'], { axis: 0 }), // [batch × k × classes]
    node('Unsqueeze', ['values', 'value_axis'], ['values_3d']), // [batch × k × 1]
    node('Mul', ['gathered', 'values_3d'], ['scaled']),
    node('ReduceSum', ['scaled', 'columns'], ['dot'], { keepdims: 0 }),
    node('Add', ['dot', 'bias'], ['logits']),
    node('Softmax', ['logits'], [onnxOutputName], { axis: 1 }),
  ];
  return encodeModel('hashed_sentiment', nodes, initializers, 2 * k, c, 'hashed n-gram softmax regression');
}

/**
 * Version of a feature set: a hash of the ordered names and of a definition string (window lengths,
 * sources…). A model may only serve a live feature set with the same version.
 */
export function featureSetVersion(names: readonly string[], definition = ''): string {
  return `fs-${sha256Hex(JSON.stringify({ names, definition })).slice(0, 16)}`;
}

function quantile(sorted: Float64Array, q: number): number {
  const at = q * (sorted.length - 1);
  const lo = Math.floor(at);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

/** Equal-width bins from min to max, so PSI has the same resolution everywhere in the range. */
export function referenceDistribution(
  name: string,
  values: ArrayLike<number>,
  bins = 10,
): FeatureDistribution {
  if (values.length === 0) throw new RangeError(`feature ${name} has no values`);
  const sorted = Float64Array.from(values).sort();
  const min = sorted[0]!;
  const max = sorted[sorted.length - 1]!;
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  const std = Math.sqrt(sorted.reduce((a, b) => a + (b - mean) ** 2, 0) / sorted.length);
  const edges = Array.from({ length: bins + 1 }, (_, i) =>
    i === bins ? max : min + ((max - min) * i) / bins,
  );
  const counts = new Array<number>(bins).fill(0);
  for (const v of sorted) {
    const bin = max > min ? Math.min(bins - 1, Math.floor(((v - min) / (max - min)) * bins)) : 0;
    counts[bin]!++;
  }
  return {
    name,
    count: sorted.length,
    mean,
    std,
    min,
    max,
    deciles: Array.from({ length: 9 }, (_, i) => quantile(sorted, (i + 1) / 10)),
    edges,
    proportions: counts.map((n) => n / sorted.length),
  };
}

export interface FoldReport<M> {
  readonly fold: number;
  readonly trainSamples: number;
  readonly testSamples: number;
  readonly purged: number;
  readonly metrics: M;
}

export type ManifestInput = Omit<
  ModelManifest,
  'manifestVersion' | 'createdAt' | 'onnx' | 'input' | 'output'
> & {
  readonly inputWidth: number;
  readonly outputClasses: readonly string[];
};

/** Completes a manifest for `onnxBytes`, which will be written as `<modelId>.onnx`. */
export function buildManifest(input: ManifestInput, onnxBytes: Uint8Array): ModelManifest {
  const { inputWidth, outputClasses, ...rest } = input;
  return {
    manifestVersion: MODEL_MANIFEST_VERSION,
    ...rest,
    createdAt: input.trainingData.to,
    input: { name: onnxInputName, dtype: 'float32', width: inputWidth },
    output: { name: onnxOutputName, classes: outputClasses },
    onnx: {
      file: `${input.modelId}.onnx`,
      sha256: sha256Hex(onnxBytes),
      bytes: onnxBytes.length,
      opset: onnxOpset,
      irVersion: onnxIrVersion,
    },
  };
}

/** Writes `<modelId>.onnx` and `<modelId>.manifest.json` into `dir`; returns both paths. */
export function writeModelArtifacts(
  dir: string,
  manifest: ModelManifest,
  onnxBytes: Uint8Array,
): { onnxPath: string; manifestPath: string } {
  if (sha256Hex(onnxBytes) !== manifest.onnx.sha256)
    throw new Error('manifest does not describe these ONNX bytes');
  mkdirSync(dir, { recursive: true });
  const onnxPath = join(dir, manifest.onnx.file);
  const manifestPath = join(dir, `${manifest.modelId}.manifest.json`);
  writeFileSync(onnxPath, onnxBytes);
  writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  return { onnxPath, manifestPath };
}
