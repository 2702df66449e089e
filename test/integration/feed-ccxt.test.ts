// The real ccxt adapter (ccxt.pro.binance, REST and WebSocket) against the Binance loopback fixture
// serving the real BTCUSDT trades, alone and under the FeedActor with a real nats-server.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { FeedActor, type FeedActorOptions } from '../../actors/feed/actor.ts';
import type { RawFrame } from '../../actors/feed/adapter.ts';
import { CcxtFeedAdapter } from '../../actors/feed/adapters/ccxt.ts';
import { WallClock } from '../../core/clock.ts';
import { SeededRandom } from '../../core/random.ts';
import { startTestBus, type TestBus } from '../support/bus.ts';
import { BinanceLoopback, type SourceKline, type SourceTrade } from '../support/loopback/binance.ts';
import { until } from '../support/wait.ts';

const SYMBOL = 'BTC/USDT';
const BAR_SYMBOL = 'ADA/BTC';

function adapterFor(server: BinanceLoopback, backfillPageSize = 1000): CcxtFeedAdapter {
  return new CcxtFeedAdapter({
    exchange: 'binance',
    clock: new WallClock(),
    urls: { rest: server.restUrl, ws: server.wsUrl },
    // historicalTrades: ccxt sends an API key; public market data needs no permissions on it.
    credentials: { apiKey: 'loopback-read-only-key' },
    backfillPageSize,
  });
}

// Live trades come as Binance's own frames, backfilled ones as ccxt's unified trades: decode reads both.
const decoder = new CcxtFeedAdapter({ exchange: 'binance', clock: new WallClock() });

function tradeIds(frames: readonly RawFrame[]): string[] {
  return frames.map((frame) => {
    const decoded = decoder.decode(frame);
    const event = decoded.ok ? decoded.events[0] : undefined;
    return event?.schema === 'trade_tick.v1'
      ? (event.trade_id ?? 'no trade id')
      : `not a trade: ${JSON.stringify(frame.payload)}`;
  });
}

/** The open time of each bar the frames map to (open updates map to none). */
function barOpenTimes(frames: readonly RawFrame[]): number[] {
  return frames.flatMap((frame) => {
    const decoded = decoder.decode(frame);
    if (!decoded.ok) return [`rejected: ${decoded.reason}` as never];
    return decoded.events.map((event) => event.ts_event - 60_000);
  });
}

function sourceOpenTimes(klines: readonly SourceKline[]): number[] {
  return klines.map((kline) => kline[0]);
}

function sourceIds(trades: readonly SourceTrade[]): string[] {
  return trades.map((trade) => String(trade.id));
}

async function collect(frames: AsyncIterable<RawFrame>): Promise<RawFrame[]> {
  const out: RawFrame[] = [];
  for await (const frame of frames) out.push(frame);
  return out;
}

describe('ccxt adapter against the Binance loopback server', () => {
  const servers: BinanceLoopback[] = [];
  const adapters: CcxtFeedAdapter[] = [];
  after(async () => {
    for (const adapter of adapters) await adapter.close();
    for (const server of servers) await server.close();
  });
  async function setUp(tradesPerSecond = 0, pageSize = 1000) {
    const server = await BinanceLoopback.start({ tradesPerSecond });
    servers.push(server);
    const adapter = adapterFor(server, pageSize);
    adapters.push(adapter);
    await adapter.connect();
    await adapter.authenticate();
    return { server, adapter };
  }

  it('streams every trade of the file, in order, with the exchange trade ids', async () => {
    const { server, adapter } = await setUp(0);
    const frames: RawFrame[] = [];
    await adapter.subscribe({
      symbols: [SYMBOL],
      channels: ['trades'],
      onFrame: (frame) => frames.push(frame),
    });
    await server.allPrinted();
    await until('every trade frame', () => frames.length >= server.trades.length);
    assert.deepEqual(tradeIds(frames), sourceIds(server.trades));
    assert.ok(frames.every((frame) => frame.origin === 'stream' && adapter.decode(frame).ok));
    assert.deepEqual(
      server.restCalls.map((call) => call.path),
      ['/api/v3/exchangeInfo'],
      'ccxt calls nothing the fixture does not serve',
    );
  });

  it('streams top-of-book quotes from bookTicker', async () => {
    const server = await BinanceLoopback.start({ tradesPerSecond: 0, autoStart: false });
    servers.push(server);
    const adapter = adapterFor(server);
    adapters.push(adapter);
    await adapter.connect();
    const quotes: RawFrame[] = [];
    await adapter.subscribe({
      symbols: [SYMBOL],
      channels: ['trades', 'quotes'],
      onFrame: (frame) => frame.channel === 'quotes' && quotes.push(frame),
    });
    await until('both subscriptions', () => server.subscribedStreams().size === 2);
    server.startTape();
    await server.allPrinted();
    await until('quotes', () => quotes.length > 0);
    // ccxt hands over the latest top of book per read, so a burst is conflated: some, never more.
    assert.ok(quotes.length <= server.quotes.length);
    for (const quote of quotes) assert.equal(adapter.decode(quote).ok, true);
  });

  it('backfills a span with exactly the source trades, page by page by trade id', async () => {
    const { server, adapter } = await setUp(0, 300);
    const frames: RawFrame[] = [];
    await adapter.subscribe({
      symbols: [SYMBOL],
      channels: ['trades'],
      onFrame: (frame) => frames.push(frame),
    });
    await server.allPrinted();
    const { trades } = server;
    const from = trades[100] as SourceTrade;
    const toMs = (trades[1700] as SourceTrade).time;
    const expected = trades.filter((trade) => trade.id > from.id && trade.time < toMs);
    const backfilled = await collect(
      adapter.backfill({
        symbol: SYMBOL,
        channel: 'trades',
        fromMs: from.time,
        afterId: String(from.id),
        toMs,
      }),
    );
    assert.deepEqual(tradeIds(backfilled), sourceIds(expected));
    assert.ok(backfilled.every((frame) => frame.origin === 'backfill'));
    assert.ok(
      server.restCalls.filter((call) => call.path === '/api/v3/historicalTrades').length >= 5,
      'paged',
    );

    // Without the last id: the first trade at fromMs (found through aggTrades) onwards.
    const fromTime = await collect(
      adapter.backfill({ symbol: SYMBOL, channel: 'trades', fromMs: from.time, toMs }),
    );
    assert.deepEqual(
      tradeIds(fromTime),
      sourceIds(trades.filter((trade) => trade.time >= from.time && trade.time < toMs)),
    );
  });

  it('waits out HTTP 429 with Retry-After on the backfill and still returns everything', async () => {
    const { server, adapter } = await setUp(0, 500);
    await adapter.subscribe({ symbols: [SYMBOL], channels: ['trades'], onFrame: () => undefined });
    await server.allPrinted();
    const first = server.trades[0] as SourceTrade;
    server.rateLimitNext(3, 1);
    const backfilled = await collect(
      adapter.backfill({
        symbol: SYMBOL,
        channel: 'trades',
        fromMs: first.time,
        afterId: String(first.id),
        toMs: 2e12,
      }),
    );
    assert.deepEqual(tradeIds(backfilled), sourceIds(server.trades.slice(1)));
    assert.equal(server.restCalls.filter((call) => call.status === 429).length, 3);
  });

  it('streams 1-minute bars from kline_1m: each closed candle once, in order, open updates not', async () => {
    const { server, adapter } = await setUp(0);
    const frames: RawFrame[] = [];
    await adapter.subscribe({ symbols: [BAR_SYMBOL], channels: ['bars'], onFrame: (f) => frames.push(f) });
    assert.deepEqual([...server.subscribedStreams()], ['adabtc@kline_1m']);
    await server.klinesClosedAt();
    await until('every kline frame', () => frames.length >= server.klines.length * 3);
    assert.equal(frames.length, server.klines.length * 3, 'two open updates and the close per candle');
    assert.deepEqual(barOpenTimes(frames), sourceOpenTimes(server.klines));
    assert.ok(frames.every((frame) => frame.origin === 'stream' && frame.channel === 'bars'));
  });

  it('backfills a span of bars with exactly the source candles, page by page, through a 429', async () => {
    const { server, adapter } = await setUp(0, 4);
    await adapter.subscribe({ symbols: [BAR_SYMBOL], channels: ['bars'], onFrame: () => undefined });
    await server.klinesClosedAt();
    const { klines } = server;
    const fromMs = (klines[2] as SourceKline)[0] + 60_000; // the close of the third candle, inclusive
    const toMs = (klines[18] as SourceKline)[0] + 60_000; // the close of the 19th, exclusive
    server.rateLimitNext(1, 1);
    const backfilled = await collect(adapter.backfill({ symbol: BAR_SYMBOL, channel: 'bars', fromMs, toMs }));
    assert.deepEqual(barOpenTimes(backfilled), sourceOpenTimes(klines.slice(2, 18)));
    assert.ok(backfilled.every((frame) => frame.origin === 'backfill'));
    const calls = server.restCalls.filter((call) => call.path === '/api/v3/klines');
    assert.equal(calls.filter((call) => call.status === 429).length, 1);
    assert.ok(calls.filter((call) => call.status === 200).length >= 4, 'paged by 4');
    // The whole tape, and nothing from a span with no candle.
    const all = await collect(
      adapter.backfill({ symbol: BAR_SYMBOL, channel: 'bars', fromMs: 0, toMs: 2e12 }),
    );
    assert.deepEqual(barOpenTimes(all), sourceOpenTimes(klines));
    const none = await collect(
      adapter.backfill({
        symbol: BAR_SYMBOL,
        channel: 'bars',
        fromMs: 1_637_000_000_000,
        toMs: 1_637_000_600_000,
      }),
    );
    assert.deepEqual(none, []);
  });

  it('resolves disconnected() when the exchange drops the socket, and close() is safe twice', async () => {
    const { server, adapter } = await setUp(500);
    await adapter.subscribe({ symbols: [SYMBOL], channels: ['trades'], onFrame: () => undefined });
    await until('a few trades', () => server.tradeFramesSent > 10);
    server.dropConnections();
    assert.match(await adapter.disconnected(), /NetworkError|closed/);
    await adapter.close();
    await adapter.close();
  });
});

describe('ccxt adapter under the FeedActor, onto a real JetStream', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  async function feed(server: BinanceLoopback, extra: Partial<FeedActorOptions> = {}) {
    const bus: TestBus = await startTestBus();
    cleanups.push(() => bus.close());
    const actor = await FeedActor.start({
      adapter: adapterFor(server),
      jetstream: bus.jetstream,
      subjects: bus.subjects,
      symbols: [SYMBOL],
      channels: ['trades'],
      clock: new WallClock(),
      random: new SeededRandom(16),
      reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
      ...extra,
    });
    cleanups.push(() => actor.stop());
    return { bus, actor };
  }

  /** Trade ids in the MARKET stream, in stream order. */
  async function marketTradeIds(bus: TestBus): Promise<string[]> {
    const { state } = await bus.manager.streams.info('MARKET');
    const ids: string[] = [];
    if (state.messages === 0) return ids;
    const messages = await (await bus.jetstream.consumers.get('MARKET')).consume();
    for await (const message of messages) {
      ids.push(String((message.json() as { trade_id: string }).trade_id));
      if (message.seq >= state.last_seq) break;
    }
    return ids;
  }

  /** The publisher acknowledges in windows: flush (caughtUp) until the whole tape is in the stream. */
  async function everyTradePublished(actor: FeedActor, server: BinanceLoopback): Promise<void> {
    await until(
      'every trade published',
      async () => {
        await actor.caughtUp();
        return actor.status().published >= server.trades.length;
      },
      60_000,
      100,
    );
  }

  async function startServer(tradesPerSecond: number) {
    const server = await BinanceLoopback.start({ tradesPerSecond });
    cleanups.push(() => server.close());
    return server;
  }

  it('a disconnect mid-stream, reconnect and backfill: MARKET holds every source trade once, in order', async () => {
    const server = await startServer(2_000);
    server.dropConnectionAt(700);
    const { bus, actor } = await feed(server);
    await server.allPrinted();
    await everyTradePublished(actor, server);
    assert.deepEqual(await marketTradeIds(bus), sourceIds(server.trades));
    const status = actor.status();
    assert.ok(status.reconnects >= 1, 'reconnected');
    assert.ok(status.backfilled > 0, 'the gap came over REST');
  });

  it('bars: an outage mid-day, reconnect and backfill: MARKET holds each source candle once, in order', async () => {
    const server = await BinanceLoopback.start({ klinesPerSecond: 10 });
    cleanups.push(() => server.close());
    const { bus, actor } = await feed(server, { symbols: [BAR_SYMBOL], channels: ['bars'] });
    await server.klinesClosedAt(4);
    const first = server.klines[0] as SourceKline;
    server.inject(server.klineFrame(first, true)); // a duplicate, out of order
    server.inject({ ...server.klineFrame(first, true), s: 'BTCUSDT' }); // a market with no bars subscribed
    const bad = server.klineFrame(first, true) as { k: Record<string, unknown> };
    server.inject({ ...bad, k: { ...bad.k, h: '-1' } }); // malformed
    server.inject({ ...bad, k: { ...bad.k, i: '5m' } }); // wrong interval
    await server.klinesClosedAt(6);
    server.refuseConnections(true);
    await server.klinesClosedAt(12);
    server.refuseConnections(false);
    await server.klinesClosedAt();
    await until(
      'every bar published',
      async () => {
        await actor.caughtUp();
        return actor.status().published >= server.klines.length;
      },
      30_000,
      100,
    );
    const { state } = await bus.manager.streams.info('MARKET');
    const ids: string[] = [];
    const messages = await (await bus.jetstream.consumers.get('MARKET')).consume();
    for await (const message of messages) {
      ids.push(String((message.json() as { id: string }).id));
      if (message.seq >= state.last_seq) break;
    }
    assert.deepEqual(
      ids,
      server.klines.map((kline) => `ccxt:binance:bar:${BAR_SYMBOL}:${kline[0]}`),
    );
    const status = actor.status();
    assert.ok(status.reconnects >= 1, 'reconnected');
    assert.ok(status.backfilled > 0, 'the gap came over REST');
    assert.ok(status.duplicates >= 1, `duplicates ${status.duplicates}`);
    const rejected = Object.values(status.rejected).reduce((sum, count) => sum + count, 0);
    assert.equal(rejected, 3, JSON.stringify(status.rejected));
    assert.equal((await bus.manager.streams.info('DEADLETTER')).state.messages, 3);
  });

  it('duplicate, out-of-order and malformed frames: dead letters counted, nothing blocked, nothing twice', async () => {
    const server = await startServer(1_000);
    const { bus, actor } = await feed(server);
    await until('some trades', () => server.printedCount > 300);
    const early = server.trades.slice(10, 15);
    for (const trade of early) server.inject(server.tradeFrame(trade)); // duplicates, and out of order
    server.inject({
      e: 'trade',
      E: 1610064000278,
      s: 'BTCUSDT',
      t: 9,
      p: 'abc',
      q: '1',
      T: 1610064000278,
      m: true,
    });
    server.inject({
      e: 'trade',
      E: 1610064000278,
      s: 'BTCUSDT',
      t: 10,
      p: '-5',
      q: '1',
      T: 1610064000278,
      m: true,
    });
    server.inject({ e: 'trade', E: 1, s: 'BTCUSDT', t: 11, p: '1', q: '1', T: 1, m: true });
    server.inject('{"e":"trade","s":"BTCUSDT","t":12,'); // cut off: not JSON
    server.inject({
      e: 'trade',
      E: 1610064000278,
      s: 'ETHUSDT',
      t: 13,
      p: '1',
      q: '1',
      T: 1610064000278,
      m: true,
    });
    await server.allPrinted();
    await everyTradePublished(actor, server);
    assert.deepEqual(await marketTradeIds(bus), sourceIds(server.trades));
    const status = actor.status();
    assert.ok(status.duplicates >= early.length, `duplicates ${status.duplicates}`);
    const rejected = Object.values(status.rejected).reduce((sum, count) => sum + count, 0);
    assert.equal(rejected, 5, JSON.stringify(status.rejected));
    const { state } = await bus.manager.streams.info('DEADLETTER');
    assert.equal(state.messages, 5);
  });

  it('silence: feed_stale alert, then the catch-up backfill fills what the stream did not send', async () => {
    const server = await startServer(1_000);
    const { bus, actor } = await feed(server, { staleAfterMs: 300 });
    await until('some trades', () => server.printedCount > 200);
    server.mute(true);
    await until('stale alert', () => actor.status().staleAlerts >= 1, 10_000);
    server.mute(false);
    await server.allPrinted();
    await everyTradePublished(actor, server);
    assert.deepEqual(await marketTradeIds(bus), sourceIds(server.trades));
    const { state } = await bus.manager.streams.info('ALERTS');
    assert.ok(state.messages >= 1);
  });
});
