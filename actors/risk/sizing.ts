// Position sizing: how many units a signal asks for. Pluggable like LEAN's reality models: a sizer
// is one small function of the signal and the market/account facts the risk gate already holds.
// A sizer never enforces limits; the risk gate checks whatever quantity it returns.
import type { Signal } from '../../schemas/messages.ts';

export interface SizingInput {
  signal: Signal;
  /** Reference price of the symbol (> 0). */
  price: number;
  /** Account equity from the latest portfolio snapshot. */
  equity: number;
  /** Annualised volatility of the symbol (0.2 = 20 %), NaN when unknown. */
  volatility: number;
}

export interface Sizer {
  readonly name: string;
  /** Unsigned quantity; 0 when the signal does not justify an order. Never NaN. */
  size(input: SizingInput): number;
}

function finiteOrZero(quantity: number): number {
  return Number.isFinite(quantity) && quantity > 0 ? quantity : 0;
}

/** The same currency amount per order. */
export class FixedNotionalSizer implements Sizer {
  readonly name = 'fixed_notional';

  constructor(readonly notional: number) {}

  size({ price }: SizingInput): number {
    return finiteOrZero(this.notional / price);
  }
}

/**
 * Scales the position so that its expected annualised volatility is `targetVolatility` of equity,
 * capped at `maxLeverage` × equity in notional. Unknown volatility sizes to 0 rather than guessing.
 */
export class VolatilityTargetSizer implements Sizer {
  readonly name = 'volatility_target';

  constructor(
    readonly targetVolatility: number,
    readonly maxLeverage: number,
  ) {}

  size({ price, equity, volatility }: SizingInput): number {
    if (!(volatility > 0)) return 0;
    const notional = Math.min((equity * this.targetVolatility) / volatility, equity * this.maxLeverage);
    return finiteOrZero(notional / price);
  }
}

/**
 * Fractional Kelly: f* = p − (1 − p) / b for win probability p and payoff ratio b, scaled by
 * `fraction` (full Kelly is too aggressive when p is a model estimate) and capped at `cap` of equity.
 */
export class KellySizer implements Sizer {
  readonly name = 'fractional_kelly';

  constructor(
    readonly fraction: number,
    readonly cap: number,
    readonly payoffRatio = 1,
  ) {}

  kellyFraction(probability: number): number {
    const full = probability - (1 - probability) / this.payoffRatio;
    return Math.min(Math.max(full * this.fraction, 0), this.cap);
  }

  size({ signal, price, equity }: SizingInput): number {
    return finiteOrZero((equity * this.kellyFraction(signal.probability)) / price);
  }
}
