// The NewsActor binding: scores each news item (md.news.>) with the sentiment model through the same
// ONNX runner as the InferenceActor (CUDA then CPU) and publishes a sentiment_score on
// md.sentiment.<partition>.<symbol>, which the FeatureActor folds into its news features. The rules
// are in core.ts, the lifecycle in machine.ts; the model is admitted as the inference actor's are
// (actors/inference/model-admission.ts: SHA-256, load, widths, smoke inference on a headline).
// News comes a few items a second at most, so each item is scored alone when it arrives: no batch
// waits for a later item. The model is the one active under `modelKey` at start; swapping it needs
// a restart (the InferenceActor's hot swap is not repeated here).

import type { Logger } from '../../core/logger.ts';
import type { NewsItem } from '../../schemas/messages.ts';
import type { ModelManifest } from '../../schemas/model-manifest.ts';
import type { ActorBus, Subscription } from '../../streams/bus.ts';
import type { Actor } from '../actor.ts';
import { admitModel } from '../inference/model-admission.ts';
import type { ExecutionProvider, OnnxModelRunner } from '../inference/onnx-runner.ts';
import type { ModelSource } from '../inference/registry.ts';
import { headlineRow, type SentimentColumns, sentimentModel, sentimentScore, smokeRow } from './core.ts';
import { createNewsLifecycle, type NewsLifecycleState } from './machine.ts';
import type { VectorizerConfig } from './vectorizer.ts';

export const DEFAULT_SENTIMENT_MODEL_KEY = 'news-sentiment';

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
  state: NewsLifecycleState;
  modelId: string | undefined;
  executionProvider: ExecutionProvider | undefined;
  /** Why the model was refused, when it was. */
  lastError: string | undefined;
  counters: NewsCounters;
}

interface SentimentScorer {
  readonly manifest: ModelManifest;
  readonly vectorizer: VectorizerConfig;
  readonly runner: OnnxModelRunner;
  readonly columns: SentimentColumns;
}

export class NewsActor implements Actor<NewsStatus> {
  readonly counters: NewsCounters = { scored: 0 };
  private readonly lifecycle = createNewsLifecycle();
  private scorer: SentimentScorer | undefined;
  private subscription: Subscription | undefined;

  private constructor(private readonly options: NewsActorOptions) {}

  /** Admits the active sentiment model, then starts consuming news; refuses to start without one. */
  static async start(options: NewsActorOptions): Promise<NewsActor> {
    const actor = new NewsActor(options);
    await actor.begin();
    return actor;
  }

  private async begin(): Promise<void> {
    try {
      this.scorer = await this.load();
    } catch (error) {
      this.lifecycle.send({ type: 'LOAD_FAILED', reason: (error as Error).message });
      throw error;
    }
    const { manifest, runner } = this.scorer;
    this.lifecycle.send({ type: 'LOADED', modelId: manifest.modelId, provider: runner.provider });
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
    const { value, context } = this.lifecycle.getSnapshot();
    return {
      state: value as NewsLifecycleState,
      modelId: context.modelId,
      executionProvider: context.provider,
      lastError: context.lastError,
      counters: { ...this.counters },
    };
  }

  async stop(): Promise<void> {
    await this.subscription?.drain();
    await this.scorer?.runner.release();
    this.scorer = undefined;
    this.lifecycle.send({ type: 'STOP' });
  }

  private async load(): Promise<SentimentScorer> {
    const key = this.options.modelKey ?? DEFAULT_SENTIMENT_MODEL_KEY;
    const modelId = await this.options.models.active(key);
    if (modelId === undefined) throw new Error(`no sentiment model is active under ${key}`);
    const sentiment = (manifest: ModelManifest) => {
      const model = sentimentModel(manifest);
      if (typeof model === 'string') throw new Error(model);
      return model;
    };
    const { manifest, runner } = await admitModel(
      this.options.models,
      modelId,
      {
        mismatch: (candidate) => {
          const model = sentimentModel(candidate);
          return typeof model === 'string' ? model : undefined;
        },
        inputWidth: (candidate) => 2 * sentiment(candidate).vectorizer.maxNonZeros,
        smokeRow: (candidate) => smokeRow(sentiment(candidate).vectorizer),
      },
      {
        ...(this.options.executionProviders ? { executionProviders: this.options.executionProviders } : {}),
        warmupBatchSizes: [1],
      },
    );
    this.options.logger?.info({ model: modelId, provider: runner.provider }, 'sentiment model loaded');
    return { manifest, runner, ...sentiment(manifest) };
  }

  private async onNews(item: NewsItem): Promise<void> {
    const scorer = this.scorer;
    if (!scorer) throw new Error('the sentiment model is not loaded');
    const probabilities = await scorer.runner.runBatch(headlineRow(item.headline, scorer.vectorizer), 1);
    const { bus } = this.options;
    await bus.publish(
      'sentiment_score',
      bus.subjects.sentiment(item.symbol),
      sentimentScore(item, probabilities, scorer.columns, scorer.manifest.modelId),
    );
    this.counters.scored++;
  }
}
