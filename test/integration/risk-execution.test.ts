// Risk gate → execution → portfolio over real NATS: operator halt/resume over ctl.risk.*, a crash
// and restart from durable consumers and KV snapshots, and the same orders and fills as in-process.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { KvSnapshotStore } from '../../actors/snapshot-store.ts';
import {
  lastMarketDataFromStream,
  startTrading,
  type Trading,
  type TradingConfig,
} from '../../actors/trading.ts';
import type { Bar, Fill, OrderEvent, OrderIntent, RiskDecision } from '../../schemas/messages.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { NatsActorBus } from '../../streams/bus.ts';
import { connectNats, type NatsConnection } from '../../streams/connection.ts';
import { sendControl } from '../../streams/control.ts';
import { InProcessBus } from '../../streams/in-process-bus.ts';
import { startTestBus, type TestBus } from '../support/bus.ts';
import { SYMBOLS, sampleBars, signalFor, tradingConfig } from '../unit/trading-fixture.ts';

interface Process {
  connection: NatsConnection;
  bus: NatsActorBus;
  trading: Trading;
}

/** One "process": its own connection, bus, KV store and the three actors. */
async function startProcess(url: string, config: TradingConfig): Promise<Process> {
  const connection = await connectNats({ url, name: 'sluice-trading' });
  const js = jetstream(connection);
  const manager = await jetstreamManager(connection);
  const subjects = new Subjects(4);
  // Acks lost when the server is killed come back after ack_wait: keep it short so settling is quick.
  const bus = new NatsActorBus(js, manager, subjects, undefined, { ackWaitMs: 2_000 });
  const trading = await startTrading(config, {
    bus,
    store: await KvSnapshotStore.open(js, 'sluice_snapshots'),
    control: connection,
    lastMarketData: lastMarketDataFromStream(manager, subjects, SYMBOLS),
  });
  return { connection, bus, trading };
}

/** Waits until every durable consumer has nothing pending or unacked, twice in a row. */
async function settle(test: TestBus, process: Process | undefined): Promise<void> {
  let quiet = 0;
  for (let round = 0; round < 2_000 && quiet < 2; round++) {
    await process?.bus.flush();
    let busy = false;
    for (const stream of ['MARKET', 'SIGNALS', 'ORDERS']) {
      for await (const info of test.manager.consumers.list(stream)) {
        // Only the actors' durables: the ledger reader's ordered consumers linger after use.
        if (info.config.durable_name && info.num_pending + info.num_ack_pending > 0) busy = true;
      }
    }
    quiet = busy ? 0 : quiet + 1;
    if (quiet < 2) await new Promise((resolve) => setTimeout(resolve, busy ? 2 : 5));
  }
  assert.equal(quiet, 2, 'consumers did not settle');
}

/** Everything stored in ORDERS, in stream order. */
async function ordersLedger(test: TestBus) {
  const consumer = await test.jetstream.consumers.get('ORDERS');
  const { state } = await test.manager.streams.info('ORDERS');
  const out = {
    intents: [] as OrderIntent[],
    events: [] as OrderEvent[],
    fills: [] as Fill[],
    decisions: [] as RiskDecision[],
  };
  if (state.messages === 0) return out;
  const messages = await consumer.consume();
  let seen = 0;
  for await (const message of messages) {
    const event = message.json<{ schema: string }>();
    if (event.schema === 'order_intent.v1') out.intents.push(event as OrderIntent);
    if (event.schema === 'order_event.v1') out.events.push(event as OrderEvent);
    if (event.schema === 'fill.v1') out.fills.push(event as Fill);
    if (event.schema === 'risk_decision.v1') out.decisions.push(event as RiskDecision);
    if (++seen >= state.messages) break;
  }
  messages.stop();
  return out;
}

async function feedStep(test: TestBus, bar: Bar, process: Process | undefined, settleAfter = true) {
  const feeder = new NatsActorBus(test.jetstream, test.manager, test.subjects);
  await feeder.publish('bar', test.subjects.bar(bar.symbol), bar);
  await feeder.flush();
  if (settleAfter) await settle(test, process);
  await feeder.publish('signal', test.subjects.signal('momentum', bar.symbol), signalFor(bar));
  await feeder.flush();
  if (settleAfter) await settle(test, process);
}

/** The uninterrupted reference: the same actors on the in-process bus. */
async function inProcessReference(bars: readonly Bar[]) {
  const fills: Fill[] = [];
  const events: OrderEvent[] = [];
  const bus = new InProcessBus(new Subjects(4), {
    onPublish: (_subject, name, event) => {
      if (name === 'fill') fills.push(event as Fill);
      if (name === 'order_event') events.push(event as OrderEvent);
    },
  });
  const trading = await startTrading(tradingConfig(), { bus });
  for (const bar of bars) {
    await bus.publish('bar', bus.subjects.bar(bar.symbol), bar);
    await bus.publish('signal', bus.subjects.signal('momentum', bar.symbol), signalFor(bar));
  }
  const positions = trading.status().portfolio.positions;
  await trading.stop();
  return { fills, events, positions };
}

const byId = <T extends { id: string }>(items: readonly T[]) =>
  JSON.stringify([...items].sort((a, b) => a.id.localeCompare(b.id)));

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
});
