// The live pipeline's throughput and latency over real NATS, scaled out: two FeatureActor processes
// share the four symbol partitions (0,1 and 2,3) and an InferenceActor scores their vectors, all
// over JetStream, on real Binance BTCUSDT trade prints given to 50 symbols (cycled and re-stamped one
// span later each cycle) with 1-second bars. Three figures from one run on one server:
// - live_jetstream_raw_consume_per_s: plain nats.js parse + ack of ticks already in the stream;
// - live_ticks_per_s: a backlog of ticks consumed end to end (every tick handled by a feature
//   instance, every vector it publishes scored into a signal), from the instances' start to the last
//   signal;
// - live_p50_us / live_p99_us: at a fixed offered 5,000 ticks/s after the backlog, from the publish
//   of the tick that closes a bar to the arrival of that bar's signal on sig.>.
// The database is left out (feature rows written per second is its own figure); the trading actors'
// per-tick load is in the trading bench.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { DEFAULT_FEATURE_SET } from '../actors/feature/feature-set.ts';
import { InferenceActor } from '../actors/inference/actor.ts';
import { StaticModelSource } from '../actors/inference/registry.ts';
import type { FeatureVector, Signal, TradeTick } from '../schemas/messages.ts';
import { Subjects } from '../schemas/subjects.ts';
import { trainTabularModel } from '../simulations/research/train.ts';
import { NatsActorBus } from '../streams/bus.ts';
import { connectNats } from '../streams/connection.ts';
import { EventPublisher } from '../streams/publisher.ts';
import { applyStreams } from '../streams/topology.ts';
import { startNatsServer } from '../test/support/nats-server.ts';
import { binanceTrades, rawConsumePerSecond } from './support/jetstream.ts';
import { StatusProcess } from './support/status-process.ts';

const BACKLOG = Number(process.env.BENCH_LIVE_TICKS ?? 200_000);
const RAW_MESSAGES = Number(process.env.BENCH_LIVE_RAW_MESSAGES ?? 100_000);
const OFFERED_PER_S = 5_000;
const LATENCY_SECONDS = Number(process.env.BENCH_LIVE_SECONDS ?? 10);
const SYMBOLS = Array.from({ length: 50 }, (_, index) => `LIVE${String(index).padStart(2, '0')}`);
const BAR_MS = 1_000;
const benchDir = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(benchDir, '..');

interface InstanceStatus {
  ticks: number;
  published: number;
  rss: number;
}

/** A feature instance process owning `partitions`. */
function featureInstance(natsUrl: string, partitions: readonly number[]): StatusProcess<InstanceStatus> {
  return new StatusProcess('feature-instance.ts', [partitions.join(',')], natsUrl, {
    ticks: 0,
    published: 0,
    rss: 0,
  });
}

/** Tick n of the endless replay: print n % count of the file, for symbol n % 50, one span later per cycle. */
function tickAt(trades: readonly TradeTick[], index: number): TradeTick {
  const perCycle = trades.length * SYMBOLS.length;
  const cycle = Math.floor(index / perCycle);
  const within = index % perCycle;
  const trade = trades[Math.floor(within / SYMBOLS.length)]!;
  const symbol = SYMBOLS[within % SYMBOLS.length]!;
  const span = trades.at(-1)!.ts_event - trades[0]!.ts_event + BAR_MS;
  const ts = trade.ts_event + cycle * span;
  const tradeId = `${trade.trade_id}:${cycle}`;
  return { ...trade, id: `live:${symbol}:${tradeId}`, symbol, trade_id: tradeId, ts_event: ts, ts_init: ts };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolveWait) => setTimeout(resolveWait, 20));
  }
  return true;
}

export default async function liveBench(): Promise<Record<string, number>> {
  const trades = await binanceTrades();
  const server = await startNatsServer();
  const connection = await connectNats({ url: server.url, name: 'bench-live' });
  const feed = await connectNats({ url: server.url, name: 'bench-live-feed' });
  const instances: StatusProcess<InstanceStatus>[] = [];
  try {
    const manager = await jetstreamManager(connection);
    await applyStreams(manager, { replicas: 1 });
    const subjects = new Subjects(4);
    const publisher = new EventPublisher(jetstream(feed), { window: 1_024 });

    // The peer: plain nats.js over ticks of a symbol no actor reads.
    for (let index = 0; index < RAW_MESSAGES; index++) {
      const tick = { ...tickAt(trades, index), symbol: 'RAWLIVE' };
      await publisher.publish('trade_tick', subjects.tick('RAWLIVE'), { ...tick, id: `raw:${index}` });
    }
    await publisher.flush();
    const rawConsume = await rawConsumePerSecond(
      jetstream(connection),
      manager,
      subjects.tick('RAWLIVE'),
      RAW_MESSAGES,
    );

    // The backlog, then the pipeline.
    for (let index = 0; index < BACKLOG; index++) {
      const tick = tickAt(trades, index);
      await publisher.publish('trade_tick', subjects.tick(tick.symbol), tick);
    }
    await publisher.flush();

    const trained = trainTabularModel({
      model: 'logistic',
      symbols: ['AAPL', 'MSFT', 'XOM', 'JPM', 'GE'],
      dataDir: join(repoRoot, 'simulations', 'data', 'sample', 'prices'),
      featureSet: DEFAULT_FEATURE_SET.name,
      labels: { profitTake: 1, stopLoss: 1, verticalBars: 5, volatilityWindow: 20 },
      folds: 3,
      embargo: 0.01,
      holdout: 0.2,
      l2: 10,
      mlp: { hidden: 16, epochs: 20, activation: 'tanh', seed: 42 },
      outputDir: mkdtempSync(join(tmpdir(), 'sluice-bench-live-')),
      from: Date.parse('2012-09-01'),
      to: Date.parse('2014-01-01'),
    });
    const bus = new NatsActorBus(jetstream(connection), manager, subjects);
    const inference = await InferenceActor.start({
      bus,
      models: new StaticModelSource([{ manifest: trained.manifest, bytes: trained.onnx }], {
        live: trained.manifest.modelId,
      }),
      strategy: 'live',
      featureSet: DEFAULT_FEATURE_SET,
      maxBatchSize: Number(process.env.BENCH_LIVE_BATCH ?? 64),
      maxWaitMs: 0,
      // Score an open batch after 2 ms of quiet rather than wait for the next bar's vectors.
      idleFlushMs: 2,
      executionProviders: ['cpu'],
      drift: false,
    });

    let signals = 0;
    const sentAt = new Map<string, number>();
    const latenciesUs: number[] = [];
    const signalFeed = feed.subscribe('sig.>', {
      callback: (_error, message) => {
        signals++;
        const signal = message.json<Signal>();
        const started = sentAt.get(`${signal.symbol}:${signal.ts_event}`);
        if (started !== undefined) latenciesUs.push((performance.now() - started) * 1000);
      },
    });

    const featureLatenciesUs: number[] = [];
    const featureFeed = feed.subscribe('feat.>', {
      callback: (_error, message) => {
        const vector = message.json<FeatureVector>();
        const started = sentAt.get(`${vector.symbol}:${vector.ts_event}`);
        if (started !== undefined) featureLatenciesUs.push((performance.now() - started) * 1000);
      },
    });

    const startedAt = performance.now();
    instances.push(featureInstance(server.url, [0, 1]), featureInstance(server.url, [2, 3]));
    const handled = () => instances.reduce((sum, instance) => sum + instance.status.ticks, 0);
    const published = () => instances.reduce((sum, instance) => sum + instance.status.published, 0);
    const drained = await waitFor(() => handled() >= BACKLOG && signals >= published(), 300_000);
    if (!drained) throw new Error(`live bench: ${handled()} of ${BACKLOG} ticks handled in 300 s`);
    const liveSeconds = (performance.now() - startedAt) / 1000;
    const backlogSignals = signals;

    // Fixed offered load after the backlog: the first tick of a symbol's new bar closes its last one.
    const openBar = new Map<string, number>();
    const offered = OFFERED_PER_S * LATENCY_SECONDS;
    const offeredStart = performance.now();
    for (let step = 0; step < offered; step++) {
      const due = offeredStart + (step * 1000) / OFFERED_PER_S;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((resolveWait) => setTimeout(resolveWait, wait));
      const tick = tickAt(trades, BACKLOG + step);
      const bar = Math.floor(tick.ts_event / BAR_MS) * BAR_MS;
      const open = openBar.get(tick.symbol);
      if (open !== undefined && bar > open) sentAt.set(`${tick.symbol}:${open + BAR_MS}`, performance.now());
      openBar.set(tick.symbol, bar);
      await publisher.publish('trade_tick', subjects.tick(tick.symbol), tick);
    }
    await publisher.flush();
    await waitFor(() => handled() >= BACKLOG + offered && signals >= published(), 30_000);
    signalFeed.unsubscribe();
    featureFeed.unsubscribe();
    const lag = await Promise.all(
      [0, 1, 2, 3].map(async (partition) => {
        const info = await manager.consumers.info('MARKET', `bench-feature-p${partition}`);
        return info.num_pending + info.num_ack_pending;
      }),
    );
    await inference.stop();
    await bus.close();
    const sorted = [...latenciesUs].sort((a, b) => a - b);
    const featureSorted = [...featureLatenciesUs].sort((a, b) => a - b);
    return {
      live_feature_instances: instances.length,
      live_backlog_ticks: BACKLOG,
      live_backlog_signals: backlogSignals,
      live_ticks_per_s: Math.round(BACKLOG / liveSeconds),
      live_jetstream_raw_consume_per_s: rawConsume,
      live_vs_raw_consume: Number((BACKLOG / liveSeconds / rawConsume).toFixed(3)),
      live_offered_ticks_per_s: OFFERED_PER_S,
      live_latency_samples: sorted.length,
      live_p50_us: Math.round(percentile(sorted, 50)),
      live_p99_us: Math.round(percentile(sorted, 99)),
      live_tick_to_feature_p50_us: Math.round(percentile(featureSorted, 50)),
      live_tick_to_feature_p99_us: Math.round(percentile(featureSorted, 99)),
      live_consumer_lag_after: lag.reduce((sum, pending) => sum + pending, 0),
      live_feature_instance_peak_rss_mb: Math.round(
        Math.max(...instances.map((instance) => instance.peakRss)) / 1_048_576,
      ),
    };
  } finally {
    await Promise.all(instances.map((instance) => instance.stop()));
    await feed.close();
    await connection.close();
    await server.dispose();
  }
}
