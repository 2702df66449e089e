// decode() of the Polygon adapter: the documented example frames of Polygon's stocks socket, a frame
// made from the real SPY file, REST results in their envelopes, and hostile frames (each refused with
// a reason that says what is wrong).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import type { FeedChannel, RawFrame } from '../../actors/feed/adapter.ts';
import { decodePolygon, PolygonFeedAdapter } from '../../actors/feed/adapters/polygon.ts';
import { WallClock } from '../../core/clock.ts';
import type { JsonValue } from '../../schemas/jobs.ts';
import { aggregateFrame, spyMinuteBars } from '../support/loopback/polygon.ts';

const RECEIVED = 1_700_000_000_123;

function frame(payload: JsonValue, channel: FeedChannel, origin: RawFrame['origin'] = 'stream'): RawFrame {
  return { payload, channel, receivedAt: RECEIVED, origin };
}

function reasonOf(payload: JsonValue, channel: FeedChannel = 'trades'): string {
  const decoded = decodePolygon(frame(payload, channel));
  assert.ok(!decoded.ok, `expected a refusal of ${JSON.stringify(payload)}`);
  return decoded.reason;
}

// Polygon's documented examples (polygon.io/docs/stocks/ws_stocks_*), as the socket sends the items.
const TRADE = {
  ev: 'T',
  sym: 'MSFT',
  x: 4,
  i: '12345',
  z: 3,
  p: 114.125,
  s: 100,
  c: [0, 12],
  t: 1536036818784,
  q: 3681328,
};
const QUOTE = {
  ev: 'Q',
  sym: 'MSFT',
  bx: 4,
  bp: 114.125,
  bs: 100,
  ax: 7,
  ap: 114.128,
  as: 160,
  c: 0,
  i: [604],
  t: 1536036818784,
  q: 50385480,
  z: 3,
};
const MINUTE = {
  ev: 'AM',
  sym: 'GTE',
  v: 4110,
  av: 9470157,
  op: 0.4372,
  vw: 0.4488,
  o: 0.4488,
  c: 0.4486,
  h: 0.4489,
  l: 0.4486,
  a: 0.4352,
  z: 685,
  s: 1610144640000,
  e: 1610144700000,
};

describe('Polygon decode: documented frames', () => {
  it('a trade (T) is a trade_tick; its key holds exchange and id, which Polygon makes unique only together', () => {
    assert.deepEqual(decodePolygon(frame(TRADE, 'trades')), {
      ok: true,
      events: [
        {
          schema: 'trade_tick.v1',
          id: 'polygon:trade:MSFT:4--12345',
          ts_event: 1536036818784,
          ts_init: RECEIVED,
          symbol: 'MSFT',
          price: 114.125,
          size: 100,
          aggressor: 'unknown',
          trade_id: '4--12345',
          venue: 'polygon',
        },
      ],
    });
    const viaTrf = decodePolygon(frame({ ...TRADE, trfi: 202 }, 'trades'));
    assert.ok(viaTrf.ok);
    assert.equal(viaTrf.events[0]?.id, 'polygon:trade:MSFT:4-202-12345');
  });

  it('a quote (Q) is a quote_tick keyed by its sequence number', () => {
    assert.deepEqual(decodePolygon(frame(QUOTE, 'quotes')), {
      ok: true,
      events: [
        {
          schema: 'quote_tick.v1',
          id: 'polygon:quote:MSFT:50385480',
          ts_event: 1536036818784,
          ts_init: RECEIVED,
          symbol: 'MSFT',
          bid: 114.125,
          ask: 114.128,
          bid_size: 100,
          ask_size: 160,
          venue: 'polygon',
        },
      ],
    });
  });

  it('a minute aggregate (AM) is a 1m bar: ts_event the aggregate end, keyed by its start', () => {
    assert.deepEqual(decodePolygon(frame(MINUTE, 'bars')), {
      ok: true,
      events: [
        {
          schema: 'bar.v1',
          id: 'polygon:bar:GTE:1610144640000',
          ts_event: 1610144700000,
          ts_init: RECEIVED,
          symbol: 'GTE',
          interval: '1m',
          open: 0.4488,
          high: 0.4489,
          low: 0.4486,
          close: 0.4486,
          volume: 4110,
        },
      ],
    });
  });

  it('a second aggregate (A) is a 1s bar', () => {
    const decoded = decodePolygon(frame({ ...MINUTE, ev: 'A', e: MINUTE.s + 1000 }, 'bars'));
    assert.ok(decoded.ok);
    assert.deepEqual(
      decoded.events.map((event) => [event.ts_event, (event as { interval: string }).interval]),
      [[1610144641000, '1s']],
    );
  });

  it('the real SPY file as AM frames decodes back to its bars (ids of Polygon, times the same)', () => {
    const bars = spyMinuteBars();
    for (const bar of [bars[0], bars[5_000], bars.at(-1)]) {
      assert.ok(bar);
      const decoded = decodePolygon(frame(aggregateFrame(bar) as unknown as JsonValue, 'bars'));
      assert.ok(decoded.ok, decoded.ok ? '' : decoded.reason);
      assert.deepEqual(decoded.events, [
        { ...bar, id: `polygon:bar:SPY:${bar.ts_event - 60_000}`, ts_init: RECEIVED },
      ]);
    }
  });

  it('status items map to no events', () => {
    for (const status of ['connected', 'auth_success', 'success']) {
      assert.deepEqual(decodePolygon(frame({ ev: 'status', status, message: 'x' }, 'bars')), {
        ok: true,
        events: [],
      });
    }
  });

  it('REST results in their envelopes give the same events as the stream', () => {
    const rest = {
      rest: 'aggs',
      ticker: 'GTE',
      multiplier: 1,
      timespan: 'minute',
      result: { v: 4110, vw: 0.4488, o: 0.4488, c: 0.4486, h: 0.4489, l: 0.4486, t: 1610144640000, n: 12 },
    };
    assert.deepEqual(decodePolygon(frame(rest, 'bars', 'backfill')), decodePolygon(frame(MINUTE, 'bars')));
    // v3 times are nanoseconds, past 2^53: parsed, they are doubles good to about 256 ns (the client
    // parses them so), enough for their millisecond.
    const trade = {
      rest: 'trades',
      ticker: 'MSFT',
      result: JSON.parse(
        '{"conditions":[12,41],"exchange":4,"id":"12345","participant_timestamp":1536036818784000000,' +
          '"price":114.125,"sequence_number":3681328,"sip_timestamp":1536036818784123456,"size":100,"tape":3}',
      ) as JsonValue,
    };
    assert.deepEqual(
      decodePolygon(frame(trade, 'trades', 'backfill')),
      decodePolygon(frame(TRADE, 'trades')),
    );
    const quote = {
      rest: 'quotes',
      ticker: 'MSFT',
      result: JSON.parse(
        '{"ask_exchange":7,"ask_price":114.128,"ask_size":160,"bid_exchange":4,"bid_price":114.125,"bid_size":100,' +
          '"participant_timestamp":1536036818784000000,"sequence_number":50385480,"sip_timestamp":1536036818784500000,"tape":3}',
      ) as JsonValue,
    };
    assert.deepEqual(
      decodePolygon(frame(quote, 'quotes', 'backfill')),
      decodePolygon(frame(QUOTE, 'quotes')),
    );
  });

  it('is pure: the same frame twice gives the same events (a duplicate keeps its id)', () => {
    const adapter = new PolygonFeedAdapter({ apiKey: 'k', clock: { now: () => 0 } });
    assert.deepEqual(adapter.decode(frame(TRADE, 'trades')), adapter.decode(frame(TRADE, 'trades')));
  });
});

describe('Polygon decode: hostile frames are refused with a reason', () => {
  it('malformed and wrongly shaped frames', () => {
    assert.match(reasonOf('[{"ev":"T","sym":"MS'), /^not JSON: /);
    assert.match(reasonOf([TRADE]), /^not a Polygon event object: array/);
    assert.match(reasonOf(42), /^not a Polygon event object: number/);
    assert.match(reasonOf(null), /^not a Polygon event object: object/);
    assert.match(reasonOf({ sym: 'SPY' }), /^unknown event type null/);
    assert.match(reasonOf({ ev: 'LULD', sym: 'SPY' }), /^unknown event type "LULD"/);
    assert.match(reasonOf({ ...TRADE, sym: undefined } as unknown as JsonValue), /^T: no symbol/);
    assert.match(reasonOf({ ...TRADE, sym: 'X'.repeat(65) }), /trade_tick: \/symbol/);
  });

  it('wrongly routed: an event on another channel than its type', () => {
    assert.equal(reasonOf(TRADE, 'quotes'), 'T event on the quotes channel');
    assert.equal(reasonOf(MINUTE, 'trades'), 'AM event on the trades channel');
    assert.equal(
      reasonOf({ rest: 'aggs', ticker: 'SPY', multiplier: 1, timespan: 'minute', result: {} }, 'trades'),
      'REST aggs result on the trades channel',
    );
  });

  it('out-of-range and wrongly typed values name the field', () => {
    assert.match(reasonOf({ ...TRADE, p: 0 }), /trade_tick: \/price/);
    assert.match(reasonOf({ ...TRADE, p: '114.1' }), /trade_tick: \/price/);
    assert.match(reasonOf({ ...TRADE, s: -5 }), /trade_tick: \/size/);
    assert.match(reasonOf({ ...TRADE, t: 1e20 }), /trade_tick: \/ts_event/);
    assert.match(reasonOf({ ...TRADE, t: 1536036818784.5 }), /trade_tick: \/ts_event/);
    assert.match(reasonOf({ ...TRADE, t: 86_400_000 }), /trade_tick: \/ts_event/); // 1970: before any market data
    assert.match(reasonOf({ ...QUOTE, bp: 115, ap: 114 }, 'quotes'), /crossed/);
    assert.match(reasonOf({ ...MINUTE, h: 0.1 }, 'bars'), /bar: /);
    assert.match(reasonOf({ ...MINUTE, v: null }, 'bars'), /bar: \/volume/);
  });

  it('an aggregate whose span is not its type (AM of 5 s, A of a minute) is refused', () => {
    assert.match(
      reasonOf({ ...MINUTE, e: MINUTE.s + 5000 }, 'bars'),
      /^AM: aggregate from s 1610144640000 to e 1610144645000 is not 60000 ms/,
    );
    assert.match(reasonOf({ ...MINUTE, ev: 'A' }, 'bars'), /^A: .* is not 1000 ms/);
    assert.match(reasonOf({ ...MINUTE, e: 'soon' }, 'bars'), /^AM: aggregate from s .* to e soon/);
  });

  it('REST envelopes that are not whole', () => {
    assert.match(
      reasonOf({ rest: 'aggs', multiplier: 1, timespan: 'minute', result: {} }, 'bars'),
      /^REST aggs: no ticker/,
    );
    assert.match(reasonOf({ rest: 'trades', ticker: 'SPY' }), /^REST trades: no result object/);
    assert.match(
      reasonOf({ rest: 'snapshots', ticker: 'SPY', result: {} }),
      /^REST "snapshots": unknown endpoint/,
    );
    assert.match(
      reasonOf({ rest: 'aggs', ticker: 'SPY', multiplier: 0, timespan: 'minute', result: {} }, 'bars'),
      /^REST aggs: bar size 0\/minute not understood/,
    );
    assert.match(
      reasonOf({ rest: 'trades', ticker: 'SPY', result: { ...TRADE, sip_timestamp: 'x' } }),
      /trade_tick: \/ts_event/,
    );
  });
});

describe('Polygon adapter credentials', () => {
  it('the key shows neither when the adapter is serialised nor when it is inspected (logged)', () => {
    const key = 'pk-secret-7f3e9a';
    const adapter = new PolygonFeedAdapter({
      apiKey: key,
      clock: new WallClock(),
      restBase: 'http://127.0.0.1:9',
      wsBase: 'ws://127.0.0.1:9',
    });
    assert.ok(!JSON.stringify(adapter).includes(key));
    assert.ok(!inspect(adapter, { depth: 10, showHidden: true }).includes(key));
  });
});
