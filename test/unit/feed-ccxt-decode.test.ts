// The ccxt adapter's decode on ccxt's own parse of real Binance frames (the trades of
// ../shared/data/binance-btcusdt-ticks) and on the same frames as Binance sends them (the live path,
// which skips ccxt's parse): both give the same events. Hostile frames of either form are ok:false
// with a reason.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ccxt from 'ccxt';
import type { RawFrame } from '../../actors/feed/adapter.ts';
import { CcxtFeedAdapter } from '../../actors/feed/adapters/ccxt.ts';
import { ReplayClock } from '../../core/clock.ts';
import type { JsonValue } from '../../schemas/jobs.ts';
import { validateMessage } from '../../schemas/validate.ts';
import { BinanceLoopback, loadSourceKlines, loadSourceTrades } from '../support/loopback/binance.ts';

const adapter = new CcxtFeedAdapter({ exchange: 'binance', clock: new ReplayClock(0) });
const RECEIVED = 1_700_000_000_000;

// ccxt's parser for Binance's @trade frames, with BTCUSDT known as ccxt learns it from exchangeInfo.
const parser = new ccxt.pro.binance({ options: { fetchMarkets: { types: ['spot'] } } });
parser.setMarkets([
  {
    id: 'ADABTC',
    symbol: 'ADA/BTC',
    base: 'ADA',
    quote: 'BTC',
    baseId: 'ADA',
    quoteId: 'BTC',
    type: 'spot',
    spot: true,
    active: true,
    precision: { price: 0.00000001, amount: 0.1 },
  } as never,
  {
    id: 'BTCUSDT',
    symbol: 'BTC/USDT',
    base: 'BTC',
    quote: 'USDT',
    baseId: 'BTC',
    quoteId: 'USDT',
    type: 'spot',
    spot: true,
    active: true,
    precision: { price: 0.01, amount: 0.00001 },
  } as never,
]);

function tradeFrame(payload: JsonValue, receivedAt = RECEIVED): RawFrame {
  return { payload, channel: 'trades', receivedAt, origin: 'stream' };
}

function parsedTrade(binanceFrame: Record<string, unknown>): JsonValue {
  const market = parser.market('BTC/USDT');
  return JSON.parse(JSON.stringify(parser.parseWsTrade(binanceFrame, market))) as JsonValue;
}

describe('ccxt adapter decode', () => {
  const trades = loadSourceTrades();
  const fixture = BinanceLoopback.prototype.tradeFrame;

  it('maps every real trade to a valid trade_tick with the exchange trade id', () => {
    for (const trade of trades) {
      const decoded = adapter.decode(tradeFrame(parsedTrade(fixture(trade))));
      assert.ok(decoded.ok, `trade ${trade.id}`);
      const [event] = decoded.events;
      assert.ok(event && event.schema === 'trade_tick.v1');
      assert.equal(event.id, `ccxt:binance:trade:BTC/USDT:${trade.id}`);
      assert.equal(event.ts_event, trade.time);
      assert.equal(event.ts_init, RECEIVED);
      assert.equal(event.price, Number(trade.price));
      assert.equal(event.size, Number(trade.qty));
      // buyer maker => the seller hit the bid
      assert.equal(event.aggressor, trade.isBuyerMaker ? 'sell' : 'buy');
      assert.equal(event.venue, 'binance');
      assert.equal(validateMessage('trade_tick', event).ok, true);
    }
  });

  it("maps Binance's own trade frames to exactly the events of ccxt's parse of them", () => {
    for (const trade of trades) {
      const raw = fixture(trade);
      const live = adapter.decode(tradeFrame({ symbol: 'BTC/USDT', frame: raw as JsonValue }));
      assert.ok(live.ok, `trade ${trade.id}`);
      assert.deepEqual(live, adapter.decode(tradeFrame(parsedTrade(raw))), `trade ${trade.id}`);
    }
  });

  it('is pure: the same frame gives the same events', () => {
    const frame = tradeFrame(parsedTrade(fixture(trades[0] as never)));
    assert.deepEqual(adapter.decode(frame), adapter.decode(frame));
  });

  it('maps a bookTicker quote, keyed by the update id, at the receive time', () => {
    const decoded = adapter.decode({
      payload: {
        symbol: 'BTC/USDT',
        bid: 39432.99,
        ask: 39433.62,
        bidVolume: 0.0031,
        askVolume: 0.066851,
        info: { u: 400900217, s: 'BTCUSDT', b: '39432.99', B: '0.0031', a: '39433.62', A: '0.066851' },
      },
      channel: 'quotes',
      receivedAt: RECEIVED,
      origin: 'stream',
    });
    assert.ok(decoded.ok);
    const [quote] = decoded.events;
    assert.ok(quote && quote.schema === 'quote_tick.v1');
    assert.equal(quote.id, 'ccxt:binance:quote:BTC/USDT:400900217');
    assert.equal(quote.ts_event, RECEIVED);
    assert.equal(validateMessage('quote_tick', quote).ok, true);
  });

  const real = parsedTrade(fixture(trades[0] as never)) as Record<string, JsonValue>;
  const hostile: Array<[string, JsonValue, RegExp]> = [
    ['missing price', { ...real, price: null }, /price/],
    ['zero price', { ...real, price: 0 }, /price/],
    ['negative price', { ...real, price: -1 }, /price/],
    ['price as a string', { ...real, price: '39432.48' }, /price/],
    ['NaN amount (as ccxt would carry it, null in JSON)', { ...real, amount: null }, /amount/],
    ['negative amount', { ...real, amount: -0.1 }, /amount/],
    ['missing id', { ...real, id: null }, /trade id/],
    ['huge id', { ...real, id: '9'.repeat(10_000) }, /trade id/],
    ['id of the wrong type', { ...real, id: 553287559 }, /trade id/],
    ['timestamp before 1990', { ...real, timestamp: 1000 }, /timestamp/],
    ['timestamp as a string', { ...real, timestamp: '1610064000278' }, /timestamp/],
    ['fractional timestamp', { ...real, timestamp: 1610064000278.5 }, /timestamp/],
    [
      'unknown symbol (ccxt falls back to the raw market id)',
      { ...real, symbol: 'ETHUSDT' },
      /unknown symbol/,
    ],
    ['huge symbol', { ...real, symbol: `${'A'.repeat(100_000)}/USDT` }, /unknown symbol/],
    ['symbol of the wrong type', { ...real, symbol: 42 }, /unknown symbol/],
    ['not an object', 'trade', /not an object/],
    ['an array', [real], /not an object/],
    ['null', null, /not an object/],
    [
      'a frame ccxt could not parse',
      { unparsed: '{"e":"trade",', error: 'Unexpected end' },
      /could not parse/,
    ],
  ];
  for (const [name, payload, reason] of hostile) {
    it(`rejects ${name} with a reason`, () => {
      const decoded = adapter.decode(tradeFrame(payload));
      assert.equal(decoded.ok, false);
      assert.match(decoded.ok ? '' : decoded.reason, reason);
      assert.ok((decoded.ok ? '' : decoded.reason).length < 300, 'the reason stays short');
    });
  }

  const rawFrame = fixture(trades[0] as never) as { [key: string]: JsonValue };
  const hostileRaw: Array<[string, JsonValue, RegExp]> = [
    ['price not a number', { ...rawFrame, p: 'abc' }, /price/],
    ['negative price', { ...rawFrame, p: '-5' }, /price/],
    ['zero price', { ...rawFrame, p: '0.00000000' }, /price/],
    ['price as a JSON number', { ...rawFrame, p: 39432.48 }, /price/],
    ['price in exponent form', { ...rawFrame, p: '3e4' }, /price/],
    ['huge price text', { ...rawFrame, p: '9'.repeat(100_000) }, /price/],
    ['missing quantity', { ...rawFrame, q: undefined as never }, /amount/],
    ['negative quantity', { ...rawFrame, q: '-0.1' }, /amount/],
    ['missing trade id', { ...rawFrame, t: null }, /trade id/],
    ['trade id as a string', { ...rawFrame, t: '553287559' }, /trade id/],
    ['negative trade id', { ...rawFrame, t: -1 }, /trade id/],
    ['fractional trade id', { ...rawFrame, t: 1.5 }, /trade id/],
    ['trade time before 1990', { ...rawFrame, T: 1 }, /timestamp/],
    ['trade time as a string', { ...rawFrame, T: '1610064000278' }, /timestamp/],
    ['missing maker flag', { ...rawFrame, m: null }, /maker flag/],
    ['maker flag as a string', { ...rawFrame, m: 'true' }, /maker flag/],
    ['raw frame not an object', 'trade', /not an object/],
    ['raw frame an array', [rawFrame], /not an object/],
  ];
  for (const [name, raw, reason] of hostileRaw) {
    it(`rejects a raw Binance trade frame with ${name}, with a reason`, () => {
      const decoded = adapter.decode(tradeFrame({ symbol: 'BTC/USDT', frame: raw }));
      assert.equal(decoded.ok, false);
      assert.match(decoded.ok ? '' : decoded.reason, reason);
      assert.ok((decoded.ok ? '' : decoded.reason).length < 300, 'the reason stays short');
    });
  }

  it('rejects a raw trade frame under a symbol that is not unified', () => {
    const decoded = adapter.decode(tradeFrame({ symbol: 'BTCUSDT', frame: rawFrame }));
    assert.equal(decoded.ok, false);
    assert.match(decoded.ok ? '' : decoded.reason, /unknown symbol/);
  });

  it('rejects a quote with a crossed-out bid and a channel it does not offer', () => {
    const quote = adapter.decode({
      payload: { symbol: 'BTC/USDT', bid: 0, ask: 1, bidVolume: 1, askVolume: 1, info: {} },
      channel: 'quotes',
      receivedAt: RECEIVED,
      origin: 'stream',
    });
    assert.equal(quote.ok, false);
    const news = adapter.decode({ payload: real, channel: 'news', receivedAt: RECEIVED, origin: 'stream' });
    assert.equal(news.ok, false);
  });
});

describe('ccxt adapter decode: 1-minute bars', () => {
  const klines = loadSourceKlines();
  const klineFrame = BinanceLoopback.prototype.klineFrame;
  const barFrame = (payload: JsonValue, origin: RawFrame['origin'] = 'stream'): RawFrame => ({
    payload,
    channel: 'bars',
    receivedAt: RECEIVED,
    origin,
  });
  // ccxt's own parse of a GET /api/v3/klines row: what fetchOHLCV hands the backfill.
  const ccxtCandle = (row: readonly JsonValue[]): JsonValue =>
    parser.parseOHLCV(row as never, parser.market('ADA/BTC')) as JsonValue;

  it('maps every real kline, as the closing frame and as ccxt fetchOHLCV array, to the same valid bar', () => {
    assert.equal(klines.length, 21);
    for (const kline of klines) {
      const live = adapter.decode(
        barFrame({ symbol: 'ADA/BTC', frame: klineFrame(kline, true) as JsonValue }),
      );
      const rest = adapter.decode(barFrame({ symbol: 'ADA/BTC', ohlcv: ccxtCandle(kline) }, 'backfill'));
      assert.ok(live.ok, `kline ${kline[0]}`);
      assert.deepEqual(rest, live, `kline ${kline[0]}`);
      const [bar] = live.events;
      assert.ok(bar && bar.schema === 'bar.v1');
      assert.equal(bar.id, `ccxt:binance:bar:ADA/BTC:${kline[0]}`);
      assert.equal(bar.ts_event, kline[0] + 60_000);
      assert.equal(bar.ts_event, kline[6] + 1, 'the close is Binance close time + 1 ms');
      assert.equal(bar.ts_init, RECEIVED);
      assert.equal(bar.interval, '1m');
      assert.deepEqual(
        [bar.open, bar.high, bar.low, bar.close, bar.volume],
        [kline[1], kline[2], kline[3], kline[4], kline[5]].map(Number),
      );
      assert.equal(validateMessage('bar', bar).ok, true);
    }
  });

  it('an update of a candle still open is no event and no error', () => {
    const decoded = adapter.decode(
      barFrame({ symbol: 'ADA/BTC', frame: klineFrame(klines[0] as never, false) as JsonValue }),
    );
    assert.deepEqual(decoded, { ok: true, events: [] });
  });

  const closing = klineFrame(klines[0] as never, true) as { [key: string]: JsonValue };
  const k = closing.k as { [key: string]: JsonValue };
  const withK = (patch: { [key: string]: JsonValue | undefined }): JsonValue =>
    ({ ...closing, k: { ...k, ...patch } }) as JsonValue;
  const hostileKlines: Array<[string, JsonValue, RegExp]> = [
    ['no k', { ...closing, k: null }, /kline \(k\) missing/],
    ['k an array', { ...closing, k: [k] }, /kline \(k\) missing/],
    ['another interval', withK({ i: '5m' }), /interval/],
    ['a huge interval text', withK({ i: 'x'.repeat(100_000) }), /interval/],
    ['closed flag missing', withK({ x: undefined }), /closed flag/],
    ['closed flag as a string', withK({ x: 'true' }), /closed flag/],
    ['open price not a number', withK({ o: 'abc' }), /price/],
    ['zero close', withK({ c: '0.00000000' }), /price/],
    ['negative low', withK({ l: '-0.00002851' }), /price/],
    ['high as a JSON number', withK({ h: 0.00002854 }), /price/],
    ['high below the close', withK({ h: '0.00002800' }), /high\/low/],
    ['low above the open', withK({ l: '0.00002900' }), /high\/low/],
    ['volume negative', withK({ v: '-1' }), /volume/],
    ['volume missing', withK({ v: undefined }), /volume/],
    ['open time before 1990', withK({ t: 60_000 }), /open time/],
    ['open time not on a minute', withK({ t: 1637971200001 }), /open time/],
    ['open time as a string', withK({ t: '1637971200000' }), /open time/],
    ['frame not an object', 'kline', /not an object/],
  ];
  for (const [name, raw, reason] of hostileKlines) {
    it(`rejects a raw Binance kline frame with ${name}, with a reason`, () => {
      const decoded = adapter.decode(barFrame({ symbol: 'ADA/BTC', frame: raw }));
      assert.equal(decoded.ok, false);
      assert.match(decoded.ok ? '' : decoded.reason, reason);
      assert.ok((decoded.ok ? '' : decoded.reason).length < 300, 'the reason stays short');
    });
  }

  const candle = ccxtCandle(klines[0] as never) as JsonValue[];
  const hostileCandles: Array<[string, JsonValue, RegExp]> = [
    ['not an array', { t: 1 }, /array of 6/],
    ['too short', candle.slice(0, 5), /array of 6/],
    ['NaN close (null in JSON)', [...candle.slice(0, 4), null, candle[5] ?? 0], /price/],
    ['price as a string', [candle[0] ?? 0, '0.00002853', ...candle.slice(2)], /price/],
    ['negative volume', [...candle.slice(0, 5), -1], /volume/],
    ['fractional open time', [1637971200000.5, ...candle.slice(1)], /open time/],
  ];
  for (const [name, ohlcv, reason] of hostileCandles) {
    it(`rejects a ccxt candle ${name}, with a reason`, () => {
      const decoded = adapter.decode(barFrame({ symbol: 'ADA/BTC', ohlcv }, 'backfill'));
      assert.equal(decoded.ok, false);
      assert.match(decoded.ok ? '' : decoded.reason, reason);
    });
  }

  it('rejects a bar under a symbol that is not unified', () => {
    const decoded = adapter.decode(barFrame({ symbol: 'ADABTC', ohlcv: candle }));
    assert.equal(decoded.ok, false);
    assert.match(decoded.ok ? '' : decoded.reason, /unknown symbol/);
  });
});
