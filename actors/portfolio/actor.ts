// PortfolioActor: binds PortfolioCore to the bus. Fills (exec.fill.>) update positions and cash and
// publish pf.snapshot.<account> at once, which also feeds the risk gate's equity and exposure; ticks
// and bars mark open positions, with a snapshot at most once per `markIntervalMs` of event time so a
// busy tape does not flood the ORDERS stream. Each snapshot writes the changed position and the
// equity point when a database is given (positions / equity tables), stored before the input is
// acknowledged.
//
// Restart: before acking a fill the actor saves PortfolioCore.toJSON() with the fill's stream
// sequence; on start it restores that and skips redelivered fills at or below the sequence (the
// core's fill-id memory catches any other duplicate). Marks are not snapshotted per tick: the next
// mark after a restart brings prices up to date.
//
// The rules are PortfolioCore (core.ts, no I/O); the lifecycle (restoring -> running -> draining ->
// stopped) is machine.ts; this class is the binding (bus, snapshot store, database).

import type { Kysely } from 'kysely';
import { ReplayClock } from '../../core/clock.ts';
import type { Logger } from '../../core/logger.ts';
import type { Bar, Fill, PortfolioSnapshot, Position, QuoteTick, TradeTick } from '../../schemas/messages.ts';
import { type PortfolioState, snapshotContracts } from '../../schemas/snapshots.ts';
import {
  type ActorBus,
  checkpointAfterStoring,
  type Delivery,
  type Subscription,
} from '../../streams/bus.ts';
import {
  loadSnapshot,
  type SnapshotStore,
  safeToken,
  saveSnapshot,
  snapshotKey,
} from '../../streams/snapshot-store.ts';
import type { BatchWriter } from '../../timescale/batch-writer.ts';
import type { Database } from '../../timescale/database.ts';
import { equityWriter, type PositionRow, positionWriter } from '../../timescale/rows/portfolio.ts';
import type { StatefulActor } from '../actor.ts';
import { type MarketData, type MarketDataReader, subscribeMarketData, tickPrice } from '../market-data.ts';
import { PortfolioCore } from './core.ts';
import { createPortfolioLifecycle, type PortfolioLifecycleState } from './machine.ts';

export interface PortfolioActorOptions {
  bus: ActorBus;
  account: string;
  startingCash: number;
  /** Least event time between two snapshots caused by marks (fills always snapshot). */
  markIntervalMs?: number;
  /** Without a store (in-process backtests) nothing is snapshotted. */
  store?: SnapshotStore;
  db?: Kysely<Database>;
  runId?: string;
  /** True when the process hands it market data with other readers (subscribeMarketData). */
  sharedMarketData?: boolean;
  logger?: Logger;
}

export interface PortfolioStatus {
  state: PortfolioLifecycleState;
  /** Why its snapshot was refused at start, if it was. */
  lastError: string | undefined;
  account: string;
  cash: number;
  equity: number;
  positions: Position[];
  fillsApplied: number;
  snapshotsPublished: number;
  lastFillSequence: number;
}

interface Writers {
  positions: BatchWriter<PositionRow>;
  equity: BatchWriter<PortfolioSnapshot>;
}

/** Fill ids kept for duplicate detection; the stream sequence covers the restart case. */
const FILL_MEMORY = 4_096;

export class PortfolioActor implements StatefulActor<PortfolioStatus, PortfolioState>, MarketDataReader {
  static readonly snapshotContract = snapshotContracts.portfolio;
  readonly snapshotKey: string;
  private core: PortfolioCore;
  private readonly clock = new ReplayClock();
  private readonly lifecycle = createPortfolioLifecycle();
  private readonly subscriptions: Subscription[] = [];
  private readonly writers: Writers | undefined;
  private readonly markIntervalMs: number;
  private lastFillSequence = 0;
  private lastMarkSnapshotTs = Number.NEGATIVE_INFINITY;
  private readonly counts = { fillsApplied: 0, snapshotsPublished: 0 };

  private constructor(private readonly options: PortfolioActorOptions) {
    this.core = new PortfolioCore({
      account: options.account,
      startingCash: options.startingCash,
      fillMemory: FILL_MEMORY,
    });
    this.snapshotKey = snapshotKey('portfolio', options.account);
    this.markIntervalMs = options.markIntervalMs ?? 60_000;
    this.writers = options.db && portfolioWriters(options.db, options.runId ?? 'live', options.logger);
  }

  /**
   * Restores, subscribes, then publishes the current snapshot so the risk gate knows the equity. A
   * refused snapshot (malformed, another version, another account) leaves it as it starts with none:
   * its first snapshot then names no last fill, so a risk gate that saved one never reconciles with it
   * and stays held (halted or reducing) until an operator looks.
   */
  static async start(options: PortfolioActorOptions): Promise<PortfolioActor> {
    const actor = new PortfolioActor(options);
    const loaded = await loadSnapshot(
      options.store,
      actor.snapshotKey,
      PortfolioActor.snapshotContract,
      ({ account }) => (account === options.account ? undefined : `is for account ${account}`),
    );
    if (!loaded.ok) {
      options.logger?.error({ reason: loaded.reason }, 'portfolio snapshot refused: starting afresh');
      actor.lifecycle.send({ type: 'SNAPSHOT_REFUSED', reason: loaded.reason });
    }
    const saved = loaded.ok ? loaded.snapshot : undefined;
    if (saved !== undefined) {
      actor.core = PortfolioCore.restore(saved.value, FILL_MEMORY);
      actor.lastFillSequence = saved.sequence;
      actor.clock.advanceTo(saved.value.lastEventTs);
    }
    actor.lifecycle.send({ type: 'RESTORED' });
    await actor.subscribe();
    await actor.publishSnapshot(undefined);
    return actor;
  }

  status(): PortfolioStatus {
    const { value, context } = this.lifecycle.getSnapshot();
    return {
      state: value as PortfolioLifecycleState,
      lastError: context.lastError,
      account: this.core.account,
      cash: this.core.cashBalance,
      equity: this.core.equity(),
      positions: this.core.positions(),
      ...this.counts,
      lastFillSequence: this.lastFillSequence,
    };
  }

  saveState(): PortfolioState {
    return this.core.toJSON();
  }

  async stop(): Promise<void> {
    this.lifecycle.send({ type: 'STOP' });
    for (const subscription of this.subscriptions) await subscription.drain();
    await this.flushWriters();
    this.lifecycle.send({ type: 'DRAINED' });
  }

  private async flushWriters(): Promise<void> {
    if (this.writers === undefined) return;
    await Promise.all([this.writers.positions.flush(), this.writers.equity.flush()]);
  }

  /**
   * With a database, fills and marks are acknowledged only after the snapshot rows they caused are
   * stored (and the snapshots published), so a crash cannot lose them.
   */
  private get checkpoint(): { checkpoint?: () => Promise<void> } {
    return checkpointAfterStoring(this.options.bus, this.writers && (() => this.flushWriters()));
  }

  private async subscribe(): Promise<void> {
    const { bus } = this.options;
    const { subjects } = bus;
    this.subscriptions.push(
      await bus.subscribe({
        durable: `portfolio-fills-${safeToken(this.options.account)}`,
        stream: 'ORDERS',
        filterSubject: `${subjects.namespace}exec.fill.>`,
        messages: ['fill'],
        handler: (fill, delivery) => this.onFill(fill, delivery),
        ...this.checkpoint,
      }),
    );
    if (!this.options.sharedMarketData) this.subscriptions.push(...(await subscribeMarketData(bus, [this])));
  }

  private async onFill(fill: Fill, delivery: Delivery): Promise<void> {
    if (delivery.streamSequence <= this.lastFillSequence) return;
    this.clock.advanceTo(fill.ts_event);
    if (!this.core.applyFill(fill)) return;
    this.counts.fillsApplied++;
    this.lastFillSequence = delivery.streamSequence;
    await this.publishSnapshot(fill.symbol);
    await saveSnapshot(this.options.store, this.snapshotKey, PortfolioActor.snapshotContract, {
      value: this.saveState(),
      sequence: delivery.streamSequence,
    });
  }

  get marketDataName(): string {
    return `portfolio-${safeToken(this.options.account)}`;
  }

  get storeMarketDataRows(): (() => Promise<void>) | undefined {
    return this.writers && (() => this.flushWriters());
  }

  onMarketData(event: MarketData): Promise<void> | undefined {
    return event.schema === 'bar.v1'
      ? this.onMark(event.symbol, event.close, event)
      : this.onMark(event.symbol, tickPrice(event), event);
  }

  /** Synchronous unless a snapshot is due, so a tick replay pays no promise per tick. */
  private onMark(
    symbol: string,
    price: number,
    event: TradeTick | QuoteTick | Bar,
  ): Promise<void> | undefined {
    this.clock.advanceTo(event.ts_event);
    if (this.core.heldQuantity(symbol) === 0) return undefined;
    this.core.mark(symbol, price, event.ts_event);
    if (event.ts_event - this.lastMarkSnapshotTs < this.markIntervalMs) return undefined;
    this.lastMarkSnapshotTs = event.ts_event;
    return this.publishSnapshot(symbol);
  }

  /** Publishes the snapshot; writes the equity point and `symbol`'s position when there is one. */
  private async publishSnapshot(symbol: string | undefined): Promise<void> {
    const { bus } = this.options;
    const snapshot = this.core.snapshot(this.clock.now());
    // Read with the snapshot, before awaiting the publish: another consumer's fill may change the
    // position meanwhile, and the row must be the snapshot's.
    const position =
      this.writers === undefined || symbol === undefined ? undefined : this.core.position(symbol);
    this.counts.snapshotsPublished++;
    await bus.publish('portfolio_snapshot', bus.subjects.portfolio(this.core.account), snapshot);
    if (this.writers === undefined) return;
    if (position) await this.writers.positions.add({ snapshot, position });
    await this.writers.equity.add(snapshot);
  }
}

function portfolioWriters(db: Kysely<Database>, runId: string, logger: Logger | undefined): Writers {
  const tuning = logger ? { logger } : {};
  return { positions: positionWriter(db, runId, tuning), equity: equityWriter(db, runId, tuning) };
}
