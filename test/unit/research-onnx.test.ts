import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { OnnxModelRunner } from '../../actors/inference/onnx-runner.ts';
import { sha256Hex } from '../../core/hash.ts';
import { decodeModelManifest } from '../../schemas/validate.ts';
import { purgedWalkForwardSplits } from '../../simulations/research/cross-validation.ts';
import { tripleBarrierLabels } from '../../simulations/research/labels.ts';
import { type BinaryMetrics, binaryMetrics } from '../../simulations/research/metrics.ts';
import { predict, type TabularModel, trainLogistic, trainMlp } from '../../simulations/research/models.ts';
import {
  buildManifest,
  exportTabularOnnx,
  type FoldReport,
  featureSetVersion,
  referenceDistribution,
  writeModelArtifacts,
} from '../../simulations/research/onnx-export.ts';
import {
  priceFeatureDefinition,
  priceFeatureNames,
  priceFeatures,
  readDailyBars,
} from '../../simulations/research/price-features.ts';

const dataDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'data');
const labelConfig = { profitTake: 1, stopLoss: 1, verticalBars: 5, volatilityWindow: 20 };
const dayMs = 86_400_000;

interface Sample {
  features: number[];
  label: -1 | 0 | 1;
  /** Label window in days since the epoch, a time axis shared by all symbols. */
  start: number;
  end: number;
  date: string;
}

/** Features at each labelled bar of a few stocknet symbols, in time order. */
function loadSamples(): Sample[] {
  const samples: Sample[] = [];
  for (const symbol of ['AAPL', 'XOM', 'JPM', 'PG']) {
    const bars = readDailyBars(join(dataDir, 'stocknet', 'price_raw', `${symbol}.csv`));
    const { rows, firstBar } = priceFeatures(bars);
    const width = priceFeatureNames.length;
    for (const label of tripleBarrierLabels(
      bars.map((b) => b.adjClose),
      labelConfig,
    )) {
      const r = label.start - firstBar;
      if (r < 0) continue;
      samples.push({
        features: Array.from(rows.subarray(r * width, (r + 1) * width)),
        label: label.label,
        start: Date.parse(bars[label.start]!.date) / dayMs,
        end: Date.parse(bars[label.end]!.date) / dayMs,
        date: bars[label.start]!.date,
      });
    }
  }
  return samples.sort((a, b) => a.start - b.start);
}

async function assertOnnxMatches(model: TabularModel, rows: Float32Array, count: number): Promise<number> {
  const runner = await OnnxModelRunner.load(exportTabularOnnx(model), { executionProviders: ['cpu'] });
  try {
    const fromOnnx = await runner.runBatch(rows, count);
    const fromTs = predict(model, rows);
    assert.equal(fromOnnx.length, fromTs.length);
    let worst = 0;
    for (let i = 0; i < fromTs.length; i++) worst = Math.max(worst, Math.abs(fromOnnx[i]! - fromTs[i]!));
    assert.ok(worst <= 1e-6, `max |onnx − ts| = ${worst}`);
    return worst;
  } finally {
    await runner.release();
  }
}

describe('models trained on stocknet features, exported to ONNX', () => {
  let samples: Sample[];
  let trainSet: Sample[];
  let holdout: Sample[];
  let holdoutRows: Float32Array;
  let dir: string;

  before(async () => {
    samples = loadSamples();
    const cut = Math.floor(samples.length * 0.8);
    trainSet = samples.slice(0, cut);
    // Purge the training samples whose windows reach into the hold-out period.
    trainSet = trainSet.filter((s) => s.end < samples[cut]!.start);
    holdout = samples.slice(cut);
    holdoutRows = Float32Array.from(holdout.flatMap((s) => s.features));
    dir = await mkdtemp(join(tmpdir(), 'sluice-onnx-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('logistic regression: walk-forward folds, manifest, ONNX equals TypeScript to 1e-6', async () => {
    assert.ok(samples.length > 4000);
    const y = (s: Sample): number => (s.label === 1 ? 1 : 0);
    const folds: FoldReport<BinaryMetrics>[] = purgedWalkForwardSplits(trainSet, { folds: 4 }).map(
      (split) => {
        const model = trainLogistic(
          split.train.map((i) => trainSet[i]!.features),
          split.train.map((i) => y(trainSet[i]!)),
          { l2: 10 },
        );
        const rows = split.test.flatMap((i) => trainSet[i]!.features);
        return {
          fold: split.fold,
          trainSamples: split.train.length,
          testSamples: split.test.length,
          purged: split.purged,
          metrics: binaryMetrics(
            split.test.map((i) => y(trainSet[i]!)),
            predict(model, rows),
          ),
        };
      },
    );
    for (const f of folds) {
      assert.ok(f.purged > 0);
      assert.ok(f.metrics.rocAuc > 0.3 && f.metrics.rocAuc < 0.8, `fold AUC ${f.metrics.rocAuc}`);
      assert.ok(Number.isFinite(f.metrics.logLoss) && f.metrics.brier < 0.35);
    }

    const model = trainLogistic(
      trainSet.map((s) => s.features),
      trainSet.map(y),
      { l2: 10 },
    );
    const outOfSample = binaryMetrics(holdout.map(y), predict(model, holdoutRows));
    const worst = await assertOnnxMatches(model, holdoutRows, holdout.length);
    assert.ok(worst < 1e-6);

    const onnxBytes = exportTabularOnnx(model);
    const manifest = buildManifest(
      {
        modelId: 'stocknet-logistic-test',
        kind: 'logistic',
        featureSet: {
          version: featureSetVersion(priceFeatureNames, priceFeatureDefinition),
          names: priceFeatureNames,
        },
        inputWidth: priceFeatureNames.length,
        outputClasses: ['profit-take'],
        normalisation: { kind: 'standard', ...model.standardizer },
        labels: { kind: 'triple-barrier', target: 'P(label = +1)', ...labelConfig },
        trainingData: {
          from: trainSet[0]!.date,
          to: trainSet[trainSet.length - 1]!.date,
          samples: trainSet.length,
          sources: ['stocknet/price_raw AAPL XOM JPM PG'],
        },
        metrics: { folds, outOfSample },
        referenceDistributions: priceFeatureNames.map((name, j) =>
          referenceDistribution(
            name,
            trainSet.map((s) => s.features[j]!),
          ),
        ),
      },
      onnxBytes,
    );
    const { onnxPath, manifestPath } = writeModelArtifacts(dir, manifest, onnxBytes);
    const decoded = decodeModelManifest(readFileSync(manifestPath));
    assert.ok(decoded.ok, decoded.ok ? '' : decoded.reason);
    const written = decoded.value;
    assert.equal(written.onnx.sha256, sha256Hex(readFileSync(onnxPath)));
    assert.equal(written.createdAt, trainSet[trainSet.length - 1]!.date);
    assert.equal(written.referenceDistributions.length, 20);
    for (const d of written.referenceDistributions) {
      assert.equal(d.deciles.length, 9);
      assert.ok(Math.abs(d.proportions.reduce((a, b) => a + b, 0) - 1) < 1e-9);
    }
    // The same inputs give the same manifest (no wall clock in it).
    assert.deepEqual(
      buildManifest({ ...manifest, inputWidth: 20, outputClasses: ['profit-take'] }, onnxBytes),
      manifest,
    );
  });

  it('MLP (tanh and relu, three barrier classes): ONNX equals TypeScript to 1e-6', async () => {
    const x = trainSet.map((s) => s.features);
    const y = trainSet.map((s) => s.label + 1);
    for (const activation of ['tanh', 'relu'] as const) {
      const model = trainMlp(x, y, { hidden: 16, classes: 3, activation, epochs: 8, seed: 7 });
      assert.deepEqual(trainMlp(x, y, { hidden: 16, classes: 3, activation, epochs: 8, seed: 7 }), model);
      await assertOnnxMatches(model, holdoutRows, holdout.length);
    }
  });

  it('falls back from CUDA to CPU and says so', async () => {
    const model = trainLogistic(
      trainSet.slice(0, 500).map((s) => s.features),
      trainSet.slice(0, 500).map((s) => (s.label === 1 ? 1 : 0)),
    );
    const runner = await OnnxModelRunner.load(exportTabularOnnx(model), {
      executionProviders: ['cuda', 'cpu'],
    });
    try {
      if (runner.provider === 'cpu') assert.equal(runner.failedProviders[0]?.provider, 'cuda');
      else assert.equal(runner.provider, 'cuda');
      assert.equal(runner.inputWidth, 20);
      assert.equal(runner.outputWidth, 1);
    } finally {
      await runner.release();
    }
    await assert.rejects(
      OnnxModelRunner.load(new Uint8Array([1, 2, 3]), { executionProviders: ['cpu'] }),
      /cpu/,
    );
  });
});
