// Replay sources for backtests: CSV files (the data-set readers), TimescaleDB (time-ordered cursors
// over bars and ticks) and JetStream (the MARKET stream from a start time or sequence). Every source
// yields market events in time order; mergeSources interleaves them by (ts_init, source, sequence),
// so the merged order is the same on every run.
import { AckPolicy, DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { Kysely } from 'kysely';
import { readDatasetFile } from '../../core/dataset-files.ts';
import type { Dataset, DatasetFile } from '../../core/datasets.ts';
import type { Bar, NewsItem, QuoteTick, SentimentScore, TradeTick } from '../../schemas/messages.ts';
import { decodeOneOf } from '../../schemas/validate.ts';
import { type Database, toTimestamp } from '../../timescale/database.ts';
import { barFromRow } from '../../timescale/rows/bars.ts';
import { tickFromRow } from '../../timescale/rows/ticks.ts';

export type MarketEvent = Bar | TradeTick | QuoteTick | NewsItem | SentimentScore;

export interface ReplayWindow {
  /** Inclusive, epoch ms. */
  from?: number;
  /** Exclusive, epoch ms. */
  to?: number;
  /** Only these symbols (all when undefined). */
  symbols?: ReadonlySet<string>;
}

export interface ReplayStats {
  /** Rows a file source could not parse or that broke their contract; counted, skipped. */
  rejected: number;
}

function inWindow(event: MarketEvent, window: ReplayWindow): boolean {
  if (window.from !== undefined && event.ts_init < window.from) return false;
  if (window.to !== undefined && event.ts_init >= window.to) return false;
  return !window.symbols || window.symbols.has(event.symbol);
}

/** One file's events; a file not in time order (plotly's is newest first) is read whole and sorted. */
async function* fileEvents(
  file: DatasetFile,
  window: ReplayWindow,
  stats: ReplayStats,
): AsyncGenerator<MarketEvent> {
  const events: MarketEvent[] = [];
  let ordered = true;
  let last = Number.NEGATIVE_INFINITY;
  for await (const row of readDatasetFile(file)) {
    if (row.kind === 'error') {
      stats.rejected++;
      continue;
    }
    if (!inWindow(row.event, window)) continue;
    if (row.event.ts_init < last) ordered = false;
    last = row.event.ts_init;
    events.push(row.event);
  }
  // Stable sort keeps file order among equal timestamps.
  if (!ordered) events.sort((a, b) => a.ts_init - b.ts_init);
  yield* events;
}

export function fileSource(datasets: readonly Dataset[], window: ReplayWindow, stats: ReplayStats) {
  return mergeSources(
    datasets.flatMap((dataset) => dataset.files.map((file) => fileEvents(file, window, stats))),
  );
}

/** Bars and trade ticks stored by the feature actor, in time order, read in pages. */
export async function* timescaleSource(db: Kysely<Database>, window: ReplayWindow, pageSize = 5_000) {
  const from = toTimestamp(window.from ?? 0);
  const to = toTimestamp(window.to ?? 8.64e15);
  const symbols = window.symbols ? [...window.symbols] : undefined;
  const bars = async function* (): AsyncGenerator<MarketEvent> {
    let query = db
      .selectFrom('bars')
      .selectAll()
      .where('ts', '>=', from)
      .where('ts', '<', to)
      .orderBy('ts')
      .orderBy('symbol');
    if (symbols) query = query.where('symbol', 'in', symbols);
    for await (const row of query.stream(pageSize)) yield barFromRow(row);
  };
  const ticks = async function* (): AsyncGenerator<MarketEvent> {
    let query = db
      .selectFrom('ticks')
      .selectAll()
      .where('ts', '>=', from)
      .where('ts', '<', to)
      .orderBy('ts')
      .orderBy('id');
    if (symbols) query = query.where('symbol', 'in', symbols);
    for await (const row of query.stream(pageSize)) yield tickFromRow(row);
  };
  yield* mergeSources([bars(), ticks()]);
}

export interface JetStreamStart {
  /** Epoch ms; messages stored at or after it. */
  startTime?: number;
  startSequence?: number;
  /** Default MARKET; a recorded backtest-over-NATS session lives in MARKET_bt_<run>. */
  stream?: string;
}

/**
 * The MARKET stream as it stands when the replay starts (later messages are not waited for), read by
 * an ephemeral consumer. Stream order is publish order, so events are re-ordered per ts_init by the
 * merge only within what the stream holds.
 */
export async function* jetstreamSource(
  jetstream: JetStreamClient,
  manager: JetStreamManager,
  window: ReplayWindow,
  start: JetStreamStart = {},
): AsyncGenerator<MarketEvent> {
  const stream = start.stream ?? 'MARKET';
  const info = await manager.streams.info(stream);
  const lastSequence = info.state.last_seq;
  if (info.state.messages === 0) return;
  const consumer = await manager.consumers.add(stream, {
    ack_policy: AckPolicy.None,
    // Without an explicit threshold the server may drop the ephemeral consumer before the first pull.
    inactive_threshold: nanos(60_000),
    ...(start.startSequence !== undefined
      ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start.startSequence }
      : start.startTime !== undefined
        ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(start.startTime).toISOString() }
        : { deliver_policy: DeliverPolicy.All }),
  });
  try {
    const messages = await (await jetstream.consumers.get(stream, consumer.name)).consume({
      max_messages: 1_000,
    });
    const pending: MarketEvent[] = [];
    for await (const message of messages) {
      const decoded = decodeOneOf(
        ['bar', 'trade_tick', 'quote_tick', 'news_item', 'sentiment_score'],
        message.data,
      );
      if (decoded.ok && inWindow(decoded.value, window)) pending.push(decoded.value);
      if (message.seq >= lastSequence) break;
    }
    messages.stop();
    pending.sort((a, b) => a.ts_init - b.ts_init);
    yield* pending;
  } finally {
    await manager.consumers.delete(stream, consumer.name).catch(() => false);
  }
}

/**
 * K-way merge of time-ordered sources by (ts_init, source index, position in source): the order
 * depends only on the inputs, never on timing.
 */
export async function* mergeSources(
  sources: readonly AsyncIterable<MarketEvent>[],
): AsyncGenerator<MarketEvent> {
  const iterators = sources.map((source) => source[Symbol.asyncIterator]());
  const heads: (MarketEvent | undefined)[] = await Promise.all(
    iterators.map(async (iterator) => (await iterator.next()).value as MarketEvent | undefined),
  );
  for (;;) {
    let best = -1;
    for (let index = 0; index < heads.length; index++) {
      const head = heads[index];
      if (head && (best < 0 || head.ts_init < (heads[best] as MarketEvent).ts_init)) best = index;
    }
    if (best < 0) return;
    yield heads[best] as MarketEvent;
    const next = await iterators[best]!.next();
    heads[best] = next.done ? undefined : next.value;
  }
}
