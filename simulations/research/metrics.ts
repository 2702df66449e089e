// Classification metrics for fold and out-of-sample reports. Probabilities are clipped before logs so
// one confident miss gives a large but finite log-loss.

const epsilon = 1e-15;

function checkLengths(a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length) throw new RangeError(`length mismatch: ${a.length} vs ${b.length}`);
  if (a.length === 0) throw new RangeError('no samples');
}

/** Binary log-loss; `labels` are 0/1, `probabilities` are P(label = 1). */
export function logLoss(labels: ArrayLike<number>, probabilities: ArrayLike<number>): number {
  checkLengths(labels, probabilities);
  let sum = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = Math.min(1 - epsilon, Math.max(epsilon, probabilities[i]!));
    sum -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return sum / labels.length;
}

/** Mean squared error of P(label = 1) against the 0/1 outcome. */
export function brierScore(labels: ArrayLike<number>, probabilities: ArrayLike<number>): number {
  checkLengths(labels, probabilities);
  let sum = 0;
  for (let i = 0; i < labels.length; i++) sum += (probabilities[i]! - labels[i]!) ** 2;
  return sum / labels.length;
}

/** Accuracy of thresholding P(label = 1) at `threshold`. */
export function binaryAccuracy(
  labels: ArrayLike<number>,
  probabilities: ArrayLike<number>,
  threshold = 0.5,
): number {
  checkLengths(labels, probabilities);
  let hits = 0;
  for (let i = 0; i < labels.length; i++) if ((probabilities[i]! >= threshold ? 1 : 0) === labels[i]) hits++;
  return hits / labels.length;
}

/**
 * ROC AUC as the Mann–Whitney statistic with tied scores sharing their average rank. NaN when only
 * one class is present (AUC is undefined there, and a silent 0.5 would flatter a fold).
 */
export function rocAuc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  checkLengths(labels, scores);
  const order = Array.from({ length: labels.length }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let positives = 0;
  let positiveRankSum = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1]!] === scores[order[i]!]) j++;
    const averageRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (labels[order[k]!] === 1) {
        positives++;
        positiveRankSum += averageRank;
      }
    }
    i = j + 1;
  }
  const negatives = labels.length - positives;
  if (positives === 0 || negatives === 0) return Number.NaN;
  return (positiveRankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

export interface BinaryMetrics {
  readonly samples: number;
  readonly logLoss: number;
  readonly rocAuc: number;
  readonly accuracy: number;
  readonly brier: number;
}

export function binaryMetrics(labels: ArrayLike<number>, probabilities: ArrayLike<number>): BinaryMetrics {
  return {
    samples: labels.length,
    logLoss: logLoss(labels, probabilities),
    rocAuc: rocAuc(labels, probabilities),
    accuracy: binaryAccuracy(labels, probabilities),
    brier: brierScore(labels, probabilities),
  };
}

/** Index of the largest value in each row of a row-major [n × classes] probability array. */
export function argmaxRows(probabilities: ArrayLike<number>, classes: number): Int32Array {
  const n = probabilities.length / classes;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) {
      if (probabilities[i * classes + c]! > probabilities[i * classes + best]!) best = c;
    }
    out[i] = best;
  }
  return out;
}

export interface MulticlassMetrics {
  readonly samples: number;
  readonly accuracy: number;
  readonly macroF1: number;
  readonly perClassF1: number[];
  readonly logLoss: number;
  /** confusion[actual][predicted] */
  readonly confusion: number[][];
}

/** `labels` are class indices 0..classes-1; `probabilities` is row-major [n × classes]. */
export function multiclassMetrics(
  labels: ArrayLike<number>,
  probabilities: ArrayLike<number>,
  classes: number,
): MulticlassMetrics {
  if (probabilities.length !== labels.length * classes)
    throw new RangeError('probabilities must be n × classes');
  if (labels.length === 0) throw new RangeError('no samples');
  const predicted = argmaxRows(probabilities, classes);
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  let hits = 0;
  let loss = 0;
  for (let i = 0; i < labels.length; i++) {
    const actual = labels[i]!;
    confusion[actual]![predicted[i]!]!++;
    if (predicted[i] === actual) hits++;
    loss -= Math.log(Math.min(1 - epsilon, Math.max(epsilon, probabilities[i * classes + actual]!)));
  }
  const perClassF1 = confusion.map((row, c) => {
    const tp = row[c]!;
    const actualCount = row.reduce((a, b) => a + b, 0);
    const predictedCount = confusion.reduce((a, r) => a + r[c]!, 0);
    return tp === 0 ? 0 : (2 * tp) / (actualCount + predictedCount);
  });
  return {
    samples: labels.length,
    accuracy: hits / labels.length,
    macroF1: perClassF1.reduce((a, b) => a + b, 0) / classes,
    perClassF1,
    logLoss: loss / labels.length,
    confusion,
  };
}
