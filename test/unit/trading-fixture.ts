// Shared by the in-process and NATS trading tests: a config whose every limit is set, real daily
// bars from the bundled stocknet sample, and one deterministic signal per bar.
import { join } from 'node:path';
import {
  BpsSlippage,
  FixedLatency,
  MakerTakerFee,
  NextTickFillModel,
} from '../../actors/execution/venue-models.ts';
import type { TradingConfig } from '../../actors/pipeline.ts';
import { FixedNotionalSizer } from '../../actors/risk/sizing.ts';
import { readDatasetFile } from '../../core/dataset-files.ts';
import { stocknetPriceFile } from '../../core/datasets.ts';
import { GateKey } from '../../core/gate-seal.ts';
import type { Bar, Signal } from '../../schemas/messages.ts';
import { instruments, riskLimits } from '../support/risk-limits.ts';

const DAY = 86_400_000;
export const SYMBOLS = ['AAPL', 'AMZN'] as const;

export function tradingConfig(overrides: Partial<TradingConfig> = {}): TradingConfig {
  return {
    account: 'paper',
    gateKey: GateKey.forRun('trading-fixture'),
    startingCash: 1_000_000,
    startState: 'active',
    risk: {
      limits: riskLimits({
        instruments: instruments(SYMBOLS, { minQuantity: 1, maxQuantity: 1_000, maxPosition: 300 }),
        maxOrderNotional: 50_000,
        maxGrossExposure: 500_000,
        maxNetExposure: 300_000,
        orderRate: { maxOrders: 100, windowMs: DAY },
        repeatedExecution: { maxOrders: 50, windowMs: DAY },
        maxMarketDataAgeMs: 5 * DAY,
        minConfidence: 0.55,
        maxDailyLoss: 100_000,
        maxDrawdown: 0.5,
      }),
      sizer: new FixedNotionalSizer(10_000),
    },
    venue: {
      latency: new FixedLatency(1),
      fill: new NextTickFillModel(),
      slippage: new BpsSlippage(1),
      fee: new MakerTakerFee(0, 1),
    },
    ...overrides,
  };
}

/** The first `perSymbol` daily bars of each symbol, merged by close time then symbol. */
export async function sampleBars(perSymbol: number): Promise<Bar[]> {
  const bars: Bar[] = [];
  for (const symbol of SYMBOLS) {
    const file = stocknetPriceFile(
      join(import.meta.dirname, '../../simulations/data/sample/prices', `${symbol}.csv`),
    );
    let taken = 0;
    for await (const row of readDatasetFile(file)) {
      if (row.kind !== 'bar') continue;
      bars.push(row.event);
      if (++taken >= perSymbol) break;
    }
  }
  return bars.sort((a, b) => a.ts_event - b.ts_event || a.symbol.localeCompare(b.symbol));
}

/** Long after an up bar, short after a down bar: enough turnover to open, add, reduce and flip. */
export function signalFor(bar: Bar): Signal {
  return {
    schema: 'signal.v1',
    id: `sig:${bar.id}`,
    ts_event: bar.ts_event,
    ts_init: bar.ts_event,
    strategy: 'momentum',
    symbol: bar.symbol,
    model_version: 'test-1',
    direction: bar.close >= bar.open ? 1 : -1,
    probability: 0.6,
    feature_id: bar.id,
  };
}
