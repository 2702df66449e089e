// The ExecutionActor at Alpaca, for real: the risk gate, execution and portfolio on a real NATS
// server, the execution actor driving the real Alpaca broker adapter (Alpaca's SDK) built by the
// broker registry from a run config's trading.broker, against the loopback Alpaca trading server
// (test/support/loopback/alpaca-trading.ts: Alpaca's Trading API and trade_updates stream, real
// account state, fills from recorded SPY minute bars). Cases: a reject, a 429, a fill reported twice,
// a cancel racing a fill, a bracket whose stop triggers and whose take-profit is cancelled, a crash
// mid-partial-fill, an order placed by hand found at a restart (per unknownOrders), a fill during a
// stream drop, and the risk gate held halted on a mismatch and released by a clean reconciliation,
// after which a signal goes through the gate to the venue. (A crash between submit and acknowledgement
// and the live opt-in, with `sluice run` as a child process: execution-alpaca-run.test.ts.)
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { createLiveBroker } from '../../actors/execution/brokers/index.ts';
import type { UnknownOrderPolicy } from '../../actors/execution/reconcile.ts';
import {
  lastMarketDataFromStream,
  startTrading,
  type Trading,
  type TradingConfig,
} from '../../actors/pipeline.ts';
import { FixedNotionalSizer } from '../../actors/risk/sizing.ts';
import { GateKey, sealIntent } from '../../core/gate-seal.ts';
import { clientOrderIdFor, intentIdFor, orderIdFor } from '../../core/lineage-ids.ts';
import type {
  Alert,
  Bar,
  OrderIntent,
  Reconciliation,
  RiskDecision,
  Signal,
} from '../../schemas/messages.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { NatsActorBus } from '../../streams/bus.ts';
import { connectNats, type NatsConnection } from '../../streams/connection.ts';
import { lastPortfolioSnapshotFromStream, lastReconciliationFromStream } from '../../streams/last-message.ts';
import { KvSnapshotStore } from '../../streams/snapshot-store.ts';
import { startTestBus, type TestBus } from '../support/bus.ts';
import { type AlpacaBarItem, alpacaBar, readSpyBars } from '../support/loopback/alpaca.ts';
import {
  type AlpacaTradingLoopback,
  startAlpacaTradingLoopback,
} from '../support/loopback/alpaca-trading.ts';
import { cancelCommand, frictionlessVenue, orderIntent } from '../support/orders.ts';
import { instruments, riskLimits } from '../support/risk-limits.ts';
import { ordersLedger, settle } from '../support/trading.ts';
import { until } from '../support/wait.ts';

const KEY = 'PKEXECUTIONTEST';
const SECRET = 'execution-test-secret';
const ENV = { SLUICE_BROKER_KEY_ID: KEY, SLUICE_BROKER_SECRET: SECRET };
const VENUE = 'alpaca-paper';
const gateKey = GateKey.forRun('execution-alpaca');

function config(): Omit<TradingConfig, 'broker'> {
  return {
    account: 'paper',
    gateKey,
    startingCash: 1_000_000,
    startState: 'halted',
    risk: {
      limits: riskLimits({
        instruments: instruments(['SPY'], { minQuantity: 1, maxQuantity: 1_000, maxPosition: 1_000 }),
        priceCollarBps: 500,
        maxMarketDataAgeMs: 3_600_000,
      }),
      sizer: new FixedNotionalSizer(1_500),
      // Whole shares: Alpaca takes fractional quantities only on day market and limit orders.
      venueRules: { SPY: { lotSize: 1 } },
    },
    venue: frictionlessVenue(),
  };
}

interface Process {
  connection: NatsConnection;
  trading: Trading;
  close(): Promise<void>;
}

describe('execution at Alpaca (loopback) over NATS', { timeout: 180_000 }, () => {
  let spy: Bar[];
  let bars: AlpacaBarItem[];
  let test: TestBus;
  let venue: AlpacaTradingLoopback;
  const open: Process[] = [];

  before(async () => {
    spy = await readSpyBars(400);
    bars = spy.map(alpacaBar);
  });
  beforeEach(async () => {
    for (const process of open.splice(0)) await process.close();
    await venue?.close();
    await test?.close();
    test = await startTestBus();
    venue = await startAlpacaTradingLoopback({
      keyId: KEY,
      secretKey: SECRET,
      bars: { SPY: bars },
      cash: 1_000_000,
    });
  });
  after(async () => {
    for (const process of open.splice(0)) await process.close();
    await venue?.close();
    await test?.close();
  });

  /** Risk gate, execution (at the loopback Alpaca, through the registry) and portfolio: one process. */
  async function start(unknownOrders: UnknownOrderPolicy = 'halt'): Promise<Process> {
    const connection = await connectNats({ url: test.url, name: 'execution-alpaca' });
    const js = jetstream(connection);
    const manager = await jetstreamManager(connection);
    const subjects = new Subjects(4);
    const bus = new NatsActorBus(js, manager, subjects, undefined, { ackWaitMs: 2_000 });
    const broker = await createLiveBroker(
      { kind: 'alpaca', baseUrl: venue.baseUrl, streamUrl: venue.streamUrl, requestTimeoutMs: 1_000 },
      ENV,
    );
    const trading = await startTrading(
      {
        ...config(),
        broker: {
          broker,
          venue: VENUE,
          unknownOrders,
          // The loopback's time is its recorded bars': the venue's clock, as a live one would be.
          clock: { now: () => venue.now() },
          retry: { initialDelayMs: 10, maxDelayMs: 100, maxAttempts: 6 },
        },
      },
      {
        bus,
        store: await KvSnapshotStore.open(js, 'sluice_snapshots'),
        control: connection,
        lastMarketData: lastMarketDataFromStream(manager, subjects, ['SPY']),
        lastPortfolioSnapshot: lastPortfolioSnapshotFromStream(manager, subjects, 'paper'),
        lastReconciliation: lastReconciliationFromStream(manager, subjects, VENUE),
      },
    );
    let closed = false;
    const process: Process = {
      connection,
      trading,
      close: async () => {
        if (closed) return;
        closed = true;
        await trading.stop();
        await connection.close();
      },
    };
    open.push(process);
    return process;
  }

  /** The process dies: no drain, no snapshot after this, its sockets gone. */
  async function crash(process: Process): Promise<void> {
    open.splice(open.indexOf(process), 1);
    await process.connection.close();
    // Its broker's stream dies with it (the connection object is unreachable from here otherwise).
    await process.trading.execution.stop().catch(() => undefined);
  }

  let intents = 0;
  /** An intent as the risk gate passes it, sealed with its key, on ord.intent.SPY. */
  async function send(fields: Partial<OrderIntent> = {}): Promise<OrderIntent> {
    intents++;
    const ts = venue.now();
    const intent = orderIntent(`sig:exec:${intents}`, { ts_event: ts, ts_init: ts, quantity: 10, ...fields });
    const sealed = sealIntent(intent, { decisionId: `sig:exec:${intents}:decision` }, gateKey);
    await publisher().publish('order_intent', test.subjects.orderIntent('SPY'), sealed);
    return sealed;
  }

  function publisher(): NatsActorBus {
    return new NatsActorBus(test.jetstream, test.manager, test.subjects);
  }

  async function cancel(orderId: string): Promise<void> {
    const ts = venue.now();
    await publisher().publish('control_command', `ord.cancel.SPY`, cancelCommand(orderId, ts));
  }

  const statuses = async (orderId: string) =>
    (await ordersLedger(test)).events.filter((e) => e.order_id === orderId).map((e) => e.status);
  const fillsOf = async (orderId: string) =>
    (await ordersLedger(test)).fills.filter((f) => f.order_id === orderId);
  const venueOrders = () =>
    venue.orders() as { client_order_id: string; status: string; filled_qty: string }[];

  /** Every message in `stream` of `schema`, in stream order. */
  async function stored<T>(stream: 'ORDERS' | 'ALERTS', schema: string): Promise<T[]> {
    const { state } = await test.manager.streams.info(stream);
    const out: { schema: string }[] = [];
    if (state.messages === 0) return [];
    const messages = await (await test.jetstream.consumers.get(stream)).consume();
    for await (const message of messages) {
      out.push(message.json<{ schema: string }>());
      if (out.length >= state.messages) break;
    }
    messages.stop();
    return out.filter((message) => message.schema === schema) as T[];
  }
  const reconciliations = () => stored<Reconciliation>('ORDERS', 'reconciliation.v1');
  const alerts = async (code: string) =>
    (await stored<Alert>('ALERTS', 'alert.v1')).filter((a) => a.code === code);

  it('a reject is a rejected order event; a 429 is retried under the same client order id, placing one order', async () => {
    const process = await start();
    await until('the start reconciliation', async () =>
      (await reconciliations()).some((r) => r.outcome === 'ok'),
    );
    venue.rejectNextOrder();
    const refused = await send();
    await until('the reject', async () => (await statuses(orderIdFor(refused.id))).includes('rejected'));
    const rejected = (await ordersLedger(test)).events.find((e) => e.status === 'rejected');
    assert.match(rejected?.reason ?? '', /^insufficient_buying_power: /);
    assert.equal(rejected?.account_mode, 'paper');

    venue.rateLimitNext(2);
    const limited = await send();
    const orderId = orderIdFor(limited.id);
    await until('the fill', async () => (await statuses(orderId)).at(-1) === 'filled');
    const posts = venue.requests.filter((r) => r.method === 'POST' && r.path === '/v2/orders');
    assert.deepEqual(
      posts.map((r) => r.status),
      [403, 429, 429, 200],
    );
    assert.deepEqual(
      venueOrders().map((o) => o.client_order_id),
      [clientOrderIdFor(orderId)],
      'one order at the venue, under the client order id of the order',
    );
    assert.deepEqual(process.trading.execution.status().broker?.rejects, { insufficient_buying_power: 1 });
    assert.ok((process.trading.execution.status().broker?.retries ?? 0) >= 2);
  });

  it('a fill the stream sends twice is published once; the portfolio holds it once', async () => {
    const process = await start();
    venue.duplicateNextFill();
    const sent = venue.tradeUpdatesSent();
    const intent = await send({ quantity: 7 });
    const orderId = orderIdFor(intent.id);
    await until('filled', async () => (await statuses(orderId)).at(-1) === 'filled');
    assert.ok(venue.tradeUpdatesSent() - sent >= 3, 'new, fill and its copy went out');
    const fills = await fillsOf(orderId);
    assert.equal(fills.length, 1);
    assert.equal(fills[0]?.quantity, 7);
    assert.ok(fills[0]?.venue_fill_id, 'named by the venue’s execution id');
    await until('the portfolio', () =>
      process.trading.portfolio.status().positions.some((p) => p.symbol === 'SPY' && p.quantity === 7),
    );
  });

  it('a cancel that loses the race with a fill: the fill is kept and published, the order ends filled', async () => {
    await start();
    const intent = await send({ order_type: 'limit', limit_price: 1, quantity: 5 });
    const orderId = orderIdFor(intent.id);
    await until('accepted at the venue', async () => (await statuses(orderId)).includes('accepted'));
    venue.raceNextCancelWithFill();
    await cancel(orderId);
    await until('filled', async () => (await statuses(orderId)).at(-1) === 'filled');
    assert.ok(!(await statuses(orderId)).includes('canceled'));
    assert.deepEqual(
      (await fillsOf(orderId)).map((f) => f.quantity),
      [5],
    );
    assert.equal(venue.positionQty('SPY'), 5);
  });

  it('a bracket: its legs report under the entry’s child ids; the stop triggers, the take-profit is cancelled', async () => {
    const process = await start();
    await until('released', () => process.trading.risk.status().state === 'active');
    const last = venue.lastPrice('SPY');
    const cents = (price: number) => Math.round(price * 100) / 100;
    const entry = await send({
      quantity: 10,
      time_in_force: 'gtc',
      bracket: {
        take_profit: { limit_price: cents(last + 20) },
        stop_loss: { stop_price: cents(last - 0.05) },
      },
    });
    const orderId = orderIdFor(entry.id);
    await until('the entry fills', async () => (await statuses(orderId)).at(-1) === 'filled');
    for (let bar = 0; bar < 150 && venue.positionQty('SPY') !== 0; bar++) venue.step();
    assert.equal(venue.positionQty('SPY'), 0, 'the stop-loss closed the position');
    await until(
      'the stop-loss fills',
      async () => (await statuses(`${orderId}:stop_loss`)).at(-1) === 'filled',
    );
    await until(
      'the take-profit is cancelled',
      async () => (await statuses(`${orderId}:take_profit`)).at(-1) === 'canceled',
    );
    assert.deepEqual(
      (await ordersLedger(test)).fills.map((f) => [f.order_id, f.side, f.quantity]),
      [
        [orderId, 'buy', 10],
        [`${orderId}:stop_loss`, 'sell', 10],
      ],
    );
    assert.deepEqual((await process.trading.execution.venueView()).sluice.positions, []);
    const reconciled = await process.trading.execution.reconcile();
    assert.equal(reconciled.outcome, 'ok');
    assert.deepEqual(reconciled.differences, [], 'the legs are Sluice’s, not orders placed by hand');
  });

  it('a crash mid-partial-fill: the fills complete after the restart, none counted twice, the position right', async () => {
    venue.capFillPerMatch(30);
    const first = await start();
    const intent = await send({ quantity: 100 });
    const orderId = orderIdFor(intent.id);
    await until('the first partial fill', async () => (await fillsOf(orderId)).length === 1);
    await crash(first);
    venue.step();
    venue.step();
    assert.equal(venue.positionQty('SPY'), 90, 'two more partial fills while Sluice is down');

    const second = await start();
    await until('the missed fills', async () => (await fillsOf(orderId)).length === 3);
    venue.step();
    await until('the last fill', async () => (await statuses(orderId)).at(-1) === 'filled');
    const fills = await fillsOf(orderId);
    assert.deepEqual(
      fills.map((f) => f.quantity),
      [30, 30, 30, 10],
    );
    assert.equal(new Set(fills.map((f) => f.id)).size, 4, 'each once, by the venue’s execution id');
    const restart = (await reconciliations()).filter(
      (r) => r.trigger === 'start' && r.outcome !== 'reconciling',
    );
    assert.deepEqual(
      restart.map((r) => r.outcome),
      ['ok', 'ok'],
    );
    assert.deepEqual(
      restart[1]?.differences.map((d) => [d.kind, d.resolution]),
      [
        ['missed_fill', 'adopted'],
        ['missed_fill', 'adopted'],
        ['order_state', 'adopted'],
      ],
    );
    await until('the portfolio', () =>
      second.trading.portfolio.status().positions.some((p) => p.symbol === 'SPY' && p.quantity === 100),
    );
    assert.equal(venue.positionQty('SPY'), 100);
    assert.equal(venueOrders().length, 1, 'never sent again');
    await until('the gate is released', () => second.trading.risk.status().state === 'active');
  });

  for (const policy of ['halt', 'cancel', 'adopt'] as const) {
    it(`an order placed by hand, found at a restart, with unknownOrders ${policy}`, async () => {
      const first = await start(policy);
      await until('released', () => first.trading.risk.status().state === 'active');
      await first.close();
      const hand = venue.placeByHand({
        symbol: 'SPY',
        side: 'buy',
        qty: 3,
        type: 'limit',
        limitPrice: 1,
      }) as {
        id: string;
      };

      const second = await start(policy);
      const starts = async () =>
        (await reconciliations()).filter((r) => r.trigger === 'start' && r.outcome !== 'reconciling');
      await until('the start reconciliation', async () => (await starts()).length === 2);
      const last = (await starts()).at(-1);
      const difference = last?.differences.find((d) => d.kind === 'unknown_order');
      assert.equal(difference?.venue_order_id, hand.id);
      const handOrder = () => venueOrders().find((o) => (o as unknown as { id: string }).id === hand.id);
      if (policy === 'halt') {
        assert.equal(last?.outcome, 'mismatch');
        assert.equal(difference?.resolution, 'unexplained');
        assert.equal(second.trading.risk.status().state, 'halted');
        assert.equal(second.trading.risk.status().reconciled, false);
        const [alert] = await alerts('reconciliation_mismatch');
        assert.equal(alert?.severity, 'critical');
        assert.match(
          alert?.message ?? '',
          /buy 3 SPY \(limit, accepted\) open at the venue, not placed by Sluice/,
        );
        assert.equal(handOrder()?.status, 'new', 'left alone');
        // The operator cancels it at the venue and reconciles: clean, and the gate is released.
        const response = await fetch(`${venue.baseUrl}/v2/orders/${hand.id}`, {
          method: 'DELETE',
          headers: { 'APCA-API-KEY-ID': KEY, 'APCA-API-SECRET-KEY': SECRET },
        });
        assert.equal(response.status, 204);
        assert.equal((await second.trading.execution.reconcile()).outcome, 'ok');
        await until('released', () => second.trading.risk.status().state === 'active');
      } else {
        assert.equal(last?.outcome, 'ok');
        assert.equal(difference?.resolution, policy === 'cancel' ? 'cancelled' : 'adopted');
        await until('released', () => second.trading.risk.status().state === 'active');
        if (policy === 'cancel') assert.equal(handOrder()?.status, 'canceled');
        if (policy === 'adopt') {
          assert.equal(handOrder()?.status, 'new');
          assert.deepEqual(await statuses(`venue:${VENUE}:${hand.id}:order`), ['accepted']);
        }
      }
    });
  }

  it('a fill during a stream drop is adopted at the reconnect; the gate halts meanwhile and is released after', async () => {
    venue.capFillPerMatch(4);
    const process = await start();
    await until('released', () => process.trading.risk.status().state === 'active');
    const intent = await send({ quantity: 8 });
    const orderId = orderIdFor(intent.id);
    await until('the first partial fill', async () => (await fillsOf(orderId)).length === 1);
    venue.refuseStream(true);
    venue.dropStream();
    await until('the drop is seen', () => process.trading.execution.status().broker?.connected === false);
    venue.step();
    assert.equal(venue.positionQty('SPY'), 8, 'filled while the stream was down');
    venue.refuseStream(false);
    await until('the reconnect reconciliation', async () =>
      (await reconciliations()).some((r) => r.trigger === 'reconnect' && r.outcome === 'ok'),
    );
    const reconnect = (await reconciliations()).filter((r) => r.trigger === 'reconnect');
    assert.deepEqual(
      reconnect.map((r) => r.outcome),
      ['reconciling', 'ok'],
    );
    assert.deepEqual(
      (await fillsOf(orderId)).map((f) => f.quantity),
      [4, 4],
    );
    assert.equal((await statuses(orderId)).at(-1), 'filled');
    const transitions = (await alerts('RISK_HALTED')).map((a) => a.message);
    assert.ok(
      transitions.some((m) => /active → halted: UNRECONCILED/.test(m)),
      transitions.join('\n'),
    );
    await until('released again', () => process.trading.risk.status().state === 'active');
  });

  it('released after a clean reconciliation, the gate passes a signal to the venue under its derived client order id', async () => {
    const process = await start();
    await until('released', () => process.trading.risk.status().state === 'active');
    assert.equal(process.trading.risk.status().venue.accountMode, 'paper');
    const bar = spy[0] as Bar;
    assert.equal(bar.ts_event, venue.now(), 'the bar the venue is at');
    const feed = publisher();
    await feed.publish('bar', test.subjects.bar('SPY'), bar);
    // The bar and the signal reach the gate through different consumers: the gate must hold the
    // bar's price before the signal comes, or it denies for want of a price.
    await feed.flush();
    await settle(test, undefined);
    const signal: Signal = {
      schema: 'signal.v1',
      id: 'sig:test:SPY:1',
      ts_event: bar.ts_event,
      ts_init: bar.ts_event,
      strategy: 'test',
      symbol: 'SPY',
      model_version: 'test-1',
      direction: 1,
      probability: 0.9,
      feature_id: 'feat:SPY:1',
    };
    await feed.publish('signal', test.subjects.signal('test', 'SPY'), signal);
    const orderId = orderIdFor(intentIdFor(signal.id));
    await until(
      'the decision',
      async () => (await stored<RiskDecision>('ORDERS', 'risk_decision.v1')).length === 1,
    );
    const [decision] = await stored<RiskDecision>('ORDERS', 'risk_decision.v1');
    assert.equal(decision?.outcome, 'pass', decision?.reason);
    await until('filled at the venue', async () => (await statuses(orderId)).at(-1) === 'filled');
    assert.deepEqual(
      venueOrders().map((o) => o.client_order_id),
      [clientOrderIdFor(orderId)],
    );
    const [fill] = await fillsOf(orderId);
    assert.equal(fill?.account_mode, 'paper');
    assert.equal(fill?.quantity, venue.positionQty('SPY'));
  });
});
