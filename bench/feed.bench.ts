// Live feed throughput and catch-up: the real ccxt adapter (ccxt.pro.binance) reading Binance trade
// frames from the loopback fixture (test/support/loopback/binance.ts: the real BTCUSDT trades of
// ../shared/data, cycled: the same trades repeated with ids and times shifted per cycle), through the
// FeedActor (decode, validate, publish) until JetStream acknowledged every event. The fixture runs
// in a process of its own (binance-process.ts), as an exchange would be elsewhere.
// - feed_frames_per_s: the tape as fast as the socket takes it, divided by the time until the last
//   event is acknowledged; beside feed_raw_publish_per_s, the same count of the same events published
//   with plain nats.js and the same ack window, on the same server in the same process
//   (jetstream.bench.ts's jetstream_raw_publish_per_s is the same measure over 100,000 events).
// - feed_reconnect_catchup_ms: at 2,000 trades/s the exchange is unreachable for 10 s; from the moment
//   it answers again until the gap is read over REST, published, and the feed streams live again with
//   nothing queued (includes the FeedActor's reconnect backoff, capped at 250 ms here).
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { FeedActor } from '../actors/feed/actor.ts';
import { CcxtFeedAdapter } from '../actors/feed/adapters/ccxt.ts';
import { WallClock } from '../core/clock.ts';
import { SeededRandom } from '../core/random.ts';
import { Subjects } from '../schemas/subjects.ts';
import { connectNats } from '../streams/connection.ts';
import { applyStreams } from '../streams/topology.ts';
import { cycledTrades, loadSourceTrades } from '../test/support/loopback/binance.ts';
import { BinanceLoopbackProcess } from '../test/support/loopback/binance-process.ts';
import { startNatsServer } from '../test/support/nats-server.ts';
import { perSecond } from './support/jetstream.ts';

const CYCLES = Number(process.env.BENCH_FEED_CYCLES ?? 25); // 50,025 trades a round
const ROUNDS = 3;
const WINDOW = 512; // the EventPublisher's default window, which the FeedActor publishes with
const OUTAGE_MS = 10_000;
const OUTAGE_RATE = 2_000;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

async function until(condition: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error('feed bench: timed out');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

export default async function feedBench(): Promise<Record<string, number>> {
  const nats = await startNatsServer();
  const connection = await connectNats({ url: nats.url, name: 'bench-feed' });
  const cleanups: Array<() => Promise<unknown>> = [];
  try {
    const manager = await jetstreamManager(connection);
    await applyStreams(manager, { replicas: 1 });
    const client = jetstream(connection);
    const subjects = new Subjects(4);
    const source = loadSourceTrades();

    async function startFeed(server: BinanceLoopbackProcess): Promise<FeedActor> {
      const adapter = new CcxtFeedAdapter({
        exchange: 'binance',
        clock: new WallClock(),
        urls: { rest: server.restUrl, ws: server.wsUrl },
        credentials: { apiKey: 'loopback-read-only-key' },
      });
      const actor = await FeedActor.start({
        adapter,
        jetstream: client,
        subjects,
        symbols: ['BTC/USDT'],
        channels: ['trades'],
        clock: new WallClock(),
        random: new SeededRandom(16),
        reconnect: { initialDelayMs: 50, maxDelayMs: 250 },
      });
      cleanups.push(() => actor.stop());
      return actor;
    }
    async function allPublished(actor: FeedActor, count: number): Promise<boolean> {
      await actor.caughtUp();
      return actor.status().published >= count;
    }

    // Throughput: the whole tape at once, the exchange in a process of its own; then the same events
    // raw. Rounds alternate the two so a busy machine weighs on both alike; medians are reported.
    const feedRates: number[] = [];
    const rawRates: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      feedRates.push(await feedRound(round));
      rawRates.push(await rawRound(round));
    }
    const feedFrames = median(feedRates);
    const rawPublish = median(rawRates);

    async function feedRound(round: number): Promise<number> {
      const fast = await BinanceLoopbackProcess.start({
        fromCycle: round * CYCLES,
        toCycle: (round + 1) * CYCLES,
        tradesPerSecond: 0,
        autoStart: false,
      });
      cleanups.push(() => fast.close());
      const feed = await startFeed(fast);
      await until(async () => (await fast.status()).streams > 0, 10_000);
      const startedAt = performance.now();
      const { total } = await fast.startTape();
      await until(() => allPublished(feed, total), 300_000);
      const rate = perSecond(total, startedAt);
      await feed.stop();
      await fast.close();
      return rate;
    }

    // What the feed published, stringified and published with plain nats.js and the same window.
    async function rawRound(round: number): Promise<number> {
      const events = cycledTrades(source, CYCLES).map((trade) => ({
        schema: 'trade_tick.v1',
        id: `bench-raw:${round}:${trade.id}`,
        ts_event: trade.time,
        ts_init: trade.time,
        symbol: 'BTC/USDT',
        price: Number(trade.price),
        size: Number(trade.qty),
        aggressor: trade.isBuyerMaker ? 'sell' : 'buy',
        trade_id: String(trade.id),
        venue: 'binance',
      }));
      const startedAt = performance.now();
      const inFlight: Promise<unknown>[] = [];
      const subject = subjects.tick('BTC/USDT');
      for (const event of events) {
        inFlight.push(client.publish(subject, JSON.stringify(event), { msgID: event.id }));
        if (inFlight.length >= WINDOW) await inFlight.shift();
      }
      await Promise.all(inFlight);
      return perSecond(events.length, startedAt);
    }

    // Catch-up after a 10 s outage at 2,000 trades/s (ids shifted past the throughput tape).
    const paced = await BinanceLoopbackProcess.start({
      fromCycle: ROUNDS * CYCLES,
      toCycle: ROUNDS * CYCLES + 16,
      tradesPerSecond: OUTAGE_RATE,
      autoStart: true,
    });
    cleanups.push(() => paced.close());
    const live = await startFeed(paced);
    await until(async () => (await paced.status()).printed >= 2 * OUTAGE_RATE, 30_000);
    const { printed: printedAtOutage } = await paced.refuseConnections(true);
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    const startedAt = performance.now();
    const { printed: printedAtRestore } = await paced.refuseConnections(false);
    await until(
      async () => live.status().reconnects > 0 && (await allPublished(live, printedAtRestore)),
      120_000,
    );
    const catchUpMs = Math.round(performance.now() - startedAt);

    return {
      feed_frames_per_s: feedFrames,
      feed_raw_publish_per_s: rawPublish,
      feed_vs_raw_publish: Math.round((feedFrames / rawPublish) * 100) / 100,
      feed_reconnect_catchup_ms: catchUpMs,
      feed_reconnect_gap_trades: printedAtRestore - printedAtOutage,
    };
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await connection.close();
    await nats.dispose();
  }
}
