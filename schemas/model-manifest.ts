// The model manifest: the JSON that travels with every ONNX model (written by `sluice train`, or by a
// program outside Sluice) and that the registry, the inference and news actors and `sluice models`
// read. It is an outside contract like the messages, so it is declared here once: the TypeScript type,
// the validator (schemas/validate.ts) and schemas/json/model_manifest.v1.json come from this schema.
// `manifestVersion` is the version tag; a manifest of another version is refused, not guessed at.
import { type Static, Type } from '@sinclair/typebox';
import { SCHEMA_BASE_URI } from './messages.ts';

export const MODEL_MANIFEST_VERSION = 1;
export const modelManifestTag = `model_manifest.v${MODEL_MANIFEST_VERSION}`;

const Text = Type.String({ minLength: 1 });
const Count = Type.Integer({ minimum: 0 });
const Numbers = Type.Array(Type.Number());
/** A score; JSON has no NaN or Infinity, so an undefined score (one class only) is written as null. */
const Score = Type.Union([Type.Number(), Type.Null()]);

const closed = { additionalProperties: false } as const;

/** The hashing vectorizer of a sentiment model (actors/news/vectorizer.ts). */
export const VectorizerConfig = Type.Object(
  {
    /** log2 of the number of hash buckets; indices travel as float32, so at most 24. */
    bucketBits: Type.Integer({ minimum: 1, maximum: 24 }),
    /** Character n-gram lengths taken inside each word (with boundary marks); empty for none. */
    charNgrams: Type.Array(Type.Integer({ minimum: 1 })),
    /** Word bigrams as well as unigrams. */
    wordBigrams: Type.Boolean(),
    /**
     * Most non-zero entries a vector keeps (the largest by value, ties by bucket). It fixes the ONNX
     * input width (2 × maxNonZeros); set it above what real headlines need so it almost never bites.
     */
    maxNonZeros: Type.Integer({ minimum: 1 }),
  },
  closed,
);

/** Training distribution of one feature, for drift checks (PSI over the bins, KS over deciles). */
export const FeatureDistribution = Type.Object(
  {
    name: Text,
    count: Count,
    mean: Type.Number(),
    std: Type.Number({ minimum: 0 }),
    min: Type.Number(),
    max: Type.Number(),
    /** The 10th … 90th percentiles. */
    deciles: Numbers,
    /** Bin edges (ascending, length bins + 1; the outer bins are open-ended in use). */
    edges: Numbers,
    /** Share of the training values in each bin. */
    proportions: Numbers,
  },
  closed,
);

const BinaryMetrics = Type.Object(
  { samples: Count, logLoss: Score, rocAuc: Score, accuracy: Score, brier: Score },
  closed,
);

const MulticlassMetrics = Type.Object(
  {
    samples: Count,
    accuracy: Score,
    macroF1: Score,
    perClassF1: Type.Array(Score),
    logLoss: Score,
    /** confusion[actual][predicted] */
    confusion: Type.Array(Type.Array(Count)),
  },
  closed,
);

const Metrics = Type.Union([BinaryMetrics, MulticlassMetrics]);

export const ModelManifest = Type.Object(
  {
    manifestVersion: Type.Literal(MODEL_MANIFEST_VERSION),
    modelId: Type.String({ minLength: 1, maxLength: 256 }),
    kind: Type.Union([Type.Literal('logistic'), Type.Literal('mlp'), Type.Literal('sentiment-softmax')]),
    /** End of the training data, not the wall clock, so the same run writes the same manifest. */
    createdAt: Text,
    featureSet: Type.Object({ version: Text, names: Type.Array(Text, { minItems: 1 }) }, closed),
    input: Type.Object(
      { name: Text, dtype: Type.Literal('float32'), width: Type.Integer({ minimum: 1 }) },
      closed,
    ),
    output: Type.Object({ name: Text, classes: Type.Array(Text, { minItems: 1 }) }, closed),
    normalisation: Type.Union([
      Type.Object({ kind: Type.Literal('standard'), mean: Numbers, std: Numbers }, closed),
      Type.Object({ kind: Type.Literal('hashed-ngrams'), vectorizer: VectorizerConfig }, closed),
    ]),
    labels: Type.Union([
      Type.Object(
        {
          kind: Type.Literal('triple-barrier'),
          /** How the −1/0/+1 label maps to the outputs, e.g. "P(label = +1)". */
          target: Text,
          profitTake: Type.Number({ exclusiveMinimum: 0 }),
          stopLoss: Type.Number({ exclusiveMinimum: 0 }),
          verticalBars: Type.Integer({ minimum: 1 }),
          volatilityWindow: Type.Integer({ minimum: 1 }),
        },
        closed,
      ),
      Type.Object({ kind: Type.Literal('classes'), source: Text }, closed),
    ]),
    trainingData: Type.Object(
      { from: Text, to: Text, samples: Count, sources: Type.Array(Type.String()) },
      closed,
    ),
    metrics: Type.Object(
      {
        folds: Type.Array(
          Type.Object(
            { fold: Count, trainSamples: Count, testSamples: Count, purged: Count, metrics: Metrics },
            closed,
          ),
        ),
        outOfSample: Metrics,
      },
      closed,
    ),
    referenceDistributions: Type.Array(FeatureDistribution),
    onnx: Type.Object(
      {
        file: Text,
        sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
        bytes: Count,
        opset: Type.Integer({ minimum: 1 }),
        irVersion: Type.Integer({ minimum: 1 }),
      },
      closed,
    ),
  },
  {
    $id: `${SCHEMA_BASE_URI}/${modelManifestTag}.json`,
    title: 'model_manifest',
    description: 'What an ONNX model computes, from which features, trained on what; its file and SHA-256.',
    additionalProperties: false,
  },
);

/** Readers never change a manifest, and writers build it from readonly parts (feature set columns). */
type DeepReadonly<T> = T extends readonly (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

export type VectorizerConfig = DeepReadonly<Static<typeof VectorizerConfig>>;
export type FeatureDistribution = DeepReadonly<Static<typeof FeatureDistribution>>;
export type ModelManifest = DeepReadonly<Static<typeof ModelManifest>>;
