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

/** Instrument rules by symbol: trading.venueRules, or what a venue states (LiveBroker.venueRules). */
export type VenueRules = Record<string, InstrumentSpec>;

/** A configured rule looser than the venue's, replaced by the venue's (mergeVenueRules). */
export interface ReplacedVenueRule {
  symbol: string;
  rule: keyof InstrumentSpec;
  configured: number;
  venue: number;
}

/**
 * The rules the gate applies: the venue's are the floor. A configured minimum below the venue's, or a
 * step that is not a whole multiple of the venue's (a smaller lot or tick, or one off its grid), would
 * size orders the venue refuses, so it is replaced by the venue's and listed in `replaced`; a stricter
 * configured value is kept. A rule only one side states is taken from it; a symbol the venue does not
 * describe keeps the configured rules.
 */
export function mergeVenueRules(
  configured: Readonly<VenueRules>,
  venue: Readonly<VenueRules>,
): { rules: VenueRules; replaced: ReplacedVenueRule[] } {
  const rules: VenueRules = {};
  const replaced: ReplacedVenueRule[] = [];
  const symbols = [...new Set([...Object.keys(configured), ...Object.keys(venue)])].sort();
  for (const symbol of symbols) {
    const mine = configured[symbol] ?? {};
    const theirs = venue[symbol] ?? {};
    const spec: InstrumentSpec = {};
    for (const rule of ['lotSize', 'minQuantity', 'minNotional', 'tickSize'] as const) {
      const configuredValue = mine[rule];
      const venueValue = theirs[rule];
      if (configuredValue === undefined || venueValue === undefined) {
        const value = configuredValue ?? venueValue;
        if (value !== undefined) spec[rule] = value;
        continue;
      }
      const holds =
        rule === 'lotSize' || rule === 'tickSize'
          ? isWholeMultiple(configuredValue, venueValue)
          : configuredValue >= venueValue;
      spec[rule] = holds ? configuredValue : venueValue;
      if (!holds) replaced.push({ symbol, rule, configured: configuredValue, venue: venueValue });
    }
    rules[symbol] = spec;
  }
  return { rules, replaced };
}

/** `step` is at least one `base` and on its grid (0.003 on 0.001 is; 0.0015 and 0.0005 are not). */
function isWholeMultiple(step: number, base: number): boolean {
  const steps = step / base;
  return steps >= 1 - 1e-9 && Math.abs(steps - Math.round(steps)) < 1e-9 * Math.max(1, steps);
}
