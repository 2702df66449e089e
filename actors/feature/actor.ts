// The FeatureActor binding: market data from the bus into the FeatureCore, a feature vector out on
// feat.<symbol> for every warm row, bars / features / trade ticks into the database in
// bounded batches. One durable consumer per partition reads md.*.<partition>.> so ticks, bars, news
// and sentiment of a symbol arrive in stream order.
//
// Restart: input is acknowledged only after its rows and vectors are stored (checkpoint), so
// indicator state is rebuilt by replaying the acknowledged history with outputs off (see
// ConsumerRunnerOptions.rebuild); messages handled but not acknowledged before a crash come again and
// produce the same ids, which the stream (Nats-Msg-Id) and the tables (ON CONFLICT DO NOTHING) drop.
// So a restart yields the same rows as an uninterrupted run.
//
// A row the database refuses for good (a value it cannot store, a constraint: see BatchWriter) is
// not retried: the message that caused it is dead-lettered with the reason (Delivery.deadLetter) and
// the rest of its batch is stored, so one bad message cannot stall every partition.
//
// What is published is a function of the input alone: a row's vector goes out when the row is warm
// (its symbol has warmupBars bars), which depends on that symbol's messages only, in their stream
// order. The lifecycle (warming until every symbol seen is warm, stale after event-time silence) is
// reported, never consulted: it depends on how the partitions' consumers interleave, so gating on it
// published different vectors from the same input from run to run and across restarts.
//
// Rejected input (core.lastRejection after each message) is counted by symbol and reason (metrics),
// logged (rejection-log.ts) and, in bulk, raises a feature_rejection_rate alert (rejection-rate.ts).

import type { Kysely } from 'kysely';
import type { Clock } from '../../core/clock.ts';
import { featureVectorIdFor } from '../../core/lineage-ids.ts';
import type { Logger } from '../../core/logger.ts';
import type { Bar, FeatureVector, MessageOf, TradeTick } from '../../schemas/messages.ts';
import { partitionOf } from '../../schemas/subjects.ts';
import type { ActorBus, Delivery, Subscription } from '../../streams/bus.ts';
import type { BatchWriter } from '../../timescale/batch-writer.ts';
import type { Database } from '../../timescale/database.ts';
import { featureRowWriter, type StoredFeatureRow, storedFeatureRow } from '../../timescale/feature-store.ts';
import { barWriter } from '../../timescale/rows/bars.ts';
import { tickWriter } from '../../timescale/rows/ticks.ts';
import type { Actor } from '../actor.ts';
import type { RateAlertOptions } from '../alerts/rate-threshold.ts';
import { FeatureRejectionRate, type RejectedInput } from '../alerts/rejection-rate.ts';
import {
  FeatureCore,
  type FeatureCounters,
  type FeatureRejections,
  type FeatureRow,
  type RejectionReason,
} from './core.ts';
import type { FeatureSet } from './feature-set.ts';
import { FeatureLifecycle, type FeatureLifecycleState } from './machine.ts';
import { RejectionLog } from './rejection-log.ts';

interface AppliedMessage {
  sequence: number;
  vector: FeatureVector | undefined;
}

const MARKET_MESSAGES = ['trade_tick', 'quote_tick', 'bar', 'news_item', 'sentiment_score'] as const;
type MarketMessage = MessageOf<(typeof MARKET_MESSAGES)[number]>;

export interface FeatureActorOptions {
  bus: ActorBus;
  set: FeatureSet;
  /** Partitions this instance owns; each gets its own durable consumer. */
  partitions: readonly number[];
  /** Bar length for ticks (ready-made bars keep theirs). */
  barInterval?: string;
  /** Event-time silence after which the actor reports itself stale. */
  staleAfterMs?: number;
  /** `threshold` rejected messages of a partition within `windowMs` raise feature_rejection_rate. */
  rejectionRate?: RateAlertOptions;
  /** At most one summary line per symbol and reason this often (default 60 s; see rejection-log.ts). */
  rejectionLogIntervalMs?: number;
  /** Wall clock of the rejection log; without one, the rejected message's ts_init stands in. */
  clock?: Clock;
  /** Durable consumer name prefix; instances sharing it share the work of a partition. */
  durablePrefix?: string;
  db?: Kysely<Database>;
  /** Rows buffered per table before the consumer waits for the database. */
  maxBufferedRows?: number;
  logger?: Logger;
}

export interface FeatureActorStatus {
  state: FeatureLifecycleState;
  featureSet: string;
  featureSetVersion: string;
  partitions: readonly number[];
  published: number;
  counters: FeatureCounters;
  buffered: { bars: number; features: number; ticks: number };
}

/** A warm row as the feature_vector contract carries it (warm rows have no nulls). */
export function toFeatureVector(row: FeatureRow, tsInit: number): FeatureVector {
  return {
    schema: 'feature_vector.v1',
    id: featureVectorIdFor(row.bar_id, row.feature_set),
    ts_event: row.ts_event,
    ts_init: tsInit,
    symbol: row.symbol,
    feature_set: row.feature_set,
    feature_set_version: row.feature_set_version,
    values: row.values as Record<string, number>,
    bar_id: row.bar_id,
  };
}

export class FeatureActor implements Actor<FeatureActorStatus> {
  readonly core: FeatureCore;
  readonly lifecycle: FeatureLifecycle;
  private readonly subscriptions: Subscription[] = [];
  private readonly barWriter: BatchWriter<Bar> | undefined;
  private readonly featureWriter: BatchWriter<StoredFeatureRow> | undefined;
  private readonly tickWriter: BatchWriter<TradeTick> | undefined;
  private published = 0;
  private rebuilding = false;
  /** The delivery of the message being handled; rows it causes remember it (see refused). */
  private delivery: Delivery | undefined;
  private readonly causes = new WeakMap<object, Delivery>();
  /**
   * Per partition, the last message applied to the core and the vector it published. A failed
   * handler is retried with the same message (in place, or redelivered): applied again, the core
   * would refuse it as a duplicate and the vector whose publish failed would never go out.
   */
  private readonly lastApplied = new Map<number, AppliedMessage>();
  private applying: AppliedMessage | undefined;
  private readonly rejectionRate: FeatureRejectionRate;
  private readonly rejectionLog: RejectionLog | undefined;

  private constructor(private readonly options: FeatureActorOptions) {
    this.core = new FeatureCore({ set: options.set, barInterval: options.barInterval ?? '1m' });
    this.lifecycle = new FeatureLifecycle({ staleAfterMs: options.staleAfterMs ?? 3 * 86_400_000 });
    this.rejectionRate = new FeatureRejectionRate(options.rejectionRate);
    this.rejectionLog =
      options.logger && new RejectionLog(options.logger, options.rejectionLogIntervalMs ?? 60_000);
    const db = options.db;
    if (db) {
      const shared = {
        ...(options.maxBufferedRows !== undefined ? { maxBufferedRows: options.maxBufferedRows } : {}),
        ...(options.logger ? { logger: options.logger } : {}),
        onRefused: (row: object, reason: string) => this.refused(row, reason),
      };
      this.barWriter = barWriter(db, shared);
      this.featureWriter = featureRowWriter(db, options.set, shared);
      this.tickWriter = tickWriter(db, shared);
    }
  }

  /** Subscribes every partition; if one fails, those already subscribed are drained again. */
  static async start(options: FeatureActorOptions): Promise<FeatureActor> {
    const actor = new FeatureActor(options);
    try {
      await actor.begin();
    } catch (error) {
      await actor.stop().catch(() => {});
      throw error;
    }
    return actor;
  }

  private async begin(): Promise<void> {
    const { bus } = this.options;
    const prefix = this.options.durablePrefix ?? `feature-${this.options.set.name}`;
    for (const partition of this.options.partitions) {
      this.subscriptions.push(
        await bus.subscribe({
          durable: `${prefix}-p${partition}`,
          stream: 'MARKET',
          filterSubject: bus.subjects.marketFilter('*', partition),
          messages: MARKET_MESSAGES,
          // A partition has one owner at a time (by config, or by lease with a consumer per term).
          exclusive: true,
          handler: (message, delivery) => this.handle(message, delivery),
          rebuild: (message) => this.rebuild(message),
          checkpoint: () => this.flush(),
        }),
      );
    }
  }

  /** Event time moved on without data (live mode timer): may turn the actor stale. */
  tick(now: number): void {
    this.lifecycle.tick(now);
  }

  status(): FeatureActorStatus {
    return {
      state: this.lifecycle.state,
      featureSet: this.options.set.name,
      featureSetVersion: this.options.set.version,
      partitions: this.options.partitions,
      published: this.published,
      counters: { ...this.core.counters },
      buffered: {
        bars: this.barWriter?.stats.buffered ?? 0,
        features: this.featureWriter?.stats.buffered ?? 0,
        ticks: this.tickWriter?.stats.buffered ?? 0,
      },
    };
  }

  /** Rejections by symbol and reason (for /metrics). */
  rejections(): FeatureRejections[] {
    return this.core.rejections();
  }

  /** Graceful stop: drain consumers, flush every buffer. */
  async stop(): Promise<void> {
    for (const subscription of this.subscriptions) await subscription.drain();
    await this.flush();
    this.rejectionLog?.flush();
    this.lifecycle.stop();
  }

  async flush(): Promise<void> {
    await Promise.all([this.barWriter?.flush(), this.featureWriter?.flush(), this.tickWriter?.flush()]);
    await this.options.bus.flush();
  }

  private rebuild(message: MarketMessage): void {
    this.rebuilding = true;
    try {
      this.apply(message);
    } finally {
      this.rebuilding = false;
    }
  }

  private handle(message: MarketMessage, delivery: Delivery): Promise<void> | undefined {
    const { bus } = this.options;
    const partition = partitionOf(message.symbol, bus.subjects.partitions);
    const last = this.lastApplied.get(partition);
    if (delivery.deliveryCount > 1 && last !== undefined && last.sequence === delivery.streamSequence) {
      // A retry of the message already applied: its rows are buffered; send its vector again (its
      // id makes a copy that did land a duplicate the stream drops).
      return (
        last.vector && bus.publish('feature_vector', bus.subjects.feature(last.vector.symbol), last.vector)
      );
    }
    this.applying = { sequence: delivery.streamSequence, vector: undefined };
    this.lastApplied.set(partition, this.applying);
    // Rows are added synchronously inside apply, so each is tied to this delivery.
    this.delivery = delivery;
    try {
      return this.apply(message);
    } finally {
      this.delivery = undefined;
      this.applying = undefined;
    }
  }

  /** A row to store, tied to the message that caused it. */
  private caused<Row extends object>(row: Row): Row {
    if (this.delivery) this.causes.set(row, this.delivery);
    return row;
  }

  /** A row the database refused for good: dead-letter the message that caused it (once). */
  private async refused(row: object, reason: string): Promise<void> {
    const cause = this.causes.get(row);
    if (cause?.deadLetter) return cause.deadLetter(reason);
    this.options.logger?.error(
      { reason },
      'the database refused a row; its input cannot be dead-lettered here',
    );
  }

  /** Feeds the core; returns a promise only when an output must be awaited (publish, full buffer). */
  private apply(message: MarketMessage): Promise<void> | undefined {
    const output = this.feed(message);
    const reason = this.core.lastRejection;
    return reason === null ? output : joinPending(output, this.rejected(message, reason));
  }

  /**
   * Counts a rejection in its partition's alert window (also while rebuilding, so the window after a
   * restart is the uninterrupted run's), logs it and publishes the alert it raises, if any.
   */
  private rejected(message: MarketMessage, reason: RejectionReason): Promise<void> | undefined {
    const { bus } = this.options;
    const input: RejectedInput = {
      partition: partitionOf(message.symbol, bus.subjects.partitions),
      symbol: message.symbol,
      reason,
      id: message.id,
      schema: message.schema,
      ts_init: message.ts_init,
    };
    const alert = this.rejectionRate.observe(input);
    if (this.rebuilding) return undefined;
    this.rejectionLog?.record(input, this.options.clock?.now() ?? message.ts_init);
    if (!alert) return undefined;
    this.options.logger?.warn({ code: alert.code, labels: alert.labels }, alert.message);
    return bus.publish('alert', bus.subjects.alert(alert.severity, alert.code), alert);
  }

  private feed(message: MarketMessage): Promise<void> | undefined {
    switch (message.schema) {
      case 'bar.v1': {
        const row = this.core.onBar(message);
        if (!row) return undefined;
        return this.emit(
          row,
          message.ts_init,
          this.rebuilding ? undefined : this.barWriter?.add(this.caused(message)),
        );
      }
      case 'trade_tick.v1': {
        const row = this.core.onTrade(message);
        const pendingTick = this.rebuilding ? undefined : this.tickWriter?.add(this.caused(message));
        return this.emitAggregated(row, message.ts_init, pendingTick);
      }
      case 'quote_tick.v1':
        return this.emitAggregated(this.core.onQuote(message), message.ts_init, undefined);
      case 'news_item.v1':
        this.core.onNews(message);
        this.lifecycle.tick(message.ts_event);
        return undefined;
      case 'sentiment_score.v1':
        this.core.onSentiment(message);
        this.lifecycle.tick(message.ts_event);
        return undefined;
    }
  }

  private emitAggregated(row: FeatureRow | null, tsInit: number, pending: Promise<void> | undefined) {
    if (!row) return pending;
    const bar = this.core.lastAggregatedBar(row.symbol);
    const barPending = bar && !this.rebuilding ? this.barWriter?.add(this.caused(bar)) : undefined;
    return this.emit(row, tsInit, joinPending(pending, barPending));
  }

  private emit(
    row: FeatureRow,
    tsInit: number,
    pending: Promise<void> | undefined,
  ): Promise<void> | undefined {
    this.lifecycle.data(row.ts_event, this.core.allWarm());
    if (this.rebuilding) return undefined;
    const featurePending = this.featureWriter?.add(
      this.caused(storedFeatureRow(row, featureVectorIdFor(row.bar_id, row.feature_set), tsInit)),
    );
    if (!row.warm) return joinPending(pending, featurePending);
    this.published++;
    const vector = toFeatureVector(row, tsInit);
    if (this.applying) this.applying.vector = vector;
    const publishing = this.options.bus.publish(
      'feature_vector',
      this.options.bus.subjects.feature(row.symbol),
      vector,
    );
    return joinPending(joinPending(pending, featurePending), publishing);
  }
}

function joinPending(a: Promise<void> | undefined, b: Promise<void> | undefined): Promise<void> | undefined {
  if (!a) return b;
  if (!b) return a;
  return Promise.all([a, b]).then(() => undefined);
}
