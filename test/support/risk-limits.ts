// The one RiskLimits of the tests and benches: every limit set (a missing one would deny every order,
// LIMIT_NOT_CONFIGURED) and none binding for an ordinary order, so a test states only the limits it
// exercises, and a new limit is added here once.
import type { InstrumentLimits, RiskLimits, TradingSession } from '../../actors/risk/limits.ts';

/** Every minute of every day. */
export const ALWAYS_OPEN: TradingSession[] = [
  { days: [0, 1, 2, 3, 4, 5, 6], openMinute: 0, closeMinute: 1_440 },
];

/** Monday to Friday, 13:30 to 20:00 UTC. */
export const US_EQUITY_HOURS: TradingSession[] = [
  { days: [1, 2, 3, 4, 5], openMinute: 13 * 60 + 30, closeMinute: 20 * 60 },
];

export function riskLimits(overrides: Partial<RiskLimits> = {}): RiskLimits {
  return {
    instruments: {},
    maxOrderNotional: 1e9,
    priceCollarBps: 100,
    maxGrossExposure: 1e9,
    maxNetExposure: 1e9,
    orderRate: { maxOrders: 1e6, windowMs: 1_000 },
    repeatedExecution: { maxOrders: 1e6, windowMs: 1_000 },
    maxMarketDataAgeMs: 60_000,
    minConfidence: 0,
    tradingSessions: ALWAYS_OPEN,
    restricted: [],
    maxDailyLoss: 1e12,
    maxDrawdown: 0.99,
    ...overrides,
  };
}

/** The same instrument limits for each symbol. */
export function instruments(
  symbols: readonly string[],
  limits: InstrumentLimits,
): Record<string, InstrumentLimits> {
  return Object.fromEntries(symbols.map((symbol) => [symbol, { ...limits }]));
}
