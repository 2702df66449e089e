// The triple barrier (López de Prado, AFML ch. 3) as one definition for the labels a model learns
// from (simulations/research/labels.ts) and the exits the risk gate gives the positions it opens
// (actors/risk/barrier-exits.ts): horizontal barriers at multiples of the volatility at entry, in
// log-return units from the entry price, and a vertical barrier a number of bars ahead.

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

/** The horizontal barriers as log returns from the entry: touched when ln(price / entry) ≥ upper or ≤ lower. */
export function barrierReturns(
  config: TripleBarrierConfig,
  volatility: number,
): { upper: number; lower: number } {
  return { upper: config.profitTake * volatility, lower: -config.stopLoss * volatility };
}

/** The horizontal barriers as prices: the first price at or beyond each is a touch. */
export function barrierPrices(
  config: TripleBarrierConfig,
  volatility: number,
  entry: number,
): { upper: number; lower: number } {
  const { upper, lower } = barrierReturns(config, volatility);
  return { upper: entry * Math.exp(upper), lower: entry * Math.exp(lower) };
}
