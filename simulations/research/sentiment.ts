// News sentiment in TypeScript: a multinomial logistic regression trained with AdaGrad over the
// sparse rows of the hashing vectorizer the NewsActor runs live (actors/news/vectorizer.ts). A linear
// model over hashed n-grams is fast enough to score every headline inline. The ONNX export
// (onnx-export.ts) takes the same sparse vector as fixed-width (bucket, value) pairs, so the live path
// and this file compute the same thing.
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import {
  defaultVectorizer,
  type SparseVector,
  type VectorizerConfig,
  vectorize,
} from '../../actors/news/vectorizer.ts';
import { SeededRandom } from '../../core/random.ts';

export const sentimentClasses = ['bearish', 'bullish', 'neutral'] as const;

export interface SentimentModel {
  readonly kind: 'sentiment-softmax';
  readonly vectorizer: VectorizerConfig;
  readonly classes: readonly string[];
  /** Row-major [buckets × classes]. */
  readonly weights: Float32Array;
  readonly bias: Float32Array;
}

export interface SentimentTrainOptions {
  readonly vectorizer?: VectorizerConfig;
  readonly epochs?: number;
  readonly learningRate?: number;
  /** L2 penalty per sample, applied to the weights a sample touches (lazy, as usual for sparse SGD). */
  readonly l2?: number;
  /** Weight classes by inverse frequency (helps macro-F1 when one class dominates). */
  readonly balanceClasses?: boolean;
  readonly seed: number;
}

export interface LabelledText {
  readonly text: string;
  /** Class index into `sentimentClasses`. */
  readonly label: number;
}

/** Reads a twitter-financial-news-sentiment CSV (text,label; 0 bearish, 1 bullish, 2 neutral). */
export function readSentimentCsv(path: string): LabelledText[] {
  const rows = parse(readFileSync(path), { columns: true, skip_empty_lines: true }) as Record<
    string,
    string
  >[];
  return rows.map((row, i) => {
    const label = Number(row.label);
    if (!(label === 0 || label === 1 || label === 2) || row.text === undefined) {
      throw new Error(`${path}: row ${i + 2} has no text or a label outside 0..2`);
    }
    return { text: row.text, label };
  });
}

/** Raw class scores (logits) for one sparse vector. */
function logitsInto(
  weights: ArrayLike<number>,
  bias: ArrayLike<number>,
  x: SparseVector,
  out: Float64Array,
): void {
  const c = bias.length;
  for (let k = 0; k < c; k++) out[k] = bias[k]!;
  for (let j = 0; j < x.indices.length; j++) {
    const base = x.indices[j]! * c;
    const v = x.values[j]!;
    for (let k = 0; k < c; k++) out[k]! += v * weights[base + k]!;
  }
}

function softmaxInPlace(z: Float64Array): void {
  let max = Number.NEGATIVE_INFINITY;
  for (const v of z) max = Math.max(max, v);
  let total = 0;
  for (let k = 0; k < z.length; k++) {
    z[k] = Math.exp(z[k]! - max);
    total += z[k]!;
  }
  for (let k = 0; k < z.length; k++) z[k]! /= total;
}

export function trainSentiment(
  data: readonly LabelledText[],
  options: SentimentTrainOptions,
): SentimentModel {
  const vectorizer = options.vectorizer ?? defaultVectorizer;
  const epochs = options.epochs ?? 10;
  const lr = options.learningRate ?? 0.5;
  const l2 = options.l2 ?? 1e-5;
  const c = sentimentClasses.length;
  const buckets = 1 << vectorizer.bucketBits;
  const rows = data.map((d) => vectorize(d.text, vectorizer));
  const classCounts = new Array<number>(c).fill(0);
  for (const d of data) classCounts[d.label]!++;
  const classWeight = classCounts.map((n) =>
    options.balanceClasses ? data.length / (c * Math.max(n, 1)) : 1,
  );
  // Training runs in float64; the result is rounded to float32 once, the precision ONNX stores.
  const w = new Float64Array(buckets * c);
  const b = new Float64Array(c);
  const g2w = new Float64Array(buckets * c);
  const g2b = new Float64Array(c);
  const random = new SeededRandom(options.seed);
  const order = Array.from({ length: rows.length }, (_, i) => i);
  const p = new Float64Array(c);
  for (let epoch = 0; epoch < epochs; epoch++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random.next() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (const i of order) {
      const x = rows[i]!;
      const label = data[i]!.label;
      logitsInto(w, b, x, p);
      softmaxInPlace(p);
      const sampleWeight = classWeight[label]!;
      for (let k = 0; k < c; k++) {
        const g = sampleWeight * (p[k]! - (k === label ? 1 : 0));
        g2b[k]! += g * g;
        b[k]! -= (lr * g) / (Math.sqrt(g2b[k]!) + 1e-8);
        for (let j = 0; j < x.indices.length; j++) {
          const at = x.indices[j]! * c + k;
          const gw = g * x.values[j]! + l2 * w[at]!;
          g2w[at]! += gw * gw;
          w[at]! -= (lr * gw) / (Math.sqrt(g2w[at]!) + 1e-8);
        }
      }
    }
  }
  return {
    kind: 'sentiment-softmax',
    vectorizer,
    classes: sentimentClasses,
    weights: Float32Array.from(w),
    bias: Float32Array.from(b),
  };
}

/** Class probabilities for one text, row of `model.classes.length`. */
export function predictSentiment(model: SentimentModel, x: SparseVector): Float64Array {
  const p = new Float64Array(model.classes.length);
  logitsInto(model.weights, model.bias, x, p);
  softmaxInPlace(p);
  return p;
}
