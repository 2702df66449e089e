// Property tests: whatever the order of signals, fills, duplicate fills and cancels, the positions
// and exposures the gate lets through stay inside their limits (at fixed prices: limits are
// pre-trade checks, a price move can still push a book past them), and no window of event time
// holds more passed orders than the throttles allow.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RiskGateCore } from '../../actors/risk/core.ts';
import type { Sizer } from '../../actors/risk/sizing.ts';
import { ReplayClock } from '../../core/clock.ts';
import { orderIdFor } from '../../core/lineage-ids.ts';
import { instruments, riskLimits } from '../support/risk-limits.ts';

const PRICES: Record<string, number> = { AAA: 50, BBB: 100, CCC: 200 };
const SYMBOLS = Object.keys(PRICES);
const MAX_POSITION = 500;
const T0 = Date.UTC(2024, 0, 2, 0, 0);

const limits = riskLimits({
  instruments: instruments(SYMBOLS, { minQuantity: 1, maxQuantity: 400, maxPosition: MAX_POSITION }),
  maxGrossExposure: 60_000,
  maxNetExposure: 30_000,
  orderRate: { maxOrders: 5, windowMs: 1000 },
  repeatedExecution: { maxOrders: 3, windowMs: 500 },
  maxMarketDataAgeMs: 10_000,
});

/** The quantity of the next order comes from the generated command. */
class ScriptedSizer implements Sizer {
  readonly name = 'scripted';
  next = 0;
  size(): number {
    return this.next;
  }
}

type Command =
  | { kind: 'signal'; symbol: number; direction: 1 | -1; quantity: number; dt: number }
  | { kind: 'fill'; pick: number; fraction: number; duplicate: boolean }
  | { kind: 'cancel'; pick: number };

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('signal' as const),
      symbol: fc.nat({ max: SYMBOLS.length - 1 }),
      direction: fc.constantFrom(1 as const, -1 as const),
      quantity: fc.integer({ min: 1, max: 400 }),
      dt: fc.integer({ min: 0, max: 400 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('fill' as const),
      pick: fc.nat(),
      fraction: fc.double({ min: 0.05, max: 1, noNaN: true }),
      duplicate: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }) },
);

interface LedgerOrder {
  id: string;
  symbol: string;
  side: 'buy' | 'sell';
  quantity: number;
  filled: number;
}

function run(commands: Command[]) {
  const sizer = new ScriptedSizer();
  const core = new RiskGateCore({ limits, sizer, clock: new ReplayClock(T0), tradingState: 'active' });
  core.onPortfolio({
    schema: 'portfolio_snapshot.v1',
    id: 'pf',
    ts_event: T0,
    ts_init: T0,
    account: 'a',
    positions: [],
    cash: 1e6,
    equity: 1e6,
    gross_exposure: 0,
    net_exposure: 0,
  });
  const positions = new Map<string, number>(SYMBOLS.map((s) => [s, 0]));
  const open: LedgerOrder[] = [];
  const passes: { ts: number; symbol: string; side: string }[] = [];
  let now = T0;
  let seq = 0;

  const checkBook = () => {
    let gross = 0;
    let netHigh = 0;
    let netLow = 0;
    for (const symbol of SYMBOLS) {
      const position = positions.get(symbol) ?? 0;
      const buys = open
        .filter((o) => o.symbol === symbol && o.side === 'buy')
        .reduce((a, o) => a + o.quantity - o.filled, 0);
      const sells = open
        .filter((o) => o.symbol === symbol && o.side === 'sell')
        .reduce((a, o) => a + o.quantity - o.filled, 0);
      // Worst case: every working order on one side fills.
      const long = position + buys;
      const short = position - sells;
      assert.ok(
        Math.abs(long) <= MAX_POSITION && Math.abs(short) <= MAX_POSITION,
        `${symbol} ${short}..${long}`,
      );
      const price = PRICES[symbol]!;
      gross += Math.max(Math.abs(long), Math.abs(short)) * price;
      netHigh += long * price;
      netLow += short * price;
    }
    assert.ok(gross <= limits.maxGrossExposure! + 1e-6, `gross ${gross}`);
    assert.ok(
      Math.max(Math.abs(netHigh), Math.abs(netLow)) <= limits.maxNetExposure! + 1e-6,
      `net ${netLow}..${netHigh}`,
    );
  };

  for (const c of commands) {
    if (c.kind === 'signal') {
      now += c.dt;
      const symbol = SYMBOLS[c.symbol]!;
      const price = PRICES[symbol]!;
      const header = { id: `q${seq}`, ts_event: now, ts_init: now, symbol };
      core.onQuote({
        schema: 'quote_tick.v1',
        ...header,
        bid: price - 0.01,
        ask: price + 0.01,
        bid_size: 1e6,
        ask_size: 1e6,
      });
      core.onTrade({ schema: 'trade_tick.v1', ...header, price, size: 1, aggressor: 'unknown' });
      sizer.next = c.quantity;
      seq++;
      const { intent } = core.evaluate({
        schema: 'signal.v1',
        id: `s${seq}`,
        ts_event: now,
        ts_init: now,
        strategy: 'p',
        symbol,
        model_version: 'm',
        direction: c.direction,
        probability: 0.9,
        feature_id: 'f',
      });
      if (intent) {
        open.push({
          id: orderIdFor(intent.id),
          symbol,
          side: intent.side,
          quantity: intent.quantity,
          filled: 0,
        });
        passes.push({ ts: now, symbol, side: intent.side });
      }
    } else if (open.length > 0) {
      const order = open[c.pick % open.length]!;
      if (c.kind === 'fill') {
        const quantity = Math.max(1, Math.ceil((order.quantity - order.filled) * c.fraction));
        const fill = {
          schema: 'fill.v1' as const,
          id: `${order.id}:f${order.filled}`,
          ts_event: now,
          ts_init: now,
          order_id: order.id,
          symbol: order.symbol,
          side: order.side,
          quantity,
          price: PRICES[order.symbol]!,
          fee: 0,
          liquidity: 'taker' as const,
        };
        core.onFill(fill);
        if (c.duplicate) core.onFill(fill);
        order.filled += quantity;
        positions.set(
          order.symbol,
          (positions.get(order.symbol) ?? 0) + (order.side === 'buy' ? quantity : -quantity),
        );
      } else {
        core.onOrderEvent({
          schema: 'order_event.v1',
          id: `${order.id}:x`,
          ts_event: now,
          ts_init: now,
          order_id: order.id,
          intent_id: order.id,
          symbol: order.symbol,
          status: 'canceled',
          filled_quantity: order.filled,
          leaves_quantity: 0,
        });
        order.quantity = order.filled;
      }
      if (order.filled >= order.quantity) open.splice(open.indexOf(order), 1);
    }
    checkBook();
  }
  return passes;
}

function assertWindowed(times: number[], maxOrders: number, windowMs: number, what: string): void {
  for (let i = 0; i < times.length; i++) {
    const end = times[i]!;
    const inWindow = times.filter((t) => t > end - windowMs && t <= end).length;
    assert.ok(inWindow <= maxOrders, `${what}: ${inWindow} orders in (${end - windowMs}, ${end}]`);
  }
}

describe('risk gate properties', () => {
  it('no sequence of signals, fills and cancels takes a position or exposure past its limit', () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 150 }), (commands) => {
        run(commands);
      }),
      { numRuns: 300 },
    );
  });

  it('the order-rate and repeated-execution throttles hold over every window', () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 150 }), (commands) => {
        const passes = run(commands);
        assertWindowed(
          passes.map((p) => p.ts),
          limits.orderRate!.maxOrders,
          limits.orderRate!.windowMs,
          'order rate',
        );
        for (const symbol of SYMBOLS) {
          for (const side of ['buy', 'sell']) {
            const times = passes.filter((p) => p.symbol === symbol && p.side === side).map((p) => p.ts);
            assertWindowed(
              times,
              limits.repeatedExecution!.maxOrders,
              limits.repeatedExecution!.windowMs,
              `${symbol} ${side}`,
            );
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
