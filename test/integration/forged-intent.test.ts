// Forged order intents on a real NATS server and PostgreSQL, while the risk gate, execution and
// portfolio trade real bars: (a) an unsealed intent published straight on ord.intent.<symbol>,
// (b) one with a made-up seal delivered into ord.intent.<symbol> by a push consumer created on the
// MARKET stream (the server does not check a deliver subject against its creator's publish rights,
// and ORDERS stores what is delivered there), (c) a real intent of the gate re-published with ten
// times its quantity. (a) and (c) each end once in the dead-letter stream with the reason and raise
// alert.critical.unauthorised_intent; (b) is stored in ORDERS under its original md.sentiment
// subject, which the execution actor does not read. Nothing of them reaches the venue, and the valid
// traffic around them gives the same orders and fills as the in-process reference.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AckPolicy, DeliverPolicy } from '@nats-io/jetstream';
import type { Kysely } from 'kysely';
import { orderIdFor } from '../../core/lineage-ids.ts';
import type { Alert, Bar, DeadLetter, OrderIntent } from '../../schemas/messages.ts';
import type { StreamName } from '../../schemas/subjects.ts';
import { createDatabase, type Database } from '../../timescale/database.ts';
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
import { sampleBars, tradingConfig } from '../unit/trading-fixture.ts';

const NOT_SEALED = 'unauthorised intent: not sealed by the risk gate (no seal)';
const NO_MATCH =
  'unauthorised intent: seal does not match (forged, altered after the gate passed it, or sealed with another key)';

/** Every message in `stream`, decoded as JSON, in stream order. */
async function streamMessages<T>(test: TestBus, stream: StreamName): Promise<T[]> {
  const { state } = await test.manager.streams.info(stream);
  const out: T[] = [];
  if (state.messages === 0) return out;
  const messages = await (await test.jetstream.consumers.get(stream)).consume();
  for await (const message of messages) {
    out.push(message.json<T>());
    if (out.length >= state.messages) break;
  }
  messages.stop();
  return out;
}

/** The subjects under which `stream` holds a message whose body has this id. */
async function storedCopies(test: TestBus, stream: StreamName, id: string): Promise<string[]> {
  const { state } = await test.manager.streams.info(stream);
  const subjects: string[] = [];
  for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
    const stored = await test.manager.streams.getMessage(stream, { seq });
    if (stored?.json<{ id?: string }>().id === id) subjects.push(stored.subject);
  }
  return subjects;
}

/** An intent as someone without the gate key would write it. */
function forgedIntent(id: string, symbol: string, at: number, seal?: string): OrderIntent {
  return {
    schema: 'order_intent.v2',
    id,
    ts_event: at,
    ts_init: at,
    strategy: 'momentum',
    symbol,
    side: 'buy',
    quantity: 250,
    order_type: 'market',
    time_in_force: 'gtc',
    reduce_only: false,
    signal_id: `${id}:signal`,
    decision_id: `${id}:decision`,
    ...(seal !== undefined ? { seal } : {}),
  };
}

describe('forged order intents never reach the venue', { timeout: 180_000 }, () => {
  let bars: Bar[];
  let test: TestBus;
  let database: Awaited<ReturnType<typeof postgresForTests>>;
  let db: Kysely<Database>;
  let process: Process;

  before(async () => {
    bars = await sampleBars(12);
    [test, database] = await Promise.all([startTestBus(), postgresForTests()]);
    db = createDatabase(database.url);
    await migrateToLatest(db);
    process = await startProcess(test.url, tradingConfig({ startState: 'reducing' }), database.url);
  });
  after(async () => {
    await process?.trading.stop();
    await process?.connection.close();
    await process?.db?.destroy();
    await db?.destroy();
    await database?.close();
    await test?.close();
  });

  it('published directly, delivered by a push consumer on MARKET, or altered: refused with the reason and an alert, nothing filled', async () => {
    await settle(test, process);
    assert.equal(process.trading.status().risk.state, 'active', 'reconciled with the start snapshot');
    const half = bars.length / 2;
    for (const bar of bars.slice(0, half)) await feedStep(test, bar, process);
    const at = bars[half - 1]!.ts_event;
    const real = (await ordersLedger(test)).intents.at(-1)!;
    assert.match(real.seal ?? '', /^[0-9a-f]{64}$/, 'the gate seals its intents');
    const intentSubject = test.subjects.orderIntent('AAPL');

    // (a) Straight onto ord.intent.AAPL, as a user allowed to publish there.
    const direct = forgedIntent('forged-direct:intent', 'AAPL', at);
    await test.jetstream.publish(intentSubject, JSON.stringify(direct), { msgID: direct.id });

    // (b) Through a push consumer on MARKET whose deliver subject is ord.intent.AAPL: whoever reads
    // market data and may publish md.sentiment.> can do this. The subscription gives the deliver
    // subject the interest a push consumer waits for.
    const interest = test.connection.subscribe(intentSubject);
    const sentimentSubject = test.subjects.sentiment('AAPL');
    const injector = await test.manager.consumers.add('MARKET', {
      filter_subject: sentimentSubject,
      deliver_subject: intentSubject,
      deliver_policy: DeliverPolicy.New,
      ack_policy: AckPolicy.None,
    });
    const viaConsumer = forgedIntent('forged-via-consumer:intent', 'AAPL', at, 'ab'.repeat(32));
    await test.jetstream.publish(sentimentSubject, JSON.stringify(viaConsumer));

    // (c) A real intent of the gate, re-published (without its message id, so the stream keeps it)
    // with ten times the quantity.
    const altered: OrderIntent = { ...real, quantity: real.quantity * 10 };
    await test.jetstream.publish(test.subjects.orderIntent(real.symbol), JSON.stringify(altered));
    await settle(test, process);
    // ORDERS stores the delivered copy, but (nats-server 2.9.10) under its original subject, outside
    // ord.>: the execution actor's consumer never sees it. Were it stored on ord.intent.AAPL, it
    // would be refused like (a) for its seal.
    const injected = await storedCopies(test, 'ORDERS', viaConsumer.id);
    assert.deepEqual(injected, [sentimentSubject], 'the push consumer delivered the forgery into ORDERS');
    await test.manager.consumers.delete('MARKET', injector.name);
    interest.unsubscribe();

    for (const bar of bars.slice(half)) await feedStep(test, bar, process);

    // Each forgery: one dead letter with its reason, one critical alert.
    const letters = (await streamMessages<DeadLetter>(test, 'DEADLETTER')).filter(
      (letter) => letter.consumer === 'execution-orders',
    );
    assert.deepEqual(
      letters.map((letter) => [
        letter.original_subject,
        letter.reason,
        (JSON.parse(letter.payload) as OrderIntent).id,
      ]),
      [
        [intentSubject, NOT_SEALED, direct.id],
        [test.subjects.orderIntent(real.symbol), NO_MATCH, real.id],
      ],
    );
    const alerts = (await streamMessages<Alert>(test, 'ALERTS')).filter(
      (alert) => alert.code === 'unauthorised_intent',
    );
    assert.deepEqual(
      alerts.map((alert) => [alert.severity, alert.labels?.intent_id]),
      [
        ['critical', direct.id],
        ['critical', real.id],
      ],
    );
    assert.equal(process.trading.status().execution.unauthorised, 2);

    // Nothing of them at the venue: the orders and fills are exactly those of the valid traffic.
    const ledger = await ordersLedger(test);
    const reference = await inProcessReference(bars);
    assert.ok(reference.fills.length > 3, `reference fills: ${reference.fills.length}`);
    assert.equal(byId(ledger.fills), byId(reference.fills));
    assert.equal(byId(ledger.events), byId(reference.events));
    const forgedIds = [direct.id, viaConsumer.id];
    assert.ok(!ledger.events.some((event) => forgedIds.includes(event.intent_id)));
    const realFilled = ledger.fills
      .filter((fill) => fill.order_id === orderIdFor(real.id))
      .reduce((sum, fill) => sum + fill.quantity, 0);
    assert.ok(realFilled <= real.quantity, `${real.id} filled ${realFilled} of ${real.quantity}`);

    // ...and in the audit tables (stored before the inputs were acknowledged, so settled now).
    const orders = await db.selectFrom('orders').select(['intent_id', 'quantity']).execute();
    assert.equal(orders.length, new Set(reference.events.map((event) => event.intent_id)).size);
    assert.ok(!orders.some((order) => forgedIds.includes(order.intent_id)));
    assert.equal(orders.find((order) => order.intent_id === real.id)?.quantity, real.quantity);
    const fills = await db.selectFrom('fills').select('id').execute();
    assert.equal(fills.length, reference.fills.length);
  });
});
