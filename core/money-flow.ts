// Money-flow measures over bars, kept incrementally: the feature set's MFI and OBV columns
// (actors/feature/indicators.ts) and the money-flow factors (core/factors) are these same objects, so
// a factor and the feature it is named after compute the same thing. Seeding follows TA-Lib.
import { RollingStats } from './rolling-stats.ts';

/** The bar fields indicators read; a schemas `Bar` is one. */
export interface BarInput {
  readonly ts_event: number;
  readonly high: number;
  readonly low: number;
  readonly close: number;
  readonly volume: number;
}

/** Money flow index over `period` typical-price changes; like TA-Lib, total flow under 1 gives 0. */
export class MoneyFlowIndex {
  private readonly positive: RollingStats;
  private readonly negative: RollingStats;
  private seen = 0;
  private prevTypical = 0;

  constructor(readonly period: number) {
    this.positive = new RollingStats(period);
    this.negative = new RollingStats(period);
  }

  /** Takes the next bar; returns the MFI as of it (0..100), NaN until `period + 1` bars. */
  push(bar: BarInput): number {
    const typical = (bar.high + bar.low + bar.close) / 3;
    const change = typical - this.prevTypical;
    this.prevTypical = typical;
    if (this.seen++ === 0) return Number.NaN;
    const flow = typical * bar.volume;
    this.positive.push(change > 0 ? flow : 0);
    this.negative.push(change < 0 ? flow : 0);
    if (!this.positive.full) return Number.NaN;
    const pos = this.positive.sum();
    const total = pos + this.negative.sum();
    return total < 1 ? 0 : 100 * (pos / total);
  }
}

/** On-balance volume, starting at the first bar's volume (TA-Lib). */
export class OnBalanceVolume {
  private seen = false;
  private prevClose = 0;
  private obv = 0;

  /** Takes the next bar; returns the OBV as of it. */
  push(bar: BarInput): number {
    const close = bar.close;
    if (!this.seen) {
      this.seen = true;
      this.obv = bar.volume;
    } else if (close > this.prevClose) this.obv += bar.volume;
    else if (close < this.prevClose) this.obv -= bar.volume;
    this.prevClose = close;
    return this.obv;
  }
}
