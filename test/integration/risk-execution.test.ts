// Risk gate → execution → portfolio over real NATS: operator halt/resume over ctl.risk.*, a crash
// and restart from durable consumers and KV snapshots, and the same orders and fills as in-process.
// With a real PostgreSQL: every decision, order, order event, fill and portfolio snapshot the actors
// published is a row, exactly once, after a crash, a restart and a replay of the same session.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Kysely } from 'kysely';
import { orderIdFor } from '../../core/lineage-ids.ts';
import type { Bar } from '../../schemas/messages.ts';
import { NatsActorBus } from '../../streams/bus.ts';
import { sendControl } from '../../streams/control.ts';
import { createDatabase, type Database, fromTimestamp } from '../../timescale/database.ts';
import { migrateToLatest } from '../../timescale/migrate.ts';
import { startTestBus, type TestBus } from '../support/bus.ts';
import { postgresForTests } from '../support/postgres.ts';
import {
  byId,
  feedStep,
  inProcessReference,
  ordersLedger,
  type Process,
  settle,
  startProcess,
} from '../support/trading.ts';
import { sampleBars, signalFor, tradingConfig } from '../unit/trading-fixture.ts';

const sortedById = <T extends { id: string }>(items: readonly T[]) =>
  [...items].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

/** Every audit row of the live run, each table sorted by its key, times as epoch milliseconds. */
async function auditRows(db: Kysely<Database>) {
  const ms = <T extends { ts: Date; ts_init?: Date; updated_at?: Date }>(row: T) => ({
    ...row,
    ts: fromTimestamp(row.ts),
    ...(row.ts_init ? { ts_init: fromTimestamp(row.ts_init) } : {}),
    ...(row.updated_at ? { updated_at: fromTimestamp(row.updated_at) } : {}),
  });
  const live = 'live';
  const [decisions, orders, events, fills, positions, equity] = await Promise.all([
    db.selectFrom('risk_decisions').selectAll().where('run_id', '=', live).execute(),
    db.selectFrom('orders').selectAll().where('run_id', '=', live).execute(),
    db.selectFrom('order_events').selectAll().where('run_id', '=', live).execute(),
    db.selectFrom('fills').selectAll().where('run_id', '=', live).execute(),
    db.selectFrom('positions').selectAll().where('run_id', '=', live).execute(),
    db.selectFrom('equity').selectAll().where('run_id', '=', live).execute(),
  ]);
  const byTsThen = (a: { ts: number; symbol?: string }, b: { ts: number; symbol?: string }) =>
    a.ts - b.ts || (a.symbol ?? '').localeCompare(b.symbol ?? '');
  return {
    decisions: sortedById(decisions.map(ms)),
    orders: sortedById(orders.map(ms)),
    events: sortedById(events.map(ms)),
    fills: sortedById(fills.map(ms)),
    positions: positions.map(ms).sort(byTsThen),
    equity: equity.map(ms).sort(byTsThen),
  };
}

describe('trading actors over NATS', { timeout: 120_000 }, () => {
  let bars: Bar[];
  before(async () => {
    bars = await sampleBars(20);
  });

  describe('uninterrupted', () => {
    let test: TestBus;
    let process: Process;
    before(async () => {
      test = await startTestBus();
      process = await startProcess(test.url, tradingConfig({ startState: 'reducing' }));
    });
    after(async () => {
      await process.trading.stop();
      await process.connection.close();
      await test.close();
    });

    it('gives the same orders and fills as the in-process bus', async () => {
      await settle(test, process);
      assert.equal(process.trading.status().risk.state, 'active', 'reconciled with the start snapshot');
      for (const bar of bars) await feedStep(test, bar, process);
      const reference = await inProcessReference(bars);
      const ledger = await ordersLedger(test);
      assert.ok(reference.fills.length > 5);
      assert.equal(byId(ledger.fills), byId(reference.fills));
      assert.equal(byId(ledger.events), byId(reference.events));
      assert.equal(ledger.decisions.length, bars.length);
      assert.deepEqual(process.trading.status().portfolio.positions, reference.positions);
    });
  });

  describe('operator control', () => {
    let test: TestBus;
    let process: Process;
    before(async () => {
      test = await startTestBus();
      process = await startProcess(test.url, tradingConfig({ startState: 'active' }));
      await settle(test, process);
    });
    after(async () => {
      await process.trading.stop();
      await process.connection.close();
      await test.close();
    });

    const control = (command: string) =>
      sendControl(test.connection, test.subjects, 'risk', command, {
        operator: 'alice',
        reason: 'integration test',
        now: Date.now(),
      });

    it('halt stops new orders at the next signal and cancels working orders; resume restores trading', async () => {
      await feedStep(test, bars[0]!, process);
      assert.equal(process.trading.status().execution.openOrders, 1, 'a market order waits for the next bar');

      const halted = await control('halt');
      assert.equal(halted.ok, true);
      assert.equal(halted.state, 'halted');
      await feedStep(test, bars[1]!, process);
      await feedStep(test, bars[2]!, process);
      let ledger = await ordersLedger(test);
      assert.equal(ledger.decisions.at(-2)?.code, 'TRADING_HALTED', 'the first signal after the halt');
      assert.equal(ledger.decisions.at(-1)?.code, 'TRADING_HALTED');
      assert.equal(ledger.intents.length, 1);
      const statuses = ledger.events.map((e) => e.status);
      assert.ok(statuses.includes('pending_cancel'), statuses.join(','));
      assert.equal(statuses.at(-1), 'canceled', statuses.join(','));
      assert.equal(ledger.fills.length, 0);

      const status = await control('status');
      assert.equal(status.state, 'halted');
      const unknown = await control('flatten-everything');
      assert.equal(unknown.ok, false);
      assert.match(unknown.error ?? '', /unknown command "flatten-everything".*halt/);

      assert.equal((await control('resume')).state, 'active');
      await feedStep(test, bars[3]!, process);
      ledger = await ordersLedger(test);
      assert.equal(ledger.decisions.at(-1)?.outcome, 'pass');
      assert.equal(ledger.intents.length, 2);
    });
  });

  describe('crash and restart', () => {
    let test: TestBus;
    before(async () => {
      test = await startTestBus();
    });
    after(async () => {
      await test.close();
    });

    it('a killed process restarted from its consumers and snapshots makes no duplicate order and ends with the same positions', async () => {
      const config = tradingConfig({ startState: 'reducing' });
      let process = await startProcess(test.url, config);
      await settle(test, process);
      const crashAt = 11;
      for (const bar of bars.slice(0, crashAt)) await feedStep(test, bar, process);
      // The process dies without draining after a bar; its signal and the next bar arrive while it
      // is down, and the server crashes too. (Messages a dead client had pulled but not acked come
      // back only after ack_wait, 30 s, so the kill falls where nothing is pulled and unacked.)
      await feedStep(test, bars[crashAt]!, process, false);
      await settle(test, process);
      await process.connection.close();
      const feeder = new NatsActorBus(test.jetstream, test.manager, test.subjects);
      const next = bars[crashAt + 1]!;
      await feeder.publish('bar', test.subjects.bar(next.symbol), next);
      await feeder.flush();
      await test.server?.kill();
      await test.server?.restart();
      // JetStream answers a little after the port opens; the feeder's connection reconnects.
      for (let attempt = 0; ; attempt++) {
        try {
          await test.manager.streams.info('ORDERS');
          break;
        } catch (error) {
          if (attempt > 100) throw error;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }

      process = await startProcess(test.url, config);
      await settle(test, process);
      assert.equal(process.trading.status().risk.state, 'active', 'reconciled after the restart');
      await feeder.publish('signal', test.subjects.signal('momentum', next.symbol), signalFor(next));
      await feeder.flush();
      await settle(test, process);
      for (const bar of bars.slice(crashAt + 2)) await feedStep(test, bar, process);

      const ledger = await ordersLedger(test);
      const reference = await inProcessReference(bars);
      const submitted = ledger.events.filter((e) => e.status === 'submitted').map((e) => e.order_id);
      assert.equal(new Set(submitted).size, submitted.length, 'no order submitted twice');
      assert.equal(new Set(ledger.fills.map((f) => f.id)).size, ledger.fills.length, 'no fill twice');
      assert.equal(byId(ledger.fills), byId(reference.fills));
      assert.deepEqual(process.trading.status().portfolio.positions, reference.positions);
      await process.trading.stop();
      await process.connection.close();
    });
  });

  describe('audit rows in PostgreSQL', () => {
    let test: TestBus;
    let database: { url: string; close(): Promise<void> };
    let db: Kysely<Database>;
    before(async () => {
      [test, database] = await Promise.all([startTestBus(), postgresForTests()]);
      db = createDatabase(database.url);
      await migrateToLatest(db);
    });
    after(async () => {
      await db?.destroy();
      await database?.close();
      await test?.close();
    });

    it('every decision with its checks, order, order event, fill and snapshot is one row, across a crash, a restart and a replay', async () => {
      const config = tradingConfig({ startState: 'reducing' });
      let process = await startProcess(test.url, config, database.url);
      await settle(test, process);
      const crashAt = 11;
      for (const bar of bars.slice(0, crashAt)) await feedStep(test, bar, process);
      await feedStep(test, bars[crashAt]!, process, false);
      await settle(test, process);
      // The process dies: no drain, no flush of its writers, its database connections gone with it.
      // Only what it stored before acknowledging its input may count.
      await process.connection.close();
      await process.db?.destroy();
      const feeder = new NatsActorBus(test.jetstream, test.manager, test.subjects);
      const next = bars[crashAt + 1]!;
      await feeder.publish('bar', test.subjects.bar(next.symbol), next);
      await feeder.publish('signal', test.subjects.signal('momentum', next.symbol), signalFor(next));
      await feeder.flush();

      process = await startProcess(test.url, config, database.url);
      await settle(test, process);
      for (const bar of bars.slice(crashAt + 2)) await feedStep(test, bar, process);
      await process.trading.stop();
      await process.connection.close();
      await process.db?.destroy();

      const ledger = await ordersLedger(test);
      const rows = await auditRows(db);

      // Every decision, pass or deny, with the values each check compared.
      assert.equal(ledger.decisions.length, bars.length, 'one decision per signal');
      assert.deepEqual(
        rows.decisions,
        sortedById(ledger.decisions).map((d) => ({
          run_id: 'live',
          id: d.id,
          ts: d.ts_event,
          ts_init: d.ts_init,
          strategy: d.strategy,
          symbol: d.symbol,
          outcome: d.outcome,
          code: d.code,
          reason: d.reason,
          trading_state: d.trading_state,
          checks: JSON.parse(JSON.stringify(d.checks)),
          signal_id: d.signal_id,
          intent_id: d.intent_id ?? null,
        })),
      );
      const outcomes = new Set(rows.decisions.map((d) => d.outcome));
      assert.deepEqual([...outcomes].sort(), ['deny', 'pass'], 'both outcomes are audited');
      for (const row of rows.decisions) {
        const confidence = row.checks.find((c) => c.check === 'MIN_CONFIDENCE');
        assert.deepEqual(confidence, { check: 'MIN_CONFIDENCE', passed: true, value: 0.6, limit: 0.55 });
        if (row.outcome === 'pass')
          assert.ok(
            row.checks.every((c) => c.passed),
            row.id,
          );
        else assert.equal(row.checks.find((c) => c.check === row.code)?.passed, false, row.id);
      }

      // One row per order (per passed intent), as of its last published order event.
      assert.ok(ledger.intents.length > 3 && ledger.fills.length > 3);
      const lastEvent = new Map(ledger.events.map((e) => [e.order_id, e]));
      const fillTotals = new Map<string, { quantity: number; notional: number }>();
      for (const f of ledger.fills) {
        const totals = fillTotals.get(f.order_id) ?? { quantity: 0, notional: 0 };
        totals.quantity += f.quantity;
        totals.notional += f.quantity * f.price;
        fillTotals.set(f.order_id, totals);
      }
      assert.deepEqual(
        rows.orders,
        sortedById(
          ledger.intents.map((i) => {
            const id = orderIdFor(i.id);
            const last = lastEvent.get(id);
            const totals = fillTotals.get(id);
            assert.ok(last, `${id} has order events`);
            return {
              run_id: 'live',
              id,
              ts: i.ts_event,
              ts_init: i.ts_init,
              intent_id: i.id,
              strategy: i.strategy,
              symbol: i.symbol,
              side: i.side,
              quantity: i.quantity,
              order_type: i.order_type,
              limit_price: i.limit_price ?? null,
              stop_price: i.stop_price ?? null,
              time_in_force: i.time_in_force,
              reduce_only: i.reduce_only,
              bracket: i.bracket ?? null,
              exit_after: i.exit_after ?? null,
              exit_reason: i.exit_reason ?? null,
              origin: 'intent',
              account_mode: last.account_mode ?? null,
              venue_order_id: last.venue_order_id ?? null,
              status: last.status,
              filled_quantity: last.filled_quantity,
              avg_fill_price: totals ? totals.notional / totals.quantity : null,
              updated_at: last.ts_event,
            };
          }),
        ),
      );
      assert.ok(
        rows.orders.some((o) => o.status === 'filled'),
        'filled orders are updated in place',
      );
      assert.deepEqual(
        rows.events,
        sortedById(ledger.events).map((e) => ({
          run_id: 'live',
          id: e.id,
          ts: e.ts_event,
          ts_init: e.ts_init,
          order_id: e.order_id,
          intent_id: e.intent_id,
          symbol: e.symbol,
          status: e.status,
          filled_quantity: e.filled_quantity,
          leaves_quantity: e.leaves_quantity,
          reason: e.reason ?? null,
          account_mode: e.account_mode ?? null,
          venue_order_id: e.venue_order_id ?? null,
        })),
      );
      assert.deepEqual(
        rows.fills,
        sortedById(ledger.fills).map((f) => ({
          run_id: 'live',
          id: f.id,
          ts: f.ts_event,
          ts_init: f.ts_init,
          order_id: f.order_id,
          symbol: f.symbol,
          side: f.side,
          quantity: f.quantity,
          price: f.price,
          fee: f.fee,
          liquidity: f.liquidity,
          account_mode: f.account_mode ?? null,
          venue_order_id: f.venue_order_id ?? null,
          venue_fill_id: f.venue_fill_id ?? null,
          base_commission: f.base_commission ?? null,
        })),
      );

      // Portfolio snapshots: an equity row per instant with a snapshot, and the position of the
      // symbol that moved; each row is the LAST snapshot of its instant (the fills of one bar share a
      // millisecond), as published.
      const lastAt = new Map(ledger.snapshots.map((p) => [p.ts_event, p]));
      assert.ok(ledger.snapshots.length > lastAt.size, 'some instants have several snapshots');
      assert.deepEqual(
        rows.equity.map((e) => e.ts),
        [...lastAt.keys()].sort((a, b) => a - b),
      );
      for (const row of rows.equity) {
        const snapshot = lastAt.get(row.ts)!;
        assert.deepEqual(row, {
          run_id: 'live',
          account: 'paper',
          ts: snapshot.ts_event,
          snapshot_id: snapshot.id,
          cash: snapshot.cash,
          equity: snapshot.equity,
          gross_exposure: snapshot.gross_exposure,
          net_exposure: snapshot.net_exposure,
        });
      }
      assert.ok(rows.positions.length > 0);
      for (const row of rows.positions) {
        const position = lastAt.get(row.ts)?.positions.find((p) => p.symbol === row.symbol);
        assert.ok(position, `the last snapshot at ${row.ts} holds ${row.symbol}`);
        assert.ok(
          ledger.snapshots.some((p) => p.id === row.snapshot_id && p.ts_event === row.ts),
          `${row.snapshot_id} was published at ${row.ts}`,
        );
        assert.deepEqual(row, {
          run_id: 'live',
          account: 'paper',
          symbol: row.symbol,
          ts: row.ts,
          snapshot_id: row.snapshot_id,
          quantity: position.quantity,
          avg_price: position.avg_price,
          realized_pnl: position.realized_pnl,
          unrealized_pnl: position.unrealized_pnl,
          last_price: position.last_price,
        });
      }
      const final = process.trading.status().portfolio.positions;
      for (const { symbol, quantity } of final) {
        const net = rows.fills
          .filter((f) => f.symbol === symbol)
          .reduce((sum, f) => sum + (f.side === 'buy' ? f.quantity : -f.quantity), 0);
        assert.ok(Math.abs(net - quantity) < 1e-9, `${symbol}: fills rows net ${net}, position ${quantity}`);
      }

      // A replay of the same session (same run id) adds no row and changes none.
      await inProcessReference(bars, db);
      assert.deepEqual(await auditRows(db), rows);
    });
  });
});
