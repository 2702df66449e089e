import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { ExecutionActor } from '../../actors/execution/actor.ts';
import { type ExecutionReport, isFill } from '../../actors/execution/broker-adapter.ts';
import { InvalidOrderTransition, Order, orderTransitions } from '../../actors/execution/order.ts';
import { SimulatedVenue } from '../../actors/execution/simulated-venue.ts';
import {
  BpsSlippage,
  FixedLatency,
  type LatencyModel,
  MakerTakerFee,
  NextTickFillModel,
  RandomLatency,
  type SlippageModel,
  SpreadSlippage,
} from '../../actors/execution/venue-models.ts';
import { GateKey, sealIntent } from '../../core/gate-seal.ts';
import { fillIdFor, orderIdFor } from '../../core/lineage-ids.ts';
import { SeededRandom } from '../../core/random.ts';
import type { Fill, MessageName, MessageOf, OrderIntent, OrderStatus } from '../../schemas/messages.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { validateMessage } from '../../schemas/validate.ts';
import { InProcessBus } from '../../streams/in-process-bus.ts';
import { AAPL_ORDER, frictionlessVenue, orderIntent } from '../support/orders.ts';
import { quoteTick as quote, tradeTick as trade } from '../support/ticks.ts';

function intent(overrides: Partial<OrderIntent> = {}): OrderIntent {
  return orderIntent('sig-1', { ...AAPL_ORDER, ts_event: 1000, ts_init: 1000, ...overrides });
}

function venue(options: { latency?: LatencyModel; slippage?: SlippageModel; fee?: MakerTakerFee } = {}) {
  return new SimulatedVenue({
    latency: options.latency ?? new FixedLatency(10),
    fill: new NextTickFillModel(),
    slippage: options.slippage ?? new BpsSlippage(0),
    fee: options.fee ?? new MakerTakerFee(0, 0),
  });
}

const fills = (reports: readonly ExecutionReport[]): Fill[] => reports.filter(isFill);
const statuses = (reports: readonly ExecutionReport[]): OrderStatus[] =>
  reports.flatMap((r) => (isFill(r) ? [] : [r.status]));

describe('order state machine', () => {
  it('follows submitted → accepted → partially_filled → filled', () => {
    const order = new Order(intent());
    order.transition('submitted');
    order.transition('accepted');
    assert.equal(order.fill(40), 40);
    assert.equal(order.status, 'partially_filled');
    assert.equal(order.leavesQuantity, 60);
    order.fill(100);
    assert.equal(order.status, 'filled');
    assert.equal(order.filledQuantity, 100);
    assert.equal(order.leavesQuantity, 0);
  });

  it('terminal states allow nothing; every invalid transition throws', () => {
    const all = Object.keys(orderTransitions) as OrderStatus[];
    for (const from of all) {
      for (const to of all) {
        const allowed = orderTransitions[from].includes(to);
        const order = new Order(intent());
        // Drive the order to `from` along a valid path.
        const path: Record<OrderStatus, OrderStatus[]> = {
          initialized: [],
          submitted: ['submitted'],
          denied: ['denied'],
          accepted: ['submitted', 'accepted'],
          rejected: ['submitted', 'rejected'],
          pending_cancel: ['submitted', 'accepted', 'pending_cancel'],
          canceled: ['submitted', 'accepted', 'canceled'],
          expired: ['submitted', 'accepted', 'expired'],
          partially_filled: ['submitted', 'accepted', 'partially_filled'],
          filled: ['submitted', 'accepted', 'filled'],
        };
        for (const step of path[from]) order.transition(step);
        if (allowed) order.transition(to);
        else assert.throws(() => order.transition(to), InvalidOrderTransition, `${from} → ${to}`);
      }
    }
    for (const terminal of ['denied', 'rejected', 'canceled', 'expired', 'filled'] as const) {
      assert.deepEqual(orderTransitions[terminal], []);
    }
  });

  it('a fill of nothing left is an error', () => {
    const order = new Order(intent());
    order.transition('submitted');
    order.fill(100);
    assert.throws(() => order.fill(1), RangeError);
  });
});

describe('simulated venue', () => {
  it('a market order fills at the first trade after the latency, not before', () => {
    const v = venue();
    assert.deepEqual(statuses(v.submit(intent(), 1000)), ['submitted']);
    assert.deepEqual(v.onTrade(trade(1005, 99, 500)), [], 'still in flight');
    const reports = v.onTrade(trade(1010, 101, 500));
    assert.deepEqual(statuses(reports), ['accepted', 'filled']);
    const [fill] = fills(reports);
    assert.equal(fill?.price, 101);
    assert.equal(fill?.quantity, 100);
    assert.equal(fill?.liquidity, 'taker');
    assert.equal(fill?.id, fillIdFor(orderIdFor('sig-1:intent'), 1));
    for (const r of reports)
      assert.ok(isFill(r) ? validateMessage('fill', r).ok : validateMessage('order_event', r).ok);
  });

  it('a market order fills at the next quote, at the ask for a buy and the bid for a sell', () => {
    const v = venue();
    v.submit(intent(), 1000);
    v.submit(intent({ id: 'sig-2:intent', side: 'sell' }), 1000);
    const f = fills(v.onQuote(quote(1010, 99.9, 100.1)));
    assert.deepEqual(
      f.map((x) => [x.side, x.price]),
      [
        ['buy', 100.1],
        ['sell', 99.9],
      ],
    );
  });

  it('partial fills are capped by traded size, shared among orders in submission order', () => {
    const v = venue();
    v.submit(intent(), 1000);
    v.submit(intent({ id: 'sig-2:intent', quantity: 50 }), 1000);
    let reports = v.onTrade(trade(1010, 100, 70));
    assert.deepEqual(
      fills(reports).map((f) => [f.order_id, f.quantity]),
      [[orderIdFor('sig-1:intent'), 70]],
    );
    assert.deepEqual(statuses(reports), ['accepted', 'accepted', 'partially_filled']);
    reports = v.onTrade(trade(1011, 100, 60));
    assert.deepEqual(
      fills(reports).map((f) => [f.order_id, f.quantity]),
      [
        [orderIdFor('sig-1:intent'), 30],
        [orderIdFor('sig-2:intent'), 30],
      ],
    );
    assert.equal(v.openOrders().length, 1);
  });

  it('an IOC order cancels what the first event does not fill', () => {
    const v = venue();
    v.submit(intent({ time_in_force: 'ioc' }), 1000);
    const reports = v.onTrade(trade(1010, 100, 30));
    assert.deepEqual(statuses(reports), ['accepted', 'partially_filled', 'canceled']);
    assert.equal(v.openOrders().length, 0);
  });

  it('a limit order rests until crossed, then fills as maker at its limit', () => {
    const v = venue({ fee: new MakerTakerFee(1, 5) });
    v.submit(intent({ order_type: 'limit', limit_price: 99 }), 1000);
    assert.deepEqual(fills(v.onQuote(quote(1010, 99.5, 100))), [], 'ask above the limit');
    assert.deepEqual(fills(v.onTrade(trade(1011, 99, 100))), [], 'a trade at the limit is not enough');
    const [fill] = fills(v.onTrade(trade(1012, 98.9, 100)));
    assert.equal(fill?.price, 99);
    assert.equal(fill?.liquidity, 'maker');
    assert.ok(Math.abs((fill?.fee ?? 0) - 100 * 99 * 0.0001) < 1e-9);
  });

  it('a marketable limit order takes liquidity, slippage capped at the limit', () => {
    const v = venue({ slippage: new BpsSlippage(50), fee: new MakerTakerFee(1, 5) });
    v.submit(intent({ order_type: 'limit', limit_price: 100.2 }), 1000);
    const [fill] = fills(v.onQuote(quote(1010, 99.9, 100)));
    assert.equal(fill?.liquidity, 'taker');
    assert.equal(fill?.price, 100.2, '100 + 50 bps = 100.5, capped at 100.2');
  });

  it('slippage in bps and by spread; fees with a minimum', () => {
    const bps = venue({ slippage: new BpsSlippage(10), fee: new MakerTakerFee(1, 5, 2) });
    bps.submit(intent({ quantity: 10 }), 1000);
    const [a] = fills(bps.onTrade(trade(1010, 100, 100)));
    assert.ok(Math.abs((a?.price ?? 0) - 100.1) < 1e-9);
    assert.equal(a?.fee, 2, '10 × 100.1 × 5 bps = 0.5, below the minimum');

    const spread = venue({ slippage: new SpreadSlippage(0.5) });
    spread.submit(intent({ side: 'sell' }), 1000);
    const [b] = fills(spread.onQuote(quote(1010, 99.8, 100.2)));
    assert.ok(Math.abs((b?.price ?? 0) - 99.6) < 1e-9, 'bid 99.8 − half of a 0.4 spread');
  });

  it('submitting the same intent twice creates one order', () => {
    const v = venue();
    assert.equal(v.submit(intent(), 1000).length, 1);
    assert.deepEqual(v.submit(intent(), 1001), []);
    const f = fills(v.onTrade(trade(1010, 100, 1000)));
    assert.equal(f.length, 1);
    assert.equal(f[0]?.quantity, 100);
    assert.deepEqual(v.submit(intent(), 1020), [], 'still idempotent once filled');
  });

  it('cancel goes pending_cancel, then canceled after the latency; fills before it still count', () => {
    const v = venue();
    v.submit(intent({ order_type: 'limit', limit_price: 99 }), 1000);
    v.onQuote(quote(1010, 99.5, 100));
    assert.deepEqual(statuses(v.cancel(orderIdFor('sig-1:intent'), 1020)), ['pending_cancel']);
    const reports = v.onTrade(trade(1025, 98, 40));
    assert.deepEqual(statuses(reports), ['partially_filled']);
    assert.deepEqual(statuses(v.advanceTo(1030)), ['canceled']);
    assert.equal(v.openOrders().length, 0);
    assert.deepEqual(v.cancel(orderIdFor('sig-1:intent'), 1040), []);
    assert.deepEqual(v.cancel('unknown', 1040), []);
  });

  it('a limit order without a price is denied', () => {
    const v = venue();
    const [event] = v.submit(intent({ order_type: 'limit' }), 1000);
    assert.ok(event && !isFill(event));
    assert.equal(event.status, 'denied');
  });

  it('venue-initiated reports also reach onReport listeners', () => {
    const v = venue();
    const seen: ExecutionReport[] = [];
    const stop = v.onReport((r) => seen.push(r));
    v.submit(intent(), 1000);
    const reports = v.onTrade(trade(1010, 100, 500));
    assert.deepEqual(seen, reports);
    stop();
  });

  it('the same seed gives byte-identical ledgers; another seed differs', () => {
    const ledger = (seed: number) => {
      const v = venue({
        latency: new RandomLatency(1, 50, new SeededRandom(seed)),
        slippage: new SpreadSlippage(0.25),
        fee: new MakerTakerFee(1, 5, 0.01),
      });
      const rng = new SeededRandom(seed + 1000);
      const out: ExecutionReport[] = [];
      for (let i = 0; i < 200; i++) {
        const ts = 1000 + i * 5;
        if (i % 3 === 0) {
          const side = rng.next() < 0.5 ? 'buy' : 'sell';
          out.push(
            ...v.submit(
              intent({
                id: `s${i}:intent`,
                side,
                quantity: 1 + Math.floor(rng.next() * 50),
                time_in_force: 'gtc',
              }),
              ts,
            ),
          );
        }
        const mid = 100 + Math.sin(i / 10);
        out.push(...v.onQuote(quote(ts + 1, mid - 0.05, mid + 0.05, 10 + Math.floor(rng.next() * 30))));
        out.push(...v.onTrade(trade(ts + 2, mid, 1 + Math.floor(rng.next() * 20))));
      }
      return createHash('sha256').update(JSON.stringify(out)).digest('hex');
    };
    assert.equal(ledger(7), ledger(7));
    assert.notEqual(ledger(7), ledger(8));
  });
});

describe('execution actor: only the risk gate’s sealed intents reach the venue', () => {
  const gateKey = GateKey.forRun('execution-test');
  /** Market data times must look like market data (after 1990). */
  const T0 = Date.UTC(2024, 0, 2, 15);
  const at = (overrides: Partial<OrderIntent> = {}) => intent({ ts_event: T0, ts_init: T0, ...overrides });

  /** An ExecutionActor on the in-process bus, recording what it publishes. */
  async function executionOnBus() {
    const published: { subject: string; name: MessageName; event: MessageOf<MessageName> }[] = [];
    const bus = new InProcessBus(new Subjects(4), {
      onPublish: (subject, name, event) => published.push({ subject, name, event }),
    });
    const actor = await ExecutionActor.start({
      bus,
      gateKey,
      venue: frictionlessVenue(),
    });
    const of = <N extends MessageName>(name: N) =>
      published.filter((p) => p.name === name).map((p) => p.event as MessageOf<N>);
    const send = (order: OrderIntent) =>
      bus.publish('order_intent', bus.subjects.orderIntent(order.symbol), order);
    const tradeAt = (ts: number) =>
      bus.publish('trade_tick', bus.subjects.tick('AAPL'), trade(T0 + ts, 100, 10_000));
    return { bus, actor, published, of, send, tradeAt };
  }
  const sealed = (overrides: Partial<OrderIntent> = {}, gateTerm?: number) => {
    const unsealed = at(overrides);
    const decisionId = unsealed.id.replace(/:intent$/, ':decision');
    return sealIntent(unsealed, { decisionId, gateTerm }, gateKey);
  };

  it('dead-letters a forged, an altered and a foreign-key intent with the reason, alerts, and fills only the sealed one', async () => {
    const { actor, of, send, tradeAt } = await executionOnBus();
    const real = sealed({ id: 'sig-9:intent', signal_id: 'sig-9' });
    await send(at({ id: 'forged-1:intent' }));
    await send({ ...sealed({ id: 'sig-2:intent' }), quantity: 10_000 });
    await send(
      sealIntent(at({ id: 'sig-3:intent' }), { decisionId: 'sig-3:decision' }, GateKey.forRun('other')),
    );
    await send({ ...sealed({ id: 'sig-4:intent' }), seal: 'not-hex' });
    await send(real);
    await tradeAt(10);

    const letters = of('dead_letter');
    assert.deepEqual(
      letters.map((letter) => letter.reason),
      [
        'unauthorised intent: not sealed by the risk gate (no seal)',
        'unauthorised intent: seal does not match (forged, altered after the gate passed it, or sealed with another key)',
        'unauthorised intent: seal does not match (forged, altered after the gate passed it, or sealed with another key)',
        'unauthorised intent: seal is malformed (expected 64 lowercase hex characters)',
      ],
    );
    for (const letter of letters) {
      assert.equal(letter.original_subject, 'ord.intent.AAPL');
      assert.equal(letter.consumer, 'execution-orders');
    }
    assert.equal(
      (JSON.parse(letters[1]!.payload) as OrderIntent).quantity,
      10_000,
      'the refused message itself',
    );
    const alerts = of('alert');
    assert.equal(alerts.length, 4);
    for (const alert of alerts) {
      assert.equal(alert.severity, 'critical');
      assert.equal(alert.code, 'unauthorised_intent');
    }
    assert.match(
      alerts[1]!.message,
      /order intent sig-2:intent \(buy 10000 AAPL\) on ord\.intent\.AAPL refused/,
    );
    // Only the sealed intent became an order and filled.
    assert.deepEqual(new Set(of('order_event').map((event) => event.intent_id)), new Set([real.id]));
    assert.deepEqual(
      of('fill').map((fill) => [fill.order_id, fill.quantity]),
      [[orderIdFor(real.id), real.quantity]],
    );
    const status = actor.status();
    assert.equal(status.unauthorised, 4);
    assert.equal(status.submitted, 1);
    await actor.stop();
  });

  it('a forged intent that takes a future intent id does not make the real one a duplicate', async () => {
    const { actor, of, send, tradeAt } = await executionOnBus();
    // Another ts_init, so that the bus delivers both (it drops a repeat of id and ts_init) and the
    // actor itself must not let the forgery take the id.
    await send(at({ id: 'sig-5:intent', quantity: 999, ts_init: T0 - 1 }));
    const real = sealed({ id: 'sig-5:intent', signal_id: 'sig-5' });
    await send(real);
    await tradeAt(10);
    assert.equal(actor.status().duplicatesSkipped, 0);
    assert.deepEqual(
      of('fill').map((fill) => fill.quantity),
      [real.quantity],
    );
    await actor.stop();
  });

  it('refuses a deposed gate’s late intent once a newer gate term has been seen', async () => {
    const { actor, of, send, tradeAt } = await executionOnBus();
    await send(sealed({ id: 'sig-6:intent' }, 1));
    await send(sealed({ id: 'sig-7:intent' }, 2));
    await send(sealed({ id: 'sig-8:intent' }, 1));
    await send(sealed({ id: 'sig-10:intent' }));
    await tradeAt(10);
    assert.deepEqual(
      of('dead_letter').map((letter) => letter.reason),
      [
        'unauthorised intent: sealed by gate term 1, superseded by gate term 2',
        'unauthorised intent: sealed by a gate without a term, superseded by gate term 2',
      ],
    );
    assert.deepEqual(
      of('fill').map((fill) => fill.order_id),
      ['sig-6:intent', 'sig-7:intent'].map(orderIdFor),
    );
    await actor.stop();
  });
});
