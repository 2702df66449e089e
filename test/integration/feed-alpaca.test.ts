// The Alpaca adapter and Alpaca's real SDK against the loopback Alpaca server (a test fixture that
// speaks Alpaca's documented market-data protocol and serves real SPY minute bars and stocknet
// tweets as news): authentication, subscription, REST backfill across pages and 429s, news, hostile
// frames on the wire and a dropped connection.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { FeedActor } from '../../actors/feed/actor.ts';
import { FeedAuthError, type FeedChannel, type RawFrame } from '../../actors/feed/adapter.ts';
import { AlpacaFeedAdapter, type AlpacaFeedOptions } from '../../actors/feed/adapters/alpaca.ts';
import { ReplayClock, WallClock } from '../../core/clock.ts';
import { SeededRandom } from '../../core/random.ts';
import type { Alert, Bar, DeadLetter, NewsItem } from '../../schemas/messages.ts';
import type { StreamName } from '../../schemas/subjects.ts';
import { emptyRecordingStats, recordedSessionSource } from '../../simulations/sources/feed-recording.ts';
import { startTestBus, type TestBus } from '../support/bus.ts';
import {
  type AlpacaLoopback,
  type AlpacaNewsItem,
  alpacaBar,
  readSpyBars,
  readStocknetNews,
  startAlpacaLoopback,
  timestampExt,
} from '../support/loopback/alpaca.ts';
import { until } from '../support/wait.ts';

const KEY = 'PKLOOPBACKKEY';
const SECRET = 'loopback-secret';
const RECEIVED = Date.parse('2026-01-05T15:00:00Z');

function adapter(server: AlpacaLoopback, options: Partial<AlpacaFeedOptions> = {}): AlpacaFeedAdapter {
  return new AlpacaFeedAdapter({
    keyId: KEY,
    secretKey: SECRET,
    dataUrl: server.dataUrl,
    streamUrl: server.streamUrl,
    clock: new ReplayClock(RECEIVED),
    pingIntervalMs: 0,
    ...options,
  });
}

async function live(
  feed: AlpacaFeedAdapter,
  symbols: string[],
  channels: FeedChannel[],
): Promise<RawFrame[]> {
  const frames: RawFrame[] = [];
  await feed.connect();
  await feed.authenticate();
  await feed.subscribe({ symbols, channels, onFrame: (frame) => frames.push(frame) });
  return frames;
}

function decodeAll(feed: AlpacaFeedAdapter, frames: readonly RawFrame[]) {
  return frames.flatMap((frame) => {
    const decoded = feed.decode(frame);
    assert.ok(decoded.ok, decoded.ok ? '' : decoded.reason);
    return decoded.events;
  });
}

/** The fields a feed's bar shares with its source row (ids and ts_init are the feed's own). */
const barFields = (bar: Bar) => [bar.ts_event, bar.open, bar.high, bar.low, bar.close, bar.volume];

describe('Alpaca adapter against the loopback Alpaca server', () => {
  let bars: Bar[];
  let news: AlpacaNewsItem[];

  before(async () => {
    bars = await readSpyBars(1200);
    news = await readStocknetNews(120);
  });

  async function server(tickMs = 1): Promise<AlpacaLoopback> {
    return startAlpacaLoopback({
      keyId: KEY,
      secretKey: SECRET,
      bars: { SPY: bars.map(alpacaBar) },
      news,
      tickMs,
    });
  }

  describe('authentication', () => {
    let loopback: AlpacaLoopback;
    before(async () => {
      loopback = await server();
    });
    after(() => loopback.close());

    it("wrong credentials: authenticate() throws FeedAuthError with Alpaca's code, and the secret is not in it", async () => {
      const feed = adapter(loopback, { secretKey: 'wrong-secret-value' });
      await feed.connect();
      const error = await feed.authenticate().then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
      assert.ok(error instanceof FeedAuthError, String(error));
      assert.match(error.message, /alpaca: authentication failed: auth failed \(code 402\)/);
      assert.doesNotMatch(error.message, /wrong-secret-value|PKLOOPBACKKEY/);
      // Logged or inspected whole, the adapter shows no credential either.
      assert.doesNotMatch(JSON.stringify({ feed }), /wrong-secret-value|PKLOOPBACKKEY/);
      assert.doesNotMatch(inspect(feed, { depth: 10 }), /wrong-secret-value|PKLOOPBACKKEY/);
      await feed.close();
    });

    it('refused credentials on REST: backfill throws FeedAuthError', async () => {
      const feed = adapter(loopback, { keyId: 'PKNOBODY' });
      const span = {
        symbol: 'SPY',
        channel: 'bars',
        fromMs: bars[0]?.ts_event ?? 0,
        toMs: Date.now(),
      } as const;
      await assert.rejects(async () => {
        for await (const _ of feed.backfill(span));
      }, FeedAuthError);
    });

    it('no server: connect() throws a plain error (the FeedActor retries it)', async () => {
      const feed = adapter(loopback, { streamUrl: 'ws://127.0.0.1:1' });
      await assert.rejects(
        feed.connect(),
        (error: Error) => !(error instanceof FeedAuthError) && /could not connect/.test(error.message),
      );
    });
  });

  it('subscribe: the minute bars arrive in order, one frame each, equal to the source', async () => {
    const loopback = await server();
    const feed = adapter(loopback, { channels: ['trades', 'quotes', 'bars'] });
    try {
      const frames = await live(feed, ['SPY'], ['trades', 'quotes', 'bars']);
      await loopback.played('bars');
      await until('every bar frame', () => frames.length === bars.length, 10_000);
      assert.ok(frames.every((frame) => frame.channel === 'bars' && frame.origin === 'stream'));
      assert.ok(frames.every((frame) => frame.receivedAt === RECEIVED));
      const events = decodeAll(feed, frames) as Bar[];
      assert.deepEqual(events.map(barFields), bars.map(barFields));
      assert.equal(new Set(events.map((event) => event.id)).size, bars.length);
    } finally {
      await feed.close();
      await loopback.close();
    }
  });

  it('backfill: a span of bars comes back exactly, across pages (start inclusive, end exclusive)', async () => {
    const loopback = await server();
    const feed = adapter(loopback, { pageLimit: 97 });
    try {
      const from = bars[100] as Bar;
      const to = bars[1100] as Bar;
      const frames: RawFrame[] = [];
      for await (const frame of feed.backfill({
        symbol: 'SPY',
        channel: 'bars',
        fromMs: from.ts_event,
        toMs: to.ts_event,
      }))
        frames.push(frame);
      assert.ok(frames.every((frame) => frame.origin === 'backfill' && frame.channel === 'bars'));
      assert.deepEqual(
        (decodeAll(feed, frames) as Bar[]).map(barFields),
        bars.slice(100, 1100).map(barFields),
      );
      const pages = loopback.requests.filter((request) => request.path === '/v2/stocks/SPY/bars');
      assert.ok(pages.length >= Math.ceil(1000 / 97), `${pages.length} pages`);
      assert.ok(
        pages.slice(1).every((page) => page.query.page_token),
        'later pages follow next_page_token',
      );
      assert.ok(pages.every((page) => page.query.timeframe === '1Min' && page.query.feed === 'iex'));
    } finally {
      await loopback.close();
    }
  });

  it('backfill: 429 answers are waited out (Retry-After) and the span still comes back whole', async () => {
    const loopback = await server();
    const feed = adapter(loopback, { pageLimit: 400 });
    try {
      loopback.rateLimitNext(2, 1);
      const from = bars[0] as Bar;
      const frames: RawFrame[] = [];
      for await (const frame of feed.backfill({
        symbol: 'SPY',
        channel: 'bars',
        fromMs: from.ts_event,
        toMs: (bars.at(-1)?.ts_event ?? 0) + 1,
      }))
        frames.push(frame);
      assert.deepEqual((decodeAll(feed, frames) as Bar[]).map(barFields), bars.map(barFields));
      assert.equal(feed.rateLimitWaits, 2);
      const statuses = loopback.requests.map((request) => request.status);
      assert.deepEqual(statuses.slice(0, 3), [429, 429, 200]);
      const [first, , success] = loopback.requests;
      // Two waits of Retry-After: 1 s each before the request that succeeded (a bound, not a timing).
      assert.ok(
        success && first && success.at - first.at >= 1_900,
        `${success && first && success.at - first.at} ms`,
      );
    } finally {
      await loopback.close();
    }
  });

  it('news: the news stream delivers the stocknet items, one news_item per symbol named', async () => {
    const loopback = await server();
    const feed = adapter(loopback, { channels: ['news'] });
    try {
      const frames = await live(feed, ['*'], ['news']);
      await loopback.played('news');
      await until('every news frame', () => frames.length === news.length, 10_000);
      const events = decodeAll(feed, frames) as NewsItem[];
      const expected = news.flatMap((item) =>
        item.symbols.map((symbol) => [
          `alpaca:news:${symbol}:${item.id}`,
          Date.parse(item.created_at),
          item.headline,
        ]),
      );
      assert.deepEqual(
        events.map((event) => [event.id, event.ts_event, event.headline]),
        expected,
      );
    } finally {
      await feed.close();
      await loopback.close();
    }
  });

  it('news backfill: oldest first across pages, only items naming the symbol', async () => {
    const loopback = await server();
    const feed = adapter(loopback, { pageLimit: 10 });
    try {
      const symbol = 'AAPL';
      const fromMs = Date.parse(news[0]?.created_at ?? '');
      const toMs = Date.parse(news.at(-1)?.created_at ?? '') + 1;
      const frames: RawFrame[] = [];
      for await (const frame of feed.backfill({ symbol, channel: 'news', fromMs, toMs })) frames.push(frame);
      const expected = news.filter((item) => item.symbols.includes(symbol)).map((item) => item.id);
      assert.ok(expected.length > 30, `${expected.length} items`);
      assert.deepEqual(
        frames.map((frame) => (frame.payload as { id: number }).id),
        expected,
      );
      assert.ok(
        loopback.requests.every((request) => request.query.sort === 'asc' && request.query.limit === '10'),
      );
    } finally {
      await loopback.close();
    }
  });

  it('hostile frames on the wire reach decode and are refused; what follows still arrives', async () => {
    const loopback = await server(2);
    const feed = adapter(loopback, { channels: ['bars'] });
    try {
      const frames = await live(feed, ['SPY'], ['bars']);
      const first = alpacaBar(bars[0] as Bar);
      loopback.inject([
        { T: 'b', S: 'SPY', ...first, o: 'NaN', t: timestampExt(first.t) },
        { T: 'b', S: 'SPY', ...first, t: timestampExt(first.t) },
        { T: 'b', S: 'SPY', ...first, t: timestampExt(first.t) },
        { T: 'zz' },
        'not a frame',
      ]);
      loopback.injectBytes(Buffer.from([0xc1, 0xc1, 0xc1]));
      await loopback.played('bars');
      await until('the bars and the injected frames', () => frames.length >= bars.length + 6, 30_000);
      const outcomes = frames.map((frame) => feed.decode(frame));
      const reasons = outcomes.flatMap((outcome) => (outcome.ok ? [] : [outcome.reason]));
      assert.equal(reasons.length, 4, reasons.join('\n'));
      assert.match(reasons[0] ?? '', /o: not a finite number/);
      assert.match(reasons[1] ?? '', /unknown frame type T="zz"/);
      assert.match(reasons[2] ?? '', /not an Alpaca frame object/);
      assert.match(reasons[3] ?? '', /could not decode/);
      // The duplicate maps to the same id (the stream's duplicate window drops it); every source bar arrived.
      const ids = outcomes.flatMap((outcome) => (outcome.ok ? outcome.events.map((event) => event.id) : []));
      assert.equal(ids.length, bars.length + 2);
      assert.equal(new Set(ids).size, bars.length);
    } finally {
      await feed.close();
      await loopback.close();
    }
  });

  it('a dropped connection resolves disconnected() with a reason; close() is safe twice', async () => {
    const loopback = await server(2);
    const feed = adapter(loopback, { channels: ['bars'] });
    try {
      const frames = await live(feed, ['SPY'], ['bars']);
      loopback.dropAfter(50);
      const reason = await feed.disconnected();
      assert.match(reason, /closed/);
      const seen = frames.length;
      assert.ok(seen >= 1 && seen <= 50, `${seen} frames`);
      await feed.close();
      await feed.close();
    } finally {
      await loopback.close();
    }
  });
});

/** Every message in `stream`, decoded as JSON, in stream order. */
async function streamMessages<T>(bus: TestBus, stream: StreamName): Promise<T[]> {
  const { state } = await bus.manager.streams.info(stream);
  const out: T[] = [];
  if (state.messages === 0) return out;
  const messages = await (await bus.jetstream.consumers.get(stream)).consume();
  for await (const message of messages) {
    out.push(message.json<T>());
    if (out.length >= state.messages) break;
  }
  messages.stop();
  return out;
}

describe('FeedActor with the Alpaca adapter, the loopback Alpaca server and a real nats-server', () => {
  let bus: TestBus;
  let source: Bar[];

  before(async () => {
    bus = await startTestBus();
    source = await readSpyBars(1000);
  });
  after(() => bus?.close());

  /** A loopback server whose SPY bars are published under `symbol` (one symbol per test, one bus). */
  function serve(symbol: string, tickMs: number): Promise<AlpacaLoopback> {
    return startAlpacaLoopback({
      keyId: KEY,
      secretKey: SECRET,
      bars: { [symbol]: source.map(alpacaBar) },
      tickMs,
    });
  }

  function feed(
    loopback: AlpacaLoopback,
    symbol: string,
    options: { staleAfterMs?: number; secretKey?: string; record?: boolean } = {},
  ) {
    return FeedActor.start({
      adapter: adapter(loopback, {
        channels: ['bars'],
        clock: new WallClock(),
        ...(options.secretKey ? { secretKey: options.secretKey } : {}),
      }),
      jetstream: bus.jetstream,
      subjects: bus.subjects,
      symbols: [symbol],
      channels: ['bars'],
      clock: new WallClock(),
      random: new SeededRandom(16),
      reconnect: { initialDelayMs: 100, maxDelayMs: 400 },
      ...(options.staleAfterMs !== undefined ? { staleAfterMs: options.staleAfterMs } : {}),
      ...(options.record ? { record: true } : {}),
    });
  }

  async function marketBars(symbol: string): Promise<Bar[]> {
    return (await streamMessages<Bar>(bus, 'MARKET')).filter(
      (bar) => bar.schema === 'bar.v1' && bar.symbol === symbol,
    );
  }

  /** MARKET holds every source bar of `symbol` once, in order. */
  async function assertExactlySource(symbol: string): Promise<void> {
    const stored = await marketBars(symbol);
    assert.equal(stored.length, source.length, 'one message per source bar');
    assert.deepEqual(stored.map(barFields), source.map(barFields));
    assert.equal(new Set(stored.map((bar) => bar.id)).size, source.length);
  }

  it('a connection dropped mid-stream: reconnect, the gap backfilled over REST, MARKET holds the source bars once each, in order', async () => {
    const symbol = 'SPYDROP';
    const loopback = await serve(symbol, 3);
    const actor = await feed(loopback, symbol);
    try {
      loopback.dropAfter(250);
      await loopback.played('bars');
      await until(
        'every bar published',
        async () => (await marketBars(symbol)).length >= source.length,
        30_000,
      );
      await actor.caughtUp();
      await assertExactlySource(symbol);
      const status = actor.status();
      assert.ok(status.reconnects >= 1, `reconnects ${status.reconnects}`);
      assert.ok(status.backfilled > 0, `backfilled ${status.backfilled}`);
      assert.equal(status.published, source.length);
      assert.deepEqual(status.rejected, {});
      assert.ok(loopback.requests.some((request) => request.path === `/v2/stocks/${symbol}/bars`));
    } finally {
      await actor.stop();
      await loopback.close();
    }
  });

  it('a silent open connection: alert.warning.feed_stale, a catch-up over REST, then a new connection; MARKET holds the source bars once each, in order', async () => {
    const symbol = 'SPYQUIET';
    const loopback = await serve(symbol, 3);
    const actor = await feed(loopback, symbol, { staleAfterMs: 300 });
    try {
      await until('some bars live', () => loopback.framesSent() >= 100, 10_000);
      loopback.silenceOpenConnections();
      await loopback.played('bars');
      await until(
        'every bar published',
        async () => (await marketBars(symbol)).length >= source.length,
        30_000,
      );
      await actor.caughtUp();
      await assertExactlySource(symbol);
      const status = actor.status();
      assert.ok(
        status.staleAlerts >= 1 && status.reconnects >= 1 && status.backfilled > 0,
        JSON.stringify(status),
      );
      const alerts = await streamMessages<Alert>(bus, 'ALERTS');
      assert.ok(alerts.some((alert) => alert.code === 'feed_stale' && alert.source === 'feed:alpaca'));
    } finally {
      await actor.stop();
      await loopback.close();
    }
  });

  it('hostile frames are dead-lettered with the raw frame and a reason; the bars after them are published', async () => {
    const symbol = 'SPYBAD';
    const loopback = await serve(symbol, 3);
    const actor = await feed(loopback, symbol);
    try {
      const first = alpacaBar(source[0] as Bar);
      loopback.inject([
        { T: 'b', S: symbol, ...first, h: -1, t: timestampExt(first.t) },
        { T: 'b', S: symbol, ...first, t: Date.parse(first.t) },
        { T: 'q', S: symbol, bp: 1, ap: 2, bs: 1, as: 1, t: timestampExt(first.t) },
      ]);
      loopback.injectBytes(Buffer.from([0xc1]));
      await loopback.played('bars');
      await until(
        'every bar published',
        async () => (await marketBars(symbol)).length >= source.length,
        30_000,
      );
      await actor.caughtUp();
      await assertExactlySource(symbol);
      assert.deepEqual(actor.status().rejected, { unmappable: 4 });
      const letters = (await streamMessages<DeadLetter>(bus, 'DEADLETTER')).filter((letter) =>
        letter.consumer.startsWith('feed:alpaca'),
      );
      const reasons = letters.map((letter) => letter.reason).join('\n');
      assert.match(reasons, /inconsistent bar/);
      assert.match(reasons, /t: not an RFC-3339 time/);
      assert.match(reasons, /frame type q arrived on channel bars/);
      assert.match(reasons, /could not decode/);
      assert.ok(letters.some((letter) => letter.payload.includes(`"S":"${symbol}"`)));
    } finally {
      await actor.stop();
      await loopback.close();
    }
  });

  it('a recorded session (with a reconnect and its backfill) replays through decode to exactly what MARKET holds', async () => {
    const symbol = 'SPYREC';
    const loopback = await serve(symbol, 3);
    const actor = await feed(loopback, symbol, { record: true });
    try {
      loopback.dropAfter(300);
      await loopback.played('bars');
      await until(
        'every bar published',
        async () => (await marketBars(symbol)).length >= source.length,
        30_000,
      );
      await actor.caughtUp();
      assert.ok(actor.status().recorded >= source.length && actor.status().backfilled > 0);
      const stats = emptyRecordingStats();
      const replayed = [];
      const decoder = adapter(loopback);
      for await (const event of recordedSessionSource(
        bus.jetstream,
        bus.manager,
        bus.subjects,
        decoder,
        {},
        stats,
      ))
        if (event.symbol === symbol) replayed.push(event);
      assert.deepEqual(replayed, await marketBars(symbol));
      assert.equal(stats.refused, 0);
    } finally {
      await actor.stop();
      await loopback.close();
    }
  });

  it('credentials revoked mid-session: the reconnect is refused, the feed stops with the reason', async () => {
    const symbol = 'SPYREVOKED';
    const loopback = await serve(symbol, 3);
    const actor = await feed(loopback, symbol);
    try {
      await until('some bars live', () => loopback.framesSent() >= 20, 10_000);
      loopback.rejectCredentials(true);
      loopback.dropAfter(1);
      await until('the feed stopped', () => actor.status().state === 'stopped', 10_000);
      assert.match(actor.status().lastError ?? '', /alpaca: authentication failed: auth failed \(code 402\)/);
      assert.ok(actor.status().reconnects >= 1);
    } finally {
      await actor.stop();
      await loopback.close();
    }
  });

  it('wrong credentials: FeedActor.start rejects with FeedAuthError and the feed stops', async () => {
    const loopback = await serve('SPYAUTH', 3);
    try {
      await assert.rejects(feed(loopback, 'SPYAUTH', { secretKey: 'not-the-secret' }), FeedAuthError);
      await until('the refused connection closed', () => loopback.connections() === 0, 5_000);
    } finally {
      await loopback.close();
    }
  });
});
