// The execution actor with the simulated venue (paper trading) over real NATS, killed while a
// bracket's children work at the venue and restarted from its durable consumers and KV snapshot: the
// venue's books come back with it, so the take-profit or stop-loss still fills afterwards and the
// ledger is the one of a run that never stopped (the same actor on the in-process bus).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type PipelineServices, startPipeline } from '../../actors/pipeline.ts';
import { sealIntent } from '../../core/gate-seal.ts';
import { bracketChildIdFor, orderIdFor } from '../../core/lineage-ids.ts';
import type { Bar, Fill, OrderEvent, OrderIntent } from '../../schemas/messages.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { NatsActorBus } from '../../streams/bus.ts';
import { connectNats, type NatsConnection } from '../../streams/connection.ts';
import { InProcessBus } from '../../streams/in-process-bus.ts';
import { KvSnapshotStore } from '../../streams/snapshot-store.ts';
import { startTestBus, type TestBus } from '../support/bus.ts';
import { orderIntent } from '../support/orders.ts';
import { byId, ordersLedger, settle } from '../support/trading.ts';
import { sampleBars, tradingConfig } from '../unit/trading-fixture.ts';

const config = tradingConfig();
const round = (price: number) => Math.round(price * 100) / 100;

/** A market buy of 10 AAPL at the first bar's close with its bracket, as the risk gate seals it. */
function bracketEntry(bars: readonly Bar[], restartAt: number): OrderIntent {
  // Barriers outside every bar's range up to the restart: the children are still working then.
  const before = bars.slice(1, restartAt);
  const ts = bars[0]?.ts_event ?? 0;
  const intent = orderIntent('sig:bracket', {
    ts_event: ts,
    ts_init: ts,
    symbol: 'AAPL',
    quantity: 10,
    time_in_force: 'gtc',
    bracket: {
      take_profit: { limit_price: round(Math.max(...before.map((b) => b.high)) * 1.001 + 0.01) },
      stop_loss: { stop_price: round(Math.min(...before.map((b) => b.low)) * 0.999 - 0.01) },
    },
  });
  return sealIntent(intent, { decisionId: 'sig:bracket:decision' }, config.gateKey);
}

describe('execution with the simulated venue restarted while a bracket works', { timeout: 120_000 }, () => {
  let test: TestBus;
  let bars: Bar[];
  before(async () => {
    test = await startTestBus();
    bars = (await sampleBars(40)).filter((bar) => bar.symbol === 'AAPL');
  });
  after(async () => {
    await test.close();
  });

  async function start(): Promise<{ connection: NatsConnection; services: PipelineServices }> {
    const connection = await connectNats({ url: test.url, name: 'sluice-execution' });
    const js = jetstream(connection);
    const manager = await jetstreamManager(connection);
    const bus = new NatsActorBus(js, manager, new Subjects(4), undefined, { ackWaitMs: 2_000 });
    return { connection, services: { bus, store: await KvSnapshotStore.open(js, 'sluice_snapshots') } };
  }

  /** The uninterrupted run: the same intent and bars to the same actor on the in-process bus. */
  async function reference(entry: OrderIntent) {
    const fills: Fill[] = [];
    const events: OrderEvent[] = [];
    const bus = new InProcessBus(new Subjects(4), {
      onPublish: (_subject, name, event) => {
        if (name === 'fill') fills.push(event as Fill);
        if (name === 'order_event') events.push(event as OrderEvent);
      },
    });
    const { execution } = await startPipeline(['execution'], { trading: config }, { bus });
    await bus.publish('order_intent', bus.subjects.orderIntent(entry.symbol), entry);
    for (const bar of bars) await bus.publish('bar', bus.subjects.bar(bar.symbol), bar);
    await execution.stop();
    return { fills, events };
  }

  it('the take-profit or stop-loss fills after the restart, with the ledger of a run without it', async () => {
    const restartAt = 4;
    const entry = bracketEntry(bars, restartAt);
    const feeder = new NatsActorBus(test.jetstream, test.manager, test.subjects);
    const feed = async (bar: Bar) => {
      await feeder.publish('bar', test.subjects.bar(bar.symbol), bar);
      await feeder.flush();
      await settle(test, undefined);
    };

    let process = await start();
    await startPipeline(['execution'], { trading: config }, process.services);
    await settle(test, undefined);
    await feeder.publish('order_intent', test.subjects.orderIntent(entry.symbol), entry);
    await feeder.flush();
    await settle(test, undefined);
    for (const bar of bars.slice(0, restartAt)) await feed(bar);
    const entryId = orderIdFor(entry.id);
    const children = [bracketChildIdFor(entryId, 'stop_loss'), bracketChildIdFor(entryId, 'take_profit')];
    const working = (await ordersLedger(test)).events.filter((e) => children.includes(e.order_id));
    assert.deepEqual(
      working.map((e) => e.status),
      ['accepted', 'accepted'],
      'the entry filled and its children work at the venue',
    );

    // The process dies without draining; a new one takes over its consumers and snapshot.
    await process.connection.close();
    process = await start();
    const { execution } = await startPipeline(['execution'], { trading: config }, process.services);
    await settle(test, undefined);
    for (const bar of bars.slice(restartAt)) await feed(bar);

    const ledger = await ordersLedger(test);
    const exits = ledger.fills.filter((f) => children.includes(f.order_id));
    assert.equal(exits.length, 1, 'one of the bracket’s children filled after the restart');
    assert.equal(exits[0]?.quantity, 10);
    const expected = await reference(entry);
    assert.equal(byId(ledger.fills), byId(expected.fills));
    assert.equal(byId(ledger.events), byId(expected.events));
    await execution.stop();
    await process.connection.close();
  });
});
