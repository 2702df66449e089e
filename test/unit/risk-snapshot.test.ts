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
import { EquityTriggers } from '../../actors/risk/equity-triggers.ts';
import { bracketChildIdFor } from '../../core/lineage-ids.ts';
import type { Alert, Bar, Fill, PortfolioSnapshot } from '../../schemas/messages.ts';
import { type RiskState, snapshotContracts } from '../../schemas/snapshots.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { InProcessBus } from '../../streams/in-process-bus.ts';
import { loadSnapshot, type SnapshotStore, saveSnapshot } from '../../streams/snapshot-store.ts';
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
