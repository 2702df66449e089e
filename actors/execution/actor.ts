// ExecutionActor: drives a SimulatedVenue in event time from the bus. One consumer reads `ord.>`
// (order intents from the risk gate and its cancel commands on ord.cancel.*, in stream order), others
// read ticks and bars; every report the venue returns is published on exec.order.* / exec.fill.* and,
// with a database, written to orders / order_events / fills before the input is acknowledged.
//
// Idempotent submission: within a process the venue and a set of recent intent ids ignore an intent
// seen before. Across a restart the actor's snapshot (saved before each intent, cancel or report
// batch is acked) holds the last `ord.>` stream sequence handled and the intents still open:
// redelivered messages at or below that sequence are skipped, and open intents are submitted again
// to the fresh simulated venue, whose deterministic report ids (order:event:n, order:fill:n) make
// the re-published reports duplicates that JetStream drops. Known gap: an order that had partially
// filled before the crash restarts from zero at the simulated venue (IOC market orders, the default,
// never carry a partial fill across events).
//
// Its pure core is the simulated venue and the intent guard; its lifecycle (restoring -> running ->
// draining -> stopped) is machine.ts; this class is the binding (bus, snapshot store, database).
//
// Only the risk gate's sealed intents reach the venue (IntentGuard): any other order_intent on
// `ord.>` (forged, altered, unsealed, or from a deposed gate) is copied with the reason to the
// dead-letter stream, raises alert.critical.unauthorised_intent and is counted; it leaves no order,
// no fill and no trace in the actor's state (its id is not remembered, so a forgery that guesses a
// future intent id cannot make the gate's real intent look like a duplicate).

import type { Kysely } from 'kysely';
import { ReplayClock } from '../../core/clock.ts';
import type { GateKey } from '../../core/gate-seal.ts';
import { orderIdFor } from '../../core/lineage-ids.ts';
import type { Logger } from '../../core/logger.ts';
import type {
  Alert,
  Bar,
  ControlCommand,
  Fill,
  OrderEvent,
  OrderIntent,
  OrderIntentV1,
  OrderStatus,
  QuoteTick,
  TradeTick,
} from '../../schemas/messages.ts';
import { upgradeOrderIntent } from '../../schemas/order-intent.ts';
import { type ExecutionState, snapshotContracts } from '../../schemas/snapshots.ts';
import {
  type ActorBus,
  checkpointAfterStoring,
  type Delivery,
  publishRefused,
  type Subscription,
} from '../../streams/bus.ts';
import { loadSnapshot, type SnapshotStore, saveSnapshot, snapshotKey } from '../../streams/snapshot-store.ts';
import type { BatchWriter } from '../../timescale/batch-writer.ts';
import type { Database } from '../../timescale/database.ts';
import { fillWriter, type OrderRow, orderEventWriter, orderWriter } from '../../timescale/rows/orders.ts';
import type { StatefulActor } from '../actor.ts';
import { barAsTrade, type MarketData, type MarketDataReader, subscribeMarketData } from '../market-data.ts';
import { RecentIds } from '../risk/recent-ids.ts';
import { type ExecutionReport, isFill } from './broker-adapter.ts';
import { IntentGuard, UNAUTHORISED_INTENT } from './intent-guard.ts';
import { createExecutionLifecycle, type ExecutionLifecycleState } from './machine.ts';
import { isTerminal, orderTransitions } from './order.ts';
import { SimulatedVenue, type SimulatedVenueOptions } from './simulated-venue.ts';

/** The durable consumer of `ord.>`; also the consumer named in dead letters of refused intents. */
const ORDERS_DURABLE = 'execution-orders';

export interface ExecutionActorOptions {
  bus: ActorBus;
  venue: SimulatedVenueOptions;
  /** The risk gate's key: only intents it sealed reach the venue. */
  gateKey: GateKey;
  /** Without a store (in-process backtests) nothing is snapshotted. */
  store?: SnapshotStore;
  db?: Kysely<Database>;
  runId?: string;
  /** True when the process hands it market data with other readers (subscribeMarketData). */
  sharedMarketData?: boolean;
  logger?: Logger;
}

export interface ExecutionStatus {
  state: ExecutionLifecycleState;
  /** Why its snapshot was refused at start, if it was. */
  lastError: string | undefined;
  /** Open intents its snapshot held, submitted again to the venue at start. */
  resubmitted: number;
  venue: string;
  submitted: number;
  duplicatesSkipped: number;
  /** Intents refused before the venue: no valid seal of the risk gate, or a deposed gate's. */
  unauthorised: number;
  cancels: number;
  reports: number;
  fills: number;
  openOrders: number;
  lastEventTs: number;
}

interface Writers {
  orders: BatchWriter<OrderRow>;
  events: BatchWriter<OrderEvent>;
  fills: BatchWriter<Fill>;
  /** Filled quantity and notional per open order, for avg_fill_price. */
  fillTotals: Map<string, { quantity: number; notional: number }>;
}

export class ExecutionActor implements StatefulActor<ExecutionStatus, ExecutionState>, MarketDataReader {
  static readonly snapshotContract = snapshotContracts.execution;
  readonly snapshotKey: string;
  readonly venue: SimulatedVenue;
  private readonly clock = new ReplayClock();
  private readonly lifecycle = createExecutionLifecycle();
  private readonly subscriptions: Subscription[] = [];
  private readonly submitted: RecentIds;
  private guard: IntentGuard;
  private readonly open = new Map<string, OrderIntent>();
  private readonly writers: Writers | undefined;
  private lastSequence = 0;
  private restoredSequence = 0;
  private readonly counts = {
    submitted: 0,
    duplicatesSkipped: 0,
    unauthorised: 0,
    cancels: 0,
    reports: 0,
    fills: 0,
  };

  private constructor(private readonly options: ExecutionActorOptions) {
    this.venue = new SimulatedVenue(options.venue);
    this.snapshotKey = snapshotKey('execution', this.venue.venue);
    this.submitted = new RecentIds(10_000);
    this.guard = new IntentGuard(options.gateKey);
    this.writers = options.db && executionWriters(options.db, options.runId ?? 'live', options.logger);
  }

  static async start(options: ExecutionActorOptions): Promise<ExecutionActor> {
    const actor = new ExecutionActor(options);
    const resubmitted = await actor.restore();
    actor.lifecycle.send({ type: 'RESTORED', resubmitted });
    await actor.subscribe();
    return actor;
  }

  status(): ExecutionStatus {
    const { value, context } = this.lifecycle.getSnapshot();
    return {
      state: value as ExecutionLifecycleState,
      lastError: context.lastError,
      resubmitted: context.resubmitted,
      venue: this.venue.venue,
      ...this.counts,
      openOrders: this.open.size,
      lastEventTs: this.clock.now(),
    };
  }

  /** Intents still working at the venue (ctl.execution.orders). */
  openOrders(): OrderIntent[] {
    return [...this.open.values()];
  }

  async stop(): Promise<void> {
    this.lifecycle.send({ type: 'STOP' });
    for (const subscription of this.subscriptions) await subscription.drain();
    await this.flushWriters();
    this.lifecycle.send({ type: 'DRAINED' });
  }

  private async flushWriters(): Promise<void> {
    if (this.writers === undefined) return;
    // Orders before their events and fills, so a reader never sees a fill of an order not yet stored.
    await this.writers.orders.flush();
    await Promise.all([this.writers.events.flush(), this.writers.fills.flush()]);
  }

  /**
   * With a database, input is acknowledged only after the rows it caused are stored (and its reports
   * published): a crash cannot lose the row of an order, event or fill whose input was acked.
   */
  private get checkpoint(): { checkpoint?: () => Promise<void> } {
    return checkpointAfterStoring(this.options.bus, this.writers && (() => this.flushWriters()));
  }

  /**
   * A refused snapshot leaves it as with none: no working orders, no gate term seen yet. Returns how
   * many open intents it submitted again.
   */
  private async restore(): Promise<number> {
    const loaded = await loadSnapshot(this.options.store, this.snapshotKey, ExecutionActor.snapshotContract);
    if (!loaded.ok) {
      this.options.logger?.error({ reason: loaded.reason }, 'execution snapshot refused: starting afresh');
      this.lifecycle.send({ type: 'SNAPSHOT_REFUSED', reason: loaded.reason });
    }
    const saved = loaded.ok ? loaded.snapshot : undefined;
    if (saved === undefined) return 0;
    this.restoredSequence = saved.sequence;
    this.lastSequence = saved.sequence;
    this.guard = new IntentGuard(this.options.gateKey, saved.value.gateTerm);
    for (const savedIntent of saved.value.open) {
      const intent = upgradeOrderIntent(savedIntent);
      this.clock.advanceTo(intent.ts_event);
      this.submitted.add(intent.id);
      this.open.set(orderIdFor(intent.id), intent);
      await this.publish(this.venue.submit(intent, intent.ts_event));
    }
    return saved.value.open.length;
  }

  private async subscribe(): Promise<void> {
    const { bus } = this.options;
    const { subjects } = bus;
    this.subscriptions.push(
      await bus.subscribe({
        durable: ORDERS_DURABLE,
        stream: 'ORDERS',
        filterSubject: `${subjects.namespace}ord.>`,
        messages: ['order_intent', 'order_intent_v1', 'control_command'],
        handler: (message, delivery) => {
          // Already handled before a restart: the snapshot reflects it.
          if (delivery.streamSequence <= this.restoredSequence) {
            this.counts.duplicatesSkipped++;
            return;
          }
          this.lastSequence = delivery.streamSequence;
          return message.schema === 'control_command.v1'
            ? this.onCancel(message)
            : this.onIntent(message, delivery);
        },
        ...this.checkpoint,
      }),
    );
    if (!this.options.sharedMarketData) this.subscriptions.push(...(await subscribeMarketData(bus, [this])));
  }

  private async onIntent(received: OrderIntent | OrderIntentV1, delivery: Delivery): Promise<void> {
    // Checked before anything else (on the intent as sealed): a refused intent must not move the
    // clock or take an id.
    const refusal = this.guard.refusal(received);
    if (refusal !== undefined) return this.refuse(received, delivery, refusal);
    const intent = upgradeOrderIntent(received);
    this.clock.advanceTo(intent.ts_event);
    if (!this.submitted.add(intent.id)) {
      this.counts.duplicatesSkipped++;
      return;
    }
    this.counts.submitted++;
    this.open.set(orderIdFor(intent.id), intent);
    const reports = this.venue.submit(intent, intent.ts_event);
    await this.writers?.orders.add({
      id: orderIdFor(intent.id),
      intent,
      status: 'submitted',
      filled: 0,
      avgFillPrice: null,
      updatedAt: intent.ts_event,
    });
    // Arrivals due now (zero latency) are accepted at once rather than on the next market event.
    await this.publish([...reports, ...this.venue.advanceTo(intent.ts_event)]);
    await this.save();
  }

  /**
   * Dead-letters a refused intent (acknowledged after, so once: a redelivery before the ack gives
   * the same dead letter and alert ids, which the streams drop) and raises a critical alert. Both
   * are stamped with the actor's event time, not the intent's, which its sender chose.
   */
  private async refuse(
    intent: OrderIntent | OrderIntentV1,
    delivery: Delivery,
    reason: string,
  ): Promise<void> {
    this.counts.unauthorised++;
    const { bus, logger } = this.options;
    const now = this.clock.now();
    logger?.error({ intentId: intent.id, subject: delivery.subject, reason }, 'order intent refused');
    await publishRefused(bus, delivery, {
      reason,
      consumer: ORDERS_DURABLE,
      payload: intent,
      receivedAt: now,
    });
    const alert: Alert = {
      schema: 'alert.v1',
      id: `execution:${UNAUTHORISED_INTENT}:${delivery.streamSequence}`,
      ts_event: now,
      ts_init: now,
      severity: 'critical',
      code: UNAUTHORISED_INTENT,
      message: `order intent ${intent.id} (${intent.side} ${intent.quantity} ${intent.symbol}) on ${delivery.subject} refused, not sent to the venue: ${reason}`,
      source: 'execution',
      dedupe_key: `execution:${UNAUTHORISED_INTENT}:${intent.id}`,
      labels: { symbol: intent.symbol, intent_id: intent.id },
    };
    await bus.publish('alert', bus.subjects.alert(alert.severity, alert.code), alert);
  }

  private async onCancel(command: ControlCommand): Promise<void> {
    const orderId = command.args?.order_id;
    if (command.command !== 'cancel' || typeof orderId !== 'string') {
      this.options.logger?.warn({ command: command.command }, 'ignored ord.* control command');
      return;
    }
    this.clock.advanceTo(command.ts_event);
    this.counts.cancels++;
    const now = command.ts_event;
    await this.publish([...this.venue.cancel(orderId, now), ...this.venue.advanceTo(now)]);
    await this.save();
  }

  readonly marketDataName = 'execution';

  get storeMarketDataRows(): (() => Promise<void>) | undefined {
    return this.writers && (() => this.flushWriters());
  }

  // Market data handlers stay synchronous unless the venue reports something: a tick replay pays
  // no promise per tick.
  onMarketData(event: MarketData): Promise<void> | undefined {
    return event.schema === 'bar.v1' ? this.onBar(event) : this.onTick(event);
  }

  private onTick(tick: TradeTick | QuoteTick): Promise<void> | undefined {
    this.clock.advanceTo(tick.ts_event);
    // Event time passes for every symbol, so arrivals and cancels elsewhere settle too.
    const arrived = this.venue.advanceTo(tick.ts_event);
    const filled = tick.schema === 'trade_tick.v1' ? this.venue.onTrade(tick) : this.venue.onQuote(tick);
    return this.report(arrived, filled);
  }

  private onBar(bar: Bar): Promise<void> | undefined {
    this.clock.advanceTo(bar.ts_event);
    const arrived = this.venue.advanceTo(bar.ts_event);
    return this.report(arrived, this.venue.onTrade(barAsTrade(bar, bar.open)));
  }

  private report(
    first: readonly ExecutionReport[],
    then: readonly ExecutionReport[],
  ): Promise<void> | undefined {
    if (first.length === 0 && then.length === 0) return undefined;
    return this.publishAndSave(first.concat(then));
  }

  private async publishAndSave(reports: readonly ExecutionReport[]): Promise<void> {
    await this.publish(reports);
    await this.save();
  }

  private async publish(reports: readonly ExecutionReport[]): Promise<void> {
    const { bus } = this.options;
    for (const report of reports) {
      this.counts.reports++;
      if (isFill(report)) {
        this.counts.fills++;
        await bus.publish('fill', bus.subjects.fill(report.symbol), report);
        if (this.writers) {
          const totals = this.writers.fillTotals.get(report.order_id) ?? { quantity: 0, notional: 0 };
          totals.quantity += report.quantity;
          totals.notional += report.quantity * report.price;
          this.writers.fillTotals.set(report.order_id, totals);
          await this.writers.fills.add(report);
        }
      } else {
        const intent = this.open.get(report.order_id);
        if (isTerminal(report.status)) this.open.delete(report.order_id);
        await bus.publish('order_event', bus.subjects.orderEvent(report.symbol), report);
        if (this.writers) {
          await this.writers.events.add(report);
          if (intent !== undefined) await this.writers.orders.add(this.orderRow(intent, report));
          if (isTerminal(report.status)) this.writers.fillTotals.delete(report.order_id);
        }
      }
    }
  }

  /** The order's `orders` row as of `event`. */
  private orderRow(intent: OrderIntent, event: OrderEvent): OrderRow {
    const totals = this.writers?.fillTotals.get(event.order_id);
    return {
      id: orderIdFor(intent.id),
      intent,
      status: event.status,
      filled: event.filled_quantity,
      avgFillPrice: totals && totals.quantity > 0 ? totals.notional / totals.quantity : null,
      updatedAt: event.ts_event,
    };
  }

  saveState(): ExecutionState {
    return { open: [...this.open.values()], gateTerm: this.guard.gateTerm };
  }

  private async save(): Promise<void> {
    await saveSnapshot(this.options.store, this.snapshotKey, ExecutionActor.snapshotContract, {
      value: this.saveState(),
      sequence: this.lastSequence,
    });
  }
}

function executionWriters(db: Kysely<Database>, runId: string, logger: Logger | undefined): Writers {
  const tuning = logger ? { logger } : {};
  return {
    orders: orderWriter(db, runId, TERMINAL_STATUSES, tuning),
    events: orderEventWriter(db, runId, tuning),
    fills: fillWriter(db, runId, tuning),
    fillTotals: new Map(),
  };
}

/** Terminal order statuses: an orders row in one never changes again. */
const TERMINAL_STATUSES = (Object.keys(orderTransitions) as OrderStatus[]).filter(isTerminal);
