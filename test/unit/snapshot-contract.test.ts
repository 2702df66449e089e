// Hostile snapshots: what the risk gate, execution and portfolio saved is checked against its
// versioned contract (schemas/snapshots.ts) when loaded. A malformed, other-version, edited or
// misplaced snapshot is refused with the reason; the risk gate then starts halted, the others afresh.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SimulatedVenue } from '../../actors/execution/simulated-venue.ts';
import { startTrading } from '../../actors/pipeline.ts';
import { sealIntent } from '../../core/gate-seal.ts';
import type { Alert } from '../../schemas/messages.ts';
import { snapshotContracts } from '../../schemas/snapshots.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { InProcessBus } from '../../streams/in-process-bus.ts';
import { loadSnapshot, saveSnapshot } from '../../streams/snapshot-store.ts';
import { MemorySnapshotStore } from '../support/memory-store.ts';
import { orderIntent } from '../support/orders.ts';
import { sampleBars, signalFor, tradingConfig } from './trading-fixture.ts';

const risk = snapshotContracts.risk;
const portfolioState = {
  account: 'paper',
  cash: 990_000,
  lastEventTs: 1_700_000_000_000,
  lastFillId: 'fill-1',
  recentFillIds: ['fill-1'],
  positions: [{ symbol: 'AAPL', quantity: 10, avg_price: 1_000, realized_pnl: 0, last_price: 1_000 }],
};
const riskState = { positions: [{ symbol: 'AAPL', quantity: 10 }], lastFillId: 'fill-1' };

async function refusal(text: string): Promise<string> {
  const store = new MemorySnapshotStore();
  store.texts.set('risk.paper', text);
  const loaded = await loadSnapshot(store, 'risk.paper', risk);
  assert.equal(loaded.ok, false, `accepted ${text}`);
  return loaded.ok ? '' : loaded.reason;
}

describe('snapshot contracts', () => {
  it('round-trips a snapshot under its version, and reads one saved before the versions', async () => {
    const store = new MemorySnapshotStore();
    await saveSnapshot(store, 'risk.paper', risk, { value: riskState, sequence: 7 });
    assert.equal(JSON.parse(store.texts.get('risk.paper') ?? '{}').schema, 'risk_state.v2');
    assert.deepEqual(await loadSnapshot(store, 'risk.paper', risk), {
      ok: true,
      snapshot: { value: riskState, sequence: 7 },
    });
    store.texts.set('risk.paper', JSON.stringify({ value: riskState, sequence: 7 }));
    assert.equal((await loadSnapshot(store, 'risk.paper', risk)).ok, true, 'untagged reads as v1');
    // A v1 snapshot (before the barrier state) reads as a v2 one without it.
    store.texts.set('risk.paper', JSON.stringify({ schema: 'risk_state.v1', value: riskState, sequence: 7 }));
    assert.deepEqual(await loadSnapshot(store, 'risk.paper', risk), {
      ok: true,
      snapshot: { value: riskState, sequence: 7 },
    });
    // v1 never held barrier state: a v1-tagged value with it is refused, not half-read.
    store.texts.set(
      'risk.paper',
      JSON.stringify({
        schema: 'risk_state.v1',
        value: {
          ...riskState,
          barrierExits: { barInterval: '1d', windows: [], volatility: [], entries: [] },
        },
        sequence: 7,
      }),
    );
    const v1WithBarriers = await loadSnapshot(store, 'risk.paper', risk);
    assert.match(v1WithBarriers.ok ? 'accepted' : v1WithBarriers.reason, /risk_state\.v1: \/barrierExits/);
    assert.deepEqual(await loadSnapshot(store, 'risk.other', risk), { ok: true, snapshot: undefined });
  });

  it('accepts what each stateful actor saves after trading, and restores it', async () => {
    const store = new MemorySnapshotStore();
    const bus = new InProcessBus(new Subjects(4));
    const trading = await startTrading(tradingConfig(), { bus, store });
    for (const bar of await sampleBars(30)) {
      await bus.publish('bar', bus.subjects.bar(bar.symbol), bar);
      await bus.publish('signal', bus.subjects.signal('momentum', bar.symbol), signalFor(bar));
    }
    const before = trading.status();
    await trading.stop();
    assert.ok(before.portfolio.fillsApplied > 0, 'the run filled orders');
    for (const [key, contract] of [
      ['risk.paper', snapshotContracts.risk],
      ['execution.SIM', snapshotContracts.execution],
      ['portfolio.paper', snapshotContracts.portfolio],
    ] as const) {
      const loaded = await loadSnapshot(store, key, contract as typeof snapshotContracts.risk);
      assert.ok(loaded.ok && loaded.snapshot, `${key}: ${loaded.ok ? 'none saved' : loaded.reason}`);
    }
    const restarted = await startTrading(tradingConfig({ startState: 'halted' }), {
      bus: new InProcessBus(new Subjects(4)),
      store,
    });
    const after = restarted.status();
    await restarted.stop();
    // Marks are not snapshotted per tick (the next mark brings prices back): compare the holdings.
    const holdings = (positions: typeof before.portfolio.positions) =>
      positions.map(({ symbol, quantity, avg_price }) => ({ symbol, quantity, avg_price }));
    assert.deepEqual(holdings(after.portfolio.positions), holdings(before.portfolio.positions));
    assert.ok(after.portfolio.positions.length > 0);
    assert.equal(after.risk.state, 'active', 'the restored gate reconciles with the restored portfolio');
  });

  it('refuses malformed, other-version and edited snapshots with the reason', async () => {
    const valid = { schema: 'risk_state.v1', value: riskState, sequence: 7 };
    assert.match(await refusal('{"value":'), /^snapshot risk\.paper: malformed JSON/);
    assert.match(await refusal('[1,2]'), /not an object/);
    assert.match(
      await refusal(JSON.stringify({ ...valid, schema: 'risk_state.v3' })),
      /is risk_state\.v3; this release reads risk_state\.v2, risk_state\.v1/,
    );
    assert.match(await refusal(JSON.stringify({ ...valid, sequence: -1 })), /sequence/);
    assert.match(await refusal(JSON.stringify({ ...valid, extra: true })), /unexpected extra/);
    assert.match(
      await refusal(JSON.stringify({ ...valid, value: { positions: [{ symbol: 'AAPL', quantity: '10' }] } })),
      /risk_state\.v1: \/positions\/0\/quantity/,
    );
    assert.match(
      await refusal(JSON.stringify({ ...valid, value: { ...riskState, admin: true } })),
      /risk_state\.v1/,
    );
  });

  it('starts the risk gate halted on a refused snapshot, and says why', async () => {
    const run = async (riskText: string) => {
      const store = new MemorySnapshotStore();
      await saveSnapshot(store, 'portfolio.paper', snapshotContracts.portfolio, {
        value: portfolioState,
        sequence: 3,
      });
      store.texts.set('risk.paper', riskText);
      const alerts: Alert[] = [];
      const bus = new InProcessBus(new Subjects(4), {
        onPublish: (_subject, name, event) => {
          if (name === 'alert') alerts.push(event as Alert);
        },
      });
      const trading = await startTrading(tradingConfig({ startState: 'reducing' }), { bus, store });
      const status = trading.status().risk;
      await trading.stop();
      return { status, alerts };
    };
    // The control: a valid snapshot agrees with the portfolio's, so the start-up hold is released.
    const valid = await run(JSON.stringify({ schema: 'risk_state.v1', value: riskState, sequence: 5 }));
    assert.equal(valid.status.state, 'active');
    assert.ok(!valid.alerts.some((alert) => alert.code === 'RISK_SNAPSHOT_REFUSED'));

    const refused = await run(
      JSON.stringify({ schema: 'risk_state.v1', value: { positions: 'all' }, sequence: 5 }),
    );
    assert.equal(refused.status.state, 'halted', 'halted, not the configured reducing');
    assert.equal(refused.status.reconciled, false, 'unknown positions never agree with the portfolio');
    const alert = refused.alerts.find((a) => a.code === 'RISK_SNAPSHOT_REFUSED');
    assert.equal(alert?.severity, 'critical');
    assert.match(alert?.message ?? '', /snapshot risk\.paper: risk_state\.v1: \/positions/);
  });

  it('starts the portfolio and execution afresh on a refused snapshot', async () => {
    const store = new MemorySnapshotStore();
    await saveSnapshot(store, 'portfolio.paper', snapshotContracts.portfolio, {
      value: { ...portfolioState, account: 'someone-else' },
      sequence: 3,
    });
    store.texts.set(
      'execution.SIM',
      JSON.stringify({ schema: 'execution_state.v1', value: { open: [{ id: 'x' }] }, sequence: 4 }),
    );
    const bus = new InProcessBus(new Subjects(4));
    const trading = await startTrading(tradingConfig(), { bus, store });
    const { portfolio, execution } = trading.status();
    await trading.stop();
    assert.equal(portfolio.cash, 1_000_000, "another account's state is not taken");
    assert.deepEqual(portfolio.positions, []);
    assert.equal(execution.openOrders, 0);

    // The control: the same portfolio state under its own account is restored.
    await saveSnapshot(store, 'portfolio.paper', snapshotContracts.portfolio, {
      value: portfolioState,
      sequence: 3,
    });
    const restored = await startTrading(tradingConfig(), { bus: new InProcessBus(new Subjects(4)), store });
    assert.equal(restored.status().portfolio.cash, 990_000);
    await restored.stop();
  });

  it('starts execution afresh when the simulated venue’s saved books could not have come from a venue', async () => {
    const config = tradingConfig();
    const limit = sealIntent(
      orderIntent('sig:rest', { symbol: 'AAPL', order_type: 'limit', limit_price: 1, time_in_force: 'gtc' }),
      { decisionId: 'sig:rest:decision' },
      config.gateKey,
    );
    const venue = new SimulatedVenue(config.venue);
    venue.submit(limit, 0);
    const books = venue.state();
    const [order] = books.orders;
    assert.ok(order);
    const start = async (simulatedVenue: typeof books) => {
      const store = new MemorySnapshotStore();
      await saveSnapshot(store, 'execution.SIM', snapshotContracts.execution, {
        value: { open: [limit], simulatedVenue },
        sequence: 4,
      });
      const trading = await startTrading(config, { bus: new InProcessBus(new Subjects(4)), store });
      const { execution } = trading.status();
      const working = trading.execution.venue?.openOrders().map((o) => o.order_id);
      await trading.stop();
      return { execution, working };
    };
    const refused = await start({ ...books, orders: [{ ...order, filled_quantity: 2 }] });
    assert.match(refused.execution.lastError ?? '', /simulatedVenue\.orders .*: filled 2 of 1/);
    assert.equal(refused.execution.openOrders, 0);
    assert.deepEqual(refused.working, []);

    // The control: the books as the venue saved them are taken over, the order working again.
    const restored = await start(books);
    assert.equal(restored.execution.lastError, undefined);
    assert.equal(restored.execution.openOrders, 1);
    assert.deepEqual(restored.working, [order.order_id]);
  });
});
