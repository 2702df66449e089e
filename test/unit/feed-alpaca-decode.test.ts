// decode of the Alpaca adapter: Alpaca's documented example frames and real SPY minute bars map to
// valid events with provider ids; every hostile frame is ok:false with a reason, never a throw.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FeedChannel, RawFrame } from '../../actors/feed/adapter.ts';
import { decodeAlpacaFrame, parseAlpacaTime } from '../../actors/feed/adapters/alpaca.ts';
import type { JsonValue } from '../../schemas/jobs.ts';
import { alpacaBar, readSpyBars } from '../support/loopback/alpaca.ts';

const RECEIVED = Date.parse('2021-02-22T15:51:46Z');

function frame(payload: JsonValue, channel: FeedChannel): RawFrame {
  return { payload, channel, receivedAt: RECEIVED, origin: 'stream' };
}

// The examples of Alpaca's market-data stream documentation (docs.alpaca.markets, "Real-time stock
// pricing data" and "Real-time news").
const TRADE = {
  T: 't',
  i: 96921,
  S: 'AAPL',
  x: 'D',
  p: 126.55,
  s: 1,
  t: '2021-02-22T15:51:44.208Z',
  c: ['@', 'I'],
  z: 'C',
};
const QUOTE = {
  T: 'q',
  S: 'AMD',
  bx: 'U',
  bp: 87.66,
  bs: 1,
  ax: 'Q',
  ap: 87.68,
  as: 4,
  t: '2021-02-22T15:51:45.335689322Z',
  c: ['R'],
  z: 'C',
};
const BAR = {
  T: 'b',
  S: 'SPY',
  o: 388.985,
  h: 389.13,
  l: 388.975,
  c: 389.12,
  v: 49378,
  t: '2021-02-22T19:15:00Z',
};
const NEWS = {
  T: 'n',
  id: 24918784,
  headline: 'Corsair Reports Purchase Of Majority Ownership In iDisplay, No Terms Disclosed',
  summary:
    'Corsair Gaming, Inc. (NASDAQ:CRSR) a leading global provider ... acquired a 51% stake in iDisplay',
  author: 'Benzinga Newsdesk',
  created_at: '2022-01-05T22:00:37Z',
  updated_at: '2022-01-05T22:00:38Z',
  url: 'https://www.benzinga.com/m-a/22/01/24918784/corsair-reports-purchase-of-majority-ownership-in-idisplay-no-terms-disclosed',
  content: '<p>Corsair Gaming, Inc.</p>',
  symbols: ['CRSR', 'CRSR', 'GME'],
  source: 'benzinga',
};

function events(payload: JsonValue, channel: FeedChannel) {
  const decoded = decodeAlpacaFrame(frame(payload, channel));
  assert.ok(decoded.ok, decoded.ok ? '' : decoded.reason);
  return decoded.events;
}

function refused(payload: JsonValue, channel: FeedChannel, reason: RegExp) {
  const decoded = decodeAlpacaFrame(frame(payload, channel));
  assert.equal(decoded.ok, false, `expected a refusal for ${JSON.stringify(payload)?.slice(0, 120)}`);
  if (!decoded.ok) assert.match(decoded.reason, reason);
}

describe('Alpaca decode: documented frames', () => {
  it('maps a trade with its exchange and trade id, the receive time as ts_init', () => {
    assert.deepEqual(events(TRADE, 'trades'), [
      {
        schema: 'trade_tick.v1',
        id: 'alpaca:trade:AAPL:D-96921',
        ts_event: Date.parse('2021-02-22T15:51:44.208Z'),
        ts_init: RECEIVED,
        symbol: 'AAPL',
        price: 126.55,
        size: 1,
        aggressor: 'unknown',
        trade_id: 'D-96921',
        venue: 'alpaca/D',
      },
    ]);
  });

  it('maps a quote; its id keeps the nanoseconds, ts_event the millisecond', () => {
    const [quote] = events(QUOTE, 'quotes');
    assert.equal(quote?.schema, 'quote_tick.v1');
    assert.equal(quote?.ts_event, Date.parse('2021-02-22T15:51:45.335Z'));
    assert.equal(
      quote?.id,
      `alpaca:quote:AMD:${Date.parse('2021-02-22T15:51:45.335Z')}.689322-UQ-87.66x1-87.68x4`,
    );
    assert.deepEqual(
      quote && 'bid' in quote ? [quote.bid, quote.ask, quote.bid_size, quote.ask_size] : [],
      [87.66, 87.68, 1, 4],
    );
  });

  it('maps a minute bar: ts_event is its close (start + 1m), the id its start', () => {
    const start = Date.parse('2021-02-22T19:15:00Z');
    assert.deepEqual(events(BAR, 'bars'), [
      {
        schema: 'bar.v1',
        id: `alpaca:bar:SPY:${start}`,
        ts_event: start + 60_000,
        ts_init: RECEIVED,
        symbol: 'SPY',
        interval: '1m',
        open: 388.985,
        high: 389.13,
        low: 388.975,
        close: 389.12,
        volume: 49378,
      },
    ]);
  });

  it('maps a news item to one news_item per symbol it names, once each', () => {
    const mapped = events(NEWS, 'news');
    assert.deepEqual(
      mapped.map((event) => [event.id, event.symbol]),
      [
        ['alpaca:news:CRSR:24918784', 'CRSR'],
        ['alpaca:news:GME:24918784', 'GME'],
      ],
    );
    assert.ok(mapped.every((event) => event.ts_event === Date.parse('2022-01-05T22:00:37Z')));
    assert.ok(
      mapped.every((event) => 'source' in event && event.source === 'benzinga' && event.url === NEWS.url),
    );
  });

  it('keeps a 64-bit news id given as decimal text exact', () => {
    const [item] = events({ ...NEWS, id: '418157151946035200' }, 'news');
    assert.equal(item?.id, 'alpaca:news:CRSR:418157151946035200');
  });

  it('maps real SPY minute bars back to the source bars (ts_event, OHLCV)', async () => {
    const source = await readSpyBars(500);
    for (const bar of source) {
      const [mapped] = events({ T: 'b', S: 'SPY', ...alpacaBar(bar) }, 'bars');
      assert.deepEqual(mapped && { ...mapped, id: bar.id, ts_init: bar.ts_init }, { ...bar });
    }
  });

  it('is pure: the same frame gives the same events', () => {
    assert.deepEqual(events(TRADE, 'trades'), events(structuredClone(TRADE), 'trades'));
  });

  it('reads RFC-3339 times with nanoseconds and offsets', () => {
    assert.deepEqual(parseAlpacaTime('2024-01-02T03:04:05.678099211Z'), {
      ms: Date.parse('2024-01-02T03:04:05.678Z'),
      subMsNanos: 99211,
    });
    assert.equal(parseAlpacaTime('2021-02-22T10:51:44-05:00')?.ms, Date.parse('2021-02-22T15:51:44Z'));
    for (const bad of [
      '2021-02-30T00:00:00Z',
      '2021-02-22 15:51:44Z',
      '2021-02-22T24:00:00Z',
      '2021-02-22T15:51:44',
    ])
      assert.equal(parseAlpacaTime(bad), undefined, bad);
  });
});

describe('Alpaca decode: hostile frames are refused with a reason', () => {
  it('not a frame object', () => {
    for (const payload of [null, 42, 'x', [TRADE]] as JsonValue[])
      refused(payload, 'trades', /not an Alpaca frame/);
  });

  it('unknown or unsupported frame types', () => {
    refused({ ...TRADE, T: 'zz' }, 'trades', /unknown frame type T="zz"/);
    refused({ S: 'AAPL' }, 'trades', /unknown frame type T=missing/);
    refused({ T: 'c', S: 'AAPL', x: 'D', oi: 1, ci: 2 }, 'trades', /corrections and cancels are not applied/);
    refused({ undecodable: 'failed to decode message: Unrecognized type byte' }, 'bars', /could not decode/);
  });

  it('a frame on the wrong channel', () => {
    refused(TRADE, 'bars', /frame type t arrived on channel bars/);
    refused(NEWS, 'trades', /frame type n arrived on channel trades/);
  });

  it('missing or mistyped fields', () => {
    refused({ ...TRADE, S: undefined as unknown as string }, 'trades', /S: not a non-empty string: missing/);
    refused({ ...TRADE, p: '126.55' }, 'trades', /p: not a finite number: "126.55"/);
    refused({ ...TRADE, i: 1.5 }, 'trades', /i: not an integer id/);
    refused({ ...TRADE, i: 2 ** 60 }, 'trades', /beyond 2\^53/);
    refused({ ...QUOTE, bs: null }, 'quotes', /bs: not a finite number/);
    refused({ ...NEWS, symbols: [] }, 'news', /names no symbol/);
    refused({ ...NEWS, symbols: ['CRSR', 7] }, 'news', /symbols: not a symbol: 7/);
    refused({ ...NEWS, url: 5 }, 'news', /url: not a string/);
  });

  it('bad times', () => {
    refused({ ...TRADE, t: 'yesterday' }, 'trades', /t: not an RFC-3339 time: "yesterday"/);
    refused({ ...TRADE, t: 1614009104208 }, 'trades', /t: not an RFC-3339 time/);
    refused({ ...BAR, t: '2021-02-22T19:15:30Z' }, 'bars', /starts on a whole minute/);
    refused({ ...NEWS, created_at: '2022-13-05T22:00:37Z' }, 'news', /created_at: not an RFC-3339 time/);
  });

  it('out of range values the contracts refuse', () => {
    refused({ ...TRADE, p: -1 }, 'trades', /price/);
    refused({ ...TRADE, s: -5 }, 'trades', /size/);
    refused({ ...TRADE, t: '1970-01-01T00:00:00Z' }, 'trades', /ts_event/);
    refused({ ...TRADE, S: 'A'.repeat(65) }, 'trades', /symbol/);
    refused({ ...BAR, h: 1, l: 2 }, 'bars', /inconsistent bar/);
    refused({ ...QUOTE, bp: 90, ap: 87.68 }, 'quotes', /crossed quote/);
    refused({ ...NEWS, headline: 'x'.repeat(5000) }, 'news', /headline/);
  });

  it('a reason stays short for an oversized value', () => {
    const decoded = decodeAlpacaFrame(frame({ ...TRADE, p: 'x'.repeat(100_000) }, 'trades'));
    assert.ok(!decoded.ok && decoded.reason.length < 200);
  });
});
