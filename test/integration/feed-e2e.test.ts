// End to end: a loopback Polygon server (a test fixture serving real SPY minute bars) → the Polygon
// adapter and its client library → FeedActor (recording to RAW) → the live pipeline over NATS
// (features → inference → risk gate → execution on the simulated venue → portfolio), with the stream
// dropped mid-session so the feed reconnects and backfills the gap over REST. Then the recorded session is replayed as a
// backtest (simulations/feed-replay.ts) and must give the ledger hash the live pipeline produced,
// computed by the same function (simulations/ledger.ts executionLedger) from the ORDERS stream.
//
// Why this setup is deterministic by design: the trading actors read market data and signals on
// separate consumers, so a live ledger equals its replay only when each bar's cascade (its signal,
// decision, order, fill) is through before the next bar reaches the risk gate and the venue. A replay
// guarantees that by construction; live it holds at the pace of real minute bars, and the test keeps
// to it by playing each trading bar once the pipeline is quiet. Two things are chosen to keep it so:
// - inference scores every row at once (maxBatchSize 1): with micro-batches a row waits for the
//   next bar in a replay but is scored by the live wall-clock idle flush before it, which moves its
//   signal across the next bar (same signal, different reference price and fill);
// - the outage falls in the feature warm-up (the first 34 bars): the backfill publishes the gap as a
//   burst, and a burst carries no signals there. A burst of trading bars races its own signals: the
//   venue has seen later bars when an order arrives and fills it later than the replay does (seen:
//   trading bars sent without waiting give a different live hash, same signals and counts).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_FEATURE_SET } from '../../actors/feature/feature-set.ts';
import { FeedActor } from '../../actors/feed/actor.ts';
import { PolygonFeedAdapter } from '../../actors/feed/adapters/polygon.ts';
import { ModelRegistry } from '../../actors/inference/registry.ts';
import { startPipeline } from '../../actors/pipeline.ts';
import { WallClock } from '../../core/clock.ts';
import { SeededRandom } from '../../core/random.ts';
import type { Bar } from '../../schemas/messages.ts';
import { decodeMessage } from '../../schemas/validate.ts';
import { backtestPipelineConfig } from '../../simulations/backtest.ts';
import { type BacktestConfig, parseBacktestConfig } from '../../simulations/backtest-config.ts';
import { replayRecordedSession } from '../../simulations/feed-replay.ts';
import { appendSignal, executionLedger, Ledger } from '../../simulations/ledger.ts';
import { waitForQuiet } from '../../simulations/quiescence.ts';
import { parseTrainConfig, trainTabularModel } from '../../simulations/research/train.ts';
import { NatsActorBus } from '../../streams/bus.ts';
import { startTestBus, type TestBus } from '../support/bus.ts';
import { aggregateFrame, LoopbackPolygon, spyMinuteBars } from '../support/loopback/polygon.ts';
import { ordersLedger } from '../support/trading.ts';
import { until } from '../support/wait.ts';

const KEY = 'loopback-polygon-key';
const STRATEGY = 'feed-e2e';
const DAY_MS = 86_400_000;
/** Bars the loopback market plays on its own (the outage among them); the test sends the rest one by one. */
const WARMUP_PLAYED = 20;
/** Trading bars after the warm-up. */
const TRADING_BARS = 40;

/** The session's config: its window covers today's receive times (replay selects on ts_init). */
function sessionConfig(): BacktestConfig {
  const day = (offset: number) => new Date(Date.now() + offset * DAY_MS).toISOString().slice(0, 10);
  return parseBacktestConfig({
    name: 'feed-e2e',
    data: { datasets: ['sample-prices'], symbols: ['SPY'], from: day(-1), to: day(2) },
    featureSet: 'default',
    barInterval: '1m',
    strategy: STRATEGY,
    // Unused: the session and its replay score with the registry's model.
    model: { kind: 'logistic', trainFrom: '2012-09-01', priceDir: 'simulations/data/sample/prices' },
    // Every row scored at once, and no neutral band, so the model's view of each bar is an order.
    inference: { maxBatchSize: 1, maxWaitMs: 0, neutralBand: 0 },
    news: false,
    trading: {
      account: 'paper',
      startingCash: 1_000_000,
      sizing: { kind: 'fixed-notional', notional: 10_000 },
      limits: {
        instruments: { SPY: { minQuantity: 1, maxQuantity: 1_000, maxPosition: 5_000 } },
        maxOrderNotional: 50_000,
        priceCollarBps: 500,
        maxGrossExposure: 600_000,
        maxNetExposure: 400_000,
        orderRate: { maxOrders: 1_000, windowMs: 60_000 },
        repeatedExecution: { maxOrders: 1_000, windowMs: 60_000 },
        maxMarketDataAgeMs: 3_600_000,
        minConfidence: 0,
        tradingSessions: [{ days: [0, 1, 2, 3, 4, 5, 6], open: '00:00', close: '24:00' }],
        restricted: [],
        maxDailyLoss: 50_000,
        maxDrawdown: 0.2,
      },
      venue: {
        latency: { kind: 'fixed', ms: 0 },
        slippage: { kind: 'bps', bps: 5 },
        fee: { makerBps: 1, takerBps: 2, minimum: 1 },
      },
    },
    seed: 7,
  });
}

/** Every message of `stream` on `filter`, in stream order. */
async function storedMessages(test: TestBus, stream: string, filter: string): Promise<Uint8Array[]> {
  const info = await test.manager.streams.info(stream, { subjects_filter: filter });
  const total = info.state.subjects ? Object.values(info.state.subjects).reduce((sum, n) => sum + n, 0) : 0;
  if (total === 0) return [];
  const consumer = await test.jetstream.consumers.get(stream, { filter_subjects: filter });
  const out: Uint8Array[] = [];
  const messages = await consumer.consume();
  for await (const message of messages) {
    out.push(message.data);
    if (out.length >= total) break;
  }
  messages.stop();
  return out;
}

describe('live feed end to end: loopback Polygon → feed → pipeline, then the recording replayed', () => {
  let test: TestBus;
  let dir: string;
  let registry: ModelRegistry;
  let bars: Bar[];

  before(async () => {
    test = await startTestBus();
    dir = await mkdtemp(join(tmpdir(), 'sluice-feed-e2e-'));
    // A model as `sluice train` makes it and `sluice models push` / `activate` installs it.
    const trained = trainTabularModel(
      parseTrainConfig({
        model: 'logistic',
        symbols: ['AAPL', 'XOM'],
        folds: 2,
        outputDir: dir,
        modelId: 'e2e-lr',
      }),
    );
    registry = await ModelRegistry.open(test.jetstream);
    await registry.push(trained.manifest, trained.onnx);
    await registry.activate(STRATEGY, trained.manifest.modelId);
    bars = spyMinuteBars().slice(0, WARMUP_PLAYED + TRADING_BARS + DEFAULT_FEATURE_SET.warmupBars);
  });
  after(async () => {
    await test?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('trades live through a reconnect, and the replayed recording gives the same ledger hash', async (t) => {
    const config = sessionConfig();
    const clock = new WallClock();
    const played = bars.slice(0, WARMUP_PLAYED);
    // The market plays the warm-up bars on its own (REST serves what it has played); the trading
    // bars are sent by the test below.
    const loopback = await LoopbackPolygon.start({ apiKey: KEY, bars: played, framesPerSecond: 100 });
    const adapter = () =>
      new PolygonFeedAdapter({ apiKey: KEY, clock, restBase: loopback.restBase, wsBase: loopback.wsBase });

    // The live pipeline as `sluice run` starts it: NATS bus with admission on the wall clock, the
    // registry's models, inference's idle flush (moot with maxBatchSize 1, kept as live runs it).
    const bus = new NatsActorBus(test.jetstream, test.manager, test.subjects, undefined, {
      admission: { receivingClock: clock },
    });
    const pipelineConfig = backtestPipelineConfig(config, 'live');
    const pipeline = await startPipeline(
      ['feature', 'inference', 'risk', 'execution', 'portfolio'],
      { ...pipelineConfig, inference: { ...pipelineConfig.inference!, idleFlushMs: 1_000 } },
      { bus, clock, models: registry },
    );
    await until('the model serving', () => pipeline.inference.status().state === 'serving');

    // Warm-up: the market plays; the connection is cut after 8 bars and the rest is missed.
    loopback.dropAfter(8);
    const feed = await FeedActor.start({
      adapter: adapter(),
      jetstream: test.jetstream,
      subjects: test.subjects,
      symbols: ['SPY'],
      channels: ['bars'],
      clock,
      random: new SeededRandom(config.seed),
      record: true,
      // Longer than the rest of the warm-up (12 bars, one per 10 ms): the gap is read over REST.
      reconnect: { initialDelayMs: 400, maxDelayMs: 800 },
    });
    const marketBars = async () =>
      (await storedMessages(test, 'MARKET', test.subjects.bar('SPY'))).map((data) => {
        const decoded = decodeMessage('bar', data);
        assert.ok(decoded.ok);
        return decoded.value;
      });
    try {
      await loopback.played();
      await until('the reconnect and backfill', async () => {
        const status = feed.status();
        return status.reconnects >= 1 && status.state === 'streaming' && status.backfilled > 0;
      }).catch((error: Error) => {
        throw new Error(`${error.message}: ${JSON.stringify(feed.status())}`);
      });
      await feed.caughtUp();
      await waitForQuiet(test.manager, '');

      // Trading: each bar once the pipeline is quiet (real minute bars come far slower than this).
      for (const bar of bars.slice(WARMUP_PLAYED)) {
        loopback.inject(JSON.stringify([aggregateFrame(bar)]));
        const received = feed.status().framesIn + 1;
        await until('the bar received', () => feed.status().framesIn >= received, 10_000, 2);
        await feed.caughtUp();
        await waitForQuiet(test.manager, '');
      }
      await feed.caughtUp();
      await waitForQuiet(test.manager, '');

      const status = feed.status();
      assert.ok(status.reconnects >= 1, 'the feed reconnected');
      assert.ok(status.backfilled > 0, 'the gap was read over REST');
      assert.deepEqual(status.rejected, {});
      // MARKET holds each source bar exactly once, in order, despite the outage.
      const stored = await marketBars();
      assert.deepEqual(
        stored.map((bar) => [bar.ts_event, bar.open, bar.high, bar.low, bar.close, bar.volume]),
        bars.map((bar) => [bar.ts_event, bar.open, bar.high, bar.low, bar.close, bar.volume]),
      );
      assert.equal(new Set(stored.map((bar) => bar.id)).size, bars.length);
    } finally {
      await feed.stop();
      await pipeline.stop();
      await bus.close();
      await loopback.close();
    }

    // The live ledger from what the pipeline stored, hashed as a backtest hashes its own.
    const live = await ordersLedger(test);
    const liveOrders = live.events.filter((event) => event.status === 'submitted').length;
    const liveHash = executionLedger([
      ...live.events.map((event) => ({ kind: 'order' as const, event })),
      ...live.fills.map((event) => ({ kind: 'fill' as const, event })),
    ]).hash();
    const liveSignals = new Ledger({ keepLines: false });
    for (const data of await storedMessages(test, 'SIGNALS', 'sig.>')) {
      const decoded = decodeMessage('signal', data);
      assert.ok(decoded.ok);
      appendSignal(liveSignals, decoded.value);
    }
    assert.ok(
      liveOrders > 0 && live.fills.length > 0,
      `live traded: ${liveOrders} orders, ${live.fills.length} fills`,
    );

    const replay = await replayRecordedSession({
      config,
      runId: 'feed-e2e-replay',
      jetstream: test.jetstream,
      manager: test.manager,
      subjects: test.subjects,
      adapter: adapter(),
      models: registry,
    });
    assert.equal(replay.recording.malformed + replay.recording.refused, 0);
    assert.equal(replay.events, bars.length, 'the replay saw each bar once');
    assert.equal(replay.signalHash, liveSignals.hash(), 'the same signals in the same order');
    assert.equal(replay.orders, liveOrders);
    assert.equal(replay.fills, live.fills.length);
    assert.equal(replay.ledgerHash, liveHash, 'the replayed session gives the live ledger');
    // A replay that is to reproduce the session needs the session's model: none active, a clear error.
    await assert.rejects(
      replayRecordedSession({
        config: { ...config, strategy: 'nobody' },
        runId: 'feed-e2e-no-model',
        jetstream: test.jetstream,
        manager: test.manager,
        subjects: test.subjects,
        adapter: adapter(),
        models: registry,
      }),
      /no model is active for strategy nobody/,
    );
    t.diagnostic(
      `ledger ${liveHash}: ${liveOrders} orders, ${live.fills.length} fills, ${replay.signals} signals, ` +
        `${feed.status().backfilled} frames backfilled, ${replay.recording.duplicates} duplicates replayed`,
    );
  });
});
