// The execution actor's side of a real broker (a LiveBroker: Alpaca, a ccxt exchange): it places the
// risk gate's orders under client order ids derived from their order ids, turns what the venue says
// into Sluice's reports (venue-reports.ts), and reconciles with the venue's books (reconcile.ts) at
// start, after every reconnect and on an operator's request. Everything it does with the broker runs
// one thing at a time (intents, cancels, venue updates, reconciliations), so its books never see two
// changes interleave.
//
// Faults are typed order events or retries, never a crash:
// - rejected: an order event `rejected` with the venue's reason (a duplicate client order id means the
//   venue already has the order: it is looked up and its state adopted instead);
// - rate_limited, unavailable: nothing happened at the venue; sent again after a capped backoff, under
//   the same client order id, so never twice;
// - unknown_outcome (no answer in time): the order is looked up by client order id before any retry,
//   its state adopted when found, sent again only when not;
// - a cancel that loses the race with a fill: the fill is published and the order ends filled.
// A fill reported twice (the stream, then a reconciliation) is published once: each order keeps the
// venue ids of its fills, and recent fills of any order are remembered by venue id.
//
// It runs on NATS (`sluice run`), whose publish does not wait for consumers. On the in-process bus a
// publish delivers its whole cascade first, so a consumer there that calls back into the driver (the
// risk gate's cancel on a halt) would wait behind the work that published: tests on the in-process bus
// run the execution actor alone.
import type { Clock } from '../../core/clock.ts';
import { clientOrderIdFor, orderIdFor, reconciliationIdFor } from '../../core/lineage-ids.ts';
import type { Logger } from '../../core/logger.ts';
import type {
  Alert,
  OrderIntent,
  OrderType,
  Reconciliation,
  ReconciliationDifference,
} from '../../schemas/messages.ts';
import { upgradeOrderIntent } from '../../schemas/order-intent.ts';
import type { BrokerOrderState, BrokerState } from '../../schemas/snapshots.ts';
import {
  type ExecutionReport,
  type LiveBroker,
  type RejectReason,
  VenueFault,
  type VenueFill,
  type VenueOrder,
  type VenueUpdate,
} from './broker-adapter.ts';
import { isTerminal } from './order.ts';
import {
  adoptedRef,
  type BookOrder,
  reconcile,
  type SluiceBook,
  type UnknownOrderPolicy,
  type VenueBooks,
  withLegs,
} from './reconcile.ts';
import {
  fillFromVenue,
  legRef,
  nextStatus,
  type OrderRef,
  orderEvent,
  orderEventFromVenue,
  QUANTITY_EPSILON,
  type ReportStamp,
  signedQuantity,
} from './venue-reports.ts';
import {
  asVenueFault,
  backoffMs,
  DEFAULT_RETRY,
  type RetryPolicy,
  realSleep,
  retrying,
  type Sleep,
} from './venue-retry.ts';

/** Venue clocks and Sluice's disagree a little: fills are read from this long before the last one known. */
const FILL_READ_MARGIN_MS = 60_000;
/** Fills are remembered this long (venue time) behind the last one, longer than the read margin. */
const FILL_MEMORY_MS = 10 * FILL_READ_MARGIN_MS;
/** And at most this many, whatever their times. */
const FILL_MEMORY_LIMIT = 50_000;

export type ReconciliationTrigger = Reconciliation['trigger'];

/** Where the driver's output goes: the actor publishes, stores and snapshots it. */
export interface BrokerSink {
  publish(reports: readonly ExecutionReport[]): Promise<void>;
  reconciliation(message: Reconciliation): Promise<void>;
  alert(
    severity: Alert['severity'],
    code: string,
    message: string,
    labels: Record<string, string>,
  ): Promise<void>;
  /** Saves the actor's snapshot: called after every change of the driver's books. */
  save(): Promise<void>;
  /**
   * An order Sluice follows from now on without an intent of its own (a bracket's leg the venue keeps
   * as an order, an order placed by hand that reconciliation adopted), before any report of it.
   */
  followed(ref: OrderRef, order: FollowedOrder): Promise<void>;
}

/** An order Sluice follows without an intent of its own, as the venue stated it when first seen. */
export interface FollowedOrder {
  origin: 'leg' | 'venue';
  /** When the venue last changed it before Sluice took it in (epoch ms). */
  since: number;
  orderType: OrderType;
  limitPrice: number | undefined;
  stopPrice: number | undefined;
}

export interface BrokerDriverOptions {
  broker: LiveBroker;
  /** The name Sluice trades under there: ids of adopted orders, the reconciliation's venue. */
  venue: string;
  unknownOrders: UnknownOrderPolicy;
  sink: BrokerSink;
  /** The wall clock: ts_init of reports, and the start of the fills read on a first start. */
  clock: Clock;
  retry?: Partial<RetryPolicy>;
  sleep?: Sleep;
  /** Seconds from a submit to the venue's acknowledgement (the /metrics histogram). */
  onAcknowledged?: (seconds: number) => void;
  logger?: Logger;
}

export interface BrokerDriverStatus {
  connected: boolean;
  acknowledged: number;
  /** Orders the venue (or Sluice, after retries ran out) rejected, by reason. */
  rejects: Record<string, number>;
  retries: number;
  /** Reports the venue sent again (a fill or state already published). */
  duplicates: number;
  /** Reports that broke the contract (a fill of quantity 0), logged and dropped. */
  invalid: number;
  reconciliations: number;
  /** The differences of every reconciliation so far, by `kind:resolution`. */
  differences: Record<string, number>;
  lastReconciliation: Reconciliation | undefined;
}

/** An order the driver follows: its own (with the intent) or one adopted from the venue. */
interface TrackedOrder extends BookOrder {
  venueFillIds: Set<string>;
  /** Quantity of the fills published. */
  fillQuantity: number;
  intent: OrderIntent | undefined;
  /** Without an intent: what it was when first seen. */
  followed?: FollowedOrder;
}

export class BrokerDriver {
  private readonly broker: LiveBroker;
  private readonly policy: RetryPolicy;
  private readonly sleep: Sleep;
  private readonly orders = new Map<string, TrackedOrder>();
  private readonly byClientId = new Map<string, TrackedOrder>();
  private readonly byVenueId = new Map<string, TrackedOrder>();
  private readonly positions = new Map<string, number>();
  /** Spot: base-asset commissions of the fills published, per symbol (reconcile.ts). */
  private readonly commissions = new Map<string, number>();
  /** Spot: what each balance held beyond Sluice's fills when first reconciled (reconcile.ts). */
  private readonly balanceBaselines = new Map<string, number>();
  /** Venue fill id → venue time, insertion (≈ time) order. */
  private readonly recentFills = new Map<string, number>();
  /** The newest venue time among them: their memory runs on the venue's clock, whatever Sluice's says. */
  private newestFillTs = 0;
  /** Unknown orders already flagged or cancelled: their updates do not reconcile again and again. */
  private readonly settledUnknown = new Set<string>();
  private fillsSince: number;
  private reconciliationCount = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private started = false;
  private connected = false;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly counts = {
    acknowledged: 0,
    retries: 0,
    duplicates: 0,
    invalid: 0,
    reconciliations: 0,
  };
  private readonly rejects: Record<string, number> = {};
  private readonly differences: Record<string, number> = {};
  private lastReconciliation: Reconciliation | undefined;

  constructor(
    private readonly options: BrokerDriverOptions,
    saved: BrokerState | undefined,
  ) {
    this.broker = options.broker;
    this.policy = { ...DEFAULT_RETRY, ...options.retry };
    this.sleep = options.sleep ?? realSleep;
    this.fillsSince = saved?.fillsSince ?? options.clock.now();
    if (saved !== undefined) this.restore(saved);
  }

  get venue(): string {
    return this.options.venue;
  }

  get accountMode(): LiveBroker['accountMode'] {
    return this.broker.accountMode;
  }

  /**
   * Connects (with retries while the venue is unavailable) and reconciles before it returns, so the
   * actor takes no intent before the venue's books and its own agree or the difference is raised.
   * Throws the VenueFault when the credentials are refused or the venue cannot be reached.
   */
  async start(): Promise<void> {
    const { broker } = this;
    this.unsubscribe.push(
      broker.onUpdate((update) => {
        this.inBackground(() => this.onUpdate(update));
      }),
      broker.onConnection((state) => this.onConnection(state)),
    );
    await retrying(
      this.policy,
      this.sleep,
      () => broker.connect(),
      (fault) => this.retried('connect', fault),
    );
    this.connected = true;
    await this.reconcile('start');
    this.started = true;
  }

  /** Sends an intent the risk gate passed; returns once the venue's answer (or the give-up) is published. */
  submit(intent: OrderIntent): Promise<void> {
    return this.exclusive(() => this.place(intent));
  }

  /** Cancels an order Sluice follows; an order it does not follow, or one closed, is left alone. */
  cancel(orderId: string): Promise<void> {
    return this.exclusive(() => this.cancelOrder(orderId));
  }

  /** Reads the venue's books and settles every difference (see reconcile.ts); returns the outcome. */
  reconcile(trigger: ReconciliationTrigger): Promise<Reconciliation> {
    return this.exclusive(() => this.reconcileNow(trigger));
  }

  async close(): Promise<void> {
    for (const unsubscribe of this.unsubscribe) unsubscribe();
    await this.queue.catch(() => undefined);
    await this.broker.close();
  }

  status(): BrokerDriverStatus {
    return {
      connected: this.connected,
      ...this.counts,
      rejects: { ...this.rejects },
      differences: { ...this.differences },
      lastReconciliation: this.lastReconciliation,
    };
  }

  /** Orders still open, as Sluice knows them (ctl.execution.orders). */
  openOrders(): BrokerOrderState[] {
    return this.state().orders;
  }

  /** Sluice's positions from its fills (ctl.execution.positions). */
  positionBook(): { symbol: string; quantity: number }[] {
    return [...this.positions]
      .filter(([, quantity]) => Math.abs(quantity) > QUANTITY_EPSILON)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([symbol, quantity]) => ({ symbol, quantity }));
  }

  /** The venue's open orders and positions as it states them now (the operator's side-by-side view). */
  async venueView(): Promise<{ orders: VenueOrder[]; positions: { symbol: string; quantity: number }[] }> {
    const [orders, positions] = await Promise.all([
      retrying(this.policy, this.sleep, () => this.broker.openOrders()),
      retrying(this.policy, this.sleep, () => this.broker.positions()),
    ]);
    return { orders, positions: positions.map(({ symbol, quantity }) => ({ symbol, quantity })) };
  }

  state(): BrokerState {
    return {
      orders: [...this.orders.values()].map((order) => ({
        order_id: order.orderId,
        intent_id: order.intentId,
        ...(order.clientOrderId !== undefined ? { client_order_id: order.clientOrderId } : {}),
        ...(order.venueOrderId !== undefined ? { venue_order_id: order.venueOrderId } : {}),
        symbol: order.symbol,
        side: order.side,
        quantity: order.quantity,
        status: order.status,
        filled_quantity: order.filledQuantity,
        venue_fill_ids: [...order.venueFillIds],
        ...(order.intent ? { intent: order.intent } : {}),
        ...(order.followed ? { followed: followedState(order.followed) } : {}),
      })),
      positions: entries(this.positions),
      fillsSince: this.fillsSince,
      reconciliations: this.reconciliationCount,
      recentVenueFills: [...this.recentFills].map(([id, ts]) => ({ id, ts })),
      ...(this.commissions.size > 0 ? { commissions: entries(this.commissions) } : {}),
      ...(this.balanceBaselines.size > 0 ? { balanceBaselines: entries(this.balanceBaselines) } : {}),
    };
  }

  private restore(saved: BrokerState): void {
    for (const order of saved.orders) {
      const tracked: TrackedOrder = {
        orderId: order.order_id,
        intentId: order.intent_id,
        clientOrderId: order.client_order_id,
        venueOrderId: order.venue_order_id,
        symbol: order.symbol,
        side: order.side,
        quantity: order.quantity,
        status: order.status,
        filledQuantity: order.filled_quantity,
        venueFillIds: new Set(order.venue_fill_ids),
        // Not saved: the fills published add up to what the venue last said had filled.
        fillQuantity: order.filled_quantity,
        own: order.intent !== undefined,
        intent: order.intent && upgradeOrderIntent(order.intent),
        ...(order.followed ? { followed: followedOrderOf(order.followed) } : {}),
      };
      this.track(tracked);
    }
    for (const { symbol, quantity } of saved.positions) this.positions.set(symbol, quantity);
    for (const { symbol, quantity } of saved.commissions ?? []) this.commissions.set(symbol, quantity);
    for (const { symbol, quantity } of saved.balanceBaselines ?? [])
      this.balanceBaselines.set(symbol, quantity);
    for (const { id, ts } of saved.recentVenueFills) {
      this.recentFills.set(id, ts);
      this.newestFillTs = Math.max(this.newestFillTs, ts);
    }
    this.reconciliationCount = saved.reconciliations;
  }

  /** Runs `work` after everything queued before it; a failure is logged and does not stop the queue. */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work);
    this.queue = run.catch((error: unknown) => {
      this.options.logger?.error({ err: error }, 'broker work failed');
    });
    return run;
  }

  /** Queued work nobody awaits (venue updates, reconnects): its failure is logged, never unhandled. */
  private inBackground(work: () => Promise<unknown>): void {
    this.exclusive(work).catch(() => undefined);
  }

  private stamp(): ReportStamp {
    return { accountMode: this.broker.accountMode, receivedAt: this.options.clock.now() };
  }

  private track(order: TrackedOrder): void {
    this.orders.set(order.orderId, order);
    if (order.clientOrderId !== undefined) this.byClientId.set(order.clientOrderId, order);
    if (order.venueOrderId !== undefined) this.byVenueId.set(order.venueOrderId, order);
  }

  private untrack(order: TrackedOrder): void {
    this.orders.delete(order.orderId);
    if (order.clientOrderId !== undefined) this.byClientId.delete(order.clientOrderId);
    if (order.venueOrderId !== undefined) this.byVenueId.delete(order.venueOrderId);
  }

  private find(clientOrderId: string | undefined, venueOrderId: string): TrackedOrder | undefined {
    return (
      (clientOrderId !== undefined ? this.byClientId.get(clientOrderId) : undefined) ??
      this.byVenueId.get(venueOrderId)
    );
  }

  private retried(what: string, fault: VenueFault): void {
    this.counts.retries++;
    this.options.logger?.warn({ kind: fault.kind, err: fault.message }, `${what}: retrying`);
  }

  private async place(intent: OrderIntent): Promise<void> {
    const orderId = orderIdFor(intent.id);
    if (this.orders.has(orderId)) return;
    const order: TrackedOrder = {
      orderId,
      intentId: intent.id,
      clientOrderId: clientOrderIdFor(orderId),
      venueOrderId: undefined,
      symbol: intent.symbol,
      side: intent.side,
      quantity: intent.quantity,
      status: 'submitted',
      filledQuantity: 0,
      venueFillIds: new Set(),
      fillQuantity: 0,
      own: true,
      intent,
    };
    this.track(order);
    const stamp = this.stamp();
    await this.options.sink.publish([orderEvent(order, 'submitted', 0, stamp.receivedAt, stamp)]);
    // Saved before the request leaves: a crash from here on finds the order at the next reconciliation.
    await this.options.sink.save();
    await this.send(order);
    await this.options.sink.save();
  }

  /** Sends the order until the venue answers; see the header for each fault. */
  private async send(order: TrackedOrder): Promise<void> {
    const { intent, clientOrderId } = order;
    if (intent === undefined || clientOrderId === undefined) return;
    let uncertain = false;
    let last: VenueFault | undefined;
    for (let attempt = 1; attempt <= this.policy.maxAttempts; attempt++) {
      const sentAt = performance.now();
      let acknowledged: VenueOrder | undefined;
      try {
        acknowledged = await this.broker.submit(intent, clientOrderId);
      } catch (error) {
        last = asVenueFault(error);
      }
      if (acknowledged !== undefined) {
        this.counts.acknowledged++;
        this.options.onAcknowledged?.((performance.now() - sentAt) / 1000);
        await this.apply(order, acknowledged);
        return;
      }
      const fault = last ?? new VenueFault('unknown_outcome', 'no answer');
      if (fault.kind === 'rejected' && fault.details.rejectReason !== 'duplicate_client_order_id') {
        return this.reject(order, fault.details.rejectReason ?? 'other', fault.message);
      }
      if (fault.kind === 'unauthorised' || fault.kind === 'not_found') {
        if (fault.kind === 'unauthorised') await this.credentialsRefused(fault);
        return this.reject(order, fault.kind === 'unauthorised' ? 'unauthorised' : 'other', fault.message);
      }
      if (fault.kind === 'unknown_outcome' || fault.kind === 'rejected') {
        // No answer, or the venue already holds this client order id: ask before sending again.
        uncertain = true;
        const found = await this.lookup(clientOrderId);
        if (found === 'unreachable') break;
        if (found !== undefined) {
          this.counts.acknowledged++;
          await this.apply(order, found);
          return;
        }
      }
      if (attempt < this.policy.maxAttempts) {
        this.retried(`submit ${order.orderId}`, fault);
        await this.sleep(backoffMs(this.policy, attempt, fault));
      }
    }
    if (uncertain) {
      // It may exist at the venue: left submitted, the next reconciliation finds it or sends it again.
      this.options.logger?.error(
        { orderId: order.orderId, err: last?.message },
        'order outcome unknown after retries; left for the next reconciliation',
      );
      await this.options.sink.alert(
        'warning',
        'order_outcome_unknown',
        `order ${order.orderId} (${order.side} ${order.quantity} ${order.symbol}): no answer from ${this.venue} after ${this.policy.maxAttempts} tries (${last?.message}); the next reconciliation settles it`,
        { symbol: order.symbol, order_id: order.orderId },
      );
      return;
    }
    await this.reject(
      order,
      'venue_unavailable',
      `not sent after ${this.policy.maxAttempts} tries: ${last?.message}`,
    );
  }

  /** The order under `clientOrderId`, undefined when the venue has none, 'unreachable' when it did not say. */
  private async lookup(clientOrderId: string): Promise<VenueOrder | undefined | 'unreachable'> {
    try {
      return await retrying(
        this.policy,
        this.sleep,
        () => this.broker.orderByClientId(clientOrderId),
        (fault) => this.retried('order lookup', fault),
      );
    } catch (error) {
      this.options.logger?.warn({ err: asVenueFault(error).message, clientOrderId }, 'order lookup failed');
      return 'unreachable';
    }
  }

  private async reject(
    order: TrackedOrder,
    reason: RejectReason | 'unauthorised' | 'venue_unavailable',
    message: string,
  ) {
    this.rejects[reason] = (this.rejects[reason] ?? 0) + 1;
    order.status = 'rejected';
    this.untrack(order);
    const stamp = this.stamp();
    await this.options.sink.publish([
      orderEvent(order, 'rejected', order.filledQuantity, stamp.receivedAt, stamp, {
        reason: `${reason}: ${message}`,
        venueOrderId: order.venueOrderId,
      }),
    ]);
  }

  private async credentialsRefused(fault: VenueFault): Promise<void> {
    await this.options.sink.alert(
      'critical',
      'broker_unauthorised',
      `${this.venue} refused the credentials (${fault.message}); orders are rejected until they are fixed`,
      { venue: this.venue },
    );
  }

  private async cancelOrder(orderId: string): Promise<void> {
    const order = this.orders.get(orderId);
    if (order === undefined || isTerminal(order.status) || order.clientOrderId === undefined) return;
    const { clientOrderId, venueOrderId } = order;
    let after: VenueOrder | undefined | 'unreachable';
    try {
      after = await retrying(
        this.policy,
        this.sleep,
        () => this.broker.cancel(clientOrderId, venueOrderId),
        (fault) => this.retried(`cancel ${orderId}`, fault),
      );
    } catch (error) {
      const fault = asVenueFault(error);
      // Closed at the venue already (filled, most likely): its state says what became of it.
      if (fault.kind === 'not_found' || fault.kind === 'rejected') after = await this.lookup(clientOrderId);
      else {
        this.options.logger?.error({ orderId, err: fault.message }, 'cancel failed; the order stays open');
        return;
      }
    }
    if (after === undefined || after === 'unreachable') {
      if (after === undefined)
        this.options.logger?.warn({ orderId }, 'cancel: the venue does not know the order');
      return;
    }
    await this.apply(order, after);
    await this.options.sink.save();
  }

  /**
   * Takes the venue's state of an order: fills the venue counts that Sluice has not published are
   * fetched and published first (a cancel that lost the race with a fill), then its order event.
   */
  private async apply(order: TrackedOrder, state: VenueOrder): Promise<void> {
    if (order.venueOrderId === undefined && state.venueOrderId) {
      order.venueOrderId = state.venueOrderId;
      this.byVenueId.set(state.venueOrderId, order);
    }
    await this.learnLegs(order, state);
    if (state.filledQuantity > order.fillQuantity + QUANTITY_EPSILON) await this.catchUpFills(order);
    const status = nextStatus(order.status, order.filledQuantity, state.status, state.filledQuantity);
    if (status === undefined) {
      this.counts.duplicates += state.status === order.status ? 1 : 0;
      return;
    }
    order.status = status;
    order.filledQuantity = Math.max(order.filledQuantity, state.filledQuantity);
    if (isTerminal(status)) this.untrack(order);
    await this.options.sink.publish([orderEventFromVenue(order, state, this.stamp(), status)]);
  }

  /** The legs of a bracket become orders Sluice follows, under their parent's child ids. */
  private async learnLegs(parent: TrackedOrder, state: VenueOrder): Promise<void> {
    for (const leg of state.legs) {
      if (this.find(leg.clientOrderId, leg.venueOrderId) !== undefined) continue;
      await this.follow(this.followedOrder(legRef(parent, leg), leg, 'leg'));
    }
  }

  /** Tracks an order without an intent of its own, and tells the actor before any report of it. */
  private async follow(order: TrackedOrder): Promise<void> {
    this.track(order);
    if (order.followed) await this.options.sink.followed(order, order.followed);
  }

  /** The fills of `order` the venue has and Sluice has not published. */
  private async catchUpFills(order: TrackedOrder): Promise<void> {
    let fills: VenueFill[];
    try {
      fills = await this.readFillsOf(order);
    } catch (error) {
      this.options.logger?.warn(
        { orderId: order.orderId, err: asVenueFault(error).message },
        'fills not read',
      );
      return;
    }
    for (const fill of fills) await this.publishFill(order, fill);
  }

  /**
   * An order placed by hand and done before any reconciliation saw it open: no unknownOrders policy is
   * left to apply, so it is adopted whole, followed (its orders row) before its fills are published and
   * its final state applied.
   */
  private async adoptFinished(state: VenueOrder): Promise<TrackedOrder> {
    const adopted = this.followedOrder(adoptedRef(this.venue, state), state, 'venue');
    await this.follow(adopted);
    return adopted;
  }

  /** Publishes one venue fill of `ref` unless it was published before. */
  private async publishFill(
    ref: OrderRef,
    fill: VenueFill,
    tracked = this.orders.get(ref.orderId),
  ): Promise<void> {
    if (this.recentFills.has(fill.venueFillId) || tracked?.venueFillIds.has(fill.venueFillId)) {
      this.counts.duplicates++;
      return;
    }
    const report = fillFromVenue(ref, fill, this.stamp());
    if (typeof report === 'string') {
      this.counts.invalid++;
      this.options.logger?.error(
        { orderId: ref.orderId, problem: report },
        'venue fill dropped: breaks the fill contract',
      );
      return;
    }
    if (tracked) {
      tracked.venueFillIds.add(fill.venueFillId);
      tracked.fillQuantity += fill.quantity;
    }
    this.positions.set(
      fill.symbol,
      (this.positions.get(fill.symbol) ?? 0) + signedQuantity(fill.side, fill.quantity),
    );
    if (fill.baseCommission) {
      this.commissions.set(fill.symbol, (this.commissions.get(fill.symbol) ?? 0) + fill.baseCommission);
    }
    this.remember(fill);
    await this.options.sink.publish([report]);
  }

  private remember(fill: VenueFill): void {
    this.recentFills.set(fill.venueFillId, fill.ts);
    if (fill.ts > this.fillsSince) this.fillsSince = fill.ts;
    this.newestFillTs = Math.max(this.newestFillTs, fill.ts);
    const cutoff = this.newestFillTs - FILL_MEMORY_MS;
    for (const [id, ts] of this.recentFills) {
      if (ts >= cutoff && this.recentFills.size <= FILL_MEMORY_LIMIT) break;
      this.recentFills.delete(id);
    }
  }

  private async onUpdate(update: VenueUpdate): Promise<void> {
    const { order: state, fill } = update;
    const order = this.find(state.clientOrderId, state.venueOrderId);
    if (order === undefined && fill !== undefined && isTerminal(state.status)) {
      if (this.recentFills.has(fill.venueFillId)) {
        this.counts.duplicates++;
        return;
      }
      const adopted = await this.adoptFinished(state);
      await this.publishFill(adopted, fill, adopted);
      await this.apply(adopted, state);
      await this.options.sink.save();
      return;
    }
    if (order === undefined) {
      // Not Sluice's: its fill is a fact (adopted as such); the order itself goes to reconciliation,
      // which applies the unknownOrders policy with the venue's whole book in view.
      if (fill !== undefined) await this.publishFill(adoptedRef(this.venue, state), fill);
      if (!isTerminal(state.status) && !this.settledUnknown.has(state.venueOrderId)) {
        await this.reconcileNow('unknown_order');
      }
      await this.options.sink.save();
      return;
    }
    if (fill !== undefined) await this.publishFill(order, fill, order);
    await this.apply(order, state);
    await this.options.sink.save();
  }

  private onConnection(state: 'connected' | 'disconnected'): void {
    const was = this.connected;
    this.connected = state === 'connected';
    if (was === this.connected) return;
    this.options.logger?.warn({ venue: this.venue, state }, `broker stream ${state}`);
    // Updates sent while the stream was down are lost: the venue's books say what happened.
    if (this.connected && this.started) this.inBackground(() => this.reconcileNow('reconnect'));
  }

  private async reconcileNow(trigger: ReconciliationTrigger): Promise<Reconciliation> {
    // Counted and saved before anything is published: after a crash the next one has another number.
    const sequence = ++this.reconciliationCount;
    await this.options.sink.save();
    const message = (
      outcome: Reconciliation['outcome'],
      differences: ReconciliationDifference[],
    ): Reconciliation => {
      const now = this.options.clock.now();
      return {
        schema: 'reconciliation.v1',
        id: reconciliationIdFor(this.venue, sequence, trigger, outcome),
        ts_event: now,
        ts_init: now,
        venue: this.venue,
        account_mode: this.broker.accountMode,
        trigger,
        outcome,
        differences,
        fills_since: Math.max(this.fillsSince - FILL_READ_MARGIN_MS, 0),
      };
    };
    if (trigger === 'start' || trigger === 'reconnect')
      await this.options.sink.reconciliation(message('reconciling', []));
    let books: VenueBooks | undefined;
    let unreachable: VenueFault | undefined;
    try {
      books = await this.readVenue();
    } catch (error) {
      unreachable = asVenueFault(error);
    }
    const result = books
      ? message(...(await this.settleWithVenue(books)))
      : message('mismatch', [
          {
            kind: 'venue_unreachable',
            resolution: 'unexplained',
            detail: `${this.venue}: ${unreachable?.kind}: ${unreachable?.message}`,
          },
        ]);
    this.counts.reconciliations++;
    for (const { kind, resolution } of result.differences) {
      const key = `${kind}:${resolution}`;
      this.differences[key] = (this.differences[key] ?? 0) + 1;
    }
    this.lastReconciliation = result;
    await this.options.sink.save();
    await this.options.sink.reconciliation(result);
    return result;
  }

  /** Reads the venue's books, reconciles, acts on the plan; returns the outcome and its differences. */
  private async settleWithVenue(read: VenueBooks): Promise<['ok' | 'mismatch', ReconciliationDifference[]]> {
    let books = read;
    let plan = reconcile(this.book(), books, this.options.unknownOrders);
    if (!plan.ok && plan.differences.some((difference) => difference.kind === 'position')) {
      // A fill between reading the positions and reading the fills looks like a difference: read again
      // (kept as it was when the venue does not answer the second time).
      const again = await this.readVenue().catch(() => undefined);
      if (again) {
        books = again;
        plan = reconcile(this.book(), books, this.options.unknownOrders);
      }
    }
    const differences = [...plan.differences];
    for (const [symbol, baseline] of plan.newBaselines) {
      this.balanceBaselines.set(symbol, baseline);
      this.options.logger?.info(
        { symbol, baseline },
        `${symbol}: the balance held ${baseline} beyond Sluice's fills at the first reconciliation; compared net of it from now on`,
      );
    }
    // Orders placed by hand that are adopted are followed before their fills are published, so the
    // fills count as theirs.
    const adopted = plan.unknown.filter((unknown) => unknown.action === 'adopt');
    for (const { order, ref } of adopted) await this.follow(this.followedOrder(ref, order, 'venue'));
    const finished = await this.finishedHandOrders(plan.fills);
    for (const state of finished) await this.adoptFinished(state);
    for (const { ref, fill } of plan.fills) await this.publishFill(ref, fill);
    for (const state of finished) {
      const tracked = this.orders.get(adoptedRef(this.venue, state).orderId);
      if (tracked) await this.apply(tracked, state);
    }
    for (const { orderId, order } of plan.orderStates) {
      const tracked = this.orders.get(orderId);
      if (tracked) await this.apply(tracked, order);
    }
    for (const { order, ref } of adopted) {
      const tracked = this.orders.get(ref.orderId);
      if (tracked === undefined) continue;
      // Its fills so far are published (by this plan, or on the stream before it was adopted).
      tracked.fillQuantity = Math.max(tracked.fillQuantity, order.filledQuantity);
      await this.apply(tracked, order);
    }
    for (const { order } of plan.unknown.filter((unknown) => unknown.action === 'flag')) {
      this.settledUnknown.add(order.venueOrderId);
    }
    for (const { order } of plan.unknown.filter((unknown) => unknown.action === 'cancel')) {
      this.settledUnknown.add(order.venueOrderId);
      if (await this.cancelUnknown(order)) continue;
      const index = differences.findIndex(
        (difference) =>
          difference.kind === 'unknown_order' && difference.venue_order_id === order.venueOrderId,
      );
      const difference = differences[index];
      if (difference) {
        differences[index] = {
          ...difference,
          resolution: 'unexplained',
          detail: `${difference.detail}; the cancel failed`,
        };
      }
    }
    for (const orderId of plan.missing) {
      const tracked = this.orders.get(orderId);
      if (tracked === undefined) continue;
      tracked.status = 'canceled';
      this.untrack(tracked);
      await this.options.sink.publish([
        orderEvent(tracked, 'canceled', tracked.filledQuantity, books.readAt, this.stamp(), {
          reason: 'the venue has no record of the order',
          venueOrderId: tracked.venueOrderId,
        }),
      ]);
    }
    for (const orderId of plan.resubmit) {
      const tracked = this.orders.get(orderId);
      if (tracked) await this.send(tracked);
    }
    const ok = differences.every((difference) => difference.resolution !== 'unexplained');
    return [ok ? 'ok' : 'mismatch', differences];
  }

  /**
   * The venue's states of the orders behind missed fills that Sluice does not follow, where the order
   * is over (placed by hand and done between two looks at the venue's open orders); an order still
   * open is left to the unknownOrders policy, one the venue does not describe to its fill alone.
   */
  private async finishedHandOrders(
    fills: readonly { ref: OrderRef; fill: VenueFill }[],
  ): Promise<VenueOrder[]> {
    const finished = new Map<string, VenueOrder>();
    for (const { ref, fill } of fills) {
      if (this.orders.has(ref.orderId) || finished.has(fill.venueOrderId)) continue;
      if (fill.clientOrderId === undefined) continue;
      const state = await this.lookup(fill.clientOrderId);
      if (state === undefined || state === 'unreachable' || !isTerminal(state.status)) continue;
      finished.set(fill.venueOrderId, state);
    }
    return [...finished.values()];
  }

  /**
   * An order at the venue without an intent in Sluice (a bracket's leg, one placed by hand), followed
   * from now on as `ref` (its state comes with the next apply).
   */
  private followedOrder(ref: OrderRef, state: VenueOrder, origin: FollowedOrder['origin']): TrackedOrder {
    return {
      ...ref,
      clientOrderId: state.clientOrderId,
      venueOrderId: state.venueOrderId,
      status: 'submitted',
      filledQuantity: 0,
      venueFillIds: new Set(),
      fillQuantity: 0,
      own: false,
      intent: undefined,
      followed: {
        origin,
        since: state.updatedAt,
        orderType: state.orderType,
        limitPrice: state.limitPrice,
        stopPrice: state.stopPrice,
      },
    };
  }

  /** Cancels an order Sluice did not place; false when the cancel did not go through. */
  private async cancelUnknown(state: VenueOrder): Promise<boolean> {
    try {
      await retrying(
        this.policy,
        this.sleep,
        () => this.broker.cancel(state.clientOrderId ?? '', state.venueOrderId),
        (fault) => this.retried(`cancel of unknown order ${state.venueOrderId}`, fault),
      );
      return true;
    } catch (error) {
      const fault = asVenueFault(error);
      // Gone already (filled or cancelled by hand meanwhile): nothing left open.
      if (fault.kind === 'not_found') return true;
      this.options.logger?.error(
        { venueOrderId: state.venueOrderId, err: fault.message },
        'cancel of an unknown order failed',
      );
      return false;
    }
  }

  private book(): SluiceBook {
    return {
      venue: this.venue,
      orders: [...this.orders.values()],
      positions: this.positions,
      publishedFillIds: new Set(this.recentFills.keys()),
      commissions: this.commissions,
      balanceBaselines: this.balanceBaselines,
    };
  }

  /**
   * The venue's books: open orders (bracket legs learned on the way), fills since the last one known,
   * positions, and what became of each order Sluice holds open that the venue no longer lists. An order
   * whose fills at the venue exceed those published gets its own fills read from when it began, which
   * may be before the last fill known.
   */
  private async readVenue(): Promise<VenueBooks> {
    const read = <T>(what: string, request: () => Promise<T>) =>
      retrying(this.policy, this.sleep, request, (fault) => this.retried(what, fault));
    const since = Math.max(this.fillsSince - FILL_READ_MARGIN_MS, 0);
    const openOrders = await read('open orders', () => this.broker.openOrders());
    const fills = await this.readFills('fills', since);
    const positions = await read('positions', () => this.broker.positions());
    const states = new Map<TrackedOrder, VenueOrder>();
    for (const state of withLegs(openOrders)) {
      const order = this.find(state.clientOrderId, state.venueOrderId);
      if (order === undefined) continue;
      states.set(order, state);
      await this.learnLegs(order, state);
    }
    const closed = new Map<string, VenueOrder | undefined>();
    for (const order of [...this.orders.values()]) {
      const { clientOrderId } = order;
      if (states.has(order) || clientOrderId === undefined) continue;
      const state = await read('order lookup', () => this.broker.orderByClientId(clientOrderId));
      closed.set(clientOrderId, state);
      if (state === undefined) continue;
      states.set(order, state);
      await this.learnLegs(order, state);
    }
    const behind = [...states].filter(
      ([order, state]) => state.filledQuantity > order.fillQuantity + QUANTITY_EPSILON,
    );
    let older: VenueFill[] = [];
    if (this.broker.fillsOfOrder !== undefined) {
      for (const [order, state] of behind) older.push(...(await this.readFillsOf(order, state.venueOrderId)));
    } else {
      // By time, once for all of them, from the first one's start by Sluice's clock.
      const begun =
        Math.min(...behind.map(([order]) => order.intent?.ts_init ?? since)) - FILL_READ_MARGIN_MS;
      if (behind.length > 0 && begun < since) {
        const venueOrderIds = new Set(behind.map(([, state]) => state.venueOrderId));
        const read = await this.readFills('fills', Math.max(begun, 0));
        older = read.filter((fill) => venueOrderIds.has(fill.venueOrderId));
      }
    }
    return {
      openOrders,
      positions,
      fills: [...older, ...fills].sort((a, b) => a.ts - b.ts),
      closed,
      readAt: this.options.clock.now(),
    };
  }

  /**
   * The venue's fills of `order`: looked up by its venue id where the venue can (no clock involved),
   * else read by time from when it began by Sluice's clock, less a margin for the venue's.
   */
  private async readFillsOf(order: TrackedOrder, venueOrderId = order.venueOrderId): Promise<VenueFill[]> {
    const what = `fills of ${order.orderId}`;
    if (venueOrderId !== undefined && this.broker.fillsOfOrder !== undefined) {
      const fillsOfOrder = this.broker.fillsOfOrder.bind(this.broker);
      const fills = await retrying(
        this.policy,
        this.sleep,
        () => fillsOfOrder(order.symbol, venueOrderId),
        (fault) => this.retried(what, fault),
      );
      if (fills !== undefined) return fills;
    }
    const since = Math.min(order.intent?.ts_init ?? this.fillsSince, this.fillsSince) - FILL_READ_MARGIN_MS;
    const fills = await this.readFills(what, Math.max(since, 0));
    return fills.filter(
      (fill) =>
        (venueOrderId !== undefined && fill.venueOrderId === venueOrderId) ||
        (order.clientOrderId !== undefined && fill.clientOrderId === order.clientOrderId),
    );
  }

  private readFills(what: string, since: number): Promise<VenueFill[]> {
    return retrying(
      this.policy,
      this.sleep,
      () => this.broker.fillsSince(since),
      (fault) => this.retried(what, fault),
    );
  }
}

/** A per-symbol total as the snapshot keeps it. */
function entries(totals: ReadonlyMap<string, number>): { symbol: string; quantity: number }[] {
  return [...totals].map(([symbol, quantity]) => ({ symbol, quantity }));
}

function followedState(order: FollowedOrder): NonNullable<BrokerOrderState['followed']> {
  return {
    origin: order.origin,
    since: order.since,
    order_type: order.orderType,
    ...(order.limitPrice !== undefined ? { limit_price: order.limitPrice } : {}),
    ...(order.stopPrice !== undefined ? { stop_price: order.stopPrice } : {}),
  };
}

export function followedOrderOf(saved: NonNullable<BrokerOrderState['followed']>): FollowedOrder {
  return {
    origin: saved.origin,
    since: saved.since,
    orderType: saved.order_type,
    limitPrice: saved.limit_price,
    stopPrice: saved.stop_price,
  };
}
