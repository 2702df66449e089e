// Triple-barrier labels (López de Prado, AFML ch. 3): from each bar, the first of three barriers the
// price path touches decides the label: profit-take (+1), stop-loss (−1) or the vertical time limit
// (0). Horizontal barriers scale with recent volatility so a label means the same in calm and wild
// markets. Each label keeps the [start, end] bar window it looked at, which is what purged
// cross-validation needs to keep overlapping outcomes out of training. The barriers and the volatility
// are defined once in core/ (triple-barrier.ts, volatility.ts), where the risk gate's barrier exits
// use the same definitions.
import { barrierReturns, type TripleBarrierConfig } from '../../core/triple-barrier.ts';
import { rollingVolatility } from '../../core/volatility.ts';

export type { TripleBarrierConfig };

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
    const { upper, lower } = barrierReturns(config, vol);
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
