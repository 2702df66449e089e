// Barrier exits across a restart over real NATS: the trading process (risk gate, execution, portfolio)
// is killed while a bracketed entry is open and started again from its consumers and KV snapshots. The
// restarted gate still sends that entry's time exit on the symbol's first bar at or after exit_after,
// its bracket children cancelled first, and the run makes the same decisions, barriers and cancels as
// the uninterrupted one (the volatility goes on from the snapshot, so later barriers match).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { StaticModelSource } from '../../actors/inference/registry.ts';
import type { TradingConfig } from '../../actors/pipeline.ts';
import { bracketChildIdFor, orderIdFor, timeExitIntentIdFor } from '../../core/lineage-ids.ts';
import type { Bar } from '../../schemas/messages.ts';
import { snapshotContracts } from '../../schemas/snapshots.ts';
import { KvSnapshotStore, loadSnapshot } from '../../streams/snapshot-store.ts';
import { startTestBus, type TestBus } from '../support/bus.ts';
import { manifestFor } from '../support/models.ts';
import {
  byId,
  feedStep,
  inProcessReference,
  ordersLedger,
  settle,
  startProcess,
} from '../support/trading.ts';
import { sampleBars, tradingConfig } from '../unit/trading-fixture.ts';

const LABELS = { profitTake: 2, stopLoss: 2, verticalBars: 3, volatilityWindow: 10 };
const bytes = new Uint8Array([8, 1, 18, 4]);
const models = () => new StaticModelSource([{ manifest: manifestFor('test-1', bytes, LABELS), bytes }]);

/** Barrier exits on, with a price collar wide enough for the stop-losses (STOP_COLLAR). */
function barrierConfig(overrides: Partial<TradingConfig> = {}): TradingConfig {
  const base = tradingConfig(overrides);
  const limits = { ...base.risk.limits, priceCollarBps: 1_000 };
  return { ...base, risk: { ...base.risk, limits, barrierExits: { barInterval: '1d' } } };
}

describe('barrier exits across a restart', { timeout: 300_000 }, () => {
  let test: TestBus;
  let bars: Bar[];
  before(async () => {
    [test, bars] = await Promise.all([startTestBus(), sampleBars(40)]);
  });
  after(async () => {
    await test.close();
  });

  it('the restarted gate sends the time exit of an entry passed before, children cancelled first, and decides as the uninterrupted run', async () => {
    const reference = await inProcessReference(bars, undefined, {
      config: barrierConfig(),
      models: models(),
    });
    // The restart falls just before the bar that sets off a time exit of the uninterrupted run, one
    // with bracketed entries after it (their barriers need the volatility to go on across the restart).
    // The simulated venue does not keep the bracket children of filled entries across an execution
    // restart (they live in the venue only): the restart falls where no such child would fill later,
    // so what differs is only what the gate kept.
    const entryFillTs = new Map<string, number>();
    for (const fill of reference.fills)
      if (!entryFillTs.has(fill.order_id)) entryFillTs.set(fill.order_id, fill.ts_event);
    const childLost = (restartTs: number) =>
      reference.fills.some((fill) => {
        const entryOrder = fill.order_id.match(/^(.*):(take_profit|stop_loss)$/)?.[1];
        const opened = entryOrder === undefined ? undefined : entryFillTs.get(entryOrder);
        return opened !== undefined && opened < restartTs && fill.ts_event >= restartTs;
      });
    const timeExit = reference.intents.find(
      (exit) =>
        exit.exit_reason === 'time' &&
        reference.intents.some((i) => i.bracket !== undefined && i.ts_event > exit.ts_event) &&
        !childLost(exit.ts_event),
    );
    assert.ok(timeExit, 'the uninterrupted run sends a time exit, and bracketed entries after it');
    const entry = reference.intents.find((i) => timeExitIntentIdFor(orderIdFor(i.id)) === timeExit.id)!;
    const entryOrder = orderIdFor(entry.id);
    const exitBar = bars.findIndex((b) => b.symbol === timeExit.symbol && b.ts_event === timeExit.ts_event);
    assert.ok(entry.exit_after !== undefined && exitBar > 0);
    assert.ok(
      reference.intents.some((i) => i.exit_reason === 'take_profit' || i.exit_reason === 'stop_loss') ||
        reference.fills.some((f) => f.order_id.endsWith(':take_profit') || f.order_id.endsWith(':stop_loss')),
      'some position closed at its bracket',
    );

    const config = barrierConfig({ startState: 'reducing' });
    let process = await startProcess(test.url, config, undefined, models());
    try {
      await settle(test, process);
      for (const bar of bars.slice(0, exitBar)) await feedStep(test, bar, process);
      // The snapshot holds the open entry, filled, with its time limit.
      const store = await KvSnapshotStore.open(test.jetstream, 'sluice_snapshots');
      const saved = await loadSnapshot(store, 'risk.paper', snapshotContracts.risk);
      assert.ok(saved.ok && saved.snapshot, saved.ok ? 'no risk snapshot' : saved.reason);
      const savedEntry = saved.snapshot.value.barrierExits?.entries.find((e) => e.orderId === entryOrder);
      assert.equal(savedEntry?.exitAfter, entry.exit_after);
      assert.ok((savedEntry?.filled ?? 0) > 0, 'the entry filled before the restart');

      // Stopped, then started again from its durable consumers, the stream and KV.
      await process.trading.stop();
      await process.connection.close();
      process = await startProcess(test.url, config, undefined, models());
      await settle(test, process);
      assert.equal(process.trading.status().risk.state, 'active', 'reconciled after the restart');
      for (const bar of bars.slice(exitBar)) await feedStep(test, bar, process);

      const ledger = await ordersLedger(test);
      const at = (id: string) => ledger.ids.indexOf(id);
      assert.ok(at(timeExit.id) > 0, 'the restarted gate sent the time exit');
      for (const leg of ['take_profit', 'stop_loss'] as const) {
        const cancel = ledger.cancels.find((c) => c.args?.order_id === bracketChildIdFor(entryOrder, leg));
        assert.ok(cancel, `${leg} cancelled`);
        assert.ok(at(cancel.id) < at(timeExit.id), `${leg} cancelled before the time exit`);
      }
      assert.deepEqual(
        ledger.intents.find((i) => i.id === timeExit.id),
        timeExit,
      );
      assert.ok(
        ledger.fills.some((fill) => fill.order_id === orderIdFor(timeExit.id)),
        'the time exit filled',
      );

      // The same decisions (outcome, code, reason with the barriers and volatility), the same intents
      // (side, bracket, time limit, exit reason) and the same cancels as without the restart. Not the
      // quantities: the execution side does not yet restart as if uninterrupted (the simulated venue
      // forgets its bracket children and positions; reduce-only orders are taken at their size), nor
      // does the gate keep its working orders, so sizes and exposures may differ after the restart.
      const decided = (decisions: typeof ledger.decisions) =>
        decisions.map(({ id, outcome, code, intent_id, reason }) => ({
          id,
          outcome,
          code,
          intent_id,
          reason,
        }));
      const ordered = (intents: typeof ledger.intents) =>
        intents.map(({ id, side, bracket, exit_after, exit_reason }) => ({
          id,
          side,
          bracket,
          exit_after,
          exit_reason,
        }));
      assert.equal(byId(decided(ledger.decisions)), byId(decided(reference.decisions)));
      assert.equal(byId(ordered(ledger.intents)), byId(ordered(reference.intents)));
      assert.equal(byId(ledger.cancels), byId(reference.cancels));
    } finally {
      await process.trading.stop();
      await process.connection.close();
    }
  });
});
