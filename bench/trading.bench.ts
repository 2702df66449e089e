// Tick to order intent over real NATS at a fixed offered load: real Binance trades (re-stamped one
// millisecond apart) are published to md.tick at 5,000 ticks/s; every 25th tick is followed by a
// model signal for it (200 signals/s, as bar closes would produce them — a signal per tick would be an
// order per tick, which no strategy sends). The trading process (bench/support/trading-instance.ts:
// risk gate, execution, portfolio over JetStream, as `sluice run` runs them) consumes every tick
// (prices, fills, marks) and turns each signal into an order intent, an order and a fill. The feed
// is this process, a load generator apart from the system under test: it publishes with plain NATS
// publishes into the stream's subjects (no per-message ack round trip) and measures from the
// signal's tick's publish to the intent's arrival at its subscriber on ord.intent.>.
// The peer in the same run (tick_to_intent_raw_…): plain nats.js consumers doing only the parse, the
// intent publish and the acks (bench/support/raw-trading-instance.ts), the floor of this path on
// this machine.
import { jetstreamManager } from '@nats-io/jetstream';
import type { OrderIntent, Signal, TradeTick } from '../schemas/messages.ts';
import { Subjects } from '../schemas/subjects.ts';
import { connectNats } from '../streams/connection.ts';
import { applyStreams } from '../streams/topology.ts';
import { startNatsServer } from '../test/support/nats-server.ts';
import { binanceTrades } from './support/jetstream.ts';
import { StatusProcess } from './support/status-process.ts';

const SECONDS = Number(process.env.BENCH_TRADING_SECONDS ?? 10);
const TICKS_PER_SIGNAL = 25;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** The load (5,000 ticks/s), and a tenth of it to show the latency of an unsaturated gate. */
export default async function tradingBench(): Promise<Record<string, number>> {
  const trades = await binanceTrades();
  const light = await measure(trades, 500, SECONDS, 'trading-instance.ts');
  const full = await measure(trades, 5_000, SECONDS, 'trading-instance.ts');
  const raw = await measure(trades, 5_000, SECONDS, 'raw-trading-instance.ts');
  return {
    ...full,
    ...Object.fromEntries(Object.entries(light).map(([name, value]) => [`${name}_at_500_per_s`, value])),
    tick_to_intent_raw_p50_us: raw.tick_to_intent_p50_us ?? Number.NaN,
    tick_to_intent_raw_p99_us: raw.tick_to_intent_p99_us ?? Number.NaN,
  };
}

async function measure(
  trades: readonly TradeTick[],
  TICKS_PER_S: number,
  SECONDS: number,
  instanceScript: string,
): Promise<Record<string, number>> {
  const server = await startNatsServer();
  const feed = await connectNats({ url: server.url, name: 'bench-feed' });
  let trading: StatusProcess<{ decisions: number; rss: number }> | undefined;
  try {
    await applyStreams(await jetstreamManager(feed), { replicas: 1 });
    const subjects = new Subjects(4);
    trading = new StatusProcess(instanceScript, [], server.url, { decisions: 0, rss: 0 });
    await trading.ready();

    const sentAt = new Map<string, number>();
    const latenciesUs: number[] = [];
    const intents = feed.subscribe('ord.intent.>', {
      callback: (_error, message) => {
        const intent = message.json<OrderIntent>();
        const started = sentAt.get(intent.signal_id);
        if (started !== undefined) latenciesUs.push((performance.now() - started) * 1000);
      },
    });

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
      feed.publish(subjects.tick(tick.symbol), JSON.stringify(tick));
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
      feed.publish(subjects.signal(signal.strategy, signal.symbol), JSON.stringify(signal));
    }
    await feed.flush();
    const offeredSeconds = (performance.now() - startedAt) / 1000;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && trading.status.decisions < signals) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    intents.unsubscribe();
    const sorted = [...latenciesUs].sort((a, b) => a - b);
    const figures = {
      trading_offered_ticks_per_s: Math.round(total / offeredSeconds),
      trading_signals: signals,
      trading_decisions: trading.status.decisions,
      trading_intents: sorted.length,
      tick_to_intent_p50_us: Math.round(percentile(sorted, 50)),
      tick_to_intent_p99_us: Math.round(percentile(sorted, 99)),
      trading_peak_rss_mb: Math.round(trading.peakRss / 1_048_576),
    };
    return figures;
  } finally {
    await trading?.stop();
    await feed.close();
    await server.dispose();
  }
}
