// The pieces RiskGateCore is made of, each against a plain model where the gate's own tests would not
// notice a fault: the throttle's ring past its first 16 slots, the book's exposure past its first 64
// symbols, which equity trigger fires in which trading state; and the order of the pre-trade checks,
// which is both the order of a decision's checks[] and the precedence of its denial code.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { PositionBook } from '../../actors/risk/book.ts';
import { RiskGateCore, type TradingState } from '../../actors/risk/core.ts';
import { EquityTriggers } from '../../actors/risk/equity-triggers.ts';
import type { RiskLimits } from '../../actors/risk/limits.ts';
import { FixedNotionalSizer } from '../../actors/risk/sizing.ts';
import { Throttle } from '../../actors/risk/throttle.ts';
import { ReplayClock } from '../../core/clock.ts';
import type { PortfolioSnapshot, Signal } from '../../schemas/messages.ts';
import { instruments, riskLimits } from '../support/risk-limits.ts';

const DAY = 86_400_000;

describe('Throttle', () => {
  it('keeps the oldest first when its ring grows after wrapping', () => {
    const throttle = new Throttle(40, 100);
    for (let t = 0; t < 10; t++) throttle.record(t);
    assert.equal(throttle.inWindow(105), 4, 'orders at 6..9 are left');
    // The 16 slots fill up at 117, with the oldest order in slot 6: the ring grows from there.
    for (let t = 106; t < 126; t++) throttle.record(t);
    assert.equal(throttle.inWindow(125), 20, 'orders at 106..125 are left');
    assert.equal(throttle.inWindow(206), 19, 'orders at 107..125 are left');
  });

  it('counts the orders of the last window, however many it has held', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 1, max: 5_000 }),
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 60 }), record: fc.boolean() }), {
          maxLength: 300,
        }),
        (maxOrders, windowMs, steps) => {
          const throttle = new Throttle(maxOrders, windowMs);
          const recorded: number[] = [];
          let now = 0;
          for (const step of steps) {
            now += step.dt;
            if (step.record) {
              throttle.record(now);
              recorded.push(now);
            }
            const inWindow = recorded.filter((t) => t > now - windowMs).length;
            assert.equal(throttle.inWindow(now), Math.min(inWindow, maxOrders));
            assert.equal(throttle.isFull(now), inWindow >= maxOrders);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('PositionBook', () => {
  it('sums the exposure of every symbol, past the first 64', () => {
    const book = new PositionBook(() => undefined, 1_000);
    let gross = 0;
    let netLong = 0;
    let netShort = 0;
    for (let i = 0; i < 150; i++) {
      const symbol = `S${i}`;
      const price = 10 + i;
      book.onTrade({
        schema: 'trade_tick.v1',
        id: `t${i}`,
        ts_event: i,
        ts_init: i,
        symbol,
        price,
        size: 1,
        aggressor: 'unknown',
      });
      const position = (i % 7) - 3;
      const working = i % 5;
      book.onFill({
        schema: 'fill.v1',
        id: `f${i}`,
        ts_event: i,
        ts_init: i,
        order_id: 'elsewhere',
        symbol,
        side: position < 0 ? 'sell' : 'buy',
        quantity: Math.abs(position),
        price,
        fee: 0,
        liquidity: 'taker',
      });
      book.addWorking(`o${i}`, book.entry(symbol), i % 2 === 0 ? 'buy' : 'sell', working, `s${i}`);
      const long = position + (i % 2 === 0 ? working : 0);
      const short = position - (i % 2 === 0 ? 0 : working);
      gross += Math.max(Math.abs(long), Math.abs(short)) * price;
      netLong += long * price;
      netShort += short * price;
    }
    assert.deepEqual({ ...book.exposure() }, { gross, netLong, netShort });
    assert.equal(book.workingOrderIds().length, 150);
  });
});

const snapshot = (equity: number, ts: number): PortfolioSnapshot => ({
  schema: 'portfolio_snapshot.v1',
  id: `pf:${ts}`,
  ts_event: ts,
  ts_init: ts,
  account: 'a',
  positions: [],
  cash: equity,
  equity,
  gross_exposure: 0,
  net_exposure: 0,
});

describe('EquityTriggers', () => {
  it('a daily loss halts before a drawdown reduces; neither fires again once the state is there', () => {
    const equity = new EquityTriggers({ maxDailyLoss: 1_000, maxDrawdown: 0.05 });
    assert.equal(equity.trigger('active'), undefined, 'no snapshot yet');
    equity.onPortfolio(snapshot(100_000, DAY));
    equity.onPortfolio(snapshot(90_000, DAY + 1));
    assert.deepEqual(equity.trigger('active'), { type: 'DAILY_LOSS_BREACHED', value: 10_000, limit: 1_000 });
    assert.deepEqual(equity.trigger('reducing'), {
      type: 'DAILY_LOSS_BREACHED',
      value: 10_000,
      limit: 1_000,
    });
    assert.equal(equity.trigger('halted'), undefined);
    // The next day starts from yesterday's last equity: only the drawdown from the peak remains.
    equity.onPortfolio(snapshot(90_000, 2 * DAY));
    assert.equal(equity.dailyLoss, 0);
    assert.deepEqual(equity.trigger('active'), { type: 'DRAWDOWN_BREACHED', value: 0.1, limit: 0.05 });
    assert.equal(equity.trigger('reducing'), undefined);
  });

  it('without limits nothing fires', () => {
    const equity = new EquityTriggers({});
    equity.onPortfolio(snapshot(100_000, DAY));
    equity.onPortfolio(snapshot(1, DAY + 1));
    assert.equal(equity.trigger('active'), undefined);
  });
});

describe('pre-trade checks', () => {
  const T0 = Date.UTC(2024, 0, 2, 15, 0);
  function decide(overrides: Partial<RiskLimits>, state: TradingState, signal: Partial<Signal> = {}) {
    const core = new RiskGateCore({
      limits: riskLimits({
        instruments: instruments(['AAPL'], { minQuantity: 1, maxQuantity: 1_000, maxPosition: 1_000 }),
        minConfidence: 0.5,
        ...overrides,
      }),
      sizer: new FixedNotionalSizer(10_000),
      clock: new ReplayClock(T0),
      tradingState: state,
    });
    core.onTrade({
      schema: 'trade_tick.v1',
      id: 't',
      ts_event: T0,
      ts_init: T0,
      symbol: 'AAPL',
      price: 100,
      size: 1,
      aggressor: 'unknown',
    });
    core.onPortfolio(snapshot(1_000_000, T0));
    const { decision } = core.evaluate({
      schema: 'signal.v1',
      id: 's',
      ts_event: T0,
      ts_init: T0,
      strategy: 'p',
      symbol: 'AAPL',
      model_version: 'm',
      direction: 1,
      probability: 0.9,
      feature_id: 'f',
      ...signal,
    });
    return decision;
  }

  it('run in one order, every one recorded', () => {
    const decision = decide({}, 'active');
    assert.equal(decision.code, 'OK');
    assert.deepEqual(
      decision.checks.map((c) => c.check),
      [
        'DUPLICATE_SIGNAL',
        'TRADING_HALTED',
        'RESTRICTED',
        'INSTRUMENT_UNKNOWN',
        'OUTSIDE_TRADING_SESSION',
        'MIN_CONFIDENCE',
        'STALE_MARKET_DATA',
        'DAILY_LOSS',
        'DRAWDOWN',
        'REDUCE_ONLY',
        'QUANTITY_OUT_OF_RANGE',
        'PRICE_COLLAR',
        'MAX_NOTIONAL',
        'POSITION_LIMIT',
        'GROSS_EXPOSURE',
        'NET_EXPOSURE',
        'REPEATED_EXECUTION',
        'ORDER_RATE',
      ],
    );
  });

  const firstFailureDecides: [string, Partial<RiskLimits>, TradingState, Partial<Signal>, string][] = [
    ['halted before low confidence', {}, 'halted', { probability: 0.1 }, 'TRADING_HALTED'],
    [
      'low confidence before an unset daily loss',
      { maxDailyLoss: undefined },
      'active',
      { probability: 0.1 },
      'MIN_CONFIDENCE',
    ],
    [
      'an unset restricted list before an unknown instrument',
      { restricted: undefined },
      'active',
      { symbol: 'ZZZ' },
      'LIMIT_NOT_CONFIGURED',
    ],
    ['reduce-only before the notional', { maxOrderNotional: 1 }, 'reducing', {}, 'REDUCE_ONLY'],
    [
      'the position before the order rate',
      {
        orderRate: undefined,
        instruments: instruments(['AAPL'], { minQuantity: 1, maxQuantity: 1_000, maxPosition: 1 }),
      },
      'active',
      {},
      'POSITION_LIMIT',
    ],
  ];
  for (const [name, overrides, state, signal, code] of firstFailureDecides) {
    it(`the first failure decides: ${name}`, () => {
      const decision = decide(overrides, state, signal);
      assert.equal(decision.code, code, decision.reason);
      assert.ok(decision.checks.filter((c) => !c.passed).length >= 2, 'both checks failed');
    });
  }
});
