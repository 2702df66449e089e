// The Polygon adapter and Polygon's own client library (@massive.com/client-js), both real, against
// the loopback Polygon server (a test fixture) serving the real SPY minute bars.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FeedActor, type FeedActorOptions } from '../../actors/feed/actor.ts';
import { FeedAuthError, type RawFrame } from '../../actors/feed/adapter.ts';
import { PolygonFeedAdapter } from '../../actors/feed/adapters/polygon.ts';
import { type Clock, WallClock } from '../../core/clock.ts';
import { SeededRandom } from '../../core/random.ts';
import type { Bar, DeadLetter, TradeTick } from '../../schemas/messages.ts';
import { startTestBus, type TestBus } from '../support/bus.ts';
import { aggregateFrame, LoopbackPolygon, spyMinuteBars } from '../support/loopback/polygon.ts';
import { freePort } from '../support/ports.ts';
import { until } from '../support/wait.ts';

const KEY = 'loopback-polygon-key-7f3a';

/** Receive times 1, 2, 3...: ts_init is the receiving clock's, not the provider's. */
function countingClock(): Clock {
  let now = 1_700_000_000_000;
  return { now: () => ++now };
}

/** What of a bar the provider decides (ts_init is the receiver's). */
function market(bar: Bar): Omit<Bar, 'ts_init'> {
  const { ts_init: _, ...rest } = bar;
  return rest;
}

function expectedBar(source: Bar): Omit<Bar, 'ts_init'> {
  return { ...market(source), id: `polygon:bar:SPY:${source.ts_event - 60_000}` };
}

function decodeAll(adapter: PolygonFeedAdapter, frames: readonly RawFrame[]): Bar[] {
  return frames.flatMap((frame) => {
    const decoded = adapter.decode(frame);
    assert.ok(decoded.ok, decoded.ok ? '' : decoded.reason);
    return decoded.events as Bar[];
  });
}

async function collect(iterable: AsyncIterable<RawFrame>): Promise<RawFrame[]> {
  const frames: RawFrame[] = [];
  for await (const frame of iterable) frames.push(frame);
  return frames;
}

const source = spyMinuteBars();
// The first trading day of the file: 2011-01-03, its bars in order.
const day = source.filter((bar) => new Date(bar.ts_event).toISOString().startsWith('2011-01-03'));

describe('PolygonFeedAdapter with the Massive client against a loopback Polygon', () => {
  let server: LoopbackPolygon;
  const adapters: PolygonFeedAdapter[] = [];
  const adapter = (apiKey = KEY) => {
    const made = new PolygonFeedAdapter({
      apiKey,
      clock: countingClock(),
      restBase: server.restBase,
      wsBase: server.wsBase,
      answerTimeoutMs: 5_000,
      rateLimit: { initialWaitMs: 10, maxWaitMs: 50 },
    });
    adapters.push(made);
    return made;
  };

  before(async () => {
    server = await LoopbackPolygon.start({ apiKey: KEY, bars: day, framesPerSecond: 2_000, pageSize: 100 });
  });
  after(async () => {
    for (const made of adapters) await made.close();
    await server?.close();
  });

  it('reads the real SPY file: 14,180 minute bars, 2011-01-03 among them', () => {
    assert.equal(source.length, 14_180);
    assert.ok(day.length > 300, `${day.length} bars on 2011-01-03`);
  });

  it('a wrong key is a FeedAuthError, and the key is in no message', async () => {
    const feed = adapter('not-the-key-91b2');
    await feed.connect();
    await assert.rejects(feed.authenticate(), (error: Error) => {
      assert.ok(error instanceof FeedAuthError, String(error));
      assert.match(error.message, /polygon: authentication failed: authentication failed/);
      assert.ok(!error.message.includes('not-the-key-91b2'));
      return true;
    });
    assert.match(await feed.disconnected(), /closed: 1008/);
    // REST with the wrong key: permanent too.
    await assert.rejects(
      collect(
        feed.backfill({ symbol: 'SPY', channel: 'bars', fromMs: day[0]!.ts_event, toMs: day[9]!.ts_event }),
      ),
      (error: Error) => error instanceof FeedAuthError && !error.message.includes('not-the-key-91b2'),
    );
  });

  it('subscribes and receives the AM bars of the source in order; disconnect resolves disconnected()', async () => {
    const feed = adapter();
    const frames: RawFrame[] = [];
    await feed.connect();
    await feed.authenticate();
    await feed.subscribe({ symbols: ['SPY'], channels: ['bars'], onFrame: (frame) => frames.push(frame) });
    await server.played();
    await until('every bar', () => frames.length >= day.length, 10_000);
    assert.ok(frames.every((frame) => frame.channel === 'bars' && frame.origin === 'stream'));
    const bars = decodeAll(feed, frames);
    assert.deepEqual(bars.map(market), day.map(expectedBar));
    // ts_init is the receive time from the injected clock, strictly increasing per frame.
    assert.ok(bars.every((bar, i) => i === 0 || bar.ts_init > (bars[i - 1] as Bar).ts_init));
    server.dropAll();
    assert.match(await feed.disconnected(), /^closed: 1006/);
  });

  it('backfills a span over REST: exactly the source bars, across next_url pages', async () => {
    server.playAll();
    const feed = adapter();
    const before = server.restCalls.ok;
    const from = day[20]!.ts_event;
    const to = day[270]!.ts_event; // exclusive
    const frames = await collect(feed.backfill({ symbol: 'SPY', channel: 'bars', fromMs: from, toMs: to }));
    assert.ok(frames.every((frame) => frame.origin === 'backfill' && frame.channel === 'bars'));
    assert.deepEqual(decodeAll(feed, frames).map(market), day.slice(20, 270).map(expectedBar));
    assert.ok(
      server.restCalls.ok - before >= 3,
      `${server.restCalls.ok - before} pages for 250 bars of 100 a page`,
    );
  });

  it('waits out HTTP 429 and then succeeds, never failing', async () => {
    const feed = adapter();
    server.rateLimitNext(4);
    const before = server.restCalls.rateLimited;
    const frames = await collect(
      feed.backfill({ symbol: 'SPY', channel: 'bars', fromMs: day[0]!.ts_event, toMs: day[150]!.ts_event }),
    );
    assert.equal(server.restCalls.rateLimited - before, 4);
    assert.deepEqual(decodeAll(feed, frames).map(market), day.slice(0, 150).map(expectedBar));
  });

  it('a 429 while the client follows next_url retries the span: still each bar once, in order', async () => {
    const feed = adapter();
    // The first page passes; the second, which the client follows from next_url, is refused once.
    server.rateLimitNext(1, 0, 1);
    const [ok, limited] = [server.restCalls.ok, server.restCalls.rateLimited];
    const frames = await collect(
      feed.backfill({ symbol: 'SPY', channel: 'bars', fromMs: day[0]!.ts_event, toMs: day[250]!.ts_event }),
    );
    assert.equal(server.restCalls.rateLimited - limited, 1);
    // 3 pages, the first of them twice: the whole span is asked again.
    assert.equal(server.restCalls.ok - ok, 4);
    assert.deepEqual(decodeAll(feed, frames).map(market), day.slice(0, 250).map(expectedBar));
  });

  it('hands hostile frames over undecodable, with reasons, and keeps streaming', async () => {
    const feed = adapter();
    const frames: RawFrame[] = [];
    await feed.connect();
    await feed.authenticate();
    await feed.subscribe({ symbols: ['SPY'], channels: ['bars'], onFrame: (frame) => frames.push(frame) });
    // The subscription acknowledgements came as frames too (status items: no events).
    assert.ok(frames.every((frame) => feed.decode(frame).ok));
    frames.length = 0;
    const late = {
      ev: 'AM',
      sym: 'SPY',
      v: 100,
      o: 127,
      c: 127.1,
      h: 127.2,
      l: 126.9,
      s: 1294065000000,
      e: 1294065060000,
    };
    server.inject('{"ev":"AM","sym":"SPY", oops');
    server.inject(JSON.stringify([{ ev: 'XX', sym: 'SPY' }, { ev: 'AM', sym: 'SPY', o: -1 }, late, late]));
    server.inject(
      JSON.stringify([{ ev: 'T', sym: 'SPY', x: 4, i: '1', p: 127.5, s: 100, t: 1294065000000, q: 1 }]),
    );
    await until('the injected frames', () => frames.length >= 6, 5_000);
    const decoded = frames.map((frame) => feed.decode(frame));
    assert.deepEqual(
      decoded.map((outcome) => (outcome.ok ? 'ok' : outcome.reason.replace(/:.*/s, ''))),
      ['not JSON', 'unknown event type "XX"', 'AM', 'ok', 'ok', 'ok'],
    );
    // The duplicate maps to the same id (the stream's duplicate window drops it); the trade came on
    // a socket subscribed to bars only and is routed to the trades channel by its event type.
    const [first, second] = [decoded[3], decoded[4]] as { ok: true; events: Bar[] }[];
    assert.equal(first!.events[0]!.id, second!.events[0]!.id);
    assert.equal(frames[5]!.channel, 'trades');
    assert.equal(
      ((decoded[5] as { ok: true; events: TradeTick[] }).events[0] as TradeTick).id,
      'polygon:trade:SPY:4--1',
    );
    await feed.close();
    assert.match(await feed.disconnected(), /^closed/);
    await feed.close(); // safe twice
  });

  it("an oversized frame (past the client library's 8 MiB) ends the connection, never the process", async () => {
    const feed = adapter();
    const frames: RawFrame[] = [];
    await feed.connect();
    await feed.authenticate();
    await feed.subscribe({ symbols: ['SPY'], channels: ['bars'], onFrame: (frame) => frames.push(frame) });
    const received = frames.length;
    server.inject(JSON.stringify([{ ev: 'AM', sym: 'SPY', pad: 'x'.repeat(9 * 1024 * 1024) }]));
    assert.match(await feed.disconnected(), /^closed: 1009/);
    assert.equal(frames.length, received);
  });

  it('a refused connection rejects connect(); the REST error carries no key', async () => {
    const closed = await LoopbackPolygon.start({ apiKey: KEY, bars: day });
    const { restBase, wsBase } = closed;
    await closed.close();
    const feed = new PolygonFeedAdapter({ apiKey: KEY, clock: countingClock(), restBase, wsBase });
    await assert.rejects(feed.connect(), /polygon: cannot connect: closed: 1006/);
    await assert.rejects(
      collect(
        feed.backfill({ symbol: 'SPY', channel: 'bars', fromMs: day[0]!.ts_event, toMs: day[5]!.ts_event }),
      ),
      (error: Error) =>
        /polygon: REST aggregates SPY failed/.test(error.message) && !error.message.includes(KEY),
    );
  });
});

describe('FeedActor with the Polygon adapter on a real nats-server', () => {
  let bus: TestBus;
  const servers: LoopbackPolygon[] = [];
  const actors: FeedActor[] = [];
  before(async () => {
    bus = await startTestBus();
  });
  after(async () => {
    for (const actor of actors) await actor.stop();
    for (const server of servers) await server.close();
    await bus?.close();
  });

  const polygon = async (bars: readonly Bar[]) => {
    const server = await LoopbackPolygon.start({ apiKey: KEY, bars, framesPerSecond: 500, pageSize: 40 });
    servers.push(server);
    return server;
  };
  const feed = async (
    server: Pick<LoopbackPolygon, 'restBase' | 'wsBase'>,
    apiKey = KEY,
    extra: Partial<FeedActorOptions> = {},
  ) => {
    const actor = await FeedActor.start({
      ...extra,
      adapter: new PolygonFeedAdapter({
        apiKey,
        clock: new WallClock(),
        restBase: server.restBase,
        wsBase: server.wsBase,
        rateLimit: { initialWaitMs: 10, maxWaitMs: 50 },
      }),
      jetstream: bus.jetstream,
      subjects: bus.subjects,
      symbols: ['SPY'],
      channels: ['bars'],
      clock: new WallClock(),
      random: new SeededRandom(16),
      reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
    });
    actors.push(actor);
    return actor;
  };

  /** The SPY bars MARKET holds from the span of `source`, in stream order. */
  async function marketBars(source: readonly Bar[]): Promise<Bar[]> {
    const consumer = await bus.jetstream.consumers.get('MARKET', {
      filter_subjects: bus.subjects.bar('SPY'),
    });
    const held = (await consumer.info()).num_pending;
    const bars: Bar[] = [];
    const messages = await consumer.fetch({ max_messages: held, expires: 2_000 });
    for await (const message of messages) bars.push(message.json<Bar>());
    const [first, last] = [source[0]!.ts_event, source.at(-1)!.ts_event];
    return bars.filter((bar) => bar.ts_event >= first && bar.ts_event <= last);
  }

  async function deadLetters(): Promise<DeadLetter[]> {
    const consumer = await bus.jetstream.consumers.get('DEADLETTER');
    const held = (await consumer.info()).num_pending;
    const letters: DeadLetter[] = [];
    if (held === 0) return letters;
    const messages = await consumer.fetch({ max_messages: held, expires: 2_000 });
    for await (const message of messages) letters.push(message.json<DeadLetter>());
    return letters;
  }

  it('a disconnect mid-stream, a reconnect and a backfill through 429s: MARKET holds each source bar once, in order', async () => {
    const bars = day.slice(0, 400);
    const server = await polygon(bars);
    server.dropAfter(120);
    // The backfill after the reconnect meets two 429s first.
    server.rateLimitNext(2);
    const actor = await feed(server);
    await server.played();
    await until(
      'every bar published',
      async () => (await bus.manager.streams.info('MARKET')).state.messages >= bars.length,
      20_000,
    );
    await actor.caughtUp();
    const status = actor.status();
    assert.equal(server.connections, 2);
    assert.equal(status.reconnects, 1);
    assert.equal(server.restCalls.rateLimited, 2);
    assert.ok(status.backfilled > 0, JSON.stringify(status));
    assert.equal(status.published, bars.length, JSON.stringify(status));
    assert.deepEqual(status.rejected, {});
    const stored = await marketBars(bars);
    assert.deepEqual(stored.map(market), bars.map(expectedBar));
    assert.equal((await bus.manager.streams.info('MARKET')).state.messages, bars.length);
    await actor.stop();
  });

  it('malformed, unknown, invalid, duplicate and out-of-order frames: dead-lettered or dropped, the rest flows', async () => {
    // The next trading day: ids of its own, so the stream's duplicate window is this test's alone.
    const bars = source
      .filter((bar) => new Date(bar.ts_event).toISOString().startsWith('2011-01-04'))
      .slice(0, 200);
    const server = await polygon(bars);
    const actor = await feed(server);
    await until('some bars streamed', () => server.position > 50, 10_000);
    server.inject('[{"ev":"AM","sym":"SPY","v":');
    server.inject(JSON.stringify([{ ev: 'NOI', sym: 'SPY' }]));
    server.inject(JSON.stringify([{ ...aggregateFrame(bars[30]!), o: -1 }]));
    // A bar sent again (a duplicate) and one from long before (out of order).
    server.inject(JSON.stringify([aggregateFrame(bars[40]!), aggregateFrame(bars[3]!)]));
    await server.played();
    // The publisher counts what the stream acknowledged: caughtUp() waits for the acknowledgements.
    await until(
      'the day published',
      async () => {
        await actor.caughtUp();
        const { published, duplicates } = actor.status();
        return published + duplicates >= bars.length + 2;
      },
      20_000,
    );
    await actor.caughtUp();
    const status = actor.status();
    assert.equal(status.published, bars.length, JSON.stringify(status));
    assert.equal(status.duplicates, 2);
    assert.deepEqual(status.rejected, { unmappable: 3 });
    const letters = (await deadLetters()).filter((letter) => letter.consumer.startsWith('feed:polygon:'));
    assert.deepEqual(
      letters.map((letter) => letter.reason.replace(/^stream frame \d+: /, '').replace(/:.*/s, '')),
      ['not JSON', 'unknown event type "NOI"', 'bar'],
    );
    assert.match(letters[2]!.reason, /\/open/);
    assert.equal(letters[0]!.payload, JSON.stringify('[{"ev":"AM","sym":"SPY","v":'));
    assert.deepEqual((await marketBars(bars)).map(market), bars.map(expectedBar));
    await actor.stop();
  });

  it('silence: a stale alert, a catch-up over REST, and MARKET still holds each source bar once, in order', async () => {
    const bars = source
      .filter((bar) => new Date(bar.ts_event).toISOString().startsWith('2011-01-05'))
      .slice(0, 300);
    const server = await polygon(bars);
    const actor = await feed(server, KEY, { staleAfterMs: 150 });
    await until('some bars streamed', () => server.position > 60, 10_000);
    server.setSilent(true);
    await until('a stale alert', () => actor.status().staleAlerts >= 1, 10_000);
    const silentAt = server.position;
    await until('the market moved on', () => server.position > silentAt + 20, 10_000);
    server.setSilent(false);
    await server.played();
    await until(
      'the day published',
      async () => {
        await actor.caughtUp();
        // Silent again once the market has closed, the feed re-reads its last bar now and then.
        return actor.status().published >= bars.length;
      },
      5_000,
    );
    const status = actor.status();
    assert.ok(status.backfilled > 0, JSON.stringify(status));
    assert.equal(status.published, bars.length, JSON.stringify(status));
    const alerts = await bus.jetstream.consumers.get('ALERTS', {
      filter_subjects: bus.subjects.alert('warning', 'feed_stale'),
    });
    assert.ok((await alerts.info()).num_pending >= 1);
    assert.deepEqual((await marketBars(bars)).map(market), bars.map(expectedBar));
    await actor.stop();
  });

  it('a provider that is down at start: start returns, the feed reconnects in the background and streams once it is up', async () => {
    const port = await freePort();
    const down = { restBase: `http://127.0.0.1:${port}`, wsBase: `ws://127.0.0.1:${port}` };
    const actor = await feed(down);
    assert.equal(actor.status().state, 'reconnecting');
    assert.match(actor.status().lastError ?? '', /./);
    // A day no other test publishes: every bar is new to MARKET.
    const bars = source
      .filter((bar) => new Date(bar.ts_event).toISOString().startsWith('2011-01-10'))
      .slice(0, 30);
    const server = await LoopbackPolygon.start({
      apiKey: KEY,
      bars,
      framesPerSecond: 500,
      pageSize: 40,
      port,
    });
    servers.push(server);
    await server.played();
    await until(
      'the bars published',
      async () => {
        await actor.caughtUp();
        return actor.status().published >= bars.length;
      },
      10_000,
    );
    assert.deepEqual((await marketBars(bars)).map(market), bars.map(expectedBar));
  });

  it('a wrong key stops the feed with a FeedAuthError', async () => {
    const server = await polygon(day.slice(0, 10));
    await assert.rejects(feed(server, 'wrong-key-5c1d'), FeedAuthError);
  });
});
