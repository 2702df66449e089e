// News sentiment in TypeScript: a tokenizer, a hashing vectorizer and a multinomial logistic
// regression trained with AdaGrad over sparse rows. Hashing keeps the vocabulary out of the model
// (no dictionary to ship or to keep in step), and a linear model over hashed n-grams is fast enough
// to score every headline inline. The ONNX export (onnx-export.ts) takes the same sparse vector as
// fixed-width (bucket, value) pairs, so the live path and this file compute the same thing.
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { SeededRandom } from '../../core/random.ts';

export interface VectorizerConfig {
  /** log2 of the number of hash buckets. */
  readonly bucketBits: number;
  /** Character n-gram lengths taken inside each word (with boundary marks); empty for none. */
  readonly charNgrams: readonly number[];
  /** Word bigrams as well as unigrams. */
  readonly wordBigrams: boolean;
  /**
   * Most non-zero entries a vector keeps (the largest by value, ties by bucket). It fixes the ONNX
   * input width; set it above what real headlines need so it almost never bites.
   */
  readonly maxNonZeros: number;
}

// Measured on sent_valid.csv: words + bigrams reach accuracy 0.84 / macro-F1 0.78; adding in-word
// char 3–5-grams lowers both (0.81 / 0.74) on these short headlines, so they are off by default.
export const defaultVectorizer: VectorizerConfig = {
  bucketBits: 18,
  charNgrams: [],
  wordBigrams: true,
  maxNonZeros: 128,
};

/** A sparse row: ascending bucket indices and their (float32) values. */
export interface SparseVector {
  readonly indices: Uint32Array;
  readonly values: Float32Array;
}

export const sentimentClasses = ['bearish', 'bullish', 'neutral'] as const;

export interface SentimentModel {
  readonly kind: 'sentiment-softmax';
  readonly vectorizer: VectorizerConfig;
  readonly classes: readonly string[];
  /** Row-major [buckets × classes]. */
  readonly weights: Float32Array;
  readonly bias: Float32Array;
}

const urlPattern = /https?:\/\/\S+|www\.\S+/g;
const cashtagPattern = /\$[a-z][a-z0-9.]*/g;
const percentPattern = /[-+]?\d[\d,]*(?:\.\d+)?\s?%/g;
const numberPattern = /[-+]?\$?\d[\d,]*(?:\.\d+)?[kmb]?/g;
const tokenPattern = /[a-z_][a-z0-9_']*|[!?]/g;

/**
 * Lowercases and maps URLs, cashtags, percentages and other numbers to placeholder tokens (which
 * ticker or which figure rarely carries the sentiment; that there is one often does), then splits
 * into word tokens. "!" and "?" stay as tokens.
 */
export function tokenize(text: string): string[] {
  const normalised = text
    .toLowerCase()
    .replace(urlPattern, ' _url_ ')
    .replace(cashtagPattern, ' _cashtag_ ')
    .replace(percentPattern, (m) => (m.startsWith('-') ? ' _negpct_ ' : ' _pct_ '))
    .replace(numberPattern, ' _num_ ');
  return normalised.match(tokenPattern) ?? [];
}

/** FNV-1a, 32-bit: a fast string hash whose buckets are stable across runs and platforms. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** The n-gram terms hashed for a text: word unigrams, optional bigrams and in-word char n-grams. */
export function terms(text: string, config: VectorizerConfig = defaultVectorizer): string[] {
  const tokens = tokenize(text);
  const out: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    out.push(`w ${token}`);
    if (config.wordBigrams && i + 1 < tokens.length) out.push(`b ${token} ${tokens[i + 1]}`);
    if (token.startsWith('_')) continue; // placeholders are whole tokens, not spelling
    const marked = `<${token}>`;
    for (const n of config.charNgrams) {
      for (let k = 0; k + n <= marked.length; k++) out.push(`c ${marked.slice(k, k + n)}`);
    }
  }
  return out;
}

/** Hashed bag of n-grams with sublinear term frequency (1 + ln tf) and unit L2 norm. */
export function vectorize(text: string, config: VectorizerConfig = defaultVectorizer): SparseVector {
  const mask = (1 << config.bucketBits) - 1;
  const counts = new Map<number, number>();
  for (const term of terms(text, config)) {
    const bucket = fnv1a(term) & mask;
    counts.set(bucket, (counts.get(bucket) ?? 0) + 1);
  }
  let entries = [...counts].map(([bucket, tf]) => [bucket, 1 + Math.log(tf)] as [number, number]);
  if (entries.length > config.maxNonZeros) {
    entries.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    entries = entries.slice(0, config.maxNonZeros);
  }
  entries.sort((a, b) => a[0] - b[0]);
  const norm = Math.sqrt(entries.reduce((sum, [, v]) => sum + v * v, 0)) || 1;
  return {
    indices: Uint32Array.from(entries, ([bucket]) => bucket),
    values: Float32Array.from(entries, ([, v]) => v / norm),
  };
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

/**
 * Packs sparse vectors into the ONNX model's dense input: per row, `maxNonZeros` bucket indices
 * (as floats; exact below 2^24) followed by as many values, padded with bucket 0 / value 0.
 */
export function packSparseRows(vectors: readonly SparseVector[], config: VectorizerConfig): Float32Array {
  const k = config.maxNonZeros;
  if (config.bucketBits > 24) throw new RangeError('bucket indices above 2^24 are not exact in float32');
  const out = new Float32Array(vectors.length * 2 * k);
  vectors.forEach((x, r) => {
    if (x.indices.length > k) throw new RangeError(`row ${r} has ${x.indices.length} > ${k} non-zeros`);
    out.set(x.indices, r * 2 * k);
    out.set(x.values, r * 2 * k + k);
  });
  return out;
}
