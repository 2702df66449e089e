// The NewsActor on the in-process bus: news in, one sentiment score per item out, through the ONNX
// sentiment model, with lineage (news_id) and a deterministic id.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { StaticModelSource } from '../../actors/inference/registry.ts';
import { NewsActor } from '../../actors/news/actor.ts';
import { sentimentOf } from '../../actors/news/core.ts';
import { vectorize } from '../../actors/news/vectorizer.ts';
import { sentimentIdFor } from '../../core/lineage-ids.ts';
import type { NewsItem, SentimentScore } from '../../schemas/messages.ts';
import { Subjects } from '../../schemas/subjects.ts';
import {
  buildManifest,
  exportSentimentOnnx,
  featureSetVersion,
} from '../../simulations/research/onnx-export.ts';
import {
  predictSentiment,
  readSentimentCsv,
  type SentimentModel,
  trainSentiment,
} from '../../simulations/research/sentiment.ts';
import { InProcessBus } from '../../streams/in-process-bus.ts';
import { sharedDataDir } from '../support/cli.ts';

/** The manifest `sluice train` would write for a sentiment model exported as `bytes`. */
function sentimentManifest(model: SentimentModel, modelId: string, bytes: Uint8Array) {
  return buildManifest(
    {
      modelId,
      kind: model.kind,
      featureSet: {
        version: featureSetVersion(['text'], JSON.stringify(model.vectorizer)),
        names: ['text'],
      },
      inputWidth: 2 * model.vectorizer.maxNonZeros,
      outputClasses: model.classes,
      normalisation: { kind: 'hashed-ngrams', vectorizer: model.vectorizer },
      labels: { kind: 'classes', source: 'test' },
      trainingData: { from: 'a', to: 'b', samples: 3_000, sources: ['sent_train.csv'] },
      metrics: {
        folds: [],
        outOfSample: { samples: 0, accuracy: 0, macroF1: 0, perClassF1: [], logLoss: 0, confusion: [] },
      },
      referenceDistributions: [],
    },
    bytes,
  );
}

describe('NewsActor', () => {
  let model: SentimentModel;
  let source: StaticModelSource;

  before(() => {
    const train = readSentimentCsv(join(sharedDataDir, 'twitter-financial-news-sentiment', 'sent_train.csv'));
    model = trainSentiment(train.slice(0, 3_000), { seed: 2, epochs: 3 });
    const bytes = exportSentimentOnnx(model);
    const manifest = sentimentManifest(model, 'sentiment-test', bytes);
    source = new StaticModelSource([{ manifest, bytes }], { 'news-sentiment': 'sentiment-test' });
  });

  it('scores each news item once and publishes md.sentiment with lineage', async () => {
    const subjects = new Subjects(4);
    const bus = new InProcessBus(subjects);
    const scores: { subject: string; score: SentimentScore }[] = [];
    await bus.subscribe({
      durable: 'sink',
      stream: 'MARKET',
      filterSubject: 'md.sentiment.>',
      messages: ['sentiment_score'],
      handler: (score, delivery) => {
        scores.push({ subject: delivery.subject, score });
      },
    });
    const actor = await NewsActor.start({ bus, models: source, executionProviders: ['cpu'] });
    assert.equal(actor.status().executionProvider, 'cpu');
    const headlines = [
      ['AAPL', 'Apple shares surge to record high after blowout earnings beat'],
      ['XOM', 'Exxon stock plunges as profit misses estimates and guidance is cut'],
      ['BRK.B', 'Berkshire Hathaway to hold annual meeting on Saturday'],
    ] as const;
    const items: NewsItem[] = headlines.map(([symbol, headline], i) => ({
      schema: 'news_item.v1',
      id: `news:test:${i}`,
      ts_event: 1_500_000_000_000 + i,
      ts_init: 1_500_000_000_000 + i,
      symbol,
      headline,
      source: 'test',
    }));
    for (const item of items) await bus.publish('news_item', subjects.news(item.symbol), item);
    await bus.flush();

    assert.equal(scores.length, 3);
    assert.equal(actor.status().counters.scored, 3);
    scores.forEach(({ subject, score }, i) => {
      const item = items[i]!;
      assert.equal(subject, subjects.sentiment(item.symbol));
      assert.equal(score.id, sentimentIdFor(item.id, 'sentiment-test'));
      assert.equal(score.news_id, item.id);
      assert.equal(score.ts_event, item.ts_event);
      assert.equal(score.model_version, 'sentiment-test');
      // The ONNX path agrees with the TypeScript model.
      const p = predictSentiment(model, vectorize(item.headline, model.vectorizer));
      assert.ok(Math.abs(score.score - (p[1]! - p[0]!)) < 1e-5);
      assert.ok(Math.abs(score.confidence - Math.max(...p)) < 1e-5);
    });
    assert.equal(scores[0]!.score.label, 'bullish');
    assert.equal(scores[1]!.score.label, 'bearish');
    assert.equal(bus.deadLetters.length, 0);
    await actor.stop();
  });

  it('maps class probabilities to label, score and confidence', () => {
    const columns = { bearish: 0, bullish: 1, neutral: 2 };
    assert.deepEqual(sentimentOf([0.1, 0.7, 0.2], columns), {
      label: 'bullish',
      score: 0.6,
      confidence: 0.7,
    });
    assert.deepEqual(sentimentOf([0.5, 0.2, 0.3], columns), {
      label: 'bearish',
      score: -0.3,
      confidence: 0.5,
    });
  });

  it('refuses a model that is not a sentiment model', async () => {
    const { manifest, bytes } = await source.load('sentiment-test');
    const tabular = {
      ...manifest,
      modelId: 'tabular',
      normalisation: { kind: 'standard' as const, mean: [], std: [] },
    };
    await assert.rejects(
      NewsActor.start({
        bus: new InProcessBus(new Subjects(4)),
        models: new StaticModelSource([{ manifest: tabular, bytes }], { 'news-sentiment': 'tabular' }),
      }),
      /not a hashed-n-gram sentiment model/,
    );
  });

  it('refuses a model that fails the smoke inference, as the inference actor would', async () => {
    // Every hash bucket but the first scores NaN: the warm-up's all-zero rows only reach bucket 0 and
    // pass, a real headline reaches the others. Only the smoke inference can catch it.
    const classes = model.classes.length;
    const poisoned: SentimentModel = {
      ...model,
      weights: model.weights.map((weight, index) => (index < classes ? weight : Number.NaN)),
    };
    const bytes = exportSentimentOnnx(poisoned);
    const manifest = sentimentManifest(poisoned, 'sentiment-poisoned', bytes);
    const models = new StaticModelSource([{ manifest, bytes }], { 'news-sentiment': 'sentiment-poisoned' });
    await assert.rejects(
      NewsActor.start({ bus: new InProcessBus(new Subjects(4)), models, executionProviders: ['cpu'] }),
      /model sentiment-poisoned gave NaN.* on its smoke row, not probabilities/,
    );
  });
});
