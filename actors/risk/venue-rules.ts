// A venue's instrument rules (lot size, minimum quantity and notional, tick size), applied to the sizer's
// quantity before the risk gate's checks so that every order it passes is one the venue accepts. The
// risk limits (limits.ts) say what Sluice allows; these say what the venue takes: a quantity below the
// venue's minimum is not an order at all, so it sizes to 0 instead of failing at the broker.
import type { Side } from './book.ts';

export interface InstrumentSpec {
  /** Quantity step: a quantity is a whole number of lots. */
  lotSize?: number;
  minQuantity?: number;
  /** Smallest quantity × reference price. */
  minNotional?: number;
  /** Price step of limit and stop prices. */
  tickSize?: number;
}

/** The rule that sized an order to 0; also the risk decision's denial code. */
export type InstrumentDenial = 'BELOW_MIN_QUANTITY' | 'BELOW_MIN_NOTIONAL';

export interface VenueQuantity {
  /** What the venue takes: `lots`, or 0 when a positive quantity is below a minimum. */
  quantity: number;
  /** The asked quantity rounded down to whole lots. */
  lots: number;
  /** `lots` at the reference price. */
  notional: number;
  /** The smallest quantity the venue takes: the larger of minQuantity and one lot (0 when neither). */
  minQuantity: number;
  minNotional: number | undefined;
  /** The rule that cut a positive quantity to 0. */
  denial: InstrumentDenial | undefined;
}

/** Decimal places of a step (0.1 → 1, 0.25 → 2, 5 → 0, 1e-8 → 8). */
function decimals(step: number): number {
  const [mantissa = '', exponent = '0'] = step.toExponential().split('e');
  return Math.max(0, (mantissa.split('.')[1]?.length ?? 0) - Number(exponent));
}

/** `value` to a whole number of `step`s, rounded down or up; the product is cut back to the step's decimals so 3 × 0.1 is 0.3. */
function toStep(value: number, step: number, direction: 'down' | 'up'): number {
  // The 1e-9 of a step absorbs binary error (0.3 / 0.1 = 2.9999999999999996) without moving a real value.
  const steps = direction === 'down' ? Math.floor(value / step + 1e-9) : Math.ceil(value / step - 1e-9);
  return Number((steps * step).toFixed(Math.min(decimals(step), 100)));
}

/** The largest whole number of lots not above `quantity`. */
export function roundToLot(quantity: number, lotSize: number): number {
  return toStep(quantity, lotSize, 'down');
}

/**
 * A limit or stop price on the tick, never more aggressive than asked: a buy's rounds down, a sell's up.
 * The gate's limit orders go through this; stop prices of later order types will too.
 */
export function roundPriceToTick(price: number, tickSize: number, side: Side): number {
  return toStep(price, tickSize, side === 'buy' ? 'down' : 'up');
}

/** `quantity` as the venue takes it at reference `price`: whole lots, or 0 below a minimum. */
export function venueQuantity(spec: InstrumentSpec, quantity: number, price: number): VenueQuantity {
  const { lotSize, minQuantity = 0, minNotional } = spec;
  const lots = lotSize === undefined ? quantity : roundToLot(quantity, lotSize);
  const minimum = Math.max(minQuantity, lotSize ?? 0);
  const notional = lots * price;
  const denial = !(quantity > 0)
    ? undefined
    : lots < minimum || lots <= 0
      ? 'BELOW_MIN_QUANTITY'
      : minNotional !== undefined && !(notional >= minNotional)
        ? 'BELOW_MIN_NOTIONAL'
        : undefined;
  return {
    quantity: denial === undefined ? lots : 0,
    lots,
    notional,
    minQuantity: minimum,
    minNotional,
    denial,
  };
}
