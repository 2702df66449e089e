// Model training for research and backtests: triple-barrier labels on the LIVE feature set
// (FeatureCore over daily bars, so the manifest pins the version the InferenceActor serves), purged
// and embargoed walk-forward folds, a purged hold-out for out-of-sample figures, then the final
// model exported to ONNX with its manifest; and the news sentiment classifier.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Static, Type } from '@sinclair/typebox';
import { FeatureCore } from '../../actors/feature/core.ts';
import { readMarketCsv } from '../../actors/feature/csv.ts';
import { getFeatureSet } from '../../actors/feature/feature-set.ts';
import { vectorize } from '../../actors/news/vectorizer.ts';
import { checkConfig, dateMillis, IsoDate, withDefaults } from '../../core/config-file.ts';
import { ConfigError } from '../../core/errors.ts';
import { sha256Hex } from '../../core/hash.ts';
import type { ModelManifest } from '../../schemas/model-manifest.ts';
import { purgedWalkForwardSplits } from './cross-validation.ts';
import { defaultTripleBarrier, type TripleBarrierConfig, tripleBarrierLabels } from './labels.ts';
import { type BinaryMetrics, binaryMetrics, type MulticlassMetrics, multiclassMetrics } from './metrics.ts';
import { type Activation, predict, type TabularModel, trainLogistic, trainMlp } from './models.ts';
import {
  buildManifest,
  exportSentimentOnnx,
  exportTabularOnnx,
  type FoldReport,
  featureSetVersion,
  referenceDistribution,
  writeModelArtifacts,
} from './onnx-export.ts';
import { predictSentiment, readSentimentCsv, sentimentClasses, trainSentiment } from './sentiment.ts';

export interface TrainConfig {
  readonly model: 'logistic' | 'mlp';
  readonly symbols: readonly string[];
  /** Folder of `<SYMBOL>.csv` daily bars; relative paths are taken from the repository root. */
  readonly dataDir: string;
  readonly featureSet: string;
  readonly labels: TripleBarrierConfig;
  readonly folds: number;
  readonly embargo: number;
  /** Share of the latest samples held out for out-of-sample metrics. */
  readonly holdout: number;
  readonly l2: number;
  readonly mlp: {
    readonly hidden: number;
    readonly epochs: number;
    readonly activation: Activation;
    readonly seed: number;
  };
  readonly outputDir: string;
  /** Default: `<model>-<feature-set version prefix>-<config hash prefix>`. */
  readonly modelId?: string;
  /** Training window over bar close times, epoch ms: [from, to). A backtest trains before its own window. */
  readonly from?: number;
  readonly to?: number;
}

export interface TrainResult {
  readonly manifest: ModelManifest;
  readonly onnxPath: string;
  readonly manifestPath: string;
  readonly onnx: Uint8Array;
}

const repoRootDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEFAULT_PRICE_DIR = '../shared/data/stocknet/price_raw';
const DEFAULT_SENTIMENT_DIR = '../shared/data/twitter-financial-news-sentiment';

const SymbolName = Type.String({ pattern: '^[A-Za-z0-9._-]+$' });
const OutputDir = Type.String({ minLength: 1, default: 'models' });

/** The `sluice train --config` file; absent fields take the defaults written here. */
export const TrainConfigSchema = Type.Object(
  {
    model: Type.Union([Type.Literal('logistic'), Type.Literal('mlp')]),
    symbols: Type.Array(SymbolName, { minItems: 1 }),
    /** Folder of `<SYMBOL>.csv` daily bars, relative to the repository root. */
    dataDir: Type.String({ minLength: 1, default: DEFAULT_PRICE_DIR }),
    featureSet: Type.String({ minLength: 1, default: 'default' }),
    labels: Type.Object(
      {
        profitTake: Type.Number({ exclusiveMinimum: 0, default: defaultTripleBarrier.profitTake }),
        stopLoss: Type.Number({ exclusiveMinimum: 0, default: defaultTripleBarrier.stopLoss }),
        verticalBars: Type.Integer({ minimum: 1, default: defaultTripleBarrier.verticalBars }),
        volatilityWindow: Type.Integer({ minimum: 2, default: defaultTripleBarrier.volatilityWindow }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Training window over bar close times: [from, to). */
    from: Type.Optional(IsoDate),
    to: Type.Optional(IsoDate),
    folds: Type.Integer({ minimum: 1, default: 4 }),
    /** Share of the samples purged after each test fold. */
    embargo: Type.Number({ minimum: 0, exclusiveMaximum: 1, default: 0.01 }),
    holdout: Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.2 }),
    l2: Type.Number({ minimum: 0, default: 10 }),
    mlp: Type.Object(
      {
        hidden: Type.Integer({ minimum: 1, default: 16 }),
        epochs: Type.Integer({ minimum: 1, default: 20 }),
        activation: Type.Union([Type.Literal('tanh'), Type.Literal('relu')], { default: 'tanh' }),
        seed: Type.Integer({ default: 1 }),
      },
      { additionalProperties: false, default: {} },
    ),
    outputDir: OutputDir,
    modelId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,100}$' })),
  },
  { additionalProperties: false },
);

/** Checks a parsed config file and fills its defaults; every error names its field. */
export function parseTrainConfig(raw: unknown): TrainConfig {
  const { from, to, ...file } = checkConfig(
    TrainConfigSchema,
    withDefaults(TrainConfigSchema, raw),
    'See README "Training" for the config fields',
  );
  const config: TrainConfig = {
    ...file,
    ...(from !== undefined ? { from: dateMillis(from) } : {}),
    ...(to !== undefined ? { to: dateMillis(to) } : {}),
  };
  getFeatureSet(config.featureSet, '/featureSet');
  const dir = resolve(repoRootDir, config.dataDir);
  for (const symbol of config.symbols) {
    if (!existsSync(join(dir, `${symbol}.csv`))) {
      throw new ConfigError(
        '/symbols',
        `${symbol}.csv is not in ${dir}`,
        'Use symbols that have a file in dataDir',
      );
    }
  }
  return config;
}

interface Sample {
  readonly features: number[];
  readonly label: -1 | 0 | 1;
  /** Label window in epoch ms (bar close times): a time axis shared by every symbol. */
  readonly start: number;
  readonly end: number;
}

export type Progress = (done: number, total: number, step: string) => void;

/** Warm feature rows at labelled bars, over every symbol, sorted by label start. */
function loadSamples(config: TrainConfig, progress: Progress, totalSteps: number): Sample[] {
  const set = getFeatureSet(config.featureSet, 'featureSet');
  const samples: Sample[] = [];
  config.symbols.forEach((symbol, s) => {
    const csv = readMarketCsv(join(resolve(repoRootDir, config.dataDir), `${symbol}.csv`), {
      symbol,
      interval: '1d',
    });
    if (csv.kind !== 'bars')
      throw new ConfigError(
        'dataDir',
        `${symbol}.csv holds no OHLCV bars`,
        'Point dataDir at daily bar files',
      );
    const core = new FeatureCore({ set });
    const bars = csv.bars.filter(
      (bar) =>
        bar.ts_event >= (config.from ?? Number.NEGATIVE_INFINITY) &&
        bar.ts_event < (config.to ?? Number.POSITIVE_INFINITY),
    );
    const rows = bars.map((bar) => core.onBar(bar));
    for (const label of tripleBarrierLabels(
      bars.map((b) => b.close),
      config.labels,
    )) {
      const row = rows[label.start];
      if (!row?.warm) continue;
      samples.push({
        features: set.columns.map((name) => row.values[name] ?? 0),
        label: label.label,
        start: bars[label.start]!.ts_event,
        end: bars[label.end]!.ts_event,
      });
    }
    progress(s + 1, totalSteps, `features ${symbol}`);
  });
  return samples.sort((a, b) => a.start - b.start || a.end - b.end);
}

function fit(config: TrainConfig, samples: readonly Sample[]): TabularModel {
  const x = samples.map((s) => s.features);
  return config.model === 'logistic'
    ? trainLogistic(
        x,
        samples.map((s) => (s.label === 1 ? 1 : 0)),
        { l2: config.l2 },
      )
    : trainMlp(
        x,
        samples.map((s) => s.label + 1),
        { ...config.mlp, classes: 3, l2: config.l2 },
      );
}

function evaluate(
  config: TrainConfig,
  model: TabularModel,
  samples: readonly Sample[],
): BinaryMetrics | MulticlassMetrics {
  const out = predict(
    model,
    samples.flatMap((s) => s.features),
  );
  return config.model === 'logistic'
    ? binaryMetrics(
        samples.map((s) => (s.label === 1 ? 1 : 0)),
        out,
      )
    : multiclassMetrics(
        samples.map((s) => s.label + 1),
        out,
        3,
      );
}

const isoDate = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/** Trains, evaluates and writes `<modelId>.onnx` and `<modelId>.manifest.json` into config.outputDir. */
export function trainTabularModel(config: TrainConfig, progress: Progress = () => {}): TrainResult {
  const set = getFeatureSet(config.featureSet, 'featureSet');
  const totalSteps = config.symbols.length + config.folds + 1;
  const samples = loadSamples(config, progress, totalSteps);
  const cut = Math.floor(samples.length * (1 - config.holdout));
  const holdout = samples.slice(cut);
  // Purge the training samples whose label windows reach into the hold-out.
  const train = samples.slice(0, cut).filter((s) => s.end < (holdout[0]?.start ?? Number.POSITIVE_INFINITY));
  if (holdout.length === 0 || train.length < (config.folds + 1) * 10) {
    throw new ConfigError(
      'symbols',
      `only ${samples.length} labelled samples`,
      'Add symbols or lower folds/holdout',
    );
  }
  const folds: FoldReport<BinaryMetrics | MulticlassMetrics>[] = purgedWalkForwardSplits(train, {
    folds: config.folds,
    embargoFraction: config.embargo,
  }).map((split) => {
    const report = {
      fold: split.fold,
      trainSamples: split.train.length,
      testSamples: split.test.length,
      purged: split.purged,
      metrics: evaluate(
        config,
        fit(
          config,
          split.train.map((i) => train[i]!),
        ),
        split.test.map((i) => train[i]!),
      ),
    };
    progress(config.symbols.length + split.fold + 1, totalSteps, `fold ${split.fold + 1}`);
    return report;
  });
  const model = fit(config, train);
  const outOfSample = evaluate(config, model, holdout);
  const onnx = exportTabularOnnx(model);
  // Where the files go does not change the model, so it does not change its id.
  const { outputDir: _outputDir, ...identity } = config;
  const configHash = sha256Hex(JSON.stringify(identity)).slice(0, 8);
  const manifest = buildManifest(
    {
      modelId: config.modelId ?? `${config.model}-${set.version.slice(0, 8)}-${configHash}`,
      kind: config.model,
      featureSet: { version: set.version, names: set.columns },
      inputWidth: set.columns.length,
      outputClasses: config.model === 'logistic' ? ['+1'] : ['-1', '0', '+1'],
      normalisation: { kind: 'standard', ...model.standardizer },
      labels: {
        kind: 'triple-barrier',
        target: config.model === 'logistic' ? 'P(label = +1)' : 'P(label = -1), P(0), P(+1)',
        ...config.labels,
      },
      trainingData: {
        from: isoDate(train[0]!.start),
        to: isoDate(train[train.length - 1]!.start),
        samples: train.length,
        sources: [`${config.dataDir} ${config.symbols.join(' ')}`],
      },
      metrics: { folds, outOfSample },
      referenceDistributions: set.columns.map((name, j) =>
        referenceDistribution(
          name,
          train.map((s) => s.features[j]!),
        ),
      ),
    },
    onnx,
  );
  progress(totalSteps, totalSteps, 'final model');
  return { manifest, onnx, ...writeModelArtifacts(resolve(config.outputDir), manifest, onnx) };
}

/** The `sluice train --sentiment` config; every field is optional. */
export const SentimentTrainConfigSchema = Type.Object(
  {
    /** The twitter-financial-news-sentiment folder. */
    dataDir: Type.String({ minLength: 1, default: DEFAULT_SENTIMENT_DIR }),
    outputDir: OutputDir,
    seed: Type.Integer({ default: 1 }),
    epochs: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);

export type SentimentTrainConfig = Static<typeof SentimentTrainConfigSchema>;

export function parseSentimentConfig(raw: unknown): SentimentTrainConfig {
  return checkConfig(
    SentimentTrainConfigSchema,
    withDefaults(SentimentTrainConfigSchema, raw ?? {}),
    'See README "Training" for the config fields',
  );
}

/** Trains the news sentiment classifier on sent_train.csv, reports sent_valid.csv in the manifest. */
export function trainSentimentModel(
  options: SentimentTrainConfig,
  progress: Progress = () => {},
): TrainResult {
  const dir = resolve(repoRootDir, options.dataDir);
  const trainPath = join(dir, 'sent_train.csv');
  const validPath = join(dir, 'sent_valid.csv');
  if (!existsSync(trainPath) || !existsSync(validPath)) {
    throw new ConfigError(
      'dataDir',
      `${dir} lacks sent_train.csv or sent_valid.csv`,
      'Point it at twitter-financial-news-sentiment',
    );
  }
  const train = readSentimentCsv(trainPath);
  const valid = readSentimentCsv(validPath);
  progress(1, 3, 'read');
  const model = trainSentiment(train, {
    seed: options.seed,
    ...(options.epochs ? { epochs: options.epochs } : {}),
  });
  progress(2, 3, 'trained');
  const probabilities = new Float64Array(valid.length * model.classes.length);
  valid.forEach((d, i) => {
    probabilities.set(predictSentiment(model, vectorize(d.text, model.vectorizer)), i * model.classes.length);
  });
  const outOfSample = multiclassMetrics(
    valid.map((d) => d.label),
    probabilities,
    model.classes.length,
  );
  const onnx = exportSentimentOnnx(model);
  const manifest = buildManifest(
    {
      modelId: `news-sentiment-${sha256Hex(onnx).slice(0, 8)}`,
      kind: model.kind,
      featureSet: { version: featureSetVersion(['text'], JSON.stringify(model.vectorizer)), names: ['text'] },
      inputWidth: 2 * model.vectorizer.maxNonZeros,
      outputClasses: model.classes,
      normalisation: { kind: 'hashed-ngrams', vectorizer: model.vectorizer },
      labels: {
        kind: 'classes',
        source: `twitter-financial-news-sentiment ${sentimentClasses.map((c, i) => `${i} ${c}`).join(' / ')}`,
      },
      trainingData: {
        from: 'sent_train.csv',
        to: 'sent_train.csv',
        samples: train.length,
        sources: [trainPath],
      },
      metrics: { folds: [], outOfSample },
      referenceDistributions: [],
    },
    onnx,
  );
  progress(3, 3, 'exported');
  return { manifest, onnx, ...writeModelArtifacts(resolve(options.outputDir), manifest, onnx) };
}

/** Records the run in `runs`; returns a line saying where it went, or why it did not. */
