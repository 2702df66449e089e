// A feed faster than JetStream: the FeedActor holds at most `maxQueuedFrames` frames, drops the
// connection when more would wait, drains what it holds and backfills the gap once the stream is back,
// so memory stays bounded and nothing is dropped. JetStream is made slow for real: the nats-server
// process is frozen (SIGSTOP) while the loopback Polygon server (a test fixture playing the real SPY
// minute bars) keeps sending through the real Polygon adapter and client.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jetstream } from '@nats-io/jetstream';
import { FeedActor } from '../../actors/feed/actor.ts';
import { PolygonFeedAdapter } from '../../actors/feed/adapters/polygon.ts';
import { bootstrapNats } from '../../bin/commands/bootstrap.ts';
import { WallClock } from '../../core/clock.ts';
import { SeededRandom } from '../../core/random.ts';
import type { Bar } from '../../schemas/messages.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { connectNats, type NatsConnection } from '../../streams/connection.ts';
import { LoopbackPolygon, spyMinuteBars } from '../support/loopback/polygon.ts';
import { type NatsServerHandle, startNatsServer } from '../support/nats-server.ts';
import { sleep, until } from '../support/wait.ts';

const KEY = 'loopback-polygon-key-slow-js';
const MAX_QUEUED = 40;

describe('FeedActor when JetStream is slower than the feed', () => {
  let nats: NatsServerHandle;
  let connection: NatsConnection;
  let polygon: LoopbackPolygon | undefined;
  let actor: FeedActor | undefined;

  before(async () => {
    nats = await startNatsServer();
    connection = await connectNats({ url: nats.url, name: 'sluice-test-slow-js' });
    await bootstrapNats(jetstream(connection), { replicas: 1 });
  });

  after(async () => {
    nats?.resume();
    await actor?.stop();
    await polygon?.close();
    await connection?.close();
    await nats?.dispose();
  });

  it('holds at most maxQueuedFrames, sheds by reconnecting, and MARKET still gets every bar once, in order', async () => {
    // More bars arrive while JetStream is frozen than the publisher's ack window (512) and the queue
    // hold together: the feed must shed.
    const from = Date.parse('2011-01-12T00:00:00Z');
    const bars = spyMinuteBars()
      .filter((bar) => bar.ts_event >= from)
      .slice(0, 1_800);
    polygon = await LoopbackPolygon.start({ apiKey: KEY, bars, framesPerSecond: 2_000, pageSize: 500 });
    const js = jetstream(connection);
    const subjects = new Subjects(4);
    actor = await FeedActor.start({
      adapter: new PolygonFeedAdapter({
        apiKey: KEY,
        clock: new WallClock(),
        restBase: polygon.restBase,
        wsBase: polygon.wsBase,
        rateLimit: { initialWaitMs: 10, maxWaitMs: 50 },
      }),
      jetstream: js,
      subjects,
      symbols: ['SPY'],
      channels: ['bars'],
      clock: new WallClock(),
      random: new SeededRandom(5),
      reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
      maxQueuedFrames: MAX_QUEUED,
    });
    const server = polygon;
    await until('some bars streamed', () => server.position > 60, 10_000);
    // JetStream stops answering for 1.5 s while the provider goes on at 2,000 bars/s.
    nats.pause();
    await sleep(1_500);
    nats.resume();
    await server.played();
    await until(
      'every bar published',
      async () => {
        await actor?.caughtUp();
        const status = actor?.status();
        return status !== undefined && status.published >= bars.length;
      },
      20_000,
    );
    const status = actor.status();
    assert.match(status.lastError ?? '', /shedding load: JetStream is behind/, JSON.stringify(status));
    assert.ok(status.reconnects >= 1, JSON.stringify(status));
    assert.ok(status.backfilled > 0, JSON.stringify(status));
    assert.ok(status.queuedPeak <= MAX_QUEUED + 1, `memory bounded: peak ${status.queuedPeak}`);
    assert.equal(status.published, bars.length, JSON.stringify(status));

    const consumer = await js.consumers.get('MARKET', { filter_subjects: subjects.bar('SPY') });
    const held = (await consumer.info()).num_pending;
    const stored: Bar[] = [];
    for await (const message of await consumer.fetch({ max_messages: held, expires: 2_000 })) {
      stored.push(message.json<Bar>());
    }
    assert.deepEqual(
      stored.map((bar) => bar.id),
      bars.map((bar) => `polygon:bar:SPY:${bar.ts_event - 60_000}`),
      'each source bar once, in order',
    );
  });
});
