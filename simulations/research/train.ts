// Model training for research and backtests: triple-barrier labels on the LIVE feature set
// (FeatureCore over daily bars, so the manifest pins the version the InferenceActor serves), purged
// and embargoed walk-forward folds, a purged hold-out for out-of-sample figures, then the final
// model exported to ONNX with its manifest; and the news sentiment classifier.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FeatureCore } from '../../actors/feature/core.ts';
import { readMarketCsv } from '../../actors/feature/csv.ts';
import { getFeatureSet } from '../../actors/feature/feature-set.ts';
import { ConfigError } from '../../core/errors.ts';
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
  type ModelManifest,
  referenceDistribution,
  sha256Hex,
  writeModelArtifacts,
} from './onnx-export.ts';
import {
  predictSentiment,
  readSentimentCsv,
  sentimentClasses,
  trainSentiment,
  vectorize,
} from './sentiment.ts';

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

type Json = Record<string, unknown>;

function field<T>(
  raw: Json,
  name: string,
  fallback: T | undefined,
  valid: (v: unknown) => boolean,
  expected: string,
): T {
  const value = raw[name] ?? fallback;
  if (value === undefined || !valid(value)) {
    throw new ConfigError(
      name,
      `${value === undefined ? 'missing' : `got ${JSON.stringify(value)}`}`,
      `Set it to ${expected}`,
    );
  }
  return value as T;
}

/** An optional `YYYY-MM-DD` field as epoch ms (UTC midnight). */
function dateField(r: Json, name: 'from' | 'to'): { from?: number; to?: number } {
  const value = r[name];
  if (value === undefined) return {};
  const ms =
    typeof value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(value)
      ? Date.parse(`${value}T00:00:00Z`)
      : Number.NaN;
  if (!Number.isFinite(ms))
    throw new ConfigError(name, `not a date: ${JSON.stringify(value)}`, 'Use YYYY-MM-DD');
  return { [name]: ms };
}

const isPositiveInt = (v: unknown): boolean => Number.isInteger(v) && (v as number) > 0;
const isFraction = (v: unknown): boolean => typeof v === 'number' && v >= 0 && v < 1;

/** Validates a parsed config file; every error names its field. */
export function parseTrainConfig(raw: unknown): TrainConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(
      '--config',
      'the file is not a JSON object',
      'Write a JSON object with model, symbols, …',
    );
  }
  const r = raw as Json;
  const labels = (r.labels ?? {}) as Json;
  if (typeof labels !== 'object' || Array.isArray(labels))
    throw new ConfigError(
      'labels',
      'not an object',
      'Give profitTake, stopLoss, verticalBars, volatilityWindow',
    );
  const labelField = (name: keyof TripleBarrierConfig, valid: (v: unknown) => boolean, expected: string) => {
    try {
      return field<number>(labels, name, defaultTripleBarrier[name], valid, expected);
    } catch (error) {
      if (error instanceof ConfigError)
        throw new ConfigError(`labels.${name}`, 'invalid', `Set it to ${expected}`);
      throw error;
    }
  };
  const mlp = (r.mlp ?? {}) as Json;
  const config: TrainConfig = {
    model: field<TrainConfig['model']>(
      r,
      'model',
      undefined,
      (v) => v === 'logistic' || v === 'mlp',
      '"logistic" or "mlp"',
    ),
    symbols: field<string[]>(
      r,
      'symbols',
      undefined,
      (v) =>
        Array.isArray(v) &&
        v.length > 0 &&
        v.every((s) => typeof s === 'string' && /^[A-Za-z0-9._-]+$/.test(s)),
      'a non-empty array of symbols, e.g. ["AAPL", "XOM"]',
    ),
    dataDir: field(
      r,
      'dataDir',
      DEFAULT_PRICE_DIR,
      (v) => typeof v === 'string',
      'a folder of <SYMBOL>.csv files',
    ),
    featureSet: field(
      r,
      'featureSet',
      'default',
      (v) => typeof v === 'string',
      'a feature set name, e.g. "default"',
    ),
    labels: {
      profitTake: labelField(
        'profitTake',
        (v) => typeof v === 'number' && v > 0,
        'a positive multiple of volatility',
      ),
      stopLoss: labelField(
        'stopLoss',
        (v) => typeof v === 'number' && v > 0,
        'a positive multiple of volatility',
      ),
      verticalBars: labelField('verticalBars', isPositiveInt, 'a positive number of bars'),
      volatilityWindow: labelField(
        'volatilityWindow',
        (v) => Number.isInteger(v) && (v as number) >= 2,
        'an integer ≥ 2',
      ),
    },
    ...dateField(r, 'from'),
    ...dateField(r, 'to'),
    folds: field(r, 'folds', 4, isPositiveInt, 'a positive integer'),
    embargo: field(r, 'embargo', 0.01, isFraction, 'a fraction of the samples in [0, 1), e.g. 0.01'),
    holdout: field(
      r,
      'holdout',
      0.2,
      (v) => isFraction(v) && (v as number) > 0,
      'a fraction in (0, 1), e.g. 0.2',
    ),
    l2: field(r, 'l2', 10, (v) => typeof v === 'number' && v >= 0, 'a number ≥ 0'),
    mlp: {
      hidden: field(mlp, 'hidden', 16, isPositiveInt, 'mlp.hidden: a positive integer'),
      epochs: field(mlp, 'epochs', 20, isPositiveInt, 'mlp.epochs: a positive integer'),
      activation: field(
        mlp,
        'activation',
        'tanh',
        (v) => v === 'tanh' || v === 'relu',
        'mlp.activation: "tanh" or "relu"',
      ),
      seed: field(mlp, 'seed', 1, Number.isInteger, 'mlp.seed: an integer'),
    },
    outputDir: field(
      r,
      'outputDir',
      'models',
      (v) => typeof v === 'string' && v !== '',
      'a folder to write the model to',
    ),
    ...(r.modelId !== undefined
      ? {
          modelId: field<string>(
            r,
            'modelId',
            undefined,
            (v) => typeof v === 'string' && /^[A-Za-z0-9_-]{1,100}$/.test(v),
            'letters, digits, - and _ (≤ 100)',
          ),
        }
      : {}),
  };
  getFeatureSet(config.featureSet, 'featureSet');
  const dir = resolve(repoRootDir, config.dataDir);
  for (const symbol of config.symbols) {
    if (!existsSync(join(dir, `${symbol}.csv`))) {
      throw new ConfigError(
        'symbols',
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

export interface SentimentTrainConfig {
  readonly dataDir: string;
  readonly outputDir: string;
  readonly seed: number;
  readonly epochs?: number;
}

/** Config keys of `--sentiment` (all optional): dataDir, outputDir, seed, epochs. */
export function parseSentimentConfig(raw: unknown): SentimentTrainConfig {
  const r = (raw ?? {}) as Json;
  return {
    dataDir: field(
      r,
      'dataDir',
      DEFAULT_SENTIMENT_DIR,
      (v) => typeof v === 'string',
      'the twitter-financial-news-sentiment folder',
    ),
    outputDir: field(
      r,
      'outputDir',
      'models',
      (v) => typeof v === 'string' && v !== '',
      'a folder to write the model to',
    ),
    seed: field(r, 'seed', 1, Number.isInteger, 'an integer'),
    ...(r.epochs !== undefined
      ? { epochs: field<number>(r, 'epochs', undefined, isPositiveInt, 'a positive integer') }
      : {}),
  };
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
