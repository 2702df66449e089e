// Tick to order intent over real NATS at a fixed offered load: real Binance trades (re-stamped one
// millisecond apart) are published to md.tick at 5,000 ticks/s; every 25th tick is followed by a
// model signal for it (200 signals/s, as bar closes would produce them — a signal per tick would be an
// order per tick, which no strategy sends). The risk gate, execution and portfolio, all over
// JetStream, consume every tick (prices, fills, marks) and turn each signal into an order intent, an
// order and a fill. Latency is from the signal's tick's publish to the intent's arrival at a
// subscriber on ord.intent.>.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import {
  BpsSlippage,
  FixedLatency,
  MakerTakerFee,
  NextTickFillModel,
} from '../actors/execution/venue-models.ts';
import { FixedNotionalSizer } from '../actors/risk/sizing.ts';
import { startTrading } from '../actors/trading.ts';
import type { OrderIntent, Signal, TradeTick } from '../schemas/messages.ts';
import { Subjects } from '../schemas/subjects.ts';
import { NatsActorBus } from '../streams/bus.ts';
import { connectNats } from '../streams/connection.ts';
import { EventPublisher } from '../streams/publisher.ts';
import { applyStreams } from '../streams/topology.ts';
import { startNatsServer } from '../test/support/nats-server.ts';
import { binanceTrades } from './support/jetstream.ts';

const SECONDS = Number(process.env.BENCH_TRADING_SECONDS ?? 10);
const TICKS_PER_SIGNAL = 25;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** The load (5,000 ticks/s), and a tenth of it to show the latency of an unsaturated gate. */
export default async function tradingBench(): Promise<Record<string, number>> {
  const trades = await binanceTrades();
  const light = await measure(trades, 500, SECONDS);
  const full = await measure(trades, 5_000, SECONDS);
  return {
    ...full,
    ...Object.fromEntries(Object.entries(light).map(([name, value]) => [`${name}_at_500_per_s`, value])),
  };
}

async function measure(
  trades: readonly TradeTick[],
  TICKS_PER_S: number,
  SECONDS: number,
): Promise<Record<string, number>> {
  const server = await startNatsServer();
  const connection = await connectNats({ url: server.url, name: 'bench-trading' });
  const feed = await connectNats({ url: server.url, name: 'bench-feed' });
  try {
    const manager = await jetstreamManager(connection);
    await applyStreams(manager, { replicas: 1 });
    const subjects = new Subjects(4);
    const bus = new NatsActorBus(jetstream(connection), manager, subjects);
    const trading = await startTrading(
      {
        account: 'bench',
        startingCash: 1e9,
        startState: 'active',
        risk: {
          limits: {
            instruments: { BTCUSDT: { minQuantity: 0.0001, maxQuantity: 100, maxPosition: 1_000 } },
            maxOrderNotional: 1e6,
            priceCollarBps: 200,
            maxGrossExposure: 1e9,
            maxNetExposure: 1e9,
            orderRate: { maxOrders: 1e6, windowMs: 1_000 },
            repeatedExecution: { maxOrders: 1e6, windowMs: 1_000 },
            maxMarketDataAgeMs: 60_000,
            minConfidence: 0.5,
            tradingSessions: [{ days: [0, 1, 2, 3, 4, 5, 6], openMinute: 0, closeMinute: 1_440 }],
            restricted: [],
            maxDailyLoss: 1e9,
            maxDrawdown: 0.99,
          },
          sizer: new FixedNotionalSizer(1_000),
        },
        venue: {
          latency: new FixedLatency(0),
          fill: new NextTickFillModel(),
          slippage: new BpsSlippage(1),
          fee: new MakerTakerFee(0, 1),
        },
      },
      { bus },
    );

    const sentAt = new Map<string, number>();
    const latenciesUs: number[] = [];
    const intents = feed.subscribe('ord.intent.>', {
      callback: (_error, message) => {
        const intent = message.json<OrderIntent>();
        const started = sentAt.get(intent.signal_id);
        if (started !== undefined) latenciesUs.push((performance.now() - started) * 1000);
      },
    });

    const publisher = new EventPublisher(jetstream(feed), { window: 1_024 });
    const total = TICKS_PER_S * SECONDS;
    const signals = Math.ceil(total / TICKS_PER_SIGNAL);
    const base = trades[0]!.ts_event;
    const startedAt = performance.now();
    for (let index = 0; index < total; index++) {
      // Hold the offered rate: tick i goes out at startedAt + i / rate.
      const due = startedAt + (index * 1000) / TICKS_PER_S;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      const source = trades[index % trades.length]!;
      const ts = base + index;
      const tick: TradeTick = { ...source, id: `bench:tick:${index}`, ts_event: ts, ts_init: ts };
      const tickSentAt = performance.now();
      await publisher.publish('trade_tick', subjects.tick(tick.symbol), tick);
      if (index % TICKS_PER_SIGNAL !== 0) continue;
      const signal: Signal = {
        schema: 'signal.v1',
        id: `bench:sig:${index}`,
        ts_event: ts,
        ts_init: ts,
        strategy: 'bench',
        symbol: tick.symbol,
        model_version: 'bench',
        direction: (index / TICKS_PER_SIGNAL) % 2 === 0 ? 1 : -1,
        probability: 0.6,
        feature_id: tick.id,
      };
      sentAt.set(signal.id, tickSentAt);
      await publisher.publish('signal', subjects.signal(signal.strategy, signal.symbol), signal);
    }
    await publisher.flush();
    const offeredSeconds = (performance.now() - startedAt) / 1000;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && trading.status().risk.decisions < signals) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    intents.unsubscribe();
    const sorted = [...latenciesUs].sort((a, b) => a - b);
    const risk = trading.status().risk;
    const figures = {
      trading_offered_ticks_per_s: Math.round(total / offeredSeconds),
      trading_signals: signals,
      trading_decisions: risk.decisions,
      trading_intents: sorted.length,
      tick_to_intent_p50_us: Math.round(percentile(sorted, 50)),
      tick_to_intent_p99_us: Math.round(percentile(sorted, 99)),
    };
    await trading.stop();
    await bus.close();
    return figures;
  } finally {
    await feed.close();
    await connection.close();
    await server.dispose();
  }
}
