// Triple-barrier labels (López de Prado, AFML ch. 3): from each bar, the first of three barriers the
// price path touches decides the label: profit-take (+1), stop-loss (−1) or the vertical time limit
// (0). Horizontal barriers scale with recent volatility so a label means the same in calm and wild
// markets. Each label keeps the [start, end] bar window it looked at, which is what purged
// cross-validation needs to keep overlapping outcomes out of training.

export interface TripleBarrierConfig {
  /** Upper barrier as a multiple of rolling volatility (log-return units). */
  readonly profitTake: number;
  /** Lower barrier as a multiple of rolling volatility (log-return units). */
  readonly stopLoss: number;
  /** Vertical barrier: how many bars ahead the label may look. */
  readonly verticalBars: number;
  /** Bars of past log returns in the rolling volatility (standard deviation). */
  readonly volatilityWindow: number;
}

export type BarrierLabel = -1 | 0 | 1;

export interface TripleBarrierLabel {
  /** Bar the position would open at (features must only use data up to here). */
  readonly start: number;
  /** Bar where the first barrier was touched (or the vertical barrier). */
  readonly end: number;
  readonly label: BarrierLabel;
  /** Log return from start to end. */
  readonly logReturn: number;
  /** The volatility the horizontal barriers were scaled by. */
  readonly volatility: number;
}

export const defaultTripleBarrier: TripleBarrierConfig = {
  profitTake: 1,
  stopLoss: 1,
  verticalBars: 5,
  volatilityWindow: 20,
};

/**
 * Rolling standard deviation of one-bar log returns over the `window` returns ending at each bar
 * (NaN until `window` returns exist). Only past data: value at bar t uses closes[t-window..t].
 */
export function rollingVolatility(closes: ArrayLike<number>, window: number): Float64Array {
  const out = new Float64Array(closes.length).fill(Number.NaN);
  if (window < 2) throw new RangeError('volatility window must be at least 2');
  let sum = 0;
  let sumSq = 0;
  for (let t = 1; t < closes.length; t++) {
    const r = Math.log(closes[t]! / closes[t - 1]!);
    sum += r;
    sumSq += r * r;
    if (t > window) {
      const old = Math.log(closes[t - window]! / closes[t - window - 1]!);
      sum -= old;
      sumSq -= old * old;
    }
    if (t >= window) {
      const mean = sum / window;
      out[t] = Math.sqrt(Math.max(0, (sumSq - window * mean * mean) / (window - 1)));
    }
  }
  return out;
}

/**
 * Labels every bar that has a full volatility window behind it and a full vertical window ahead of
 * it (a bar near the end could still be resolved early, but keeping only complete windows avoids a
 * label set biased toward barrier hits).
 */
export function tripleBarrierLabels(
  closes: ArrayLike<number>,
  config: TripleBarrierConfig = defaultTripleBarrier,
): TripleBarrierLabel[] {
  const { profitTake, stopLoss, verticalBars, volatilityWindow } = config;
  if (!(profitTake > 0) || !(stopLoss > 0)) throw new RangeError('barrier multiples must be positive');
  if (!Number.isInteger(verticalBars) || verticalBars < 1) throw new RangeError('verticalBars must be ≥ 1');
  const volatility = rollingVolatility(closes, volatilityWindow);
  const labels: TripleBarrierLabel[] = [];
  for (let start = volatilityWindow; start + verticalBars < closes.length; start++) {
    const vol = volatility[start]!;
    if (!(vol > 0)) continue; // a flat window gives no scale for the barriers
    const entry = closes[start]!;
    const upper = profitTake * vol;
    const lower = -stopLoss * vol;
    let end = start + verticalBars;
    let label: BarrierLabel = 0;
    for (let t = start + 1; t <= start + verticalBars; t++) {
      const r = Math.log(closes[t]! / entry);
      if (r >= upper) {
        label = 1;
        end = t;
        break;
      }
      if (r <= lower) {
        label = -1;
        end = t;
        break;
      }
    }
    labels.push({ start, end, label, logReturn: Math.log(closes[end]! / entry), volatility: vol });
  }
  return labels;
}
