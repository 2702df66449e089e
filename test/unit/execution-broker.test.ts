// The ExecutionActor at a broker (BrokerDriver), on the in-process bus, against a scripted LiveBroker
// double kept in this file: an account with real order state that the test fills, faults and drops at
// will. Every fault path: a reject, 429s, no answer (placed or not), unavailable until given up, a fill
// reported twice, a cancel racing a fill, a stream gap read back by reconciliation, an order placed by
// hand per unknownOrders, a position only the venue holds, and a restart with a partial fill.
// (The real Alpaca adapter and its loopback server: test/integration/execution-alpaca.test.ts.)
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExecutionActor } from '../../actors/execution/actor.ts';
import {
  type LiveBroker,
  VenueFault,
  type VenueFill,
  type VenueOrder,
  type VenuePosition,
  type VenueUpdate,
} from '../../actors/execution/broker-adapter.ts';
import { adoptedRef, type UnknownOrderPolicy } from '../../actors/execution/reconcile.ts';
import { ReplayClock } from '../../core/clock.ts';
import { GateKey, sealIntent } from '../../core/gate-seal.ts';
import {
  clientOrderIdFor,
  orderIdFor,
  venueFillIdFor,
  venueOrderEventIdFor,
} from '../../core/lineage-ids.ts';
import type { MessageName, MessageOf, OrderIntent } from '../../schemas/messages.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { InProcessBus } from '../../streams/in-process-bus.ts';
import type { SnapshotStore } from '../../streams/snapshot-store.ts';
import { MemorySnapshotStore } from '../support/memory-store.ts';
import { AAPL_ORDER, acceptedVenueOrder, frictionlessVenue, orderIntent } from '../support/orders.ts';
import { until } from '../support/wait.ts';

const T0 = Date.UTC(2024, 0, 2, 15);
const gateKey = GateKey.forRun('execution-broker-test');

type Call = 'submit' | 'cancel' | 'orderByClientId' | 'openOrders' | 'positions' | 'fillsSince' | 'connect';
/** A scripted answer: a fault to throw, or 'placed-then-lost' (the order is placed, the answer lost). */
type Script = VenueFault | 'placed-then-lost';

/** A broker account in memory: orders, executions and positions, updated as a venue would. */
class ScriptedBroker implements LiveBroker {
  readonly venue = 'scripted';
  readonly accountMode = 'paper' as const;
  readonly orders = new Map<string, VenueOrder>();
  readonly fills: VenueFill[] = [];
  readonly positionBook = new Map<string, number>();
  readonly calls: { call: Call; clientOrderId?: string }[] = [];
  private readonly scripts = new Map<Call, Script[]>();
  private readonly updateListeners = new Set<(update: VenueUpdate) => void>();
  private readonly connectionListeners = new Set<(state: 'connected' | 'disconnected') => void>();
  private streaming = true;
  private nextId = 0;
  private raceNextCancel = false;
  time = T0;

  script(call: Call, ...answers: Script[]): void {
    this.scripts.set(call, [...(this.scripts.get(call) ?? []), ...answers]);
  }

  count(call: Call): number {
    return this.calls.filter((c) => c.call === call).length;
  }

  private answer(call: Call, clientOrderId?: string): Script | undefined {
    this.calls.push({ call, ...(clientOrderId ? { clientOrderId } : {}) });
    return this.scripts.get(call)?.shift();
  }

  private maybeThrow(call: Call, clientOrderId?: string): void {
    const scripted = this.answer(call, clientOrderId);
    if (scripted instanceof VenueFault) throw scripted;
  }

  async connect(): Promise<void> {
    this.maybeThrow('connect');
  }
  async close(): Promise<void> {}

  async submit(intent: OrderIntent, clientOrderId: string): Promise<VenueOrder> {
    const scripted = this.answer('submit', clientOrderId);
    if (scripted instanceof VenueFault) throw scripted;
    if (this.byClientId(clientOrderId)) {
      throw new VenueFault('rejected', 'client_order_id must be unique', {
        rejectReason: 'duplicate_client_order_id',
      });
    }
    const order = this.place({
      clientOrderId,
      symbol: intent.symbol,
      side: intent.side,
      quantity: intent.quantity,
    });
    if (scripted === 'placed-then-lost') throw new VenueFault('unknown_outcome', 'no answer in time');
    return { ...order };
  }

  async cancel(clientOrderId: string, venueOrderId: string | undefined): Promise<VenueOrder | undefined> {
    this.maybeThrow('cancel', clientOrderId);
    const order = (venueOrderId && this.orders.get(venueOrderId)) || this.byClientId(clientOrderId);
    if (order === undefined) throw new VenueFault('not_found', 'no such order');
    if (this.raceNextCancel) {
      // The venue matched the order before the cancel took effect.
      this.raceNextCancel = false;
      this.fill(order.venueOrderId, order.quantity - order.filledQuantity, 101, { stream: false });
      return { ...order };
    }
    if (order.status === 'filled' || order.status === 'canceled') return { ...order };
    this.change(order, { status: 'canceled' });
    return { ...order };
  }

  async orderByClientId(clientOrderId: string): Promise<VenueOrder | undefined> {
    this.maybeThrow('orderByClientId', clientOrderId);
    const order = this.byClientId(clientOrderId);
    return order && { ...order };
  }

  async openOrders(): Promise<VenueOrder[]> {
    this.maybeThrow('openOrders');
    return [...this.orders.values()]
      .filter((o) => !['filled', 'canceled', 'rejected'].includes(o.status))
      .map((o) => ({ ...o }));
  }

  async positions(): Promise<VenuePosition[]> {
    this.maybeThrow('positions');
    return [...this.positionBook]
      .filter(([, quantity]) => quantity !== 0)
      .map(([symbol, quantity]) => ({ symbol, quantity, averagePrice: 100 }));
  }

  async fillsSince(since: number): Promise<VenueFill[]> {
    this.maybeThrow('fillsSince');
    return this.fills.filter((fill) => fill.ts >= since).map((fill) => ({ ...fill }));
  }

  onUpdate(listener: (update: VenueUpdate) => void): () => void {
    this.updateListeners.add(listener);
    return () => this.updateListeners.delete(listener);
  }

  onConnection(listener: (state: 'connected' | 'disconnected') => void): () => void {
    this.connectionListeners.add(listener);
    return () => this.connectionListeners.delete(listener);
  }

  // What the test does to the account.

  byClientId(clientOrderId: string): VenueOrder | undefined {
    return [...this.orders.values()].find((o) => o.clientOrderId === clientOrderId);
  }

  place(order: {
    clientOrderId: string | undefined;
    symbol: string;
    side: 'buy' | 'sell';
    quantity: number;
  }): VenueOrder {
    const placed = acceptedVenueOrder({
      ...order,
      venueOrderId: `v-${++this.nextId}`,
      updatedAt: ++this.time,
    });
    this.orders.set(placed.venueOrderId, placed);
    return placed;
  }

  /** An execution of `quantity`; sent on the stream unless `stream` is false (lost in a gap), or twice. */
  fill(
    venueOrderId: string,
    quantity: number,
    price: number,
    options: { stream?: boolean; twice?: boolean } = {},
  ): VenueFill {
    const order = this.orders.get(venueOrderId);
    if (order === undefined) throw new Error(`no order ${venueOrderId}`);
    const filled = order.filledQuantity + quantity;
    this.change(
      order,
      { filledQuantity: filled, status: filled >= order.quantity ? 'filled' : 'partially_filled' },
      false,
    );
    const fill: VenueFill = {
      venueFillId: `x-${venueOrderId}-${filled}`,
      venueOrderId,
      clientOrderId: order.clientOrderId,
      symbol: order.symbol,
      side: order.side,
      quantity,
      price,
      fee: 0,
      liquidity: 'taker',
      ts: this.time,
    };
    this.fills.push(fill);
    this.positionBook.set(
      order.symbol,
      (this.positionBook.get(order.symbol) ?? 0) + (order.side === 'buy' ? quantity : -quantity),
    );
    if (options.stream !== false) {
      for (let copy = 0; copy < (options.twice ? 2 : 1); copy++)
        this.emit({ order: { ...order }, fill: { ...fill } });
    }
    return fill;
  }

  raceCancelWithFill(): void {
    this.raceNextCancel = true;
  }

  change(order: VenueOrder, to: Partial<VenueOrder>, stream = true): void {
    Object.assign(order, to, { updatedAt: ++this.time });
    if (stream) this.emit({ order: { ...order }, fill: undefined });
  }

  emit(update: VenueUpdate): void {
    if (!this.streaming) return;
    for (const listener of this.updateListeners) listener(update);
  }

  /** The stream drops (updates are lost) or comes back. */
  connection(state: 'connected' | 'disconnected'): void {
    this.streaming = state === 'connected';
    for (const listener of this.connectionListeners) listener(state);
  }
}

/** A venue that looks an order's fills up by its id, whatever their times (Binance's myTrades?orderId). */
class OrderLookupBroker extends ScriptedBroker {
  readonly lookups: string[] = [];
  async fillsOfOrder(_symbol: string, venueOrderId: string): Promise<VenueFill[]> {
    this.lookups.push(venueOrderId);
    return this.fills.filter((fill) => fill.venueOrderId === venueOrderId).map((fill) => ({ ...fill }));
  }
}

let intents = 0;
function sealed(fields: Partial<OrderIntent> = {}): OrderIntent {
  intents++;
  const intent = orderIntent(`sig-${intents}`, { ...AAPL_ORDER, ts_event: T0, ts_init: T0, ...fields });
  return sealIntent(intent, { decisionId: `sig-${intents}:decision` }, gateKey);
}

interface Harness {
  actor: ExecutionActor;
  broker: ScriptedBroker;
  of<N extends MessageName>(name: N): MessageOf<N>[];
  send(intent: OrderIntent): Promise<void>;
  cancel(orderId: string): Promise<void>;
}

async function atBroker(
  options: {
    broker?: ScriptedBroker;
    store?: SnapshotStore;
    unknownOrders?: UnknownOrderPolicy;
    maxAttempts?: number;
  } = {},
): Promise<Harness> {
  const published: { name: MessageName; event: MessageOf<MessageName> }[] = [];
  const bus = new InProcessBus(new Subjects(4), {
    onPublish: (_subject, name, event) => published.push({ name, event }),
  });
  const broker = options.broker ?? new ScriptedBroker();
  const clock = new ReplayClock(T0 + 1_000);
  const actor = await ExecutionActor.start({
    bus,
    gateKey,
    venue: frictionlessVenue(),
    broker: {
      broker,
      venue: 'scripted-paper',
      unknownOrders: options.unknownOrders ?? 'halt',
      clock,
      retry: { initialDelayMs: 1, maxDelayMs: 2, maxAttempts: options.maxAttempts ?? 4 },
      sleep: async () => {},
    },
    ...(options.store ? { store: options.store } : {}),
  });
  let cancels = 0;
  return {
    actor,
    broker,
    of: <N extends MessageName>(name: N) =>
      published.filter((p) => p.name === name).map((p) => p.event as MessageOf<N>),
    send: (intent) => bus.publish('order_intent', bus.subjects.orderIntent(intent.symbol), intent),
    cancel: (orderId) =>
      bus.publish('control_command', `ord.cancel.AAPL`, {
        schema: 'control_command.v1',
        id: `${orderId}:cancel:${++cancels}`,
        ts_event: T0,
        ts_init: T0,
        actor: 'execution',
        command: 'cancel',
        operator: 'risk',
        args: { order_id: orderId },
      }),
  };
}

const statusesOf = (h: Harness, orderId: string) =>
  h
    .of('order_event')
    .filter((e) => e.order_id === orderId)
    .map((e) => e.status);

describe('execution at a broker: orders and faults', () => {
  it('reconciles at start, sends under the client order id, and stamps the account mode and venue ids', async () => {
    const h = await atBroker();
    assert.deepEqual(
      h.of('reconciliation').map((r) => [r.trigger, r.outcome, r.venue, r.account_mode]),
      [
        ['start', 'reconciling', 'scripted-paper', 'paper'],
        ['start', 'ok', 'scripted-paper', 'paper'],
      ],
    );
    const intent = sealed();
    const orderId = orderIdFor(intent.id);
    await h.send(intent);
    assert.deepEqual(
      h.broker.calls.filter((c) => c.call === 'submit'),
      [{ call: 'submit', clientOrderId: clientOrderIdFor(orderId) }],
    );
    const events = h.of('order_event');
    assert.deepEqual(
      events.map((e) => [e.id, e.status, e.account_mode]),
      [
        [venueOrderEventIdFor(orderId, 'submitted', 0), 'submitted', 'paper'],
        [venueOrderEventIdFor(orderId, 'accepted', 0), 'accepted', 'paper'],
      ],
    );
    assert.equal(events[1]?.venue_order_id, 'v-1');
    h.broker.fill('v-1', 100, 101.5);
    await until('the fill', () => h.of('fill').length === 1);
    const [fill] = h.of('fill');
    assert.deepEqual(
      [fill?.id, fill?.order_id, fill?.venue_fill_id, fill?.venue_order_id, fill?.account_mode, fill?.price],
      [venueFillIdFor(orderId, 'x-v-1-100'), orderId, 'x-v-1-100', 'v-1', 'paper', 101.5],
    );
    await until('filled', () => statusesOf(h, orderId).at(-1) === 'filled');
    assert.equal(h.actor.status().openOrders, 0);
    assert.equal(h.actor.status().accountMode, 'paper');
    await h.actor.stop();
  });

  it('a reject is a rejected order event with the reason, counted by reason', async () => {
    const h = await atBroker();
    h.broker.script(
      'submit',
      new VenueFault('rejected', 'insufficient buying power', { rejectReason: 'insufficient_buying_power' }),
    );
    const intent = sealed();
    await h.send(intent);
    const last = h.of('order_event').at(-1);
    assert.equal(last?.status, 'rejected');
    assert.match(last?.reason ?? '', /^insufficient_buying_power: insufficient buying power/);
    assert.deepEqual(h.actor.status().broker?.rejects, { insufficient_buying_power: 1 });
    assert.equal(h.broker.orders.size, 0);
    await h.actor.stop();
  });

  it('429s are retried with the same client order id: one order at the venue', async () => {
    const h = await atBroker();
    h.broker.script(
      'submit',
      new VenueFault('rate_limited', 'too many requests', { retryAfterMs: 1 }),
      new VenueFault('rate_limited', 'too many requests'),
    );
    const intent = sealed();
    await h.send(intent);
    const submits = h.broker.calls.filter((c) => c.call === 'submit');
    assert.equal(submits.length, 3);
    assert.equal(new Set(submits.map((c) => c.clientOrderId)).size, 1);
    assert.equal(h.broker.orders.size, 1);
    assert.equal(statusesOf(h, orderIdFor(intent.id)).at(-1), 'accepted');
    assert.equal(h.actor.status().broker?.retries, 2);
    await h.actor.stop();
  });

  it('no answer: the order is looked up before any retry; found, its state is taken; not found, it is sent again', async () => {
    const h = await atBroker();
    h.broker.script('submit', 'placed-then-lost');
    const placed = sealed();
    await h.send(placed);
    assert.equal(h.broker.count('submit'), 1, 'not sent twice');
    assert.equal(h.broker.orders.size, 1);
    assert.equal(statusesOf(h, orderIdFor(placed.id)).at(-1), 'accepted');

    h.broker.script('submit', new VenueFault('unknown_outcome', 'timeout'));
    const lost = sealed();
    await h.send(lost);
    assert.equal(h.broker.count('submit'), 3, 'looked up, not found, sent again');
    assert.equal(h.broker.count('orderByClientId'), 2);
    assert.equal(h.broker.orders.size, 2);
    assert.equal(statusesOf(h, orderIdFor(lost.id)).at(-1), 'accepted');
    await h.actor.stop();
  });

  it('unavailable until the retries run out: rejected as venue_unavailable, nothing at the venue', async () => {
    const h = await atBroker({ maxAttempts: 3 });
    const down = new VenueFault('unavailable', 'connection refused');
    h.broker.script('submit', down, down, down);
    const intent = sealed();
    await h.send(intent);
    const last = h.of('order_event').at(-1);
    assert.equal(last?.status, 'rejected');
    assert.match(last?.reason ?? '', /^venue_unavailable: not sent after 3 tries: connection refused/);
    assert.equal(h.broker.orders.size, 0);
    await h.actor.stop();
  });

  it('an outcome still unknown after the retries stays open, raises a warning, and the next reconciliation settles it', async () => {
    const h = await atBroker({ maxAttempts: 2 });
    const lost = new VenueFault('unknown_outcome', 'timeout');
    h.broker.script('submit', 'placed-then-lost');
    h.broker.script('orderByClientId', lost, lost);
    const intent = sealed();
    await h.send(intent);
    assert.equal(h.broker.count('submit'), 1);
    assert.deepEqual(statusesOf(h, orderIdFor(intent.id)), ['submitted']);
    assert.equal(h.of('alert').at(-1)?.code, 'order_outcome_unknown');
    const reconciled = await h.actor.reconcile();
    assert.equal(reconciled.outcome, 'ok');
    assert.deepEqual(statusesOf(h, orderIdFor(intent.id)), ['submitted', 'accepted']);
    assert.equal(h.broker.count('submit'), 1, 'found at the venue, not sent again');
    await h.actor.stop();
  });

  it('a fill reported twice is published once; partial fills add up', async () => {
    const h = await atBroker();
    const intent = sealed();
    await h.send(intent);
    h.broker.fill('v-1', 40, 100, { twice: true });
    h.broker.fill('v-1', 60, 100.5, { twice: true });
    await until('filled', () => statusesOf(h, orderIdFor(intent.id)).at(-1) === 'filled');
    assert.deepEqual(
      h.of('fill').map((f) => f.quantity),
      [40, 60],
    );
    assert.deepEqual(statusesOf(h, orderIdFor(intent.id)), [
      'submitted',
      'accepted',
      'partially_filled',
      'filled',
    ]);
    assert.ok((h.actor.status().broker?.duplicates ?? 0) >= 2);
    const view = await h.actor.venueView();
    assert.deepEqual(view.sluice.positions, [{ symbol: 'AAPL', quantity: 100 }]);
    assert.deepEqual(view.venueBooks?.positions, [{ symbol: 'AAPL', quantity: 100 }]);
    await h.actor.stop();
  });

  it('a fill the stream lost, stamped a day behind Sluice’s clock, is looked up by the order’s venue id', async () => {
    const broker = new OrderLookupBroker();
    const h = await atBroker({ broker });
    const intent = sealed();
    await h.send(intent);
    await until('accepted', () => statusesOf(h, orderIdFor(intent.id)).includes('accepted'));
    // The venue's clock: a day before the intent's time (a read by time from the intent would miss it).
    broker.time = T0 - 86_400_000;
    broker.fill('v-1', 40, 100, { stream: false });
    broker.fill('v-1', 60, 100.5);
    await until('filled', () => statusesOf(h, orderIdFor(intent.id)).at(-1) === 'filled');
    assert.deepEqual(
      h.of('fill').map((f) => f.quantity),
      [60, 40],
    );
    assert.deepEqual(broker.lookups, ['v-1']);
    await h.actor.stop();
  });

  it('an order placed by hand and filled before any reconciliation saw it open is adopted whole', async () => {
    const h = await atBroker({ unknownOrders: 'halt' });
    const hand = h.broker.place({ clientOrderId: 'web_1', symbol: 'AAPL', side: 'buy', quantity: 10 });
    h.broker.fill(hand.venueOrderId, 10, 100);
    const orderId = adoptedRef('scripted-paper', hand).orderId;
    await until('its final state', () => statusesOf(h, orderId).at(-1) === 'filled');
    assert.deepEqual(
      h.of('fill').map((f) => [f.order_id, f.quantity]),
      [[orderId, 10]],
    );
    assert.deepEqual(statusesOf(h, orderId), ['filled']);
    // Its fill sent again (a replay of the stream) is not adopted a second time.
    h.broker.emit({
      order: { ...hand, status: 'filled', filledQuantity: 10 },
      fill: h.broker.fills[0] && { ...h.broker.fills[0] },
    });
    await h.actor.stop();
    assert.equal(h.of('fill').length, 1);
    assert.deepEqual(statusesOf(h, orderId), ['filled']);
  });

  it('a cancel that loses the race with a fill: the fill is published and the order ends filled', async () => {
    const h = await atBroker();
    const intent = sealed();
    const orderId = orderIdFor(intent.id);
    await h.send(intent);
    h.broker.raceCancelWithFill();
    await h.cancel(orderId);
    await until('filled', () => statusesOf(h, orderId).at(-1) === 'filled');
    assert.deepEqual(
      h.of('fill').map((f) => [f.order_id, f.quantity]),
      [[orderId, 100]],
    );
    assert.ok(!statusesOf(h, orderId).includes('canceled'));
    // A cancel of an order already closed changes nothing.
    await h.cancel(orderId);
    assert.equal(statusesOf(h, orderId).length, 3);
    await h.actor.stop();
  });
});

describe('execution at a broker: reconciliation', () => {
  it('after a reconnect, fills lost in the gap are adopted with the venue’s ids, once', async () => {
    const h = await atBroker();
    const intent = sealed();
    const orderId = orderIdFor(intent.id);
    await h.send(intent);
    h.broker.connection('disconnected');
    h.broker.fill('v-1', 30, 100);
    h.broker.fill('v-1', 70, 100.2);
    assert.equal(h.of('fill').length, 0, 'nothing came through the gap');
    h.broker.connection('connected');
    await until('the reconnect reconciliation', () =>
      h.of('reconciliation').some((r) => r.trigger === 'reconnect' && r.outcome !== 'reconciling'),
    );
    const reconnect = h.of('reconciliation').filter((r) => r.trigger === 'reconnect');
    assert.deepEqual(
      reconnect.map((r) => r.outcome),
      ['reconciling', 'ok'],
    );
    assert.deepEqual(
      reconnect[1]?.differences.map((d) => [d.kind, d.resolution]),
      [
        ['missed_fill', 'adopted'],
        ['missed_fill', 'adopted'],
        ['order_state', 'adopted'],
      ],
    );
    assert.deepEqual(
      h.of('fill').map((f) => [f.id, f.quantity]),
      [
        [venueFillIdFor(orderId, 'x-v-1-30'), 30],
        [venueFillIdFor(orderId, 'x-v-1-100'), 70],
      ],
    );
    assert.equal(statusesOf(h, orderId).at(-1), 'filled');
    await h.actor.reconcile();
    assert.equal(h.of('fill').length, 2, 'read again, not published again');
    await h.actor.stop();
  });

  for (const [policy, outcome, resolution] of [
    ['halt', 'mismatch', 'unexplained'],
    ['cancel', 'ok', 'cancelled'],
    ['adopt', 'ok', 'adopted'],
  ] as const) {
    it(`an order placed by hand at the venue, unknownOrders ${policy}: ${resolution}`, async () => {
      const broker = new ScriptedBroker();
      const hand = broker.place({ clientOrderId: 'web-123', symbol: 'AAPL', side: 'buy', quantity: 10 });
      broker.fill(hand.venueOrderId, 4, 99);
      const h = await atBroker({ broker, unknownOrders: policy });
      const start = h.of('reconciliation').find((r) => r.outcome !== 'reconciling');
      assert.equal(start?.outcome, outcome);
      assert.deepEqual(
        start?.differences.map((d) => [d.kind, d.resolution]),
        [
          ['missed_fill', 'adopted'],
          ['unknown_order', resolution],
        ],
      );
      // Its fill is a fact whatever the policy: published under an order id from the venue's order id.
      const [fill] = h.of('fill');
      assert.equal(fill?.order_id, 'venue:scripted-paper:v-1:order');
      assert.equal(fill?.quantity, 4);
      if (policy === 'halt') {
        const alert = h.of('alert').find((a) => a.code === 'reconciliation_mismatch');
        assert.equal(alert?.severity, 'critical');
        assert.match(
          alert?.message ?? '',
          /buy 10 AAPL \(market, partially_filled\) open at the venue, not placed by Sluice/,
        );
        assert.equal(broker.orders.get('v-1')?.status, 'partially_filled', 'left alone');
      }
      if (policy === 'cancel') assert.equal(broker.orders.get('v-1')?.status, 'canceled');
      if (policy === 'adopt') {
        assert.deepEqual(statusesOf(h, 'venue:scripted-paper:v-1:order'), ['partially_filled']);
        broker.fill('v-1', 6, 99.5);
        await until(
          'the adopted order fills',
          () => statusesOf(h, 'venue:scripted-paper:v-1:order').at(-1) === 'filled',
        );
        assert.deepEqual(
          h.of('fill').map((f) => f.quantity),
          [4, 6],
        );
      }
      await h.actor.stop();
    });
  }

  it('a position only the venue holds is a mismatch naming the symbol and both quantities', async () => {
    const broker = new ScriptedBroker();
    broker.positionBook.set('MSFT', 25);
    const h = await atBroker({ broker });
    const start = h.of('reconciliation').at(-1);
    assert.equal(start?.outcome, 'mismatch');
    assert.deepEqual(start?.differences, [
      {
        kind: 'position',
        resolution: 'unexplained',
        symbol: 'MSFT',
        venue_quantity: 25,
        sluice_quantity: 0,
        detail: "MSFT: the venue holds 25, Sluice's fills make 0",
      },
    ]);
    const alert = h.of('alert').find((a) => a.code === 'reconciliation_mismatch');
    assert.deepEqual(alert?.labels, {
      venue: 'scripted-paper',
      symbol: 'MSFT',
      venue_quantity: '25',
      sluice_quantity: '0',
    });
    assert.equal(h.actor.status().broker?.differences['position:unexplained'], 1);
    await h.actor.stop();
  });

  it('a venue that cannot be read is a mismatch, not a crash', async () => {
    const broker = new ScriptedBroker();
    const down = new VenueFault('unavailable', '503');
    broker.script('openOrders', down, down, down, down);
    const h = await atBroker({ broker });
    const start = h.of('reconciliation').at(-1);
    assert.equal(start?.outcome, 'mismatch');
    assert.equal(start?.differences[0]?.kind, 'venue_unreachable');
    assert.equal((await h.actor.reconcile()).outcome, 'ok', 'clean once the venue answers');
    await h.actor.stop();
  });

  it('a partial fill survives a restart: the rest is adopted once, the position is right', async () => {
    const store = new MemorySnapshotStore();
    const broker = new ScriptedBroker();
    const first = await atBroker({ broker, store });
    const intent = sealed({ quantity: 100 });
    const orderId = orderIdFor(intent.id);
    await first.send(intent);
    broker.fill('v-1', 40, 100);
    await until('the partial fill', () => first.of('fill').length === 1);
    await first.actor.stop();
    const saved = JSON.parse(store.texts.get('execution.scripted-paper') ?? '{}');
    assert.equal(saved.schema, 'execution_state.v2');
    assert.deepEqual(
      saved.value.broker.orders.map(
        (o: { order_id: string; filled_quantity: number; venue_fill_ids: string[] }) => [
          o.order_id,
          o.filled_quantity,
          o.venue_fill_ids,
        ],
      ),
      [[orderId, 40, ['x-v-1-40']]],
    );

    // While Sluice is down the venue fills the rest.
    broker.fill('v-1', 60, 101);
    const second = await atBroker({ broker, store });
    assert.equal(second.of('reconciliation').at(-1)?.outcome, 'ok');
    assert.deepEqual(
      second.of('fill').map((f) => [f.id, f.quantity]),
      [[venueFillIdFor(orderId, 'x-v-1-100'), 60]],
    );
    assert.equal(statusesOf(second, orderId).at(-1), 'filled');
    assert.deepEqual((await second.actor.venueView()).sluice.positions, [{ symbol: 'AAPL', quantity: 100 }]);
    assert.equal(broker.count('submit'), 1, 'never sent again');
    await second.actor.stop();
  });

  it('an order the venue never received (lost before it left) is sent again at the next start', async () => {
    const store = new MemorySnapshotStore();
    const broker = new ScriptedBroker();
    const down = new VenueFault('unknown_outcome', 'socket hang up');
    const first = await atBroker({ broker, store, maxAttempts: 1 });
    broker.script('submit', down);
    const intent = sealed();
    await first.send(intent);
    assert.equal(broker.orders.size, 0);
    await first.actor.stop();
    const second = await atBroker({ broker, store });
    const start = second.of('reconciliation').at(-1);
    assert.deepEqual(
      start?.differences.map((d) => [d.kind, d.resolution]),
      [['resubmitted', 'resubmitted']],
    );
    assert.equal(broker.orders.size, 1);
    assert.equal(broker.byClientId(clientOrderIdFor(orderIdFor(intent.id)))?.quantity, intent.quantity);
    await second.actor.stop();
  });
});
