// Rolling volatility of one-bar log returns: the scale of the triple-barrier labels a model is trained
// on (simulations/research/labels.ts) and of the barrier exits the risk gate attaches to its entries
// (actors/risk/barrier-exits.ts). One estimator for both, kept incrementally so the gate pays O(1) per
// bar close, and the batch form runs the same estimator over a series, so both give the same numbers
// for the same closes (running sums: the rounding of a value depends on the closes since the first).
// For the same reason a restart restores the sums themselves (state/fromState), never re-warms them
// from recent closes: that would round differently and move a barrier.
import type { RollingVolatilityState } from '../schemas/snapshots.ts';

/**
 * The sample standard deviation of the last `window` log returns, updated one close at a time. A
 * value exists once `window` returns have been seen (window + 1 closes); before that it is NaN.
 */
export class RollingVolatility {
  /** The last `window` returns, oldest overwritten first. */
  private readonly returns: Float64Array;
  private lastClose = Number.NaN;
  private seen = 0;
  private sum = 0;
  private sumSq = 0;
  /** The volatility as of the last close pushed (NaN until `window` returns). */
  value = Number.NaN;

  constructor(readonly window: number) {
    if (!Number.isInteger(window) || window < 2) throw new RangeError('volatility window must be at least 2');
    this.returns = new Float64Array(window);
  }

  /** Returns still needed before the first value. */
  get missing(): number {
    return Math.max(0, this.window - this.seen);
  }

  /** What a restored estimator needs to go on exactly as this one would. */
  state(): RollingVolatilityState {
    return {
      window: this.window,
      returns: Array.from(this.returns),
      ...(Number.isNaN(this.lastClose) ? {} : { lastClose: this.lastClose }),
      seen: this.seen,
      sum: this.sum,
      sumSq: this.sumSq,
    };
  }

  /** An estimator that goes on from `state` (checked by its snapshot contract). */
  static fromState(state: RollingVolatilityState): RollingVolatility {
    const estimator = new RollingVolatility(state.window);
    estimator.returns.set(state.returns);
    estimator.lastClose = state.lastClose ?? Number.NaN;
    estimator.seen = state.seen;
    estimator.sum = state.sum;
    estimator.sumSq = state.sumSq;
    if (state.seen >= state.window) estimator.value = estimator.valueOfSums();
    return estimator;
  }

  /** Takes the next close; returns the volatility as of it. */
  push(close: number): number {
    const previous = this.lastClose;
    this.lastClose = close;
    if (Number.isNaN(previous)) return this.value;
    const r = Math.log(close / previous);
    const slot = this.seen % this.window;
    // Add the new return, then take out the one it replaces: the order the sums were always kept in.
    this.sum += r;
    this.sumSq += r * r;
    if (this.seen >= this.window) {
      const old = this.returns[slot]!;
      this.sum -= old;
      this.sumSq -= old * old;
    }
    this.returns[slot] = r;
    this.seen++;
    if (this.seen >= this.window) this.value = this.valueOfSums();
    return this.value;
  }

  private valueOfSums(): number {
    const window = this.window;
    const mean = this.sum / window;
    return Math.sqrt(Math.max(0, (this.sumSq - window * mean * mean) / (window - 1)));
  }
}

/**
 * The volatility at every close of a series (NaN until `window` returns exist): value t uses only
 * closes[t-window..t].
 */
export function rollingVolatility(closes: ArrayLike<number>, window: number): Float64Array {
  const estimator = new RollingVolatility(window);
  const out = new Float64Array(closes.length);
  for (let t = 0; t < closes.length; t++) out[t] = estimator.push(closes[t]!);
  return out;
}
