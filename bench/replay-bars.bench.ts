// Daily-bar replay speed: real stocknet daily bars of 50 symbols (cycled and re-stamped a day apart),
// where every event is a bar close and runs the whole chain; in process (`replay_bar_events_per_s`)
// and in lockstep over NATS on a short slice (`replay_nats_events_per_s`).
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { readDatasetFile } from '../core/dataset-files.ts';
import { stocknetPriceFile } from '../core/datasets.ts';
import type { Bar } from '../schemas/messages.ts';
import { runBacktest } from '../simulations/backtest.ts';
import type { MarketEvent } from '../simulations/sources/replay.ts';
import { connectNats } from '../streams/connection.ts';
import { startNatsServer } from '../test/support/nats-server.ts';
import {
  benchConfig,
  DAY_MS,
  priceDir,
  START,
  sentimentDataDir,
  stocknetSymbols,
  timedReplay,
} from './support/replay.ts';

const BAR_EVENTS = Number(process.env.BENCH_REPLAY_BAR_EVENTS ?? 200_000);
const NATS_EVENTS = Number(process.env.BENCH_REPLAY_NATS_EVENTS ?? 300);

async function seriesOf(symbols: readonly string[]): Promise<Map<string, Bar[]>> {
  const series = new Map<string, Bar[]>();
  for (const symbol of symbols) {
    const bars: Bar[] = [];
    for await (const row of readDatasetFile(stocknetPriceFile(join(priceDir, `${symbol}.csv`)))) {
      if (row.kind === 'bar') bars.push(row.event);
    }
    series.set(symbol, bars);
  }
  return series;
}

/** Day d of symbol s: the series' bar number d (cycled), re-stamped to START + d days. */
function* barEvents(series: Map<string, Bar[]>, count: number): Generator<MarketEvent> {
  const all = [...series.entries()];
  for (let index = 0; index < count; index++) {
    const [symbol, bars] = all[index % all.length]!;
    const day = Math.floor(index / all.length);
    const bar = bars[day % bars.length]!;
    const ts = START + (day + 1) * DAY_MS;
    yield { ...bar, id: `bench:${symbol}:${day}`, ts_event: ts, ts_init: ts };
  }
}

async function* asAsync<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items;
}

export default async function replayBarsBench(): Promise<Record<string, number>> {
  const symbols = stocknetSymbols();
  const series = await seriesOf(symbols);
  const bars = await timedReplay(benchConfig(symbols, '1d', 1), barEvents(series, BAR_EVENTS));

  const server = await startNatsServer();
  const connection = await connectNats({ url: server.url, name: 'bench-replay' });
  try {
    const natsStarted = performance.now();
    const overNats = await runBacktest({
      config: benchConfig(symbols, '1d', 1),
      runId: 'bench-nats',
      mode: 'nats',
      events: asAsync(barEvents(series, NATS_EVENTS)),
      nats: { jetstream: jetstream(connection), manager: await jetstreamManager(connection) },
      sentimentDataDir,
    });
    const natsSeconds = (performance.now() - natsStarted) / 1000;
    return {
      replay_bar_events: bars.summary.events,
      replay_bar_events_per_s: bars.eventsPerSecond,
      replay_bar_peak_rss_mb: bars.peakRssMb,
      replay_nats_events: overNats.events,
      replay_nats_events_per_s: Math.round(overNats.events / natsSeconds),
    };
  } finally {
    await connection.close();
    await server.dispose();
  }
}
