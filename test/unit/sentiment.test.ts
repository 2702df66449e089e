import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { OnnxModelRunner } from '../../actors/inference/onnx-runner.ts';
import { defaultVectorizer, packSparseRows, tokenize, vectorize } from '../../actors/news/vectorizer.ts';
import { sha256Hex } from '../../core/hash.ts';
import { validateModelManifest } from '../../schemas/validate.ts';
import { multiclassMetrics } from '../../simulations/research/metrics.ts';
import {
  buildManifest,
  exportSentimentOnnx,
  featureSetVersion,
} from '../../simulations/research/onnx-export.ts';
import {
  type LabelledText,
  predictSentiment,
  readSentimentCsv,
  type SentimentModel,
  trainSentiment,
} from '../../simulations/research/sentiment.ts';

const dataDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'data');
const sentimentDir = join(dataDir, 'twitter-financial-news-sentiment');

describe('tokenizer and hashing vectorizer', () => {
  it('normalises URLs, cashtags and numbers', () => {
    assert.deepEqual(tokenize('$AAPL up 5.2% to $190, see https://t.co/x !'), [
      '_cashtag_',
      'up',
      '_pct_',
      'to',
      '_num_',
      'see',
      '_url_',
      '!',
    ]);
    assert.deepEqual(tokenize('Shares -3% after Q3 miss'), [
      'shares',
      '_negpct_',
      'after',
      'q',
      '_num_',
      'miss',
    ]);
  });

  it('gives unit-norm sparse vectors with sorted buckets', () => {
    const x = vectorize('Stocks rally, stocks rally again');
    assert.ok(x.indices.every((v, i) => i === 0 || v > x.indices[i - 1]!));
    const norm = Math.sqrt(x.values.reduce((a, v) => a + v * v, 0));
    assert.ok(Math.abs(norm - 1) < 1e-6);
    // "stocks" and "rally" occur twice: sublinear tf weighs them 1 + ln 2, not 2.
    assert.ok(Math.abs(Math.max(...x.values) / Math.min(...x.values) - (1 + Math.log(2))) < 1e-5);
  });
});

describe('sentiment classifier on twitter-financial-news-sentiment', () => {
  let train: LabelledText[];
  let valid: LabelledText[];
  let model: SentimentModel;

  before(() => {
    train = readSentimentCsv(join(sentimentDir, 'sent_train.csv'));
    valid = readSentimentCsv(join(sentimentDir, 'sent_valid.csv'));
    model = trainSentiment(train, { seed: 1 });
  });

  it('reaches accuracy ≥ 0.83 and macro-F1 ≥ 0.76 on sent_valid.csv', () => {
    assert.equal(train.length, 9543);
    assert.equal(valid.length, 2388);
    const probabilities = new Float64Array(valid.length * 3);
    valid.forEach((d, i) => {
      probabilities.set(predictSentiment(model, vectorize(d.text, model.vectorizer)), i * 3);
    });
    const metrics = multiclassMetrics(
      valid.map((d) => d.label),
      probabilities,
      3,
    );
    console.log(
      `sent_valid: accuracy ${metrics.accuracy.toFixed(4)}, macro-F1 ${metrics.macroF1.toFixed(4)}`,
    );
    assert.ok(metrics.accuracy >= 0.83, `accuracy ${metrics.accuracy}`);
    assert.ok(metrics.macroF1 >= 0.76, `macro-F1 ${metrics.macroF1}`);

    // The validation figures travel in the model's manifest.
    const onnxBytes = exportSentimentOnnx(model);
    const manifest = buildManifest(
      {
        modelId: 'news-sentiment-test',
        kind: model.kind,
        featureSet: {
          version: featureSetVersion(['text'], JSON.stringify(model.vectorizer)),
          names: ['text'],
        },
        inputWidth: 2 * model.vectorizer.maxNonZeros,
        outputClasses: model.classes,
        normalisation: { kind: 'hashed-ngrams', vectorizer: model.vectorizer },
        labels: {
          kind: 'classes',
          source: 'twitter-financial-news-sentiment 0 bearish / 1 bullish / 2 neutral',
        },
        trainingData: {
          from: 'sent_train.csv',
          to: 'sent_train.csv',
          samples: train.length,
          sources: ['sent_train.csv'],
        },
        metrics: { folds: [], outOfSample: metrics },
        referenceDistributions: [],
      },
      onnxBytes,
    );
    assert.equal(manifest.onnx.sha256, sha256Hex(onnxBytes));
    assert.equal(manifest.metrics.outOfSample.accuracy, metrics.accuracy);
    const asWritten = validateModelManifest(JSON.parse(JSON.stringify(manifest)));
    assert.ok(asWritten.ok, asWritten.ok ? '' : asWritten.reason);
  });

  it('is deterministic from its seed', () => {
    const again = trainSentiment(train.slice(0, 500), { seed: 3, epochs: 2 });
    assert.deepEqual(trainSentiment(train.slice(0, 500), { seed: 3, epochs: 2 }), again);
  });

  it('ONNX (through OnnxModelRunner) equals the TypeScript model to 1e-5 on sent_valid.csv', async () => {
    const vectors = valid.map((d) => vectorize(d.text, model.vectorizer));
    const runner = await OnnxModelRunner.load(exportSentimentOnnx(model), { executionProviders: ['cpu'] });
    try {
      assert.equal(runner.inputWidth, 2 * defaultVectorizer.maxNonZeros);
      const fromOnnx = await runner.runBatch(packSparseRows(vectors, model.vectorizer), vectors.length);
      let worst = 0;
      vectors.forEach((x, i) => {
        const p = predictSentiment(model, x);
        for (let k = 0; k < 3; k++) worst = Math.max(worst, Math.abs(p[k]! - fromOnnx[i * 3 + k]!));
      });
      assert.ok(worst <= 1e-5, `max |onnx − ts| = ${worst}`);
    } finally {
      await runner.release();
    }
  });
});
