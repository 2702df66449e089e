// The simulated venue's books across a restart: a venue saved anywhere in a stream (state()) and
// restored into a new one goes on reporting byte for byte what one that never stopped reports, with
// an entry partly filled and its bracket children working, a stop-limit triggered but not filled, a
// day order waiting for the close and the positions reduce-only orders are capped by. A saved state
// no venue could have kept is refused with the reason, and the venue takes none of it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ExecutionReport } from '../../actors/execution/broker-adapter.ts';
import { REDUCE_ONLY_DONE, SimulatedVenue } from '../../actors/execution/simulated-venue.ts';
import {
  BpsSlippage,
  FixedLatency,
  MakerTakerFee,
  NextTickFillModel,
} from '../../actors/execution/venue-models.ts';
import { calendars } from '../../actors/feed/calendar.ts';
import { bracketChildIdFor, orderIdFor } from '../../core/lineage-ids.ts';
import type { OrderIntent } from '../../schemas/messages.ts';
import { type SimulatedVenueState, snapshotContracts } from '../../schemas/snapshots.ts';
import { quoteTick, tradeTick } from '../support/ticks.ts';

function venue(): SimulatedVenue {
  return new SimulatedVenue({
    latency: new FixedLatency(10),
    fill: new NextTickFillModel(),
    slippage: new BpsSlippage(5),
    fee: new MakerTakerFee(1, 2),
    calendar: calendars.nyse,
  });
}

// Monday 2024-03-04, 15:00 UTC (10:00 in New York); the session closes at 21:00 UTC.
const T0 = Date.UTC(2024, 2, 4, 15, 0);
const CLOSE = Date.UTC(2024, 2, 4, 21, 0);
const at = (seconds: number) => T0 + seconds * 1000;

function intent(id: string, ts: number, overrides: Partial<OrderIntent>): OrderIntent {
  return {
    schema: 'order_intent.v2',
    id: `${id}:intent`,
    ts_event: ts,
    ts_init: ts,
    strategy: 's',
    symbol: 'AAPL',
    side: 'buy',
    quantity: 100,
    order_type: 'market',
    time_in_force: 'gtc',
    reduce_only: false,
    signal_id: id,
    ...overrides,
  };
}

const ENTRY = orderIdFor('entry:intent');
const STOP_LIMIT = orderIdFor('stop-limit:intent');
const DAY = orderIdFor('day:intent');

/** What the execution actor does with each input: the venue's answer, then event time up to it. */
type Step = (v: SimulatedVenue) => readonly ExecutionReport[];
const submit =
  (order: OrderIntent): Step =>
  (v) => [...v.submit(order, order.ts_event), ...v.advanceTo(order.ts_event)];
const trade =
  (ts: number, price: number, size: number): Step =>
  (v) => [...v.advanceTo(ts), ...v.onTrade(tradeTick(ts, price, size))];
const quote =
  (ts: number, bid: number, ask: number, size: number): Step =>
  (v) => [...v.advanceTo(ts), ...v.onQuote(quoteTick(ts, bid, ask, size))];
const cancel =
  (orderId: string, ts: number): Step =>
  (v) => [...v.cancel(orderId, ts), ...v.advanceTo(ts)];
const advance =
  (ts: number): Step =>
  (v) =>
    v.advanceTo(ts);

const STREAM: readonly Step[] = [
  submit(
    intent('entry', at(0), {
      order_type: 'limit',
      limit_price: 100,
      bracket: { take_profit: { limit_price: 110 }, stop_loss: { stop_price: 95, limit_price: 94 } },
    }),
  ),
  submit(
    intent('stop-limit', at(0), {
      side: 'sell',
      quantity: 10,
      order_type: 'stop_limit',
      stop_price: 99,
      limit_price: 99.5,
    }),
  ),
  submit(intent('day', at(0), { quantity: 5, order_type: 'limit', limit_price: 90, time_in_force: 'day' })),
  quote(at(1), 100.9, 101, 1000),
  // The entry fills 40 (its children work on 40).
  trade(at(2), 99.9, 40),
  // 5 more (children on 45); the stop-limit triggers at 98.9 but its limit, 99.5, is not reached.
  trade(at(3), 98.9, 5),
  submit(intent('market', at(4), { quantity: 5 })),
  // The entry fills 20 more, the stop-limit sells 10 at its limit, the market order takes the ask
  // with slippage from the quote.
  quote(at(5), 99.6, 99.7, 20),
  // The take-profit fills only the 60 long (reduce-only), the stop-loss is cancelled.
  trade(at(6), 110.5, 1000),
  // The entry fills again: its children are done, none made anew.
  trade(at(7), 99, 10),
  cancel(ENTRY, at(8)),
  trade(at(9), 99.5, 100),
  advance(CLOSE),
];

/** The reports of STREAM's steps from `from` on, as published (JSON). */
function run(v: SimulatedVenue, from: number, to = STREAM.length): string[] {
  const out: string[] = [];
  for (const step of STREAM.slice(from, to)) for (const report of step(v)) out.push(JSON.stringify(report));
  return out;
}

/** A venue run up to `cut`, its state as a snapshot holds it (through JSON and the contract's check). */
function savedAt(cut: number): SimulatedVenueState {
  const v = venue();
  run(v, 0, cut);
  const value = JSON.parse(JSON.stringify({ open: [], simulatedVenue: v.state() }));
  const checked = snapshotContracts.execution.check(value);
  assert.ok(checked.ok, checked.ok ? '' : checked.reason);
  const books = checked.value.simulatedVenue;
  assert.ok(books !== undefined);
  return books;
}

describe('simulated venue restored from its saved state', () => {
  it('mid-stream: an entry partly filled with its children working, a triggered stop-limit, a day order', () => {
    const books = savedAt(6);
    const byId = new Map(books.orders.map((o) => [o.order_id, o]));
    assert.deepEqual(
      books.orders.map((o) => [o.order_id, o.status, o.quantity, o.filled_quantity]),
      [
        [ENTRY, 'partially_filled', 100, 45],
        [STOP_LIMIT, 'accepted', 10, 0],
        [DAY, 'accepted', 5, 0],
        [bracketChildIdFor(ENTRY, 'stop_loss'), 'accepted', 45, 0],
        [bracketChildIdFor(ENTRY, 'take_profit'), 'accepted', 45, 0],
      ],
    );
    assert.equal(byId.get(STOP_LIMIT)?.triggered, true);
    assert.equal(byId.get(bracketChildIdFor(ENTRY, 'stop_loss'))?.triggered, false);
    assert.equal(byId.get(DAY)?.expires_at, CLOSE);
    assert.deepEqual(byId.get(bracketChildIdFor(ENTRY, 'take_profit'))?.bracket_parent, {
      order_id: ENTRY,
      leg: 'take_profit',
    });
    assert.deepEqual(books.positions, [{ symbol: 'AAPL', quantity: 45 }]);
    assert.deepEqual(books.quotes, [{ symbol: 'AAPL', bid: 100.9, ask: 101 }]);
  });

  it('goes on byte for byte as a venue that never stopped, wherever the stream is cut', () => {
    const uninterrupted = venue();
    const whole = run(uninterrupted, 0);
    assert.ok(
      whole.some((r) => r.includes(REDUCE_ONLY_DONE)),
      'the take-profit is capped by the venue’s position',
    );
    assert.ok(whole.some((r) => r.includes('day order: session closed')));
    for (let cut = 0; cut <= STREAM.length; cut++) {
      const before = run(venue(), 0, cut);
      const restored = venue();
      assert.equal(restored.restore(savedAt(cut)), undefined);
      assert.deepEqual([...before, ...run(restored, cut)], whole, `cut after step ${cut}`);
      assert.deepEqual(restored.state(), uninterrupted.state(), `books at the end, cut after step ${cut}`);
    }
  });

  it('keeps only what matching still needs: nothing once every order ended', () => {
    const v = venue();
    run(v, 0);
    assert.deepEqual(v.state().orders, []);
  });
});

describe('simulated venue: a saved state no venue could have kept', () => {
  const books = savedAt(6);
  const [entry, stopLimit, day, stopLoss, takeProfit] = books.orders;
  assert.ok(entry && stopLimit && day && stopLoss && takeProfit);
  const cases: [string, SimulatedVenueState, RegExp][] = [
    [
      'more filled than ordered',
      { ...books, orders: [{ ...entry, filled_quantity: 120 }, stopLimit, day, stopLoss, takeProfit] },
      /filled 120 of 100/,
    ],
    [
      'a working order with nothing left',
      { ...books, orders: [{ ...entry, filled_quantity: 100 }, stopLimit, day, stopLoss, takeProfit] },
      /nothing left to fill/,
    ],
    [
      'an order id that is not its intent’s',
      { ...books, orders: [{ ...day, order_id: 'someone-else' }] },
      /not the order of intent day:intent/,
    ],
    ['a child before its entry', { ...books, orders: [takeProfit, entry] }, /not saved before it/],
    [
      'a child with an intent of its own',
      { ...books, orders: [entry, { ...takeProfit, intent: entry.intent }] },
      /intent of its own/,
    ],
    ['an order saved twice', { ...books, orders: [day, day] }, /saved twice/],
    [
      'an ended order with nothing working beside it',
      { ...books, orders: [{ ...day, status: 'canceled' }] },
      /canceled, with no working bracket order/,
    ],
    [
      'a limit order waiting for a trigger',
      { ...books, orders: [{ ...day, triggered: false }] },
      /a limit order not triggered/,
    ],
    [
      'an intent the venue would have denied',
      { ...books, orders: [{ ...day, intent: { ...day.intent, limit_price: undefined } as OrderIntent }] },
      /limit order without a positive limit_price/,
    ],
    [
      'a position twice',
      { ...books, positions: [...books.positions, ...books.positions] },
      /positions: AAPL twice/,
    ],
  ];
  for (const [what, state, reason] of cases) {
    it(`refuses ${what}, taking none of it`, () => {
      const v = venue();
      const refusal = v.restore(state);
      assert.match(refusal ?? '', reason);
      assert.deepEqual(v.state(), { orders: [], positions: [], quotes: [] });
      assert.deepEqual(v.openOrders(), []);
    });
  }

  it('the snapshot contract refuses values of the wrong shape', () => {
    const check = (simulatedVenue: unknown) =>
      snapshotContracts.execution.check({ open: [], simulatedVenue });
    assert.equal(check({ ...books, orders: [{ ...day, quantity: -5 }] }).ok, false);
    assert.equal(check({ ...books, orders: [{ ...day, status: 'lost' }] }).ok, false);
    assert.equal(check({ ...books, orders: [{ ...day, events: 1.5 }] }).ok, false);
    assert.equal(check({ ...books, quotes: [{ symbol: 'AAPL', bid: '1', ask: 2 }] }).ok, false);
    assert.equal(check({ ...books, extra: true }).ok, false);
    assert.equal(check(books).ok, true);
  });
});
