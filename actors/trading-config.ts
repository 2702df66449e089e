// The `trading` section of a run config and of a backtest config: the parts the portfolio, the risk
// gate and the execution actor each own, composed once so that both configs take the same section.
import { type Static, Type } from '@sinclair/typebox';
import { VenueConfigSchema } from './execution/config.ts';
import { PortfolioConfigProperties } from './portfolio/config.ts';
import { RiskLimitsConfigSchema, SizingConfigSchema, VenueRulesConfigSchema } from './risk/config.ts';

export const TradingSectionSchema = Type.Object(
  {
    ...PortfolioConfigProperties,
    sizing: SizingConfigSchema,
    limits: RiskLimitsConfigSchema,
    venueRules: Type.Optional(VenueRulesConfigSchema),
    /**
     * Entries get the take-profit, stop-loss and time exits of the triple-barrier labels their model
     * was trained on, over bars of the config's barInterval (actors/risk/barrier-exits.ts). Off by default.
     */
    barrierExits: Type.Optional(Type.Boolean()),
    venue: VenueConfigSchema,
  },
  { additionalProperties: false },
);

export type TradingSection = Static<typeof TradingSectionSchema>;
