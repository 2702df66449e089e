// The risk gate's snapshot (risk_state.v2) beyond v1's positions. The equity triggers' peak and day
// start: restored, the limits measure as before the restart. The barrier exits: what BarrierExits
// saves goes through the contract and JSON and, restored into a fresh one, goes on exactly as the
// uninterrupted one (the same barriers on every later bar, the same time exits, the same state); an
// entry leaves the snapshot when its position closes; hostile state is refused with the reason and the
// gate starts halted.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startTrading } from '../../actors/pipeline.ts';
import { BarrierExits } from '../../actors/risk/barrier-exits.ts';
import { RiskGateCore } from '../../actors/risk/core.ts';
import { EquityTriggers } from '../../actors/risk/equity-triggers.ts';
import { FixedNotionalSizer } from '../../actors/risk/sizing.ts';
import { ReplayClock } from '../../core/clock.ts';
import { bracketChildIdFor, orderIdFor } from '../../core/lineage-ids.ts';
import type {
  Alert,
  Bar,
  Fill,
  OrderEvent,
  OrderIntent,
  PortfolioSnapshot,
  Signal,
  TradeTick,
} from '../../schemas/messages.ts';
import { type RiskState, snapshotContracts, type WorkingOrdersState } from '../../schemas/snapshots.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { InProcessBus } from '../../streams/in-process-bus.ts';
import { loadSnapshot, type SnapshotStore, saveSnapshot } from '../../streams/snapshot-store.ts';
import { instruments, riskLimits } from '../support/risk-limits.ts';
import { sampleBars, tradingConfig } from './trading-fixture.ts';

const LABELS = { profitTake: 2, stopLoss: 1, verticalBars: 5, volatilityWindow: 10 };
const WIDE = { profitTake: 3, stopLoss: 2, verticalBars: 8, volatilityWindow: 15 };
const bars = await sampleBars(60);

class MemoryStore implements SnapshotStore {
  readonly texts = new Map<string, string>();
  async get(key: string): Promise<string | undefined> {
    return this.texts.get(key);
  }
  async put(key: string, text: string): Promise<void> {
    this.texts.set(key, text);
  }
}

function exits(): BarrierExits {
  const barriers = new BarrierExits({ barInterval: '1d' });
  barriers.setModel('m1', { labels: LABELS });
  barriers.setModel('m2', { labels: WIDE });
  return barriers;
}

function fill(orderId: string, bar: Bar, quantity: number, side: Fill['side']): Fill {
  return {
    schema: 'fill.v1',
    id: `${orderId}:fill:${bar.ts_event}`,
    ts_event: bar.ts_event,
    ts_init: bar.ts_event,
    order_id: orderId,
    symbol: bar.symbol,
    side,
    quantity,
    price: bar.open,
    fee: 0,
    liquidity: 'taker',
  };
}

/** Feeds `bar`; an entry on every 7th bar that has a bracket, filled on the symbol's next bar. */
function step(barriers: BarrierExits, bar: Bar, i: number, filling: Map<string, string>) {
  barriers.onBar(bar);
  const pending = filling.get(bar.symbol);
  if (pending !== undefined) {
    barriers.onFill(fill(pending, bar, 10, 'buy'));
    filling.delete(bar.symbol);
  }
  const due = barriers.due(bar.symbol, bar.ts_event)?.map((entry) => entry.orderId);
  const model = i % 2 === 0 ? 'm1' : 'm2';
  const exit = barriers.exitsFor(model, bar.symbol, 'buy', bar.ts_event, 0.01);
  if (i % 7 === 0 && exit.bracket !== undefined) {
    const orderId = `order:${bar.id}`;
    barriers.track({
      orderId,
      symbol: bar.symbol,
      side: 'buy',
      signalId: `sig:${bar.id}`,
      strategy: 'momentum',
      exitAfter: exit.exitAfter,
    });
    filling.set(bar.symbol, orderId);
  }
  return { due, exit };
}

async function throughContract(value: RiskState): Promise<RiskState> {
  const store = new MemoryStore();
  await saveSnapshot(store, 'risk.paper', snapshotContracts.risk, { value, sequence: 9 });
  const loaded = await loadSnapshot(store, 'risk.paper', snapshotContracts.risk);
  assert.ok(loaded.ok && loaded.snapshot, loaded.ok ? 'nothing saved' : loaded.reason);
  return loaded.snapshot.value;
}

describe('the equity triggers in the risk snapshot', () => {
  const snapshot = (ts: number, equity: number): PortfolioSnapshot => ({
    schema: 'portfolio_snapshot.v1',
    id: `pf:${ts}`,
    ts_event: ts,
    ts_init: ts,
    account: 'paper',
    positions: [],
    cash: equity,
    equity,
    gross_exposure: 0,
    net_exposure: 0,
  });
  const DAY = 86_400_000;
  const limits = { maxDailyLoss: 5_000, maxDrawdown: 0.1 };

  it('restored, measures the drawdown from the same peak and the daily loss from the same day start', async () => {
    const before = new EquityTriggers(limits);
    assert.equal(before.state(), undefined, 'nothing before the first snapshot');
    for (const [ts, equity] of [
      [DAY, 100_000],
      [DAY + 1, 110_000],
      [2 * DAY, 104_000],
      [2 * DAY + 5, 103_000],
    ] as const)
      before.onPortfolio(snapshot(ts, equity));
    const saved = before.state()!;
    const restored = new EquityTriggers(limits);
    restored.restore((await throughContract({ positions: [], equity: saved })).equity!);
    for (const triggers of [before, restored]) triggers.onPortfolio(snapshot(2 * DAY + 9, 98_000));
    assert.equal(restored.drawdown, before.drawdown);
    assert.equal(restored.dailyLoss, before.dailyLoss);
    assert.equal(restored.dailyLoss, 110_000 - 98_000, "from the previous day's last equity");
    assert.deepEqual(restored.trigger('active'), before.trigger('active'));
    assert.equal(before.trigger('active')?.type, 'DAILY_LOSS_BREACHED');
  });

  it('refuses a peak below the equity', async () => {
    const store = new MemoryStore();
    const equity = { equity: 100_000, peak: 90_000, dayStart: 100_000, day: 3 };
    store.texts.set(
      'risk.paper',
      JSON.stringify({ schema: 'risk_state.v2', value: { positions: [], equity }, sequence: 1 }),
    );
    const loaded = await loadSnapshot(store, 'risk.paper', snapshotContracts.risk);
    assert.match(loaded.ok ? 'accepted' : loaded.reason, /risk_state\.v2: \/equity\/peak: below the equity/);
  });
});

describe('barrier exits in the risk snapshot', () => {
  it('restored from a snapshot, goes on exactly as the uninterrupted state: barriers, time exits, state', async () => {
    const restartAt = 70;
    const uninterrupted = exits();
    const before = exits();
    const [fillsA, fillsB] = [new Map<string, string>(), new Map<string, string>()];
    const expected: unknown[] = [];
    for (const [i, bar] of bars.entries()) {
      expected.push(step(uninterrupted, bar, i, fillsA));
      if (i < restartAt) step(before, bar, i, fillsB);
    }
    const saved = before.save();
    assert.ok(saved.entries.length > 0, 'the snapshot holds open entries');
    assert.deepEqual(saved.windows, [10, 15]);

    const restored = exits();
    assert.equal(
      restored.restore((await throughContract({ positions: [], barrierExits: saved })).barrierExits!),
      undefined,
    );
    assert.deepEqual(restored.save(), saved, 'the restored state saves as it was saved');
    const actual = expected.slice(0, restartAt);
    for (const [i, bar] of bars.entries()) if (i >= restartAt) actual.push(step(restored, bar, i, fillsB));
    assert.deepEqual(actual, expected);
    assert.ok(
      expected.slice(restartAt).some((s) => (s as { due?: string[] }).due?.length),
      'time exits fell due after the restart',
    );
    assert.deepEqual(restored.save(), uninterrupted.save());
  });

  it('keeps an entry until its position closes, and warms again the volatility of another bar interval', async () => {
    const barriers = exits();
    const aapl = bars.filter((bar) => bar.symbol === 'AAPL');
    for (const bar of aapl.slice(0, 20)) barriers.onBar(bar);
    const t = aapl[19]!;
    const exit = barriers.exitsFor('m1', 'AAPL', 'buy', t.ts_event, undefined);
    assert.ok(exit.bracket !== undefined);
    barriers.track({
      orderId: 'e1',
      symbol: 'AAPL',
      side: 'buy',
      signalId: 's1',
      strategy: 'momentum',
      exitAfter: exit.exitAfter,
    });
    barriers.onFill(fill('e1', aapl[20]!, 10, 'buy'));
    barriers.onOrderEvent({
      schema: 'order_event.v1',
      id: 'e1:event',
      ts_event: aapl[20]!.ts_event,
      ts_init: aapl[20]!.ts_event,
      order_id: 'e1',
      intent_id: 'i1',
      symbol: 'AAPL',
      status: 'filled',
      filled_quantity: 10,
      leaves_quantity: 0,
    });
    assert.deepEqual(
      barriers.save().entries.map((e) => [e.orderId, e.filled, e.entryDone]),
      [['e1', 10, true]],
    );
    const revision = barriers.revision;
    barriers.onFill(fill(bracketChildIdFor('e1', 'stop_loss'), aapl[21]!, 10, 'sell'));
    assert.ok(barriers.revision > revision, 'a change to save');
    assert.deepEqual(barriers.save().entries, [], 'closed: out of the snapshot');

    const hourly = new BarrierExits({ barInterval: '1h' });
    hourly.setModel('m1', { labels: LABELS });
    assert.match(
      hourly.restore({ ...barriers.save(), entries: [] }) ?? '',
      /volatility is of 1d bars, not 1h: it warms again/,
    );
    assert.deepEqual(hourly.save().volatility, []);
  });

  it('refuses hostile barrier state with the reason, and the gate starts halted', async () => {
    const barriers = exits();
    const filling = new Map<string, string>();
    for (const [i, bar] of bars.slice(0, 50).entries()) step(barriers, bar, i, filling);
    const valid = barriers.save();
    assert.ok(valid.entries.length > 0 && valid.volatility.length > 0);
    const [firstSymbol] = valid.volatility;
    const estimator = firstSymbol!.byWindow[0]!.estimator;
    const withSymbol = (symbol: Partial<typeof firstSymbol>) => ({
      ...valid,
      volatility: [{ ...firstSymbol!, ...symbol }],
    });
    const withEstimator = (changes: Partial<typeof estimator>) =>
      withSymbol({ byWindow: [{ estimator: { ...estimator, ...changes } }] });
    const entry = valid.entries[0]!;
    const hostile: [unknown, RegExp][] = [
      [withEstimator({ returns: estimator.returns.slice(1) }), /returns: 9 returns for a window of 10/],
      [
        withEstimator({ window: 12, returns: [...estimator.returns, 0, 0] }),
        /window: 12 is not one of the windows/,
      ],
      [withEstimator({ window: 1_000_000 }), /window/],
      [withEstimator({ seen: -1 }), /seen/],
      [withEstimator({ sumSq: -0.5 }), /sumSq/],
      [withSymbol({ previousClose: undefined }), /previousBarTs and previousClose go together/],
      [withSymbol({ previousBarTs: firstSymbol!.lastBarTs }), /previousBarTs: not before lastBarTs/],
      [{ ...valid, volatility: [firstSymbol, firstSymbol] }, /symbol: \w+ twice/],
      [{ ...valid, windows: [10, 10] }, /a window length twice/],
      [{ ...valid, entries: [entry, entry] }, /order id .* twice/],
      [{ ...valid, entries: [{ ...entry, filled: -1 }] }, /entries\/0\/filled/],
      [{ ...valid, entries: [{ ...entry, side: 'hold' }] }, /entries\/0\/side/],
      [{ ...valid, entries: [{ ...entry, exitAfter: '2030-01-01' }] }, /entries\/0\/exitAfter/],
      [{ ...valid, entries: [{ ...entry, children: [entry.children[0]] }] }, /entries\/0\/children/],
      [{ ...valid, entries: [{ ...entry, admin: true }] }, /entries\/0/],
    ];
    for (const [barrierExits, reason] of hostile) {
      const store = new MemoryStore();
      store.texts.set(
        'risk.paper',
        JSON.stringify({ schema: 'risk_state.v2', value: { positions: [], barrierExits }, sequence: 3 }),
      );
      const loaded = await loadSnapshot(store, 'risk.paper', snapshotContracts.risk);
      assert.equal(loaded.ok, false, `accepted ${reason}`);
      assert.match(loaded.ok ? '' : loaded.reason, /^snapshot risk\.paper: risk_state\.v2: /);
      assert.match(loaded.ok ? '' : loaded.reason, reason);
    }

    // The portfolio holds what the snapshot held: a refused one's unknown positions never agree with it.
    const startWith = async (barrierExits: unknown) => {
      const store = new MemoryStore();
      await saveSnapshot(store, 'portfolio.paper', snapshotContracts.portfolio, {
        value: {
          account: 'paper',
          cash: 990_000,
          lastEventTs: 1_700_000_000_000,
          lastFillId: 'fill-1',
          recentFillIds: ['fill-1'],
          positions: [{ symbol: 'AAPL', quantity: 10, avg_price: 1_000, realized_pnl: 0, last_price: 1_000 }],
        },
        sequence: 3,
      });
      const value = { positions: [{ symbol: 'AAPL', quantity: 10 }], lastFillId: 'fill-1', barrierExits };
      store.texts.set('risk.paper', JSON.stringify({ schema: 'risk_state.v2', value, sequence: 3 }));
      const alerts: Alert[] = [];
      const bus = new InProcessBus(new Subjects(4), {
        onPublish: (_subject, name, event) => {
          if (name === 'alert') alerts.push(event as Alert);
        },
      });
      const trading = await startTrading(tradingConfig({ startState: 'reducing' }), { bus, store });
      const status = trading.status().risk;
      await trading.stop();
      return { state: status.state, refusal: alerts.find((a) => a.code === 'RISK_SNAPSHOT_REFUSED') };
    };
    // The control: valid barrier state is taken, and the gate reconciles.
    assert.deepEqual(await startWith(valid), { state: 'active', refusal: undefined });
    const refused = await startWith(hostile[0]![0]);
    assert.equal(refused.state, 'halted', 'halted, not the configured reducing');
    assert.match(refused.refusal?.message ?? '', /returns: 9 returns for a window of 10/);
  });
});

describe('working orders in the risk snapshot', () => {
  const T0 = Date.UTC(2024, 0, 2, 15, 0);
  const SYMBOLS = ['AAPL', 'MSFT'] as const;
  const newGate = () => {
    const core = new RiskGateCore({
      // Exposure binds: with the orders still working counted, about five orders of 10k notional.
      limits: riskLimits({
        instruments: instruments(SYMBOLS, { minQuantity: 1, maxQuantity: 1_000, maxPosition: 100_000 }),
        maxGrossExposure: 52_000,
        maxNetExposure: 41_000,
      }),
      sizer: new FixedNotionalSizer(10_000),
      clock: new ReplayClock(T0),
      tradingState: 'active',
    });
    core.onPortfolio({
      schema: 'portfolio_snapshot.v1',
      id: 'pf:0',
      ts_event: T0,
      ts_init: T0,
      account: 'paper',
      positions: [],
      cash: 1_000_000,
      equity: 1_000_000,
      gross_exposure: 0,
      net_exposure: 0,
    });
    return core;
  };
  /** Fractional prices, so quantities (10k / price) and the book's running totals carry float rounding. */
  const trade = (symbol: string, i: number): TradeTick => ({
    schema: 'trade_tick.v1',
    id: `${symbol}:${i}`,
    ts_event: T0 + i * 1_000,
    ts_init: T0 + i * 1_000,
    symbol,
    price: 100 + ((i * 7) % 11) * 0.37,
    size: 10,
    aggressor: 'buy',
  });
  const orderEvent = (intent: OrderIntent, ts: number, filled: number): OrderEvent => ({
    schema: 'order_event.v1',
    id: `${intent.id}:canceled`,
    ts_event: ts,
    ts_init: ts,
    order_id: orderIdFor(intent.id),
    intent_id: intent.id,
    symbol: intent.symbol,
    status: 'canceled',
    filled_quantity: filled,
    leaves_quantity: 0,
  });
  const partialFill = (intent: OrderIntent, ts: number, quantity: number): Fill => ({
    schema: 'fill.v1',
    id: `${intent.id}:fill:${ts}`,
    ts_event: ts,
    ts_init: ts,
    order_id: orderIdFor(intent.id),
    symbol: intent.symbol,
    side: intent.side,
    quantity,
    price: 100,
    fee: 0,
    liquidity: 'taker',
  });

  /**
   * One step of the stream on every gate alike: the symbol's trade, a signal, and the oldest working
   * order of the uninterrupted gate (the first) partly filled, then cancelled a step later with fills
   * still to come, then those filled. Returns what each gate decided and its exposure after.
   */
  function step(gates: RiskGateCore[], i: number, working: OrderIntent[], ended: OrderIntent[]) {
    const symbol = SYMBOLS[i % 2]!;
    const ts = T0 + i * 1_000;
    const inputs: ((core: RiskGateCore) => unknown)[] = [(core) => core.onTrade(trade(symbol, i))];
    const oldest = working[0];
    if (oldest !== undefined && i % 3 === 0) {
      working.shift();
      const third = oldest.quantity / 3;
      inputs.push((core) => core.onFill(partialFill(oldest, ts, third)));
      // Cancelled with two thirds filled at the venue, the second third still on its way.
      inputs.push((core) => core.onOrderEvent(orderEvent(oldest, ts, 2 * third)));
      ended.push(oldest);
    } else if (ended.length > 0 && i % 3 === 1) {
      const late = ended.shift()!;
      inputs.push((core) => core.onFill(partialFill(late, ts + 1, late.quantity / 3)));
    }
    const signal: Signal = {
      schema: 'signal.v1',
      id: `sig-${i}`,
      ts_event: ts,
      ts_init: ts,
      strategy: 'momo',
      symbol,
      model_version: 'm1',
      direction: i % 5 === 4 ? -1 : 1,
      probability: 0.7,
      feature_id: `feat-${i}`,
    };
    const outcomes = gates.map((core) => {
      for (const input of inputs) input(core);
      const { decision, intent } = core.evaluate(signal);
      return { decision: { ...decision, ts_init: 0 }, intent, exposure: core.exposure() };
    });
    if (outcomes[0]!.intent) working.push(outcomes[0]!.intent);
    return outcomes;
  }

  /** A gate restored as the actor does: latest prices, positions, equity, then the working orders. */
  async function restored(from: RiskGateCore, i: number, withWorking = true): Promise<RiskGateCore> {
    const value = await throughContract({
      positions: SYMBOLS.map((symbol) => ({ symbol, quantity: from.position(symbol) })),
      equity: from.equity.state()!,
      workingOrders: from.saveWorking(),
    });
    const core = newGate();
    for (const symbol of SYMBOLS) core.onTrade(trade(symbol, i - (symbol === SYMBOLS[i % 2] ? 0 : 1)));
    core.reconcile(value.positions);
    core.equity.restore(value.equity!);
    if (withWorking) core.restoreWorking(value.workingOrders!);
    return core;
  }

  it('restored mid-stream, decides and counts exposure as the uninterrupted gate, redeliveries applied once', async () => {
    const uninterrupted = newGate();
    const working: OrderIntent[] = [];
    const ended: OrderIntent[] = [];
    let last = step([uninterrupted], 0, working, ended);
    for (let i = 1; i <= 39; i++) last = step([uninterrupted], i, working, ended);
    assert.ok(working.length >= 2 && ended.length >= 1, 'orders working and ended ones awaiting fills');
    const saved = uninterrupted.saveWorking();
    assert.ok(
      saved.orders.some((o) => o.filled > 0 && o.quantity < 1e4),
      'an ended order with fills in flight',
    );

    const gate = await restored(uninterrupted, 39);
    assert.deepEqual(gate.exposure(), uninterrupted.exposure());
    assert.deepEqual(gate.saveWorking(), saved);
    assert.deepEqual(gate.workingOrderIds(), uninterrupted.workingOrderIds());
    const without = await restored(uninterrupted, 39, false);
    assert.notDeepEqual(without.exposure(), uninterrupted.exposure(), 'the control: working orders count');

    // Redelivered after the restore (the snapshot is saved before the ack): the last signal, whose
    // order is working, is a duplicate; the last cancel changes nothing.
    const lastIntent = last[0]!.intent;
    assert.ok(lastIntent, 'the last signal passed');
    const again = [uninterrupted, gate].map((core) => {
      core.onOrderEvent(orderEvent(ended.at(-1)!, T0 + 39_000, (2 * ended.at(-1)!.quantity) / 3));
      const { decision } = core.evaluate({ ...signalOf(lastIntent), ts_event: T0 + 39_000 });
      return { code: decision.code, exposure: core.exposure() };
    });
    assert.equal(again[0]!.code, 'DUPLICATE_SIGNAL');
    assert.deepEqual(again[1], again[0]);

    const codes = new Set<string>();
    for (let i = 40; i <= 100; i++) {
      const [expected, actual] = step([uninterrupted, gate], i, working, ended);
      assert.deepEqual(actual, expected, `step ${i}`);
      codes.add(expected!.decision.code);
    }
    assert.ok(
      codes.has('OK') && (codes.has('NET_EXPOSURE') || codes.has('GROSS_EXPOSURE')),
      `exposure decides: ${[...codes]}`,
    );
    assert.deepEqual(gate.saveWorking(), uninterrupted.saveWorking());
  });

  it('refuses hostile working orders with the reason', async () => {
    const gate = newGate();
    const working: OrderIntent[] = [];
    for (let i = 0; i <= 12; i++) step([gate], i, working, []);
    const valid = gate.saveWorking();
    assert.ok(valid.orders.length >= 2);
    const [order, second] = valid.orders as [
      WorkingOrdersState['orders'][0],
      WorkingOrdersState['orders'][0],
    ];
    const totals = valid.totals[0]!;
    const hostile: [unknown, RegExp][] = [
      [{ ...valid, orders: [order, order] }, /orderId: .* twice/],
      [{ ...valid, orders: [{ ...order, filled: order.quantity }] }, /filled: not below the quantity/],
      [{ ...valid, orders: [{ ...order, quantity: 0 }] }, /orders\/0\/quantity/],
      [{ ...valid, orders: [{ ...order, filled: -1 }] }, /orders\/0\/filled/],
      [{ ...valid, orders: [{ ...order, side: 'hold' }] }, /orders\/0\/side/],
      [{ ...valid, orders: [{ ...order, symbol: '' }] }, /orders\/0\/symbol/],
      [{ ...valid, orders: [{ ...order, owner: 'x' }] }, /orders\/0/],
      [{ ...valid, orders: [second] }, /unfilled is not what its orders leave/],
      [{ ...valid, totals: [{ ...totals, buy: totals.buy + 1 }] }, /unfilled is not what its orders leave/],
      [{ ...valid, totals: [totals, totals] }, /symbol: \w+ twice/],
      [{ ...valid, totals: [] }, /no totals for \w+/],
      [{ orders: valid.orders }, /workingOrders\/totals/],
    ];
    for (const [workingOrders, reason] of hostile) {
      const store = new MemoryStore();
      store.texts.set(
        'risk.paper',
        JSON.stringify({ schema: 'risk_state.v2', value: { positions: [], workingOrders }, sequence: 3 }),
      );
      const loaded = await loadSnapshot(store, 'risk.paper', snapshotContracts.risk);
      assert.equal(loaded.ok, false, `accepted ${reason}`);
      assert.match(loaded.ok ? '' : loaded.reason, /^snapshot risk\.paper: risk_state\.v2: /);
      assert.match(loaded.ok ? '' : loaded.reason, reason);
    }
  });
});

/** The signal an intent was passed for, as the fixture above makes them. */
function signalOf(intent: OrderIntent): Signal {
  return {
    schema: 'signal.v1',
    id: intent.signal_id!,
    ts_event: intent.ts_event,
    ts_init: intent.ts_event,
    strategy: intent.strategy,
    symbol: intent.symbol,
    model_version: 'm1',
    direction: intent.side === 'buy' ? 1 : -1,
    probability: 0.7,
    feature_id: `feat-${intent.signal_id}`,
  };
}
