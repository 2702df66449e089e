// Small tabular models trained in TypeScript: L2 logistic regression (Newton / IRLS, exact and
// seed-free) and a one-hidden-layer MLP (Adam on seeded mini-batches). Each model carries its input
// standardisation so that it, and its ONNX export, take raw features. Parameters are rounded to
// float32 after training: that is what the ONNX graph stores, so the TypeScript model and the
// exported one share exactly the same numbers and differ only by float32 arithmetic in the runtime.
import { Matrix, solve } from 'ml-matrix';
import { SeededRandom } from '../../core/random.ts';

export interface Standardizer {
  readonly mean: number[];
  /** Population standard deviation; a constant feature gets 1 so it maps to 0, not NaN. */
  readonly std: number[];
}

export interface LogisticModel {
  readonly kind: 'logistic';
  readonly featureCount: number;
  readonly standardizer: Standardizer;
  /** Weights on standardised features. */
  readonly weights: number[];
  readonly bias: number;
}

export type Activation = 'tanh' | 'relu';

export interface MlpModel {
  readonly kind: 'mlp';
  readonly featureCount: number;
  readonly standardizer: Standardizer;
  readonly activation: Activation;
  readonly classes: number;
  /** [featureCount][hidden] */
  readonly w1: number[][];
  readonly b1: number[];
  /** [hidden][classes] */
  readonly w2: number[][];
  readonly b2: number[];
}

export type TabularModel = LogisticModel | MlpModel;

export interface LogisticOptions {
  /** L2 penalty on the weights (not the bias), on the summed log-loss. */
  readonly l2?: number;
  readonly maxIterations?: number;
  readonly tolerance?: number;
}

export interface MlpOptions {
  readonly hidden: number;
  readonly classes: number;
  readonly activation?: Activation;
  readonly epochs?: number;
  readonly batchSize?: number;
  readonly learningRate?: number;
  /** L2 penalty on the weights, per sample (added to the mean loss). */
  readonly l2?: number;
  readonly seed: number;
}

const f32 = Math.fround;

function checkRows(x: readonly (readonly number[])[], y: ArrayLike<number>): number {
  if (x.length === 0 || x.length !== y.length)
    throw new RangeError('need as many labels as feature rows (≥ 1)');
  const d = x[0]!.length;
  for (const row of x) {
    if (row.length !== d) throw new RangeError('feature rows differ in length');
    for (const v of row) if (!Number.isFinite(v)) throw new RangeError('features must be finite');
  }
  return d;
}

export function fitStandardizer(x: readonly (readonly number[])[]): Standardizer {
  const d = x[0]?.length ?? 0;
  const mean = new Array<number>(d).fill(0);
  const variance = new Array<number>(d).fill(0);
  for (const row of x) for (let j = 0; j < d; j++) mean[j]! += row[j]!;
  for (let j = 0; j < d; j++) mean[j]! /= x.length;
  for (const row of x) for (let j = 0; j < d; j++) variance[j]! += (row[j]! - mean[j]!) ** 2;
  const std = variance.map((v) => {
    const s = f32(Math.sqrt(v / x.length));
    return s > 1e-12 ? s : 1;
  });
  return { mean: mean.map(f32), std };
}

function standardize(x: readonly (readonly number[])[], s: Standardizer): Matrix {
  return new Matrix(x.map((row) => row.map((v, j) => (f32(v) - s.mean[j]!) / s.std[j]!)));
}

const sigmoid = (z: number): number => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

/** Binary logistic regression; `y` holds 0/1. */
export function trainLogistic(
  x: readonly (readonly number[])[],
  y: ArrayLike<number>,
  options: LogisticOptions = {},
): LogisticModel {
  const d = checkRows(x, y);
  const l2 = options.l2 ?? 1;
  const maxIterations = options.maxIterations ?? 50;
  const tolerance = options.tolerance ?? 1e-10;
  const standardizer = fitStandardizer(x);
  // A leading column of ones carries the bias through the same Newton step.
  const z = standardize(x, standardizer);
  const design = new Matrix(x.length, d + 1);
  for (let i = 0; i < x.length; i++) {
    design.set(i, 0, 1);
    for (let j = 0; j < d; j++) design.set(i, j + 1, z.get(i, j));
  }
  const beta = new Array<number>(d + 1).fill(0);
  for (let iteration = 0; iteration < maxIterations; iteration++) {
    const margins = design.mmul(Matrix.columnVector(beta)).to1DArray();
    const p = margins.map(sigmoid);
    const residual = p.map((pi, i) => pi - y[i]!);
    const curvature = p.map((pi) => Math.max(pi * (1 - pi), 1e-12));
    const gradient = design.transposeMultiply(Matrix.columnVector(residual));
    const hessian = design.transpose().mmulByTranspose(curvature);
    for (let j = 1; j <= d; j++) {
      gradient.set(j, 0, gradient.get(j, 0) + l2 * beta[j]!);
      hessian.set(j, j, hessian.get(j, j) + l2);
    }
    const step = solve(hessian, gradient).to1DArray();
    let stepSize = 0;
    for (let j = 0; j <= d; j++) {
      beta[j]! -= step[j]!;
      stepSize = Math.max(stepSize, Math.abs(step[j]!));
    }
    if (stepSize < tolerance) break;
  }
  return {
    kind: 'logistic',
    featureCount: d,
    standardizer,
    weights: beta.slice(1).map(f32),
    bias: f32(beta[0]!),
  };
}

function activate(z: number, activation: Activation): number {
  return activation === 'tanh' ? Math.tanh(z) : Math.max(0, z);
}

/** Adam state for one parameter array. */
class AdamSlot {
  private readonly m: Float64Array;
  private readonly v: Float64Array;
  constructor(size: number) {
    this.m = new Float64Array(size);
    this.v = new Float64Array(size);
  }
  step(params: Float64Array, grad: ArrayLike<number>, lr: number, t: number): void {
    const b1 = 0.9;
    const b2 = 0.999;
    const c1 = 1 - b1 ** t;
    const c2 = 1 - b2 ** t;
    for (let i = 0; i < params.length; i++) {
      const g = grad[i]!;
      this.m[i] = b1 * this.m[i]! + (1 - b1) * g;
      this.v[i] = b2 * this.v[i]! + (1 - b2) * g * g;
      params[i]! -= (lr * (this.m[i]! / c1)) / (Math.sqrt(this.v[i]! / c2) + 1e-8);
    }
  }
}

const toMatrix = (flat: Float64Array, rows: number, cols: number): Matrix =>
  Matrix.from1DArray(rows, cols, Array.from(flat));

/** One-hidden-layer MLP with a softmax output; `y` holds class indices 0..classes-1. */
export function trainMlp(
  x: readonly (readonly number[])[],
  y: ArrayLike<number>,
  options: MlpOptions,
): MlpModel {
  const d = checkRows(x, y);
  const { hidden, classes, seed } = options;
  const activation = options.activation ?? 'tanh';
  const epochs = options.epochs ?? 200;
  const batchSize = options.batchSize ?? 64;
  const lr = options.learningRate ?? 0.01;
  const l2 = options.l2 ?? 1e-4;
  if (classes < 2) throw new RangeError('classes must be ≥ 2');
  for (let i = 0; i < y.length; i++) {
    if (!Number.isInteger(y[i]) || y[i]! < 0 || y[i]! >= classes)
      throw new RangeError(`label ${y[i]} out of range`);
  }
  const random = new SeededRandom(seed);
  const glorot = (fanIn: number, fanOut: number): Float64Array => {
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    return Float64Array.from({ length: fanIn * fanOut }, () => (2 * random.next() - 1) * limit);
  };
  const standardizer = fitStandardizer(x);
  const z = standardize(x, standardizer);
  const w1 = glorot(d, hidden);
  const b1 = new Float64Array(hidden);
  const w2 = glorot(hidden, classes);
  const b2 = new Float64Array(classes);
  const slots = [
    new AdamSlot(w1.length),
    new AdamSlot(b1.length),
    new AdamSlot(w2.length),
    new AdamSlot(b2.length),
  ];
  const order = Array.from({ length: x.length }, (_, i) => i);
  let t = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random.next() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (let from = 0; from < order.length; from += batchSize) {
      const batch = order.slice(from, from + batchSize);
      const m = batch.length;
      const xb = z.selection(
        batch,
        Array.from({ length: d }, (_, j) => j),
      );
      const pre = xb.mmul(toMatrix(w1, d, hidden)).addRowVector(Array.from(b1));
      const act = new Matrix(m, hidden);
      for (let r = 0; r < m; r++)
        for (let c = 0; c < hidden; c++) act.set(r, c, activate(pre.get(r, c), activation));
      const logits = act.mmul(toMatrix(w2, hidden, classes)).addRowVector(Array.from(b2));
      // dLoss/dlogits = (softmax − onehot) / m for the mean cross-entropy.
      const dLogits = new Matrix(m, classes);
      for (let r = 0; r < m; r++) {
        const row = logits.getRow(r);
        const max = Math.max(...row);
        const exps = row.map((v) => Math.exp(v - max));
        const total = exps.reduce((a, b) => a + b, 0);
        for (let c = 0; c < classes; c++) {
          dLogits.set(r, c, (exps[c]! / total - (y[batch[r]!] === c ? 1 : 0)) / m);
        }
      }
      const gW2 = act.transposeMultiply(dLogits).to1DArray();
      const gB2 = dLogits.sum('column');
      const dAct = dLogits.mmul(toMatrix(w2, hidden, classes).transpose());
      // Activation derivative from its output: tanh' = 1 − a², relu' = [a > 0].
      const dPre = new Matrix(m, hidden);
      for (let r = 0; r < m; r++) {
        for (let c = 0; c < hidden; c++) {
          const a = act.get(r, c);
          dPre.set(r, c, dAct.get(r, c) * (activation === 'tanh' ? 1 - a * a : a > 0 ? 1 : 0));
        }
      }
      const gW1 = xb.transposeMultiply(dPre).to1DArray();
      const gB1 = dPre.sum('column');
      for (let i = 0; i < gW1.length; i++) gW1[i]! += l2 * w1[i]!;
      for (let i = 0; i < gW2.length; i++) gW2[i]! += l2 * w2[i]!;
      t++;
      slots[0]!.step(w1, gW1, lr, t);
      slots[1]!.step(b1, gB1, lr, t);
      slots[2]!.step(w2, gW2, lr, t);
      slots[3]!.step(b2, gB2, lr, t);
    }
  }
  const rows = (flat: Float64Array, r: number, c: number): number[][] =>
    Array.from({ length: r }, (_, i) => Array.from(flat.subarray(i * c, (i + 1) * c), f32));
  return {
    kind: 'mlp',
    featureCount: d,
    standardizer,
    activation,
    classes,
    w1: rows(w1, d, hidden),
    b1: Array.from(b1, f32),
    w2: rows(w2, hidden, classes),
    b2: Array.from(b2, f32),
  };
}

/** Width of one output row: P(label = 1) for logistic regression, class probabilities for the MLP. */
export function outputWidth(model: TabularModel): number {
  return model.kind === 'logistic' ? 1 : model.classes;
}

/**
 * Scores row-major raw features ([n × featureCount]); returns row-major [n × outputWidth]. Inputs
 * are rounded to float32 first, as the ONNX graph receives them.
 */
export function predict(model: TabularModel, rows: ArrayLike<number>): Float64Array {
  const d = model.featureCount;
  if (rows.length % d !== 0) throw new RangeError(`rows length ${rows.length} is not a multiple of ${d}`);
  const n = rows.length / d;
  const { mean, std } = model.standardizer;
  const width = outputWidth(model);
  const out = new Float64Array(n * width);
  const zs = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) zs[j] = (f32(rows[i * d + j]!) - mean[j]!) / std[j]!;
    if (model.kind === 'logistic') {
      let s = model.bias;
      for (let j = 0; j < d; j++) s += zs[j]! * model.weights[j]!;
      out[i] = sigmoid(s);
      continue;
    }
    const hidden = model.b1.length;
    const logits = model.b2.slice();
    for (let h = 0; h < hidden; h++) {
      let s = model.b1[h]!;
      for (let j = 0; j < d; j++) s += zs[j]! * model.w1[j]![h]!;
      const a = activate(s, model.activation);
      for (let c = 0; c < model.classes; c++) logits[c]! += a * model.w2[h]![c]!;
    }
    const max = Math.max(...logits);
    let total = 0;
    for (let c = 0; c < model.classes; c++) total += Math.exp(logits[c]! - max);
    for (let c = 0; c < model.classes; c++) out[i * width + c] = Math.exp(logits[c]! - max) / total;
  }
  return out;
}
