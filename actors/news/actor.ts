// The NewsActor: scores each news item (md.news.>) with the sentiment model through the same ONNX
// path as the InferenceActor (OnnxModelRunner, CUDA then CPU) and publishes a sentiment_score on
// md.sentiment.<partition>.<symbol>, which the FeatureActor folds into its news features.
// - label: the likeliest class; score = P(bullish) - P(bearish); confidence = P(label).
// - id `sent:<news id>:<model id>`, ts_event/ts_init copied from the news item (event time), and
//   news_id = the item's id (lineage).
// News comes a few items a second at most, so each item is scored alone when it arrives: no batch
// waits for a later item. The model is the one active under `modelKey` at start; swapping it needs
// a restart (the InferenceActor's hot swap is not repeated here).

import type { Logger } from '../../core/logger.ts';
import type { NewsItem, SentimentScore } from '../../schemas/messages.ts';
import type { ModelManifest } from '../../schemas/model-manifest.ts';
import type { ActorBus, Subscription } from '../../streams/bus.ts';
import type { Actor } from '../actor.ts';
import { type ExecutionProvider, OnnxModelRunner } from '../inference/onnx-runner.ts';
import type { ModelSource } from '../inference/registry.ts';
import { packSparseRows, type VectorizerConfig, vectorize } from './vectorizer.ts';

export const DEFAULT_SENTIMENT_MODEL_KEY = 'news-sentiment';

const LABELS = ['bearish', 'bullish', 'neutral'] as const;
type SentimentLabel = (typeof LABELS)[number];

export interface NewsActorOptions {
  readonly bus: ActorBus;
  readonly models: ModelSource;
  /** Registry key (strategy) whose active model scores the news; default `news-sentiment`. */
  readonly modelKey?: string;
  /** Partition to consume, or '*' for all (default). */
  readonly partition?: number | '*';
  readonly executionProviders?: readonly ExecutionProvider[];
  readonly durable?: string;
  readonly logger?: Logger;
}

export interface NewsCounters {
  scored: number;
}

export interface NewsStatus {
  modelId: string | undefined;
  executionProvider: ExecutionProvider | undefined;
  counters: NewsCounters;
}

interface SentimentScorer {
  readonly manifest: ModelManifest;
  readonly vectorizer: VectorizerConfig;
  readonly runner: OnnxModelRunner;
  /** Output column of each label. */
  readonly columns: Readonly<Record<SentimentLabel, number>>;
}

/** The label, score and confidence of one row of class probabilities (see the top of this file). */
export function sentimentOf(
  probabilities: ArrayLike<number>,
  columns: Readonly<Record<SentimentLabel, number>>,
): Pick<SentimentScore, 'label' | 'score' | 'confidence'> {
  let label: SentimentLabel = 'neutral';
  for (const candidate of LABELS) {
    if (probabilities[columns[candidate]]! > probabilities[columns[label]]!) label = candidate;
  }
  const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
  return {
    label,
    score: clamp(probabilities[columns.bullish]! - probabilities[columns.bearish]!, -1, 1),
    confidence: clamp(probabilities[columns[label]]!, 0, 1),
  };
}

export class NewsActor implements Actor<NewsStatus> {
  readonly counters: NewsCounters = { scored: 0 };
  private scorer: SentimentScorer | undefined;
  private subscription: Subscription | undefined;

  private constructor(private readonly options: NewsActorOptions) {}

  /** Loads and checks the sentiment model, then starts consuming news. */
  static async start(options: NewsActorOptions): Promise<NewsActor> {
    const actor = new NewsActor(options);
    await actor.begin();
    return actor;
  }

  private async begin(): Promise<void> {
    const key = this.options.modelKey ?? DEFAULT_SENTIMENT_MODEL_KEY;
    const modelId = await this.options.models.active(key);
    if (modelId === undefined) throw new Error(`no sentiment model is active under ${key}`);
    this.scorer = await this.load(modelId);
    const { bus } = this.options;
    this.subscription = await bus.subscribe({
      durable: this.options.durable ?? 'news-sentiment',
      stream: 'MARKET',
      filterSubject: bus.subjects.marketFilter('news', this.options.partition ?? '*'),
      messages: ['news_item'],
      handler: (item) => this.onNews(item),
    });
  }

  status(): NewsStatus {
    return {
      modelId: this.scorer?.manifest.modelId,
      executionProvider: this.scorer?.runner.provider,
      counters: { ...this.counters },
    };
  }

  async stop(): Promise<void> {
    await this.subscription?.drain();
    await this.scorer?.runner.release();
    this.scorer = undefined;
  }

  private async load(modelId: string): Promise<SentimentScorer> {
    const { manifest, bytes } = await this.options.models.load(modelId);
    if (manifest.normalisation.kind !== 'hashed-ngrams') {
      throw new Error(`model ${modelId} is a ${manifest.kind} model, not a hashed-n-gram sentiment model`);
    }
    const classes = manifest.output.classes;
    const columns = Object.fromEntries(LABELS.map((label) => [label, classes.indexOf(label)])) as Record<
      SentimentLabel,
      number
    >;
    if (classes.length !== LABELS.length || Object.values(columns).some((c) => c < 0)) {
      throw new Error(`model ${modelId} has classes ${classes.join(', ')}; need ${LABELS.join(', ')}`);
    }
    const runner = await OnnxModelRunner.load(bytes, {
      ...(this.options.executionProviders ? { executionProviders: this.options.executionProviders } : {}),
      warmupBatchSizes: [1],
    });
    const vectorizer = manifest.normalisation.vectorizer;
    if (runner.inputWidth !== 2 * vectorizer.maxNonZeros || runner.outputWidth !== classes.length) {
      await runner.release();
      throw new Error(`model ${modelId}'s graph does not match its manifest's vectorizer or classes`);
    }
    this.options.logger?.info({ model: modelId, provider: runner.provider }, 'sentiment model loaded');
    return { manifest, vectorizer, runner, columns };
  }

  private async onNews(item: NewsItem): Promise<void> {
    const scorer = this.scorer;
    if (!scorer) throw new Error('the sentiment model is not loaded');
    const row = packSparseRows([vectorize(item.headline, scorer.vectorizer)], scorer.vectorizer);
    const probabilities = await scorer.runner.runBatch(row, 1);
    const score: SentimentScore = {
      schema: 'sentiment_score.v1',
      id: `sent:${item.id}:${scorer.manifest.modelId}`,
      ts_event: item.ts_event,
      ts_init: item.ts_init,
      symbol: item.symbol,
      ...sentimentOf(probabilities, scorer.columns),
      model_version: scorer.manifest.modelId,
      news_id: item.id,
    };
    await this.options.bus.publish(
      'sentiment_score',
      this.options.bus.subjects.sentiment(item.symbol),
      score,
    );
    this.counters.scored++;
  }
}
