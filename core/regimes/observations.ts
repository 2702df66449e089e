// The observation the regime model sees at each bar: [log return, rolling volatility of log returns],
// both from closes up to and including that bar (core/volatility.ts, the estimator the labels and the
// risk gate use), so an observation never carries information from a later bar.
import { RollingVolatility } from '../volatility.ts';

/**
 * Per close from the first with a volatility (index `volatilityWindow`) on, [log return, volatility];
 * `firstIndex` is the close the first observation belongs to.
 */
export function regimeObservations(
  closes: ArrayLike<number>,
  volatilityWindow: number,
): { readonly observations: [number, number][]; readonly firstIndex: number } {
  const volatility = new RollingVolatility(volatilityWindow);
  const observations: [number, number][] = [];
  for (let t = 0; t < closes.length; t++) {
    const value = volatility.push(closes[t]!);
    if (t >= volatilityWindow) observations.push([Math.log(closes[t]! / closes[t - 1]!), value]);
  }
  return { observations, firstIndex: volatilityWindow };
}
