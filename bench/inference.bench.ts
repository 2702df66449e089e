// Inference throughput and per-batch latency of the default model (L2 logistic regression over the
// 20 stocknet price features) through OnnxModelRunner, at batch sizes 1, 32 and 256. CPU always;
// CUDA as well when its provider loads on this machine (figures suffixed _cuda).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ExecutionProvider, OnnxModelRunner } from '../actors/inference/onnx-runner.ts';
import { tripleBarrierLabels } from '../simulations/research/labels.ts';
import { trainLogistic } from '../simulations/research/models.ts';
import { exportTabularOnnx } from '../simulations/research/onnx-export.ts';
import { priceFeatureNames, priceFeatures, readDailyBars } from '../simulations/research/price-features.ts';

const dataDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'shared', 'data');
const batchSizes = [1, 32, 256];
const secondsPerSize = 2;

function defaultModelAndRows(): { onnx: Uint8Array; rows: Float32Array; count: number } {
  const bars = readDailyBars(join(dataDir, 'stocknet', 'price_raw', 'AAPL.csv'));
  const { rows, firstBar, count } = priceFeatures(bars);
  const width = priceFeatureNames.length;
  const x: number[][] = [];
  const y: number[] = [];
  for (const label of tripleBarrierLabels(bars.map((b) => b.adjClose))) {
    const r = label.start - firstBar;
    if (r < 0) continue;
    x.push(Array.from(rows.subarray(r * width, (r + 1) * width)));
    y.push(label.label === 1 ? 1 : 0);
  }
  return { onnx: exportTabularOnnx(trainLogistic(x, y, { l2: 10 })), rows: Float32Array.from(rows), count };
}

const percentile = (sorted: Float64Array, q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

async function measure(runner: OnnxModelRunner, rows: Float32Array, available: number, suffix: string) {
  const figures: Record<string, number> = {};
  const width = runner.inputWidth;
  for (const size of batchSizes) {
    // Real feature rows, taken in turn from different offsets so no batch repeats the last one.
    const offsets = Array.from({ length: 64 }, (_, i) => ((i * 97) % (available - size)) * width);
    const batches = offsets.map((o) => rows.slice(o, o + size * width));
    const latencies: number[] = [];
    const started = performance.now();
    let done = 0;
    while (performance.now() - started < secondsPerSize * 1000) {
      for (const batch of batches) {
        const t0 = performance.now();
        await runner.runBatch(batch, size);
        latencies.push(performance.now() - t0);
      }
      done += batches.length;
    }
    const elapsed = (performance.now() - started) / 1000;
    const sorted = Float64Array.from(latencies).sort();
    figures[`inference_rows_per_s_b${size}${suffix}`] = Math.round((done * size) / elapsed);
    figures[`inference_b${size}_p50_us${suffix}`] = Math.round(percentile(sorted, 0.5) * 1000 * 10) / 10;
    figures[`inference_b${size}_p99_us${suffix}`] = Math.round(percentile(sorted, 0.99) * 1000 * 10) / 10;
  }
  return figures;
}

export default async function run(): Promise<Record<string, number | string>> {
  const { onnx, rows, count } = defaultModelAndRows();
  const figures: Record<string, number | string> = {};
  for (const provider of ['cpu', 'cuda'] as ExecutionProvider[]) {
    let runner: OnnxModelRunner;
    try {
      runner = await OnnxModelRunner.load(onnx, { executionProviders: [provider] });
    } catch (error) {
      figures[`inference_${provider}`] = `unavailable: ${(error as Error).message.slice(0, 120)}`;
      continue;
    }
    try {
      Object.assign(figures, await measure(runner, rows, count, provider === 'cpu' ? '' : `_${provider}`));
    } finally {
      await runner.release();
    }
  }
  return figures;
}
