// The risk gate's part of a run or backtest config: how a signal is sized and the limits every order
// is checked against. The limits stay an open record here: parseRiskLimits reads them (a missing limit
// denies, fail closed), so a field is named once, where its check is.
import { type Static, Type } from '@sinclair/typebox';
import { FixedNotionalSizer, KellySizer, type Sizer, VolatilityTargetSizer } from './sizing.ts';

export const SizingConfigSchema = Type.Union([
  Type.Object({
    kind: Type.Literal('fixed-notional'),
    notional: Type.Number({ exclusiveMinimum: 0 }),
  }),
  Type.Object({
    kind: Type.Literal('volatility-target'),
    targetVolatility: Type.Number({ exclusiveMinimum: 0 }),
    maxLeverage: Type.Number({ exclusiveMinimum: 0 }),
  }),
  Type.Object({
    kind: Type.Literal('kelly'),
    fraction: Type.Number({ exclusiveMinimum: 0, maximum: 1 }),
    cap: Type.Number({ exclusiveMinimum: 0 }),
  }),
]);

export type SizingConfig = Static<typeof SizingConfigSchema>;

// A step below 1e-12 would overflow the lot count of an ordinary quantity (venue-rules.ts rounds with it).
const step = (description: string) => Type.Number({ minimum: 1e-12, description });

/** The venue's rules per symbol, applied to the sized quantity before the checks (venue-rules.ts). */
export const VenueRulesConfigSchema = Type.Record(
  Type.String({ minLength: 1 }),
  Type.Object(
    {
      lotSize: Type.Optional(step('quantity step: quantities round down to whole lots')),
      minQuantity: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
      minNotional: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
      tickSize: Type.Optional(step('price step of limit prices, rounded never more aggressive')),
    },
    { additionalProperties: false },
  ),
);

/** Passed to the risk gate's limit parser (parseRiskLimits); a missing limit denies (fail closed). */
export const RiskLimitsConfigSchema = Type.Record(Type.String(), Type.Unknown());

export function sizerFor(sizing: SizingConfig): Sizer {
  switch (sizing.kind) {
    case 'fixed-notional':
      return new FixedNotionalSizer(sizing.notional);
    case 'volatility-target':
      return new VolatilityTargetSizer(sizing.targetVolatility, sizing.maxLeverage);
    case 'kelly':
      return new KellySizer(sizing.fraction, sizing.cap);
  }
}
