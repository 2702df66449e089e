// The simulated venue's order types beyond market and limit: stop and stop-limit triggered by a trade,
// a quote or a bar's range (a gap filling at the open), fok, day orders on the venue's calendar,
// reduce-only, and brackets (children on the filled quantity, stop-loss first in a bar,
// one-cancels-other, cancelled with their entry), and what it denies.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ExecutionReport, isFill } from '../../actors/execution/broker-adapter.ts';
import {
  REDUCE_ONLY_DONE,
  REDUCE_ONLY_NOTHING,
  SimulatedVenue,
  type SimulatedVenueOptions,
} from '../../actors/execution/simulated-venue.ts';
import {
  BpsSlippage,
  FixedLatency,
  MakerTakerFee,
  NextTickFillModel,
} from '../../actors/execution/venue-models.ts';
import { calendars } from '../../actors/feed/calendar.ts';
import { bracketChildIdFor, orderIdFor } from '../../core/lineage-ids.ts';
import type { Bar, Fill, OrderEvent, OrderIntent } from '../../schemas/messages.ts';
import { validateMessage } from '../../schemas/validate.ts';
import { quoteTick as quote, tradeTick as trade } from '../support/ticks.ts';

function intent(overrides: Partial<OrderIntent> = {}): OrderIntent {
  return {
    schema: 'order_intent.v2',
    id: 'sig-1:intent',
    ts_event: 1000,
    ts_init: 1000,
    strategy: 's',
    symbol: 'AAPL',
    side: 'buy',
    quantity: 100,
    order_type: 'market',
    time_in_force: 'gtc',
    reduce_only: false,
    signal_id: 'sig-1',
    ...overrides,
  };
}

function venue(options: Partial<SimulatedVenueOptions> = {}): SimulatedVenue {
  return new SimulatedVenue({
    latency: new FixedLatency(10),
    fill: new NextTickFillModel(),
    slippage: new BpsSlippage(0),
    fee: new MakerTakerFee(0, 0),
    ...options,
  });
}

const bar = (ts: number, open: number, high: number, low: number, close: number, volume = 1000): Bar => ({
  schema: 'bar.v1',
  id: `b${ts}`,
  ts_event: ts,
  ts_init: ts,
  symbol: 'AAPL',
  interval: '1m',
  open,
  high,
  low,
  close,
  volume,
});

const fills = (reports: readonly ExecutionReport[]): Fill[] => reports.filter(isFill);
const events = (reports: readonly ExecutionReport[]): OrderEvent[] =>
  reports.filter((r): r is OrderEvent => !isFill(r));
/** `order:status` of each order event, in order. */
const states = (reports: readonly ExecutionReport[]): string[] =>
  events(reports).map((e) => `${e.order_id}:${e.status}`);

const ENTRY = orderIdFor('sig-1:intent');
const TAKE_PROFIT = bracketChildIdFor(ENTRY, 'take_profit');
const STOP_LOSS = bracketChildIdFor(ENTRY, 'stop_loss');

/** Every report fits its contract. */
function assertValid(reports: readonly ExecutionReport[]): void {
  for (const r of reports) {
    const result = isFill(r) ? validateMessage('fill', r) : validateMessage('order_event', r);
    assert.ok(result.ok, JSON.stringify(r));
  }
}

describe('simulated venue: stop and stop-limit orders', () => {
  it('a buy stop triggers on a trade at or above its stop and fills there; a sell stop at or below', () => {
    const v = venue();
    v.submit(intent({ order_type: 'stop', stop_price: 101 }), 1000);
    v.submit(intent({ id: 'sig-2:intent', side: 'sell', order_type: 'stop', stop_price: 99 }), 1000);
    assert.deepEqual(fills(v.onTrade(trade(1010, 100.5))), [], 'between the stops: nothing');
    const up = fills(v.onTrade(trade(1020, 101.2)));
    assert.deepEqual(
      up.map((f) => [f.order_id, f.side, f.price, f.liquidity]),
      [[ENTRY, 'buy', 101.2, 'taker']],
    );
    const down = fills(v.onTrade(trade(1030, 99)));
    assert.deepEqual(
      down.map((f) => [f.side, f.price]),
      [['sell', 99]],
      'at the stop is enough',
    );
  });

  it('a quote triggers a stop when the side it would take reaches it: a sell stop by the bid', () => {
    const v = venue();
    v.submit(intent({ side: 'sell', order_type: 'stop', stop_price: 99 }), 1000);
    assert.deepEqual(fills(v.onQuote(quote(1010, 99.5, 99.6))), []);
    const [fill] = fills(v.onQuote(quote(1020, 98.9, 99.1)));
    assert.equal(fill?.price, 98.9);
  });

  it('a bar triggers a stop when its range reaches it, at the stop; a gap past it fills at the open, then slippage', () => {
    const v = venue({ slippage: new BpsSlippage(10) });
    v.submit(intent({ side: 'sell', order_type: 'stop', stop_price: 99 }), 1000);
    assert.deepEqual(fills(v.onBar(bar(1010, 100, 101, 99.5, 100))), [], 'range above the stop');
    const [inRange] = fills(v.onBar(bar(1020, 100, 100.5, 98, 98.5)));
    assert.equal(inRange?.price, 99 * (1 - 0.001));

    const gap = venue();
    gap.submit(intent({ side: 'sell', order_type: 'stop', stop_price: 99 }), 1000);
    const [gapped] = fills(gap.onBar(bar(1010, 97, 98, 96, 97.5)));
    assert.equal(gapped?.price, 97, 'opened past the stop: the open, never the stop that did not trade');
  });

  it('a stop-limit becomes a limit when triggered: filled when marketable, else resting as maker', () => {
    const v = venue();
    v.submit(intent({ side: 'sell', order_type: 'stop_limit', stop_price: 99, limit_price: 98.5 }), 1000);
    const [taken] = fills(v.onTrade(trade(1010, 98.8)));
    assert.deepEqual([taken?.price, taken?.liquidity], [98.8, 'taker']);

    const gap = venue();
    gap.submit(intent({ side: 'sell', order_type: 'stop_limit', stop_price: 99, limit_price: 98.5 }), 1000);
    assert.deepEqual(fills(gap.onBar(bar(1010, 97, 98, 96, 97))), [], 'triggered below its limit: rests');
    assert.equal(gap.openOrders()[0]?.status, 'accepted');
    const [rested] = fills(gap.onBar(bar(1020, 97.5, 99, 97, 98.8)));
    assert.deepEqual([rested?.price, rested?.liquidity], [98.5, 'maker'], 'the range went through the limit');
  });

  it('ioc and fok count from the trigger: an untriggered stop keeps working', () => {
    const v = venue();
    v.submit(intent({ order_type: 'stop', stop_price: 101, time_in_force: 'ioc' }), 1000);
    assert.deepEqual(v.onTrade(trade(1010, 100)).length, 1, 'only its acceptance');
    assert.equal(v.openOrders().length, 1);
    const reports = v.onTrade(trade(1020, 102, 40));
    assert.deepEqual(
      events(reports).map((e) => [e.status, e.reason]),
      [
        ['partially_filled', undefined],
        ['canceled', 'ioc remainder'],
      ],
    );
  });
});

describe('simulated venue: time in force', () => {
  it('fok fills all at once or is cancelled with nothing filled', () => {
    const v = venue();
    v.submit(intent({ time_in_force: 'fok' }), 1000);
    const short = v.onTrade(trade(1010, 100, 60));
    assert.deepEqual(fills(short), []);
    assert.deepEqual(
      events(short).map((e) => [e.status, e.filled_quantity, e.reason]),
      [
        ['accepted', 0, undefined],
        ['canceled', 0, 'fok: not fillable in full at once'],
      ],
    );
    const whole = venue();
    whole.submit(intent({ time_in_force: 'fok' }), 1000);
    assert.deepEqual(
      fills(whole.onTrade(trade(1010, 100, 100))).map((f) => f.quantity),
      [100],
    );
  });

  it('a day order expires at the session close on the nyse calendar, in event time; gtc does not', () => {
    const v = venue({ calendar: calendars.nyse });
    // Monday 2024-03-04 15:00 in New York (EST): the session closes at 16:00, 21:00 UTC.
    const sent = Date.UTC(2024, 2, 4, 20, 0);
    const close = Date.UTC(2024, 2, 4, 21, 0);
    v.submit(intent({ order_type: 'limit', limit_price: 90, time_in_force: 'day' }), sent);
    v.submit(
      intent({ id: 'sig-2:intent', order_type: 'limit', limit_price: 90, time_in_force: 'gtc' }),
      sent,
    );
    assert.deepEqual(
      events(v.advanceTo(close - 1)).map((e) => e.status),
      ['accepted', 'accepted'],
    );
    const expired = events(v.advanceTo(close));
    assert.deepEqual(
      expired.map((e) => [e.order_id, e.status, e.ts_event, e.reason]),
      [[ENTRY, 'expired', close, 'day order: session closed']],
    );
    assert.deepEqual(
      v.openOrders().map((o) => o.order_id),
      [orderIdFor('sig-2:intent')],
    );
  });

  it('a day order sent after the close works until the next session closes', () => {
    const v = venue({ calendar: calendars.nyse });
    // Friday 2024-03-08 17:00 New York: the next close is Monday's, 2024-03-11 16:00 EDT (20:00 UTC).
    v.submit(
      intent({ order_type: 'limit', limit_price: 90, time_in_force: 'day' }),
      Date.UTC(2024, 2, 8, 22),
    );
    assert.deepEqual(
      events(v.advanceTo(Date.UTC(2024, 2, 11, 19, 59))).map((e) => e.status),
      ['accepted'],
    );
    assert.deepEqual(
      events(v.advanceTo(Date.UTC(2024, 2, 11, 20))).map((e) => e.status),
      ['expired'],
    );
  });

  it('on the 24x7 calendar (the default) a day order never expires', () => {
    const v = venue();
    v.submit(intent({ order_type: 'limit', limit_price: 90, time_in_force: 'day' }), 1000);
    v.advanceTo(1000 + 30 * 86_400_000);
    assert.equal(v.openOrders()[0]?.status, 'accepted');
  });
});

describe('simulated venue: reduce-only', () => {
  it('with nothing to reduce it is cancelled with the reason; it never flips the position', () => {
    const v = venue();
    v.submit(intent({ side: 'sell', reduce_only: true }), 1000);
    const reports = v.onTrade(trade(1010, 100));
    assert.deepEqual(fills(reports), []);
    assert.deepEqual(events(reports).at(-1)?.reason, REDUCE_ONLY_NOTHING);
    assert.equal(events(reports).at(-1)?.status, 'canceled');
  });

  it('it is reduced to the position: the rest is cancelled', () => {
    const v = venue();
    v.submit(intent({ quantity: 40 }), 1000);
    v.onTrade(trade(1010, 100));
    v.submit(intent({ id: 'sig-2:intent', side: 'sell', reduce_only: true }), 1020);
    const reports = v.onTrade(trade(1030, 101));
    assert.deepEqual(
      fills(reports).map((f) => [f.side, f.quantity]),
      [['sell', 40]],
    );
    assert.deepEqual(events(reports).at(-1), {
      ...events(reports).at(-1),
      status: 'canceled',
      filled_quantity: 40,
      reason: REDUCE_ONLY_DONE,
    });
    // A buy reduce-only while flat: nothing to reduce either.
    v.submit(intent({ id: 'sig-3:intent', side: 'buy', reduce_only: true }), 1040);
    assert.equal(events(v.onTrade(trade(1050, 100))).at(-1)?.reason, REDUCE_ONLY_NOTHING);
  });

  it('a venue rebuilt after a restart, which has not seen the fills, takes reduce-only orders as sized', () => {
    const v = venue();
    v.forgetPositions();
    v.submit(intent({ side: 'sell', reduce_only: true }), 1000);
    assert.deepEqual(
      fills(v.onTrade(trade(1010, 100))).map((f) => f.quantity),
      [100],
    );
  });
});

describe('simulated venue: brackets', () => {
  const bracketed = (overrides: Partial<OrderIntent> = {}) =>
    intent({
      bracket: { take_profit: { limit_price: 110 }, stop_loss: { stop_price: 95 } },
      ...overrides,
    });

  it('the filled entry starts its children: reduce-only exits on the filled quantity, under the child ids', () => {
    const v = venue();
    v.submit(bracketed(), 1000);
    const reports = v.onTrade(trade(1010, 100));
    assertValid(reports);
    assert.deepEqual(states(reports), [
      `${ENTRY}:accepted`,
      `${ENTRY}:filled`,
      `${STOP_LOSS}:accepted`,
      `${TAKE_PROFIT}:accepted`,
    ]);
    const open = v.openOrders();
    assert.deepEqual(
      open.map((o) => [o.order_id, o.intent_id, o.side, o.quantity]),
      [
        [STOP_LOSS, 'sig-1:intent', 'sell', 100],
        [TAKE_PROFIT, 'sig-1:intent', 'sell', 100],
      ],
    );
  });

  it('a partial entry fill gives children its filled quantity; they grow with the next fill', () => {
    const v = venue();
    v.submit(bracketed(), 1000);
    v.onTrade(trade(1010, 100, 40));
    assert.deepEqual(
      v.openOrders().map((o) => [o.order_id, o.quantity]),
      [
        [ENTRY, 100],
        [STOP_LOSS, 40],
        [TAKE_PROFIT, 40],
      ],
    );
    const more = v.onTrade(trade(1020, 100, 60));
    assert.deepEqual(
      events(more).map((e) => [e.order_id, e.leaves_quantity]),
      [
        [ENTRY, 0],
        [STOP_LOSS, 100],
        [TAKE_PROFIT, 100],
      ],
    );
  });

  it('the take-profit fills as maker at its limit; the stop-loss is cancelled (one-cancels-other)', () => {
    const v = venue();
    v.submit(bracketed(), 1000);
    v.onTrade(trade(1010, 100));
    const reports = v.onTrade(trade(1020, 111));
    assertValid(reports);
    assert.deepEqual(
      fills(reports).map((f) => [f.order_id, f.side, f.quantity, f.price, f.liquidity]),
      [[TAKE_PROFIT, 'sell', 100, 110, 'maker']],
    );
    assert.deepEqual(states(reports), [`${TAKE_PROFIT}:filled`, `${STOP_LOSS}:canceled`]);
    assert.match(events(reports)[1]?.reason ?? '', /one-cancels-other/);
    assert.deepEqual(v.openOrders(), []);
  });

  it('a bracket whose stop triggers, then whose take-profit is cancelled', () => {
    const v = venue();
    v.submit(bracketed(), 1000);
    v.onTrade(trade(1010, 100));
    assert.deepEqual(fills(v.onTrade(trade(1020, 96))), [], 'above the stop');
    const reports = v.onTrade(trade(1030, 94.5));
    assert.deepEqual(
      fills(reports).map((f) => [f.order_id, f.price, f.liquidity]),
      [[STOP_LOSS, 94.5, 'taker']],
    );
    assert.deepEqual(states(reports), [`${STOP_LOSS}:filled`, `${TAKE_PROFIT}:canceled`]);
    assert.deepEqual(fills(v.onTrade(trade(1040, 120))), [], 'the cancelled take-profit never fills');
  });

  it('both legs inside one bar: the stop-loss fills first, at its stop, and the take-profit is cancelled', () => {
    const v = venue();
    v.submit(bracketed(), 1000);
    v.onBar(bar(1010, 100, 101, 99, 100.5));
    const reports = v.onBar(bar(1020, 100, 112, 94, 105));
    assert.deepEqual(
      fills(reports).map((f) => [f.order_id, f.price]),
      [[STOP_LOSS, 95]],
    );
    assert.deepEqual(states(reports), [`${STOP_LOSS}:filled`, `${TAKE_PROFIT}:canceled`]);
  });

  it('the entry and its exit can fill on the same bar: entry at the open, the take-profit when the range goes through it', () => {
    const v = venue();
    v.submit(bracketed(), 1000);
    const reports = v.onBar(bar(1010, 100, 111, 99, 109));
    assert.deepEqual(
      fills(reports).map((f) => [f.order_id, f.side, f.price]),
      [
        [ENTRY, 'buy', 100],
        [TAKE_PROFIT, 'sell', 110],
      ],
    );
    assert.deepEqual(v.openOrders(), []);
  });

  it("a short's bracket: take-profit a buy limit below, stop-loss a buy stop above", () => {
    const v = venue();
    v.submit(
      intent({
        side: 'sell',
        bracket: { take_profit: { limit_price: 90 }, stop_loss: { stop_price: 105 } },
      }),
      1000,
    );
    v.onTrade(trade(1010, 100));
    const [stop] = fills(v.onTrade(trade(1020, 105.5)));
    assert.deepEqual([stop?.order_id, stop?.side, stop?.price], [STOP_LOSS, 'buy', 105.5]);
  });

  it('cancelling the entry cancels its working children; the gate cancelling the children leaves nothing working', () => {
    const v = venue();
    v.submit(bracketed({ order_type: 'limit', limit_price: 100 }), 1000);
    v.onTrade(trade(1010, 100, 40));
    const requested = v.cancel(ENTRY, 1020);
    assert.deepEqual(states(requested), [
      `${ENTRY}:pending_cancel`,
      `${STOP_LOSS}:pending_cancel`,
      `${TAKE_PROFIT}:pending_cancel`,
    ]);
    assert.deepEqual(states(v.advanceTo(1030)), [
      `${ENTRY}:canceled`,
      `${STOP_LOSS}:canceled`,
      `${TAKE_PROFIT}:canceled`,
    ]);

    const w = venue();
    w.submit(bracketed(), 1000);
    w.onTrade(trade(1010, 100));
    for (const child of [TAKE_PROFIT, STOP_LOSS]) w.cancel(child, 1020);
    w.advanceTo(1030);
    assert.deepEqual(w.openOrders(), []);
    assert.deepEqual(fills(w.onTrade(trade(1040, 80))), [], 'no stop works after the cancel');
  });

  it('children are reduce-only: a child still working after another order closed the position never flips it', () => {
    const v = venue();
    v.submit(bracketed(), 1000);
    v.onTrade(trade(1010, 100));
    // The gate's time exit (arriving at 1030) closes the position while the children's cancels are
    // still on their way (landing at 1040).
    v.submit(intent({ id: 'sig-2:intent', side: 'sell', reduce_only: true, exit_reason: 'time' }), 1020);
    v.cancel(TAKE_PROFIT, 1030);
    v.cancel(STOP_LOSS, 1030);
    assert.deepEqual(
      fills(v.onTrade(trade(1030, 105))).map((f) => [f.order_id, f.quantity]),
      [[orderIdFor('sig-2:intent'), 100]],
    );
    const reports = v.onTrade(trade(1035, 111));
    assert.deepEqual(fills(reports), [], 'the take-profit reached has nothing left to reduce');
    assert.deepEqual(
      events(reports).map((e) => [e.order_id, e.status, e.reason]),
      [[TAKE_PROFIT, 'canceled', REDUCE_ONLY_NOTHING]],
    );
  });

  it('an entry whose cancel is pending when it fills gets no children', () => {
    const v = venue();
    v.submit(bracketed(), 1000);
    v.cancel(ENTRY, 1005);
    // Arrived at 1010, cancel lands at 1015: the trade at 1012 fills it first.
    v.advanceTo(1010);
    const reports = v.onTrade(trade(1012, 100));
    assert.deepEqual(states(reports), [`${ENTRY}:filled`]);
    assert.deepEqual(v.openOrders(), []);
  });
});

describe('simulated venue: hostile intents are denied with the reason, never a crash', () => {
  const cases: [string, Partial<OrderIntent>, RegExp][] = [
    ['a stop without stop_price', { order_type: 'stop' }, /stop order without a positive stop_price/],
    [
      'a stop-limit without limit_price',
      { order_type: 'stop_limit', stop_price: 99 },
      /stop_limit order without a positive limit_price/,
    ],
    ['a stop at NaN', { order_type: 'stop', stop_price: Number.NaN }, /positive stop_price/],
    [
      'a bracket the wrong way round',
      { bracket: { take_profit: { limit_price: 90 }, stop_loss: { stop_price: 110 } } },
      /take-profit 90 must be above the stop-loss 110/,
    ],
    [
      'a bracket with a negative price',
      { bracket: { take_profit: { limit_price: -1 }, stop_loss: { stop_price: -2 } } },
      /not positive/,
    ],
    [
      'a bracket on a reduce-only order',
      { reduce_only: true, bracket: { take_profit: { limit_price: 110 }, stop_loss: { stop_price: 95 } } },
      /only for an entry/,
    ],
  ];
  for (const [name, overrides, reason] of cases) {
    it(name, () => {
      const v = venue();
      const [event] = events(v.submit(intent(overrides), 1000));
      assert.equal(event?.status, 'denied');
      assert.match(event?.reason ?? '', reason);
      // What follows is not blocked.
      v.submit(intent({ id: 'sig-2:intent' }), 1000);
      assert.equal(fills(v.onTrade(trade(1010, 100))).length, 1);
    });
  }
});

describe('simulated venue: determinism', () => {
  it('the same orders and market data give the same reports, byte for byte', () => {
    const run = () => {
      const v = venue({ slippage: new BpsSlippage(5), fee: new MakerTakerFee(1, 2) });
      const out: ExecutionReport[] = [];
      out.push(
        ...v.submit(
          intent({ bracket: { take_profit: { limit_price: 110 }, stop_loss: { stop_price: 95 } } }),
          1000,
        ),
      );
      out.push(...v.onBar(bar(1010, 100, 103, 98, 101, 60)));
      out.push(...v.onBar(bar(1020, 101, 104, 99, 102, 60)));
      out.push(...v.onBar(bar(1030, 99, 111, 96, 108)));
      return JSON.stringify(out);
    };
    assert.equal(run(), run());
  });
});
