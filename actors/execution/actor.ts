// ExecutionActor: sends the risk gate's orders to a venue and publishes what the venue reports. One
// consumer reads `ord.>` (order intents from the risk gate and its cancel commands on ord.cancel.*, in
// stream order); every report is published on exec.order.* / exec.fill.* and, with a database,
// written to orders / order_events / fills before the input is acknowledged. Every order event and
// fill carries the account mode (simulated, paper, live).
//
// The venue is one of two kinds (broker-adapter.ts):
// - the SimulatedVenue, driven in event time by the market data this actor also reads (backtests and
//   paper trading in process). Its reconciliation is trivially clean: at start the actor says so on
//   exec.reconcile.<venue>, so the risk gate is released as before.
// - a real broker (a LiveBroker: Alpaca, a ccxt exchange), through BrokerDriver (broker-driver.ts):
//   client order ids derived from order ids, typed faults, and a reconciliation with the venue's books
//   at start, after every reconnect and on `sluice reconcile`, whose outcome the risk gate waits for.
//
// Idempotent submission: within a process a set of recent intent ids ignores an intent seen before.
// Across a restart the actor's snapshot (saved before each intent, cancel or report batch is acked)
// holds the last `ord.>` stream sequence handled and the orders still open: redelivered messages at or
// below that sequence are skipped. The simulated venue's books (its working orders with their fills,
// triggers, expiries and bracket children, its positions and last quotes) are in the snapshot too, so
// it goes on as if never stopped; a market event that changed them without a report (a stop
// triggered, a quote) is saved with the next report or at stop. (A snapshot from before those books
// were saved gets its open intents submitted again.) A broker's open orders are kept with their filled
// quantity and the venue ids of the fills published, and reconciliation asks the venue what became of
// them: partial fills survive.
//
// Its pure cores are the simulated venue, the intent guard, venue-reports.ts and reconcile.ts; its
// lifecycle (restoring -> running -> draining -> stopped) is machine.ts; this class is the binding
// (bus, snapshot store, database).
//
// Only the risk gate's sealed intents reach the venue (IntentGuard): any other order_intent on
// `ord.>` (forged, altered, unsealed, or from a deposed gate) is copied with the reason to the
// dead-letter stream, raises alert.critical.unauthorised_intent and is counted; it leaves no order,
// no fill and no trace in the actor's state (its id is not remembered, so a forgery that guesses a
// future intent id cannot make the gate's real intent look like a duplicate).

import type { Kysely } from 'kysely';
import { type Clock, ReplayClock } from '../../core/clock.ts';
import type { GateKey } from '../../core/gate-seal.ts';
import { alertIdFor, orderIdFor, reconciliationIdFor } from '../../core/lineage-ids.ts';
import type { Logger } from '../../core/logger.ts';
import type {
  AccountMode,
  Alert,
  Bar,
  ControlCommand,
  Fill,
  OrderEvent,
  OrderIntent,
  OrderIntentV1,
  OrderStatus,
  QuoteTick,
  Reconciliation,
  TradeTick,
} from '../../schemas/messages.ts';
import { upgradeOrderIntent } from '../../schemas/order-intent.ts';
import { type BrokerOrderState, type ExecutionState, snapshotContracts } from '../../schemas/snapshots.ts';
import {
  type ActorBus,
  checkpointAfterStoring,
  type Delivery,
  publishRefused,
  type Subscription,
} from '../../streams/bus.ts';
import { NotLeaderError } from '../../streams/leader-election.ts';
import { loadSnapshot, type SnapshotStore, saveSnapshot, snapshotKey } from '../../streams/snapshot-store.ts';
import type { BatchWriter } from '../../timescale/batch-writer.ts';
import type { Database } from '../../timescale/database.ts';
import {
  fillWriter,
  type OrderRow,
  type OrderSpec,
  orderEventWriter,
  orderSpecOfIntent,
  orderWriter,
} from '../../timescale/rows/orders.ts';
import type { StatefulActor } from '../actor.ts';
import { type MarketData, type MarketDataReader, subscribeMarketData } from '../market-data.ts';
import { RecentIds } from '../risk/recent-ids.ts';
import { type ExecutionReport, isFill, type LiveBroker, type VenueOrder } from './broker-adapter.ts';
import {
  BrokerDriver,
  type BrokerDriverStatus,
  type BrokerSink,
  type FollowedOrder,
  followedOrderOf,
  type ReconciliationTrigger,
} from './broker-driver.ts';
import { IntentGuard, UNAUTHORISED_INTENT } from './intent-guard.ts';
import { createExecutionLifecycle, type ExecutionLifecycleState } from './machine.ts';
import { isTerminal, orderTransitions } from './order.ts';
import type { UnknownOrderPolicy } from './reconcile.ts';
import { SimulatedVenue, type SimulatedVenueOptions } from './simulated-venue.ts';
import type { OrderRef } from './venue-reports.ts';
import type { RetryPolicy, Sleep } from './venue-retry.ts';

/** The durable consumer of `ord.>`; also the consumer named in dead letters of refused intents. */
const ORDERS_DURABLE = 'execution-orders';

/** The alert code (alert.critical.reconciliation_mismatch) of a reconciliation that found what it cannot explain. */
export const RECONCILIATION_MISMATCH = 'reconciliation_mismatch';

/** A real broker account and how the actor deals with it (see broker-driver.ts). */
export interface BrokerOptions {
  broker: LiveBroker;
  /** The name Sluice trades under there (executionVenueName): snapshot key and reconciliation subject. */
  venue: string;
  /** What reconciliation does with an open order at the venue that Sluice did not place. */
  unknownOrders: UnknownOrderPolicy;
  /** The wall clock: stamps reports (ts_init) and reconciliations. */
  clock: Clock;
  retry?: Partial<RetryPolicy>;
  sleep?: Sleep;
  /** Seconds from each submit to the venue's acknowledgement (the /metrics histogram). */
  onAcknowledged?: (seconds: number) => void;
}

export interface ExecutionActorOptions {
  bus: ActorBus;
  /** The simulated venue's models: the venue unless `broker` names a real one. */
  venue: SimulatedVenueOptions;
  /** A real broker instead of the simulated venue (`sluice run` with trading.broker). */
  broker?: BrokerOptions;
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
  /** Open intents its snapshot held, submitted again to the venue at start (orders followed, at a broker). */
  resubmitted: number;
  venue: string;
  accountMode: AccountMode;
  submitted: number;
  duplicatesSkipped: number;
  /** Intents refused before the venue: no valid seal of the risk gate, or a deposed gate's. */
  unauthorised: number;
  cancels: number;
  reports: number;
  fills: number;
  openOrders: number;
  lastEventTs: number;
  /** At a broker: its connection, rejects by reason, retries and reconciliations. */
  broker?: BrokerDriverStatus;
}

/** Sluice's side and the venue's, for `sluice orders` and `sluice positions`. */
export interface VenueView {
  venue: string;
  accountMode: AccountMode;
  /** Orders Sluice holds open. */
  sluice: { orders: BrokerOrderState[] | OrderIntent[]; positions?: { symbol: string; quantity: number }[] };
  /** As the venue states them now (absent with the simulated venue, whose books are Sluice's). */
  venueBooks?: { orders: VenueOrder[]; positions: { symbol: string; quantity: number }[] };
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
  /** The simulated venue; undefined at a broker. */
  readonly venue: SimulatedVenue | undefined;
  readonly venueName: string;
  private driver: BrokerDriver | undefined;
  private readonly clock = new ReplayClock();
  private readonly lifecycle = createExecutionLifecycle();
  private readonly subscriptions: Subscription[] = [];
  private readonly submitted: RecentIds;
  private guard: IntentGuard;
  /** Sluice's own intents still working, by order id (for the orders rows and `sluice orders`). */
  private readonly open = new Map<string, OrderIntent>();
  /** Orders followed at the broker without an intent of their own, still working (for their orders rows). */
  private readonly followed = new Map<string, OrderSpec>();
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
    this.venue = options.broker ? undefined : new SimulatedVenue(options.venue);
    this.venueName = options.broker?.venue ?? this.venue?.venue ?? 'SIM';
    this.snapshotKey = snapshotKey('execution', this.venueName);
    this.submitted = new RecentIds(10_000);
    this.guard = new IntentGuard(options.gateKey);
    this.writers = options.db && executionWriters(options.db, options.runId ?? 'live', options.logger);
  }

  /**
   * Restores its snapshot; at a broker, connects and reconciles (throwing the VenueFault when the
   * broker refuses the credentials or cannot be reached); then subscribes.
   */
  static async start(options: ExecutionActorOptions): Promise<ExecutionActor> {
    const actor = new ExecutionActor(options);
    const resubmitted = await actor.restore();
    actor.lifecycle.send({ type: 'RESTORED', resubmitted });
    await actor.subscribe();
    return actor;
  }

  get accountMode(): AccountMode {
    return this.options.broker?.broker.accountMode ?? 'simulated';
  }

  status(): ExecutionStatus {
    const { value, context } = this.lifecycle.getSnapshot();
    return {
      state: value as ExecutionLifecycleState,
      lastError: context.lastError,
      resubmitted: context.resubmitted,
      venue: this.venueName,
      accountMode: this.accountMode,
      ...this.counts,
      openOrders: this.driver ? this.driver.openOrders().length : this.open.size,
      lastEventTs: this.clock.now(),
      ...(this.driver ? { broker: this.driver.status() } : {}),
    };
  }

  /** Intents still working at the venue (ctl.execution.orders). */
  openOrders(): OrderIntent[] {
    return [...this.open.values()];
  }

  /** Sluice's open orders and positions beside the venue's (ctl.execution.orders / positions). */
  async venueView(): Promise<VenueView> {
    const base = { venue: this.venueName, accountMode: this.accountMode };
    if (this.driver === undefined) return { ...base, sluice: { orders: this.openOrders() } };
    return {
      ...base,
      sluice: { orders: this.driver.openOrders(), positions: this.driver.positionBook() },
      venueBooks: await this.driver.venueView(),
    };
  }

  /** A reconciliation on an operator's request (ctl.execution.reconcile); trivially clean when simulated. */
  async reconcile(): Promise<Reconciliation> {
    if (this.driver) return this.driver.reconcile('operator');
    const message = this.simulatedReconciliation('operator');
    await this.publishReconciliation(message);
    return message;
  }

  async stop(): Promise<void> {
    this.lifecycle.send({ type: 'STOP' });
    for (const subscription of this.subscriptions) await subscription.drain();
    await this.driver?.close();
    // The simulated venue's books as of the last market event, reported or not. A deposed leader's
    // books are no longer its to save (the store refuses): its successor's snapshot stands.
    if (this.venue !== undefined) {
      try {
        await this.save();
      } catch (error) {
        if (!(error instanceof NotLeaderError)) throw error;
        this.options.logger?.info('execution snapshot not saved at stop: no longer the leader');
      }
    }
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
   * many open orders it took over: intents submitted again to the simulated venue, or orders followed
   * at the broker (which its reconciliation then settles).
   */
  private async restore(): Promise<number> {
    const loaded = await loadSnapshot(this.options.store, this.snapshotKey, ExecutionActor.snapshotContract);
    const refusal = loaded.ok ? this.restoreVenue(loaded.snapshot?.value) : loaded.reason;
    if (refusal !== undefined) {
      this.options.logger?.error({ reason: refusal }, 'execution snapshot refused: starting afresh');
      this.lifecycle.send({ type: 'SNAPSHOT_REFUSED', reason: refusal });
    }
    const saved = loaded.ok && refusal === undefined ? loaded.snapshot : undefined;
    if (saved !== undefined) {
      this.restoredSequence = saved.sequence;
      this.lastSequence = saved.sequence;
      this.guard = new IntentGuard(this.options.gateKey, saved.value.gateTerm);
    }
    if (this.options.broker) return this.startBroker(this.options.broker, saved?.value.broker);
    // A snapshot from before the venue's books were saved: its open intents are sent again to a venue
    // that has not seen the fills before them.
    const resubmit = saved !== undefined && saved.value.simulatedVenue === undefined;
    if (resubmit) this.simulated().forgetPositions();
    for (const savedIntent of saved?.value.open ?? []) {
      const intent = upgradeOrderIntent(savedIntent);
      this.clock.advanceTo(intent.ts_event);
      this.submitted.add(intent.id);
      this.open.set(orderIdFor(intent.id), intent);
      if (resubmit) await this.publish(this.simulated().submit(intent, intent.ts_event));
    }
    await this.publishReconciliation(this.simulatedReconciliation('start'));
    return saved?.value.open.length ?? 0;
  }

  /**
   * The simulated venue takes over its saved books (before anything else is restored); returns why
   * the snapshot is refused, if it is: venue books at a broker, or books no venue could have kept.
   */
  private restoreVenue(saved: ExecutionState | undefined): string | undefined {
    const books = saved?.simulatedVenue;
    if (books === undefined) return undefined;
    if (this.venue === undefined) return 'simulatedVenue: saved for a broker, which keeps its own books';
    return this.venue.restore(books);
  }

  private async startBroker(options: BrokerOptions, saved: ExecutionState['broker']): Promise<number> {
    for (const order of saved?.orders ?? []) {
      if (order.followed !== undefined) {
        this.followed.set(
          order.order_id,
          followedSpec(
            { orderId: order.order_id, intentId: order.intent_id, ...order },
            followedOrderOf(order.followed),
          ),
        );
      }
      if (order.intent === undefined) continue;
      const intent = upgradeOrderIntent(order.intent);
      this.submitted.add(intent.id);
      this.open.set(order.order_id, intent);
    }
    const sink: BrokerSink = {
      publish: (reports) => this.publish(reports),
      followed: async (ref, order) => {
        const spec = followedSpec(ref, order);
        this.followed.set(ref.orderId, spec);
        await this.writers?.orders.add(initialRow(spec));
      },
      reconciliation: (message) => this.publishReconciliation(message),
      alert: (severity, code, message, labels) => this.alert(severity, code, message, labels),
      save: () => this.save(),
    };
    // Held before it starts: the snapshots its start reconciliation saves include its books.
    this.driver = new BrokerDriver(
      {
        broker: options.broker,
        venue: options.venue,
        unknownOrders: options.unknownOrders,
        sink,
        clock: options.clock,
        ...(options.retry ? { retry: options.retry } : {}),
        ...(options.sleep ? { sleep: options.sleep } : {}),
        ...(options.onAcknowledged ? { onAcknowledged: options.onAcknowledged } : {}),
        ...(this.options.logger ? { logger: this.options.logger } : {}),
      },
      saved,
    );
    await this.driver.start();
    return saved?.orders.length ?? 0;
  }

  private simulated(): SimulatedVenue {
    if (this.venue === undefined) throw new Error('the simulated venue is not this actor’s venue');
    return this.venue;
  }

  /** The simulated venue's books are Sluice's: its reconciliation finds nothing to settle. */
  private simulatedReconciliation(trigger: ReconciliationTrigger): Reconciliation {
    const now = this.clock.now();
    return {
      schema: 'reconciliation.v1',
      id: reconciliationIdFor(this.venueName, now, trigger, 'ok'),
      ts_event: now,
      ts_init: now,
      venue: this.venueName,
      account_mode: 'simulated',
      trigger,
      outcome: 'ok',
      differences: [],
    };
  }

  /** On exec.reconcile.<venue> for the risk gate; a mismatch also raises alert.critical.reconciliation_mismatch. */
  private async publishReconciliation(message: Reconciliation): Promise<void> {
    const { bus, logger } = this.options;
    await bus.publish('reconciliation', bus.subjects.reconciliation(message.venue), message);
    if (message.outcome !== 'mismatch') {
      if (message.outcome === 'ok')
        logger?.info(
          { trigger: message.trigger, differences: message.differences.length },
          'reconciled with the venue',
        );
      return;
    }
    const unexplained = message.differences.filter((difference) => difference.resolution === 'unexplained');
    const text = unexplained.map((difference) => difference.detail).join('; ');
    await this.alert(
      'critical',
      RECONCILIATION_MISMATCH,
      `${message.venue} (${message.account_mode}) does not reconcile after ${message.trigger}: ${text}; the risk gate stays halted until a clean reconciliation (sluice reconcile)`,
      {
        venue: message.venue,
        ...(unexplained[0]?.symbol ? { symbol: unexplained[0].symbol } : {}),
        ...(unexplained[0]?.venue_quantity !== undefined
          ? { venue_quantity: String(unexplained[0].venue_quantity) }
          : {}),
        ...(unexplained[0]?.sluice_quantity !== undefined
          ? { sluice_quantity: String(unexplained[0].sluice_quantity) }
          : {}),
      },
      message.id,
    );
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
    // A broker reports its own fills: market data only drives the simulated venue.
    if (this.venue && !this.options.sharedMarketData) {
      this.subscriptions.push(...(await subscribeMarketData(bus, [this])));
    }
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
    await this.writers?.orders.add(initialRow(orderSpecOfIntent(orderIdFor(intent.id), intent)));
    if (this.driver) {
      // Saves the snapshot itself, before the request leaves and after the venue answers.
      await this.driver.submit(intent);
      return;
    }
    const venue = this.simulated();
    const reports = venue.submit(intent, intent.ts_event);
    // Arrivals due now (zero latency) are accepted at once rather than on the next market event.
    await this.publish([...reports, ...venue.advanceTo(intent.ts_event)]);
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
    logger?.error({ intentId: intent.id, subject: delivery.subject, reason }, 'order intent refused');
    await publishRefused(bus, delivery, {
      reason,
      consumer: ORDERS_DURABLE,
      payload: intent,
      receivedAt: this.clock.now(),
    });
    await this.alert(
      'critical',
      UNAUTHORISED_INTENT,
      `order intent ${intent.id} (${intent.side} ${intent.quantity} ${intent.symbol}) on ${delivery.subject} refused, not sent to the venue: ${reason}`,
      { symbol: intent.symbol, intent_id: intent.id },
      `execution:${UNAUTHORISED_INTENT}:${delivery.streamSequence}`,
      `execution:${UNAUTHORISED_INTENT}:${intent.id}`,
    );
  }

  private async alert(
    severity: Alert['severity'],
    code: string,
    message: string,
    labels: Record<string, string>,
    id = alertIdFor(`execution:${this.venueName}:${this.clock.now()}`, code),
    dedupeKey = `execution:${code}`,
  ): Promise<void> {
    const { bus } = this.options;
    const now = this.options.broker?.clock.now() ?? this.clock.now();
    const alert: Alert = {
      schema: 'alert.v1',
      id,
      ts_event: now,
      ts_init: now,
      severity,
      code,
      message,
      source: 'execution',
      dedupe_key: dedupeKey,
      labels,
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
    if (this.driver) return this.driver.cancel(orderId);
    const venue = this.simulated();
    const now = command.ts_event;
    await this.publish([...venue.cancel(orderId, now), ...venue.advanceTo(now)]);
    await this.save();
  }

  readonly marketDataName = 'execution';

  get storeMarketDataRows(): (() => Promise<void>) | undefined {
    return this.writers && (() => this.flushWriters());
  }

  // Market data handlers stay synchronous unless the venue reports something: a tick replay pays
  // no promise per tick. At a broker, market data moves nothing here.
  onMarketData(event: MarketData): Promise<void> | undefined {
    if (this.venue === undefined) return undefined;
    return event.schema === 'bar.v1' ? this.onBar(this.venue, event) : this.onTick(this.venue, event);
  }

  private onTick(venue: SimulatedVenue, tick: TradeTick | QuoteTick): Promise<void> | undefined {
    this.clock.advanceTo(tick.ts_event);
    // Event time passes for every symbol, so arrivals and cancels elsewhere settle too.
    const arrived = venue.advanceTo(tick.ts_event);
    const filled = tick.schema === 'trade_tick.v1' ? venue.onTrade(tick) : venue.onQuote(tick);
    return this.report(arrived, filled);
  }

  private onBar(venue: SimulatedVenue, bar: Bar): Promise<void> | undefined {
    this.clock.advanceTo(bar.ts_event);
    const arrived = venue.advanceTo(bar.ts_event);
    return this.report(arrived, venue.onBar(bar));
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
        const spec =
          intent !== undefined
            ? orderSpecOfIntent(report.order_id, intent)
            : this.followed.get(report.order_id);
        if (isTerminal(report.status)) {
          this.open.delete(report.order_id);
          this.followed.delete(report.order_id);
        }
        await bus.publish('order_event', bus.subjects.orderEvent(report.symbol), report);
        if (this.writers) {
          await this.writers.events.add(report);
          if (spec !== undefined) await this.writers.orders.add(this.orderRow(spec, report));
          if (isTerminal(report.status)) this.writers.fillTotals.delete(report.order_id);
        }
      }
    }
  }

  /** The order's `orders` row as of `event`. */
  private orderRow(order: OrderSpec, event: OrderEvent): OrderRow {
    const totals = this.writers?.fillTotals.get(event.order_id);
    return {
      order,
      status: event.status,
      filled: event.filled_quantity,
      avgFillPrice: totals && totals.quantity > 0 ? totals.notional / totals.quantity : null,
      updatedAt: event.ts_event,
      accountMode: event.account_mode ?? null,
      venueOrderId: event.venue_order_id ?? null,
    };
  }

  saveState(): ExecutionState {
    if (this.driver) return { open: [], gateTerm: this.guard.gateTerm, broker: this.driver.state() };
    return {
      open: [...this.open.values()],
      gateTerm: this.guard.gateTerm,
      simulatedVenue: this.simulated().state(),
    };
  }

  private async save(): Promise<void> {
    // Without a store (in-process backtests) the state is not even built.
    if (this.options.store === undefined) return;
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

/** An order's first `orders` row: submitted (or first seen at the venue), nothing filled. */
function initialRow(order: OrderSpec): OrderRow {
  return {
    order,
    status: 'submitted',
    filled: 0,
    avgFillPrice: null,
    updatedAt: order.ts,
    accountMode: null,
    venueOrderId: null,
  };
}

/** The orders row spec of an order followed without an intent: as the venue stated it when first seen. */
function followedSpec(
  ref: Pick<OrderRef, 'orderId' | 'intentId' | 'symbol' | 'side' | 'quantity'>,
  order: FollowedOrder,
): OrderSpec {
  return {
    id: ref.orderId,
    ts: order.since,
    tsInit: order.since,
    intentId: ref.intentId,
    strategy: null,
    symbol: ref.symbol,
    side: ref.side,
    quantity: ref.quantity,
    orderType: order.orderType,
    limitPrice: order.limitPrice ?? null,
    stopPrice: order.stopPrice ?? null,
    timeInForce: null,
    reduceOnly: false,
    bracket: null,
    exitAfter: null,
    exitReason: null,
    origin: order.origin,
  };
}
