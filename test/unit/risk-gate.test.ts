import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startTrading } from '../../actors/pipeline.ts';
import {
  type DecisionCode,
  RiskGateCore,
  type RiskGateCoreOptions,
  type TradingState,
} from '../../actors/risk/core.ts';
import {
  instrumentLimitNames,
  limitNames,
  parseRiskLimits,
  type RiskLimits,
  unconfiguredLimits,
} from '../../actors/risk/limits.ts';
import { RiskGate } from '../../actors/risk/machine.ts';
import { FixedNotionalSizer, KellySizer, VolatilityTargetSizer } from '../../actors/risk/sizing.ts';
import { ReplayClock } from '../../core/clock.ts';
import { ConfigError } from '../../core/errors.ts';
import { GateKey, sealProblem } from '../../core/gate-seal.ts';
import { intentIdFor, orderIdFor } from '../../core/lineage-ids.ts';
import type { Fill, OrderEvent, OrderIntent, RiskDecision, Signal } from '../../schemas/messages.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { validateMessage } from '../../schemas/validate.ts';
import { InProcessBus } from '../../streams/in-process-bus.ts';
import { instruments, riskLimits, US_EQUITY_HOURS } from '../support/risk-limits.ts';
import { sampleBars, signalFor, tradingConfig } from './trading-fixture.ts';

const DAY = 86_400_000;
/** Tuesday 2024-01-02 15:00 UTC, inside the configured session. */
const T0 = Date.UTC(2024, 0, 2, 15, 0);

function limits(overrides: Partial<RiskLimits> = {}): RiskLimits {
  return riskLimits({
    instruments: instruments(['AAPL', 'MSFT', 'GME'], {
      minQuantity: 1,
      maxQuantity: 1000,
      maxPosition: 2000,
    }),
    maxOrderNotional: 50_000,
    priceCollarBps: 50,
    maxGrossExposure: 500_000,
    maxNetExposure: 300_000,
    orderRate: { maxOrders: 100, windowMs: 1000 },
    repeatedExecution: { maxOrders: 10, windowMs: 1000 },
    maxMarketDataAgeMs: 5000,
    minConfidence: 0.55,
    tradingSessions: US_EQUITY_HOURS,
    restricted: ['GME'],
    maxDailyLoss: 10_000,
    maxDrawdown: 0.1,
    ...overrides,
  });
}

/** A gate with prices of 100 (spread 99.99/100.01) for every instrument and 1M equity, all at T0. */
function gate(overrides: Partial<RiskLimits> = {}, state: TradingState = 'active'): RiskGateCore {
  const core = new RiskGateCore({
    limits: limits(overrides),
    sizer: new FixedNotionalSizer(10_000),
    clock: new ReplayClock(T0),
    tradingState: state,
  });
  for (const symbol of ['AAPL', 'MSFT', 'GME']) marketAt(core, symbol, T0);
  core.onPortfolio(portfolio(1_000_000, T0));
  return core;
}

function marketAt(core: RiskGateCore, symbol: string, ts: number, bid = 99.99, ask = 100.01): void {
  const header = { id: `${symbol}:${ts}`, ts_event: ts, ts_init: ts, symbol };
  core.onQuote({ schema: 'quote_tick.v1', ...header, bid, ask, bid_size: 500, ask_size: 500 });
  core.onTrade({ schema: 'trade_tick.v1', ...header, price: 100, size: 10, aggressor: 'buy' });
}

function portfolio(equity: number, ts: number) {
  return {
    schema: 'portfolio_snapshot.v1' as const,
    id: `pf:${ts}`,
    ts_event: ts,
    ts_init: ts,
    account: 'paper',
    positions: [],
    cash: equity,
    equity,
    gross_exposure: 0,
    net_exposure: 0,
  };
}

let signalSeq = 0;
function signal(overrides: Partial<Signal> = {}): Signal {
  signalSeq++;
  return {
    schema: 'signal.v1',
    id: `sig-${signalSeq}`,
    ts_event: T0 + 1000,
    ts_init: T0 + 1000,
    strategy: 'momo',
    symbol: 'AAPL',
    model_version: 'm1',
    direction: 1,
    probability: 0.7,
    feature_id: `feat-${signalSeq}`,
    ...overrides,
  };
}

interface Case {
  name: string;
  overrides?: Partial<RiskLimits>;
  state?: TradingState;
  arrange?: (core: RiskGateCore) => void;
  signal?: Partial<Signal>;
  expect: DecisionCode;
  quantity?: number;
}

const cases: Record<string, Case[]> = {
  DUPLICATE_SIGNAL: [
    { name: 'a new id passes', signal: { id: 'fresh' }, expect: 'OK' },
    {
      name: 'an id already decided is denied',
      arrange: (core) => core.evaluate(signal({ id: 'dup' })),
      signal: { id: 'dup' },
      expect: 'DUPLICATE_SIGNAL',
    },
  ],
  TRADING_HALTED: [{ name: 'halted denies', state: 'halted', expect: 'TRADING_HALTED' }],
  RESTRICTED: [
    { name: 'a listed symbol is denied', signal: { symbol: 'GME' }, expect: 'RESTRICTED' },
    {
      name: 'an empty list restricts nothing',
      overrides: { restricted: [] },
      signal: { symbol: 'GME' },
      expect: 'OK',
    },
  ],
  INSTRUMENT_UNKNOWN: [
    { name: 'an unlisted symbol is denied', signal: { symbol: 'ZZZ' }, expect: 'INSTRUMENT_UNKNOWN' },
  ],
  OUTSIDE_TRADING_SESSION: [
    {
      name: 'after the close',
      signal: { ts_event: Date.UTC(2024, 0, 2, 20, 0) },
      expect: 'OUTSIDE_TRADING_SESSION',
    },
    {
      name: 'on a Saturday',
      signal: { ts_event: Date.UTC(2024, 0, 6, 15, 0) },
      expect: 'OUTSIDE_TRADING_SESSION',
    },
    {
      name: 'at the open',
      arrange: (c) => marketAt(c, 'AAPL', Date.UTC(2024, 0, 2, 13, 30)),
      signal: { ts_event: Date.UTC(2024, 0, 2, 13, 30) },
      expect: 'OK',
    },
  ],
  MIN_CONFIDENCE: [
    { name: 'below the minimum', signal: { probability: 0.5 }, expect: 'MIN_CONFIDENCE' },
    { name: 'at the minimum', signal: { probability: 0.55 }, expect: 'OK' },
  ],
  STALE_MARKET_DATA: [
    { name: 'data older than the limit', signal: { ts_event: T0 + 5001 }, expect: 'STALE_MARKET_DATA' },
    { name: 'data at the limit', signal: { ts_event: T0 + 5000 }, expect: 'OK' },
    {
      name: 'no price at all',
      overrides: { instruments: { NEW: { minQuantity: 1, maxQuantity: 10, maxPosition: 10 } } },
      signal: { symbol: 'NEW' },
      expect: 'STALE_MARKET_DATA',
    },
  ],
  DAILY_LOSS: [
    { name: 'a loss below the limit', arrange: (c) => c.onPortfolio(portfolio(991_000, T0)), expect: 'OK' },
    {
      name: 'a loss at the limit',
      arrange: (c) => c.onPortfolio(portfolio(990_000, T0)),
      expect: 'DAILY_LOSS',
    },
    {
      name: 'yesterday’s loss does not count',
      arrange: (c) => {
        c.onPortfolio(portfolio(980_000, T0 + 1));
        c.onPortfolio(portfolio(980_000, T0 + DAY));
        marketAt(c, 'AAPL', T0 + DAY);
      },
      signal: { ts_event: T0 + DAY + 1000 },
      expect: 'OK',
    },
  ],
  DRAWDOWN: [
    {
      name: 'an increasing order in drawdown',
      overrides: { maxDailyLoss: 1_000_000 },
      arrange: (c) => c.onPortfolio(portfolio(895_000, T0 + 1)),
      expect: 'DRAWDOWN',
    },
    {
      name: 'a reducing order in drawdown',
      overrides: { maxDailyLoss: 1_000_000 },
      arrange: (c) => {
        c.reconcile([{ symbol: 'AAPL', quantity: 200 }]);
        c.onPortfolio(portfolio(895_000, T0 + 1));
      },
      signal: { direction: -1 },
      expect: 'OK',
    },
  ],
  REDUCE_ONLY: [
    { name: 'reducing denies an opening order', state: 'reducing', expect: 'REDUCE_ONLY' },
    {
      name: 'reducing clips a closing order to the position',
      state: 'reducing',
      arrange: (c) => c.reconcile([{ symbol: 'AAPL', quantity: 50 }]),
      signal: { direction: -1 },
      expect: 'OK',
      quantity: 50,
    },
  ],
  QUANTITY_OUT_OF_RANGE: [
    {
      name: 'above the maximum',
      overrides: { instruments: { AAPL: { minQuantity: 1, maxQuantity: 50, maxPosition: 2000 } } },
      expect: 'QUANTITY_OUT_OF_RANGE',
    },
    {
      name: 'below the minimum',
      overrides: { instruments: { AAPL: { minQuantity: 200, maxQuantity: 500, maxPosition: 2000 } } },
      expect: 'QUANTITY_OUT_OF_RANGE',
    },
    { name: 'no direction sizes to zero', signal: { direction: 0 }, expect: 'QUANTITY_OUT_OF_RANGE' },
    { name: 'in range', expect: 'OK', quantity: 100 },
  ],
  PRICE_COLLAR: [
    {
      name: 'the ask 100 bps away',
      arrange: (c) => marketAt(c, 'AAPL', T0, 99, 101),
      expect: 'PRICE_COLLAR',
    },
    { name: 'the ask 40 bps away', arrange: (c) => marketAt(c, 'AAPL', T0, 99.6, 100.4), expect: 'OK' },
  ],
  MAX_NOTIONAL: [
    { name: 'above the maximum', overrides: { maxOrderNotional: 5_000 }, expect: 'MAX_NOTIONAL' },
    { name: 'below the maximum', overrides: { maxOrderNotional: 10_100 }, expect: 'OK' },
  ],
  POSITION_LIMIT: [
    {
      name: 'past the limit',
      arrange: (c) => c.reconcile([{ symbol: 'AAPL', quantity: 1950 }]),
      expect: 'POSITION_LIMIT',
    },
    {
      name: 'up to the limit',
      arrange: (c) => c.reconcile([{ symbol: 'AAPL', quantity: 1900 }]),
      expect: 'OK',
    },
    {
      name: 'working orders count',
      arrange: (c) => {
        c.reconcile([{ symbol: 'AAPL', quantity: 1850 }]);
        assert.equal(c.evaluate(signal()).decision.code, 'OK');
      },
      expect: 'POSITION_LIMIT',
    },
    {
      name: 'a reducing order past the limit',
      arrange: (c) => c.reconcile([{ symbol: 'AAPL', quantity: 2500 }]),
      signal: { direction: -1 },
      expect: 'OK',
    },
  ],
  GROSS_EXPOSURE: [
    { name: 'above the limit', overrides: { maxGrossExposure: 5_000 }, expect: 'GROSS_EXPOSURE' },
    {
      name: 'a hedge still adds gross',
      overrides: { maxGrossExposure: 15_000 },
      arrange: (c) => c.reconcile([{ symbol: 'MSFT', quantity: 100 }]),
      signal: { direction: -1 },
      expect: 'GROSS_EXPOSURE',
    },
    {
      name: 'a reducing order above the limit',
      overrides: { maxGrossExposure: 5_000 },
      arrange: (c) => c.reconcile([{ symbol: 'AAPL', quantity: 100 }]),
      signal: { direction: -1 },
      expect: 'OK',
    },
  ],
  NET_EXPOSURE: [
    { name: 'above the limit', overrides: { maxNetExposure: 5_000 }, expect: 'NET_EXPOSURE' },
    {
      name: 'a hedge passes',
      overrides: { maxNetExposure: 15_000 },
      arrange: (c) => c.reconcile([{ symbol: 'MSFT', quantity: 100 }]),
      signal: { direction: -1 },
      expect: 'OK',
    },
    {
      name: 'the same direction does not',
      overrides: { maxNetExposure: 15_000 },
      arrange: (c) => c.reconcile([{ symbol: 'MSFT', quantity: 100 }]),
      expect: 'NET_EXPOSURE',
    },
  ],
  REPEATED_EXECUTION: [
    {
      name: 'a third buy within the window',
      overrides: { repeatedExecution: { maxOrders: 2, windowMs: 1000 } },
      arrange: (c) => twoPasses(c),
      signal: { ts_event: T0 + 1500 },
      expect: 'REPEATED_EXECUTION',
    },
    {
      name: 'the other side',
      overrides: { repeatedExecution: { maxOrders: 2, windowMs: 1000 } },
      arrange: (c) => twoPasses(c),
      signal: { ts_event: T0 + 1500, direction: -1 },
      expect: 'OK',
    },
    {
      name: 'once the window has moved on',
      overrides: { repeatedExecution: { maxOrders: 2, windowMs: 1000 } },
      arrange: (c) => twoPasses(c),
      signal: { ts_event: T0 + 2000 },
      expect: 'OK',
    },
  ],
  ORDER_RATE: [
    {
      name: 'a third order within the window, any symbol',
      overrides: { orderRate: { maxOrders: 2, windowMs: 1000 } },
      arrange: (c) => twoPasses(c),
      signal: { ts_event: T0 + 1999, symbol: 'MSFT' },
      expect: 'ORDER_RATE',
    },
    {
      name: 'after the window',
      overrides: { orderRate: { maxOrders: 2, windowMs: 1000 } },
      arrange: (c) => twoPasses(c),
      signal: { ts_event: T0 + 2000, symbol: 'MSFT' },
      expect: 'OK',
    },
  ],
};

function twoPasses(core: RiskGateCore): void {
  for (let i = 0; i < 2; i++)
    assert.equal(core.evaluate(signal({ ts_event: T0 + 1000 })).decision.code, 'OK');
}

describe('risk gate: one case set per check', () => {
  for (const [check, set] of Object.entries(cases)) {
    describe(check, () => {
      for (const c of set) {
        it(`${c.name} → ${c.expect}`, () => {
          const core = gate(c.overrides, c.state);
          c.arrange?.(core);
          const { decision, intent } = core.evaluate(signal(c.signal));
          assert.equal(decision.code, c.expect, decision.reason);
          assert.ok(validateMessage('risk_decision', decision).ok);
          const audited = decision.checks.find((r) => r.check === check);
          assert.ok(audited, `${check} is listed in checks[]`);
          if (c.expect === 'OK') {
            assert.equal(decision.outcome, 'pass');
            assert.ok(intent);
            assert.ok(validateMessage('order_intent', intent).ok);
            assert.equal(intent.id, intentIdFor(decision.signal_id));
            assert.equal(decision.intent_id, intent.id);
            assert.equal(intent.reduce_only, c.state === 'reducing');
            if (c.quantity !== undefined) assert.equal(intent.quantity, c.quantity);
            assert.ok(decision.checks.every((r) => r.passed));
          } else {
            assert.equal(decision.outcome, 'deny');
            assert.equal(intent, undefined);
            assert.equal(audited.passed, false);
          }
        });
      }
    });
  }
});

describe('risk gate: fail closed', () => {
  const missing = [
    ...limitNames.map((name) => ({ field: name, without: { [name]: undefined } as Partial<RiskLimits> })),
    ...instrumentLimitNames.map((name) => ({
      field: `instruments.AAPL.${name}`,
      without: { instruments: { AAPL: { ...limits().instruments?.AAPL, [name]: undefined } } },
    })),
  ];
  for (const { field, without } of missing) {
    it(`without ${field} every order is denied with LIMIT_NOT_CONFIGURED`, () => {
      const core = gate(without);
      assert.ok(unconfiguredLimits(limits(without)).includes(field));
      for (const s of [signal(), signal({ direction: -1 }), signal({ probability: 0.99 })]) {
        const { decision, intent } = core.evaluate(s);
        assert.equal(decision.code, 'LIMIT_NOT_CONFIGURED');
        assert.match(
          decision.reason,
          new RegExp(`risk limit ${field.replaceAll('.', '\\.')} is not configured`),
        );
        assert.equal(intent, undefined);
      }
    });
  }

  it('a new core denies until the machine activates it', () => {
    const core = new RiskGateCore({
      limits: limits(),
      sizer: new FixedNotionalSizer(1000),
      clock: new ReplayClock(),
    });
    marketAt(core, 'AAPL', T0);
    core.onPortfolio(portfolio(1_000_000, T0));
    assert.equal(core.evaluate(signal()).decision.code, 'TRADING_HALTED');
  });

  it('no portfolio snapshot yet denies', () => {
    const core = new RiskGateCore({
      limits: limits(),
      sizer: new FixedNotionalSizer(1000),
      clock: new ReplayClock(),
      tradingState: 'active',
    });
    marketAt(core, 'AAPL', T0);
    const { decision } = core.evaluate(signal());
    assert.equal(decision.code, 'DAILY_LOSS');
    assert.match(decision.reason, /no portfolio snapshot/);
  });
});

describe("risk gate: the venue's instrument rules", () => {
  /** Prices of 100 (spread 99.99/100.01); the sizer asks for 1234.5 / 100 = 12.345 AAPL. */
  function venueGate(options: Partial<RiskGateCoreOptions> = {}): RiskGateCore {
    const core = new RiskGateCore({
      limits: limits(),
      sizer: new FixedNotionalSizer(1234.5),
      clock: new ReplayClock(T0),
      tradingState: 'active',
      venueRules: { AAPL: { lotSize: 5, minNotional: 500, tickSize: 0.02 } },
      ...options,
    });
    for (const symbol of ['AAPL', 'MSFT']) marketAt(core, symbol, T0);
    core.onPortfolio(portfolio(1_000_000, T0));
    return core;
  }

  it('rounds the intent quantity down to whole lots and records the venue checks', () => {
    const { decision, intent } = venueGate().evaluate(signal());
    assert.equal(decision.code, 'OK', decision.reason);
    assert.equal(intent?.quantity, 10);
    assert.deepEqual(
      decision.checks.filter((c) => c.check.startsWith('BELOW_MIN')),
      [
        { check: 'BELOW_MIN_QUANTITY', passed: true, value: 10, limit: 5 },
        { check: 'BELOW_MIN_NOTIONAL', passed: true, value: 1000, limit: 500 },
      ],
    );
  });

  it('a symbol without rules is sized as before and records no venue check', () => {
    const { decision, intent } = venueGate().evaluate(signal({ symbol: 'MSFT' }));
    assert.equal(intent?.quantity, 12.345);
    assert.ok(!decision.checks.some((c) => c.check.startsWith('BELOW_MIN')));
  });

  it("below the venue's minimum notional the order is denied, naming it", () => {
    const core = venueGate({ venueRules: { AAPL: { lotSize: 1, minNotional: 2000 } } });
    const { decision, intent } = core.evaluate(signal());
    assert.equal(intent, undefined);
    assert.equal(decision.code, 'BELOW_MIN_NOTIONAL');
    assert.match(decision.reason, /AAPL notional 1200 is below the venue's minimum 2000/);
    assert.ok(validateMessage('risk_decision', decision).ok);
  });

  it('below one lot the order is denied as below the minimum quantity', () => {
    const { decision } = venueGate({ venueRules: { AAPL: { lotSize: 20 } } }).evaluate(signal());
    assert.equal(decision.code, 'BELOW_MIN_QUANTITY');
    assert.deepEqual(
      decision.checks.find((c) => c.check === 'BELOW_MIN_QUANTITY'),
      { check: 'BELOW_MIN_QUANTITY', passed: false, value: 0, limit: 20 },
    );
  });

  it('limit prices land on the tick, never more aggressive', () => {
    const core = venueGate({ orderType: 'limit', limitOffsetBps: 3 });
    const buy = core.evaluate(signal()).intent;
    const sell = core.evaluate(signal({ direction: -1, ts_event: T0 + 1500 })).intent;
    assert.equal(buy?.limit_price, 100.02); // 100.03 rounded down
    assert.equal(sell?.limit_price, 99.98); // 99.97 rounded up
  });
});

describe('risk gate: working orders and fills fed back', () => {
  const fill = (id: string, orderId: string, quantity: number): Fill => ({
    schema: 'fill.v1',
    id,
    ts_event: T0,
    ts_init: T0,
    order_id: orderId,
    symbol: 'AAPL',
    side: 'buy',
    quantity,
    price: 100,
    fee: 0,
    liquidity: 'taker',
  });
  const ended = (
    orderId: string,
    intentId: string,
    status: OrderEvent['status'],
    filled: number,
  ): OrderEvent => ({
    schema: 'order_event.v1',
    id: `${orderId}:${status}`,
    ts_event: T0,
    ts_init: T0,
    order_id: orderId,
    intent_id: intentId,
    symbol: 'AAPL',
    status,
    filled_quantity: filled,
    leaves_quantity: 0,
  });

  it('fills move quantity from working to position; duplicates are ignored', () => {
    const core = gate();
    const { intent } = core.evaluate(signal());
    assert.ok(intent);
    assert.deepEqual(core.workingOrderIds(), [orderIdFor(intent.id)]);
    core.onFill(fill('f1', orderIdFor(intent.id), 40));
    core.onFill(fill('f1', orderIdFor(intent.id), 40));
    assert.equal(core.position('AAPL'), 40);
    assert.equal(core.exposure().gross, 100 * 100);
    core.onFill(fill('f2', orderIdFor(intent.id), 60));
    assert.equal(core.position('AAPL'), 100);
    assert.deepEqual(core.workingOrderIds(), []);
  });

  it('a cancel releases the unfilled rest, but fills still in flight keep counting', () => {
    const core = gate();
    const { intent } = core.evaluate(signal());
    assert.ok(intent);
    core.onOrderEvent(ended(orderIdFor(intent.id), intent.id, 'canceled', 30));
    assert.equal(core.exposure().gross, 30 * 100, '30 filled at the venue, fill not yet seen');
    core.onFill(fill('f1', orderIdFor(intent.id), 30));
    assert.equal(core.exposure().gross, 30 * 100);
    assert.deepEqual(core.workingOrderIds(), []);
  });
});

describe('risk gate: trading state machine', () => {
  function machineGate(startState: TradingState, overrides: Partial<RiskLimits> = {}) {
    const core = gate(overrides, 'halted');
    return new RiskGate(core, { startState });
  }

  it('starts reducing until positions are reconciled, and refuses RESUME before that', () => {
    const g = machineGate('reducing');
    assert.equal(g.state, 'reducing');
    assert.equal(g.evaluate(signal()).decision.code, 'REDUCE_ONLY');
    const refused = g.command({ type: 'RESUME', operator: 'alice' });
    assert.equal(refused.ok, false);
    assert.match(refused.error ?? '', /not reconciled/);
    const { transition } = g.reconciled();
    assert.deepEqual(transition, { from: 'reducing', to: 'active', cause: 'RECONCILED' });
    assert.equal(g.evaluate(signal()).decision.code, 'OK');
  });

  it('a start-up halt stays halted on RESUME until reconciled; an operator halt survives RECONCILED', () => {
    const g = machineGate('halted');
    assert.equal(g.command({ type: 'RESUME', operator: 'alice' }).ok, false);
    g.reconciled();
    assert.equal(g.state, 'active');
    g.command({ type: 'HALT', operator: 'alice' });
    g.reconciled();
    assert.equal(g.state, 'halted');
  });

  it('an operator halt stops the next signal and cancels every working order; resume restores trading', () => {
    const g = machineGate('active');
    const first = g.evaluate(signal());
    const second = g.evaluate(signal({ symbol: 'MSFT' }));
    const reply = g.command({ type: 'HALT', operator: 'alice', reason: 'fat finger' });
    assert.equal(reply.ok, true);
    assert.equal(reply.state, 'halted');
    assert.deepEqual(reply.cancels, [
      orderIdFor(first.intent?.id ?? ''),
      orderIdFor(second.intent?.id ?? ''),
    ]);
    assert.deepEqual(reply.transition, { from: 'active', to: 'halted', cause: 'HALT by alice: fat finger' });
    assert.equal(g.evaluate(signal()).decision.code, 'TRADING_HALTED');
    assert.equal(g.command({ type: 'HALT', operator: 'bob' }).ok, false);
    assert.equal(g.command({ type: 'RESUME', operator: 'alice' }).state, 'active');
    assert.equal(g.evaluate(signal({ symbol: 'MSFT', ts_event: T0 + 1001 })).decision.code, 'OK');
  });

  it('REDUCE lets only reducing orders through', () => {
    const g = machineGate('active');
    g.core.reconcile([{ symbol: 'AAPL', quantity: 30 }]);
    g.command({ type: 'REDUCE', operator: 'alice' });
    assert.equal(g.evaluate(signal()).decision.code, 'REDUCE_ONLY');
    const { intent } = g.evaluate(signal({ direction: -1 }));
    assert.equal(intent?.quantity, 30);
    assert.equal(intent?.reduce_only, true);
  });

  it('a daily loss halts automatically, from a portfolio update or a signal, and cancels working orders', () => {
    const g = machineGate('active');
    const { intent } = g.evaluate(signal());
    const effects = g.onPortfolio(portfolio(989_000, T0 + 2));
    assert.equal(g.state, 'halted');
    assert.deepEqual(effects.cancels, [orderIdFor(intent?.id ?? '')]);
    assert.match(effects.transition?.cause ?? '', /^DAILY_LOSS_BREACHED 11000 >= 10000/);
  });

  it('a drawdown switches to reducing', () => {
    const g = machineGate('active', { maxDailyLoss: 1_000_000 });
    g.onPortfolio(portfolio(890_000, T0 + 2));
    assert.equal(g.state, 'reducing');
    const { decision } = g.evaluate(signal());
    assert.equal(decision.code, 'DRAWDOWN');
    assert.equal(decision.checks.find((c) => c.check === 'REDUCE_ONLY')?.passed, false);
  });

  it('a venue reconciling or mismatching halts (cancelling working orders) until reconciled, then trading resumes as it was', () => {
    const g = machineGate('active');
    const { intent } = g.evaluate(signal());
    const held = g.unreconciled();
    assert.deepEqual(held.transition, { from: 'active', to: 'halted', cause: 'UNRECONCILED' });
    assert.deepEqual(held.cancels, [orderIdFor(intent?.id ?? '')]);
    assert.equal(
      g.command({ type: 'RESUME', operator: 'alice' }).ok,
      false,
      'not before the venue reconciles',
    );
    assert.equal(g.unreconciled().transition, undefined, 'a mismatch keeps it halted');
    assert.deepEqual(g.reconciled().transition, { from: 'halted', to: 'active', cause: 'RECONCILED' });

    // A drawdown's reducing comes back as it was, with its hold.
    const reducing = machineGate('active', { maxDailyLoss: 1_000_000 });
    reducing.onPortfolio(portfolio(890_000, T0 + 2));
    assert.equal(reducing.state, 'reducing');
    reducing.unreconciled();
    assert.equal(reducing.state, 'halted');
    reducing.reconciled();
    assert.equal(reducing.state, 'reducing');
    assert.equal(reducing.evaluate(signal()).decision.code, 'DRAWDOWN');

    // Held at start-up, it stays held where it is; an operator's halt outlives a reconciliation.
    const starting = machineGate('reducing');
    starting.unreconciled();
    assert.equal(starting.state, 'reducing');
    starting.reconciled();
    assert.equal(starting.state, 'active');
    starting.command({ type: 'HALT', operator: 'alice' });
    starting.unreconciled();
    starting.reconciled();
    assert.equal(starting.state, 'halted');
  });

  it('signals never change the trading state', () => {
    const g = machineGate('reducing');
    for (let i = 0; i < 20; i++)
      g.evaluate(signal({ direction: i % 2 ? 1 : -1, probability: (i % 10) / 10 }));
    assert.equal(g.state, 'reducing');
  });
});

describe('risk limits parser', () => {
  it('parses a full config and lists nothing as unconfigured', () => {
    const parsed = parseRiskLimits({
      instruments: { AAPL: { minQuantity: 1, maxQuantity: 100, maxPosition: 500 } },
      maxOrderNotional: 1,
      priceCollarBps: 1,
      maxGrossExposure: 1,
      maxNetExposure: 1,
      orderRate: { maxOrders: 5, windowMs: 1000 },
      repeatedExecution: { maxOrders: 2, windowMs: 1000 },
      maxMarketDataAgeMs: 1,
      minConfidence: 0.5,
      tradingSessions: [{ days: [1, 2, 3, 4, 5], open: '13:30', close: '20:00' }],
      restricted: [],
      maxDailyLoss: 1,
      maxDrawdown: 0.1,
    });
    assert.deepEqual(unconfiguredLimits(parsed), []);
    assert.deepEqual(parsed.tradingSessions, [{ days: [1, 2, 3, 4, 5], openMinute: 810, closeMinute: 1200 }]);
  });

  const bad: [unknown, string][] = [
    [{ maxOrderNotional: -1 }, 'risk.limits.maxOrderNotional'],
    [{ maxOrderNotional: '5' }, 'risk.limits.maxOrderNotional'],
    [{ maxDrawdown: 1.5 }, 'risk.limits.maxDrawdown'],
    [{ orderRate: { maxOrders: 1.5, windowMs: 10 } }, 'risk.limits.orderRate.maxOrders'],
    [
      { tradingSessions: [{ days: [1], open: '20:00', close: '13:00' }] },
      'risk.limits.tradingSessions[0].close',
    ],
    [
      { tradingSessions: [{ days: [7], open: '10:00', close: '13:00' }] },
      'risk.limits.tradingSessions[0].days',
    ],
    [{ instruments: { X: { minQuantity: 10, maxQuantity: 1 } } }, 'risk.limits.instruments.X.minQuantity'],
    [{ maxOrderNotionl: 5 }, 'risk.limits.maxOrderNotionl'],
  ];
  for (const [raw, field] of bad) {
    it(`rejects ${JSON.stringify(raw)} naming ${field}`, () => {
      assert.throws(
        () => parseRiskLimits(raw),
        (e: unknown) => e instanceof ConfigError && e.field === field,
      );
    });
  }
});

describe('sizing', () => {
  const input = { signal: signal({ probability: 0.6 }), price: 100, equity: 1_000_000, volatility: 0.2 };

  it('fixed notional', () => assert.equal(new FixedNotionalSizer(10_000).size(input), 100));

  it('volatility targeting, capped by leverage, zero without a volatility', () => {
    assert.equal(new VolatilityTargetSizer(0.1, 1).size(input), 5000);
    assert.equal(new VolatilityTargetSizer(0.1, 0.2).size(input), 2000);
    assert.equal(new VolatilityTargetSizer(0.1, 1).size({ ...input, volatility: Number.NaN }), 0);
  });

  it('fractional Kelly with a cap', () => {
    // p = 0.6, b = 1: f* = 0.2; half Kelly 0.1 → 1000 units; capped at 5 % → 500.
    assert.ok(Math.abs(new KellySizer(0.5, 1).size(input) - 1000) < 1e-9);
    assert.equal(new KellySizer(0.5, 0.05).size(input), 500);
    assert.equal(new KellySizer(0.5, 1).size({ ...input, signal: signal({ probability: 0.4 }) }), 0);
  });
});

describe('risk gate actor: sealed intents', () => {
  it('seals every intent it passes, naming its pass decision and the gate term', async () => {
    const intents: OrderIntent[] = [];
    const decisions: RiskDecision[] = [];
    const bus = new InProcessBus(new Subjects(4), {
      onPublish: (_subject, name, event) => {
        if (name === 'order_intent') intents.push(event as OrderIntent);
        if (name === 'risk_decision') decisions.push(event as RiskDecision);
      },
    });
    const config = tradingConfig();
    const trading = await startTrading(config, { bus, gateTerm: 3 });
    for (const bar of await sampleBars(10)) {
      await bus.publish('bar', bus.subjects.bar(bar.symbol), bar);
      await bus.publish('signal', bus.subjects.signal('momentum', bar.symbol), signalFor(bar));
    }
    await trading.stop();
    assert.ok(intents.length > 3, `intents: ${intents.length}`);
    for (const intent of intents) {
      const decision = decisions.find((d) => d.id === intent.decision_id);
      assert.equal(decision?.outcome, 'pass');
      assert.equal(decision?.intent_id, intent.id);
      assert.equal(intent.gate_term, 3);
      assert.equal(sealProblem(intent, config.gateKey), undefined);
      assert.match(sealProblem(intent, GateKey.forRun('another run')) ?? '', /does not match/);
    }
    assert.equal(trading.status().execution.unauthorised, 0);
    assert.equal(trading.status().execution.submitted, intents.length);
  });
});
