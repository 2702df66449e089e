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
import { BinanceLoopback, loadSourceTrades } from '../support/loopback/binance.ts';

const adapter = new CcxtFeedAdapter({ exchange: 'binance', clock: new ReplayClock(0) });
const RECEIVED = 1_700_000_000_000;

// ccxt's parser for Binance's @trade frames, with BTCUSDT known as ccxt learns it from exchangeInfo.
const parser = new ccxt.pro.binance({ options: { fetchMarkets: { types: ['spot'] } } });
parser.setMarkets([
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
