// risk_decisions_per_s: RiskGateCore decisions in-process over 50 symbols, with a realistic mix of
// passes and denials (low confidence, restricted and unknown symbols, throttles, position limits)
// and with the feedback a live gate gets: market data, fills and cancels of the orders it passed.
// Only evaluate() is timed; building signals and the feedback run between timed batches.

import { RiskGateCore } from '../actors/risk/core.ts';
import { FixedNotionalSizer } from '../actors/risk/sizing.ts';
import { ReplayClock } from '../core/clock.ts';
import { fillIdFor, orderEventIdFor, orderIdFor } from '../core/lineage-ids.ts';
import { SeededRandom } from '../core/random.ts';
import type { OrderIntent, Signal } from '../schemas/messages.ts';
import { instruments, riskLimits, US_EQUITY_HOURS } from '../test/support/risk-limits.ts';

const SYMBOLS = Array.from({ length: 50 }, (_, i) => `SYM${i}`);
const DECISIONS = 1_000_000;
const WARMUP = 100_000;
const T0 = Date.UTC(2024, 0, 2, 14, 0);

function makeCore(): RiskGateCore {
  const limits = riskLimits({
    // SYM49 stays unknown: signals for it are denied INSTRUMENT_UNKNOWN.
    instruments: instruments(SYMBOLS.slice(0, 49), { minQuantity: 1, maxQuantity: 1000, maxPosition: 2000 }),
    maxOrderNotional: 20_000,
    priceCollarBps: 30,
    maxGrossExposure: 2_000_000,
    maxNetExposure: 500_000,
    orderRate: { maxOrders: 400, windowMs: 1000 },
    repeatedExecution: { maxOrders: 10, windowMs: 1000 },
    maxMarketDataAgeMs: 2000,
    minConfidence: 0.55,
    tradingSessions: US_EQUITY_HOURS,
    restricted: ['SYM48'],
    maxDailyLoss: 50_000,
    maxDrawdown: 0.2,
  });
  return new RiskGateCore({
    limits,
    sizer: new FixedNotionalSizer(5_000),
    clock: new ReplayClock(T0),
    idMemory: 10_000,
    tradingState: 'active',
  });
}

const BATCH = 100; // 100 ms of event time: fills and cancels come back one batch later, as from a venue

function marketData(core: RiskGateCore, i: number): void {
  const ts = T0 + i;
  const symbol = SYMBOLS[i % 50]!;
  const price = 100 + 5 * Math.sin(i / 1e4 + (i % 50));
  const header = { id: `md${i}`, ts_event: ts, ts_init: ts, symbol };
  core.onQuote({
    schema: 'quote_tick.v1',
    ...header,
    bid: price - 0.01,
    ask: price + 0.01,
    bid_size: 500,
    ask_size: 500,
  });
  core.onTrade({ schema: 'trade_tick.v1', ...header, price, size: 100, aggressor: 'unknown' });
}

function signalAt(i: number, random: SeededRandom): Signal {
  const ts = T0 + i; // 1,000 signals per second of event time
  return {
    schema: 'signal.v1',
    id: `sig${i}`,
    ts_event: ts,
    ts_init: ts,
    strategy: 'bench',
    symbol: SYMBOLS[i % 50]!,
    model_version: 'm1',
    direction: random.next() < 0.55 ? 1 : -1,
    probability: 0.4 + random.next() * 0.5,
    feature_id: `f${i}`,
  };
}

/** The venue fills most of each order and cancels the rest, as a partly filled IOC order would. */
function feedBack(core: RiskGateCore, intent: OrderIntent): void {
  const orderId = orderIdFor(intent.id);
  const filled = Math.floor(intent.quantity * 0.8);
  const header = {
    ts_event: intent.ts_event,
    ts_init: intent.ts_event,
    order_id: orderId,
    symbol: intent.symbol,
  };
  core.onFill({
    schema: 'fill.v1',
    id: fillIdFor(orderId, 1),
    ...header,
    side: intent.side,
    quantity: filled,
    price: 100,
    fee: 0.1,
    liquidity: 'taker',
  });
  core.onOrderEvent({
    schema: 'order_event.v1',
    id: orderEventIdFor(orderId, 3),
    ...header,
    intent_id: intent.id,
    status: 'canceled',
    filled_quantity: filled,
    leaves_quantity: 0,
  });
}

/** Returns the milliseconds spent inside evaluate() and the number of passes. */
function drive(
  core: RiskGateCore,
  count: number,
  offset: number,
  random: SeededRandom,
): { ms: number; passed: number } {
  let ms = 0;
  let passed = 0;
  const signals: Signal[] = new Array(BATCH);
  const intents: OrderIntent[] = [];
  for (let first = offset; first < offset + count; first += BATCH) {
    for (let k = 0; k < BATCH; k++) {
      const i = first + k;
      // Each symbol gets a quote and a trade every 100 ms of event time.
      if (Math.floor(i / 50) % 2 === 0) marketData(core, i);
      signals[k] = signalAt(i, random);
    }
    const started = performance.now();
    for (let k = 0; k < BATCH; k++) {
      const { intent } = core.evaluate(signals[k]!);
      if (intent !== undefined) intents.push(intent);
    }
    ms += performance.now() - started;
    passed += intents.length;
    for (const intent of intents) feedBack(core, intent);
    intents.length = 0;
  }
  return { ms, passed };
}

export default async function riskBench(): Promise<Record<string, number>> {
  const core = makeCore();
  const random = new SeededRandom(42);
  core.onPortfolio({
    schema: 'portfolio_snapshot.v1',
    id: 'pf',
    ts_event: T0,
    ts_init: T0,
    account: 'bench',
    positions: [],
    cash: 1e6,
    equity: 1e6,
    gross_exposure: 0,
    net_exposure: 0,
  });
  drive(core, WARMUP, 0, random);
  const { ms, passed } = drive(core, DECISIONS, WARMUP, random);
  return {
    risk_decisions_per_s: Math.round(DECISIONS / (ms / 1000)),
    risk_decisions_pass_ratio: Number((passed / DECISIONS).toFixed(3)),
  };
}
