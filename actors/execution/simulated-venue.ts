// A venue simulated in event time for paper trading and backtests. Orders reach the venue after the
// latency model's delay and are matched only against market events stamped at or after that, so a
// strategy can never trade on the tick that caused its signal. All randomness sits in the injected
// models, so the same inputs and seed give the same reports, byte for byte.
//
// Order types and time in force, triggered only by market data (trades, quotes, bars):
// - stop / stop_limit wait for the market to reach the stop price (stopTriggerPrice: a buy stop at or
//   above, a sell stop at or below; a bar by its range, a gap filling at the open), then work as a
//   market / a limit order from that event on;
// - ioc fills what the first event it meets offers and cancels the rest; fok fills all of it on that
//   event or nothing (cancelled); both count from the trigger for a stop;
// - day expires at the close of the session it was sent in, on the venue's calendar (`nyse`: 16:00
//   New York, 13:00 on early closes); on `24x7` (the default) a day never ends, so it works as gtc.
// - reduce_only: a fill never takes more than the position the venue's own fills built on the other
//   side; an order with nothing left to reduce is cancelled with the reason.
// Brackets: once the entry fills (in part or whole) the venue works its stop-loss and take-profit as
// reduce-only gtc children on the filled quantity, under bracketChildIdFor(entry, leg) with the entry's
// intent id, as a broker's legs are reported (venue-reports.ts legRef). One-cancels-other: the first
// fill of one cancels the other. When a bar reaches both, the stop-loss fills first (conservative: the
// path inside a bar is unknown, and the labels, which see closes only, never count a bar twice).
// Cancelling the entry cancels its children; an entry whose cancel is pending gets none (whoever
// cancelled it is closing the position or halting).
import { bracketChildIdFor, fillIdFor, orderEventIdFor, orderIdFor } from '../../core/lineage-ids.ts';
import type { Bar, Fill, OrderEvent, OrderIntent, QuoteTick, TradeTick } from '../../schemas/messages.ts';
import { orderIntentProblem } from '../../schemas/order-intent.ts';
import type { SimulatedVenueOrderState, SimulatedVenueState } from '../../schemas/snapshots.ts';
import type { TradingCalendar } from '../feed/calendar.ts';
import type { BrokerAdapter, ExecutionReport, OpenOrder } from './broker-adapter.ts';
import { isTerminal, Order } from './order.ts';
import {
  availableSize,
  type FeeModel,
  type FillModel,
  type LatencyModel,
  type MarketEvent,
  type OrderView,
  type SlippageModel,
  stopTriggerPrice,
} from './venue-models.ts';
import { QUANTITY_EPSILON, signedQuantity } from './venue-reports.ts';

/** What most market events produce: shared, so a tick replay allocates no empty list per tick. */
const NO_REPORTS: readonly ExecutionReport[] = Object.freeze([]);
const DAY_MS = 86_400_000;

/** What an order works as once triggered (from the start, for all but stops). */
const TRIGGERED_AS: Readonly<Record<OrderIntent['order_type'], OrderIntent['order_type']>> = {
  market: 'market',
  limit: 'limit',
  stop: 'market',
  stop_limit: 'limit',
};

/** Reasons the venue gives on order events of reduce-only orders it shrank or ended. */
export const REDUCE_ONLY_NOTHING = 'reduce_only: no position on the other side to reduce';
export const REDUCE_ONLY_DONE = 'reduce_only: the position is closed';

export interface SimulatedVenueOptions {
  venue?: string;
  latency: LatencyModel;
  fill: FillModel;
  slippage: SlippageModel;
  fee: FeeModel;
  /** When day orders expire: at this calendar's session close; absent or 24x7, never. */
  calendar?: TradingCalendar;
}

type BracketLeg = 'take_profit' | 'stop_loss';

interface VenueOrder {
  readonly order: Order;
  readonly arrivalTs: number;
  arrived: boolean;
  looked: boolean;
  /** False for a stop or stop-limit until the market reaches its stop price. */
  triggered: boolean;
  cancelAt: number;
  /** A day order's session close; infinity otherwise. */
  readonly expiresAt: number;
  events: number;
  fills: number;
  /** A bracket entry's children once it filled (stop-loss first: its priority in a bar). */
  children: readonly VenueOrder[] | undefined;
  /** A bracket child's entry and leg. */
  parent: { readonly entry: VenueOrder; readonly leg: BracketLeg } | undefined;
  /** A bracket child's other leg. */
  sibling: VenueOrder | undefined;
}

export class SimulatedVenue implements BrokerAdapter {
  readonly venue: string;
  readonly accountMode = 'simulated' as const;
  private readonly options: SimulatedVenueOptions;
  /** Every order by id, in submission order (a bracket's children after their entry). */
  private readonly orders = new Map<string, VenueOrder>();
  /** Open orders per symbol in submission order, which is also their matching priority. */
  private readonly open = new Map<string, VenueOrder[]>();
  private readonly quotes = new Map<string, { bid: number; ask: number }>();
  /** Signed position per symbol from this venue's fills: what reduce-only orders may take off. */
  private readonly positions = new Map<string, number>();
  private positionsKnown = true;
  private readonly listeners = new Set<(report: ExecutionReport) => void>();

  constructor(options: SimulatedVenueOptions) {
    this.venue = options.venue ?? 'SIM';
    this.options = options;
  }

  /**
   * A venue rebuilt from a snapshot without its books (from before they were saved) has not seen the
   * fills before it: from then on it takes reduce-only orders at their quantity (the risk gate, which
   * knows the positions, sized them).
   */
  forgetPositions(): void {
    this.positionsKnown = false;
  }

  submit(intent: OrderIntent, now: number): ExecutionReport[] {
    if (this.orders.has(orderIdFor(intent.id))) return [];
    const entry = this.track(new Order(intent), now + this.options.latency.delayMs(), now);
    const refusal = refusalOf(intent);
    if (refusal !== undefined) {
      entry.order.transition('denied');
      return [this.orderEvent(entry, now, refusal)];
    }
    entry.order.transition('submitted');
    this.work(entry);
    return [this.orderEvent(entry, now)];
  }

  /** Cancels the order and, for a bracket entry, its working children. */
  cancel(orderId: string, now: number): ExecutionReport[] {
    const entry = this.orders.get(orderId);
    if (entry === undefined) return [];
    const reports: ExecutionReport[] = [];
    for (const target of [entry, ...(entry.children ?? [])]) {
      if (!target.order.canTransition('pending_cancel')) continue;
      target.order.transition('pending_cancel');
      target.cancelAt = now + this.options.latency.delayMs();
      reports.push(this.orderEvent(target, now));
    }
    return reports;
  }

  openOrders(): OpenOrder[] {
    const out: OpenOrder[] = [];
    for (const list of this.open.values()) {
      for (const { order } of list) {
        out.push({
          order_id: order.id,
          intent_id: order.intent.id,
          symbol: order.symbol,
          side: order.side,
          quantity: order.quantity,
          filled_quantity: order.filledQuantity,
          status: order.status,
        });
      }
    }
    return out;
  }

  /**
   * Venue-initiated reports are returned by onTrade/onQuote/onBar/advanceTo and also delivered here;
   * a binding uses one of the two, not both.
   */
  onReport(listener: (report: ExecutionReport) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onTrade(tick: TradeTick): readonly ExecutionReport[] {
    // Most ticks meet no working order: skip building the market view for them.
    if (this.open.size === 0 || !this.open.has(tick.symbol)) return NO_REPORTS;
    return this.onMarket(tick.symbol, tick.ts_event, { kind: 'trade', price: tick.price, size: tick.size });
  }

  onQuote(quote: QuoteTick): readonly ExecutionReport[] {
    this.quotes.set(quote.symbol, { bid: quote.bid, ask: quote.ask });
    return this.onMarket(quote.symbol, quote.ts_event, {
      kind: 'quote',
      bid: quote.bid,
      ask: quote.ask,
      bidSize: quote.bid_size,
      askSize: quote.ask_size,
    });
  }

  /** A bar as of its close (ts_event): orders meet its open, stops and resting limits its range. */
  onBar(bar: Bar): readonly ExecutionReport[] {
    if (this.open.size === 0 || !this.open.has(bar.symbol)) return NO_REPORTS;
    const { open, high, low, close, volume } = bar;
    return this.onMarket(bar.symbol, bar.ts_event, { kind: 'bar', open, high, low, close, volume });
  }

  /** Lets arrivals, cancels and expiries due by `ts` take effect without a market event (timers in event time). */
  advanceTo(ts: number): readonly ExecutionReport[] {
    if (this.open.size === 0) return NO_REPORTS;
    const reports: ExecutionReport[] = [];
    for (const list of this.open.values()) this.settle(list, ts, reports);
    this.pruneAndPublish(reports);
    return reports;
  }

  /**
   * What a restart needs to go on as if uninterrupted (execution_state.v2's simulatedVenue). Bounded:
   * an ended order is kept only while it is the entry of a working child or a child of a working
   * entry.
   */
  state(): SimulatedVenueState {
    const orders: SimulatedVenueOrderState[] = [];
    for (const entry of this.orders.values()) {
      const { order, parent } = entry;
      const kept =
        order.isOpen ||
        entry.children?.some((child) => child.order.isOpen) === true ||
        parent?.entry.order.isOpen === true;
      if (!kept) continue;
      orders.push({
        order_id: order.id,
        ...(parent === undefined
          ? { intent: order.intent }
          : { bracket_parent: { order_id: parent.entry.order.id, leg: parent.leg } }),
        status: order.status,
        quantity: order.quantity,
        filled_quantity: order.filledQuantity,
        arrival_ts: entry.arrivalTs,
        arrived: entry.arrived,
        looked: entry.looked,
        triggered: entry.triggered,
        ...(Number.isFinite(entry.cancelAt) ? { cancel_at: entry.cancelAt } : {}),
        ...(Number.isFinite(entry.expiresAt) ? { expires_at: entry.expiresAt } : {}),
        events: entry.events,
        fills: entry.fills,
      });
    }
    return {
      orders,
      positions: [...this.positions]
        .filter(([, quantity]) => quantity !== 0)
        .map(([symbol, quantity]) => ({ symbol, quantity })),
      quotes: [...this.quotes].map(([symbol, { bid, ask }]) => ({ symbol, bid, ask })),
    };
  }

  /**
   * Takes over a saved state; a fresh venue only. Returns why it refuses a state that could not have
   * come from a venue (and then takes none of it), or undefined.
   */
  restore(state: SimulatedVenueState): string | undefined {
    if (this.orders.size > 0) throw new Error('a simulated venue restores only before its first order');
    const restored = new Map<string, VenueOrder>();
    for (const saved of state.orders) {
      const entry = restoredOrder(saved, restored);
      if (typeof entry === 'string') return `simulatedVenue.orders ${saved.order_id}: ${entry}`;
      restored.set(entry.order.id, entry);
    }
    for (const entry of restored.values()) {
      if (entry.order.isOpen) continue;
      const linked =
        entry.children?.some((child) => child.order.isOpen) === true ||
        entry.parent?.entry.order.isOpen === true;
      if (!linked)
        return `simulatedVenue.orders ${entry.order.id}: ${entry.order.status}, with no working bracket order beside it`;
    }
    const positions = uniqueBySymbol(state.positions, 'positions');
    if (typeof positions === 'string') return positions;
    const quotes = uniqueBySymbol(state.quotes, 'quotes');
    if (typeof quotes === 'string') return quotes;
    for (const [id, entry] of restored) {
      this.orders.set(id, entry);
      if (entry.order.isOpen) this.work(entry);
    }
    for (const { symbol, quantity } of positions) this.positions.set(symbol, quantity);
    for (const { symbol, bid, ask } of quotes) this.quotes.set(symbol, { bid, ask });
    return undefined;
  }

  private track(order: Order, arrivalTs: number, now: number): VenueOrder {
    const entry: VenueOrder = {
      order,
      arrivalTs,
      arrived: false,
      looked: false,
      triggered: order.intent.order_type !== 'stop' && order.intent.order_type !== 'stop_limit',
      cancelAt: Number.POSITIVE_INFINITY,
      expiresAt: order.intent.time_in_force === 'day' ? this.sessionClose(now) : Number.POSITIVE_INFINITY,
      events: 0,
      fills: 0,
      children: undefined,
      parent: undefined,
      sibling: undefined,
    };
    this.orders.set(order.id, entry);
    return entry;
  }

  /** Adds an order to its symbol's working list (matched after those already there). */
  private work(entry: VenueOrder): void {
    const list = this.open.get(entry.order.symbol);
    if (list) list.push(entry);
    else this.open.set(entry.order.symbol, [entry]);
  }

  /** The close of the session `ts` falls in, or the next one's; never on a 24x7 calendar. */
  private sessionClose(ts: number): number {
    const calendar = this.options.calendar;
    if (calendar === undefined || calendar.name === '24x7') return Number.POSITIVE_INFINITY;
    const session = calendar.sessionsBetween(ts, ts + 10 * DAY_MS).find((s) => s.closeMs > ts);
    return session?.closeMs ?? Number.POSITIVE_INFINITY;
  }

  private onMarket(symbol: string, ts: number, event: MarketEvent): readonly ExecutionReport[] {
    const list = this.open.get(symbol);
    if (list === undefined || list.length === 0) return NO_REPORTS;
    const reports: ExecutionReport[] = [];
    this.settle(list, ts, reports);
    const quote = this.quotes.get(symbol);
    const { fill, slippage, fee } = this.options;
    let bought = 0;
    let sold = 0;
    // A bracket's children join the list when their entry fills and are matched on the same event.
    for (const entry of list) {
      const { order } = entry;
      if (!entry.arrived || !order.isOpen) continue;
      const intent = order.intent;
      let triggerPrice: number | undefined;
      if (!entry.triggered) {
        // A stop rests unseen by the fill model until the market reaches it.
        triggerPrice = stopTriggerPrice(event, order.side, intent.stop_price ?? Number.NaN);
        entry.looked = true;
        if (triggerPrice === undefined) continue;
        entry.triggered = true;
        entry.looked = false;
      }
      let available = availableSize(event, order.side) - (order.side === 'buy' ? bought : sold);
      const reducible = this.reducible(entry);
      if (reducible !== undefined) {
        if (reducible <= QUANTITY_EPSILON) {
          this.end(entry, ts, REDUCE_ONLY_NOTHING, reports);
          continue;
        }
        available = Math.min(available, reducible);
      }
      const view: OrderView = {
        side: order.side,
        orderType: TRIGGERED_AS[intent.order_type],
        limitPrice: intent.limit_price,
        leaves: order.leavesQuantity,
        firstLook: !entry.looked,
        triggerPrice: event.kind === 'bar' ? triggerPrice : undefined,
      };
      let match = fill.match(view, event, available);
      entry.looked = true;
      if (
        intent.time_in_force === 'fok' &&
        match !== undefined &&
        match.quantity < order.leavesQuantity - QUANTITY_EPSILON
      )
        match = undefined;
      if (match !== undefined) {
        let price = match.price;
        if (match.liquidity === 'taker') {
          price = slippage.apply(order.side, price, quote?.bid ?? Number.NaN, quote?.ask ?? Number.NaN);
          // Slippage never takes a limit order through its limit.
          const limit = intent.limit_price;
          if (limit !== undefined)
            price = order.side === 'buy' ? Math.min(price, limit) : Math.max(price, limit);
        }
        const quantity = order.fill(match.quantity);
        if (order.side === 'buy') bought += quantity;
        else sold += quantity;
        this.positions.set(symbol, (this.positions.get(symbol) ?? 0) + signedQuantity(order.side, quantity));
        reports.push(
          this.fillReport(
            entry,
            ts,
            quantity,
            price,
            fee.fee(quantity * price, match.liquidity),
            match.liquidity,
          ),
        );
        reports.push(this.orderEvent(entry, ts));
        if (entry.sibling?.order.isOpen)
          this.end(entry.sibling, ts, `one-cancels-other: ${order.id} filled`, reports);
        this.workChildren(entry, quantity, ts, reports);
        if (order.isOpen && reducible !== undefined && reducible - quantity <= QUANTITY_EPSILON)
          this.end(entry, ts, REDUCE_ONLY_DONE, reports);
      }
      const tif = intent.time_in_force;
      if (order.isOpen && (tif === 'ioc' || tif === 'fok'))
        this.end(entry, ts, tif === 'ioc' ? 'ioc remainder' : 'fok: not fillable in full at once', reports);
    }
    this.pruneAndPublish(reports);
    return reports;
  }

  /** What a reduce-only order may still take off the position, or undefined when it is not one (or positions are unknown). */
  private reducible(entry: VenueOrder): number | undefined {
    const { order } = entry;
    if (!order.intent.reduce_only || !this.positionsKnown) return undefined;
    const position = this.positions.get(order.symbol) ?? 0;
    return Math.max(0, order.side === 'buy' ? -position : position);
  }

  /** Cancels a working order at the venue's initiative, with the reason. */
  private end(entry: VenueOrder, ts: number, reason: string, reports: ExecutionReport[]): void {
    entry.order.transition('canceled');
    reports.push(this.orderEvent(entry, ts, reason));
  }

  /** The bracket's exits on what the entry has filled: made on its first fill, grown on the next ones. */
  private workChildren(entry: VenueOrder, filled: number, ts: number, reports: ExecutionReport[]): void {
    const bracket = entry.order.intent.bracket;
    if (bracket === undefined || entry.cancelAt !== Number.POSITIVE_INFINITY) return;
    if (entry.children !== undefined) {
      // One leg left working (the other was cancelled by a fill of it) or both: they cover the new fill.
      for (const child of entry.children) {
        if (!child.order.isOpen) continue;
        child.order.extend(filled);
        reports.push(this.orderEvent(child, ts));
      }
      return;
    }
    const stopLoss = this.child(entry, bracket, 'stop_loss', filled, ts);
    const takeProfit = this.child(entry, bracket, 'take_profit', filled, ts);
    stopLoss.sibling = takeProfit;
    takeProfit.sibling = stopLoss;
    entry.children = [stopLoss, takeProfit];
    for (const child of entry.children) {
      child.order.transition('submitted');
      child.order.transition('accepted');
      this.work(child);
      reports.push(this.orderEvent(child, ts));
    }
  }

  private child(
    entry: VenueOrder,
    bracket: NonNullable<OrderIntent['bracket']>,
    leg: BracketLeg,
    quantity: number,
    ts: number,
  ): VenueOrder {
    const terms = childTerms(entry.order.intent, bracket, leg, quantity);
    const child = this.track(new Order(terms, bracketChildIdFor(entry.order.id, leg)), ts, ts);
    child.parent = { entry, leg };
    child.arrived = true;
    // Resting from the start: the event that filled the entry does not make it a taker.
    child.looked = true;
    return child;
  }

  /** Applies arrivals, then cancels, then expiries due by `ts`, in submission order. */
  private settle(list: VenueOrder[], ts: number, reports: ExecutionReport[]): void {
    for (const entry of list) {
      const { order } = entry;
      if (!entry.arrived && entry.arrivalTs <= ts) {
        entry.arrived = true;
        if (order.canTransition('accepted')) {
          order.transition('accepted');
          reports.push(this.orderEvent(entry, entry.arrivalTs));
        }
      }
      if (!entry.arrived) continue;
      if (entry.cancelAt <= ts && order.canTransition('canceled')) {
        order.transition('canceled');
        reports.push(this.orderEvent(entry, Math.max(entry.cancelAt, entry.arrivalTs)));
      }
      if (entry.expiresAt <= ts && order.canTransition('expired')) {
        order.transition('expired');
        reports.push(
          this.orderEvent(entry, Math.max(entry.expiresAt, entry.arrivalTs), 'day order: session closed'),
        );
      }
    }
  }

  private pruneAndPublish(reports: ExecutionReport[]): void {
    if (reports.length === 0) return;
    for (const [symbol, list] of this.open) {
      const still = list.filter((entry) => entry.order.isOpen);
      // Only symbols with working orders stay, so a tick elsewhere costs one map lookup.
      if (still.length === 0) this.open.delete(symbol);
      else if (still.length !== list.length) this.open.set(symbol, still);
    }
    for (const listener of this.listeners) for (const report of reports) listener(report);
  }

  private orderEvent(entry: VenueOrder, ts: number, reason?: string): OrderEvent {
    const { order } = entry;
    entry.events++;
    return {
      schema: 'order_event.v1',
      id: orderEventIdFor(order.id, entry.events),
      ts_event: ts,
      ts_init: ts,
      order_id: order.id,
      intent_id: order.intent.id,
      symbol: order.symbol,
      status: order.status,
      filled_quantity: order.filledQuantity,
      leaves_quantity: order.leavesQuantity,
      reason,
      account_mode: 'simulated',
    };
  }

  private fillReport(
    entry: VenueOrder,
    ts: number,
    quantity: number,
    price: number,
    fee: number,
    liquidity: Fill['liquidity'],
  ): Fill {
    entry.fills++;
    const { order } = entry;
    return {
      schema: 'fill.v1',
      id: fillIdFor(order.id, entry.fills),
      ts_event: ts,
      ts_init: ts,
      order_id: order.id,
      symbol: order.symbol,
      side: order.side,
      quantity,
      price,
      fee,
      liquidity,
      account_mode: 'simulated',
    };
  }
}

/**
 * Why the venue denies an intent, or undefined: prices a type needs, missing or not positive, and
 * what the contract refuses (a bracket the wrong way round…), for an intent that reached the venue
 * without passing it.
 */
function refusalOf(intent: OrderIntent): string | undefined {
  const type = intent.order_type;
  const positive = (price: number | undefined) => price !== undefined && price > 0;
  if ((type === 'limit' || type === 'stop_limit') && !positive(intent.limit_price))
    return `${type} order without a positive limit_price`;
  if ((type === 'stop' || type === 'stop_limit') && !positive(intent.stop_price))
    return `${type} order without a positive stop_price`;
  const bracket = intent.bracket;
  if (
    bracket !== undefined &&
    !(
      positive(bracket.take_profit.limit_price) &&
      positive(bracket.stop_loss.stop_price) &&
      (bracket.stop_loss.limit_price === undefined || positive(bracket.stop_loss.limit_price))
    )
  )
    return 'bracket with a take-profit or stop-loss price that is not positive';
  return orderIntentProblem(intent);
}

/** A bracket child's terms: the entry's intent turned into the leg, reduce-only gtc on `quantity`. */
function childTerms(
  intent: OrderIntent,
  bracket: NonNullable<OrderIntent['bracket']>,
  leg: BracketLeg,
  quantity: number,
): OrderIntent {
  return {
    ...intent,
    side: intent.side === 'buy' ? 'sell' : 'buy',
    quantity,
    time_in_force: 'gtc',
    reduce_only: true,
    bracket: undefined,
    exit_after: undefined,
    exit_reason: leg,
    ...(leg === 'take_profit'
      ? { order_type: 'limit', limit_price: bracket.take_profit.limit_price, stop_price: undefined }
      : {
          order_type: bracket.stop_loss.limit_price === undefined ? 'stop' : 'stop_limit',
          stop_price: bracket.stop_loss.stop_price,
          limit_price: bracket.stop_loss.limit_price,
        }),
  };
}

/**
 * A saved order rebuilt (a child linked to its entry, restored before it), or why it could not have
 * come from a venue: quantities the matching would trip over, ids that are not the order's, terms the
 * venue would have denied.
 */
function restoredOrder(
  saved: SimulatedVenueOrderState,
  restored: ReadonlyMap<string, VenueOrder>,
): VenueOrder | string {
  if (restored.has(saved.order_id)) return 'saved twice';
  const { status, quantity, filled_quantity: filledQuantity } = saved;
  if (status === 'initialized' || status === 'denied') return `status ${status} is never kept`;
  if (filledQuantity > quantity) return `filled ${filledQuantity} of ${quantity}`;
  if (!isTerminal(status) && filledQuantity >= quantity) return `${status} with nothing left to fill`;
  let intent: OrderIntent;
  let parent: VenueOrder | undefined;
  const bracketParent = saved.bracket_parent;
  if (bracketParent === undefined) {
    if (saved.intent === undefined) return 'neither an intent nor a bracket entry';
    intent = saved.intent;
    if (saved.order_id !== orderIdFor(intent.id)) return `not the order of intent ${intent.id}`;
    if (quantity !== intent.quantity) return `quantity ${quantity}, its intent's ${intent.quantity}`;
    const refusal = refusalOf(intent);
    if (refusal !== undefined) return refusal;
  } else {
    if (saved.intent !== undefined) return 'a bracket child with an intent of its own';
    parent = restored.get(bracketParent.order_id);
    const bracket = parent?.order.intent.bracket;
    if (parent === undefined || bracket === undefined)
      return `bracket entry ${bracketParent.order_id} not saved before it`;
    if (saved.order_id !== bracketChildIdFor(parent.order.id, bracketParent.leg))
      return `not the ${bracketParent.leg} of ${parent.order.id}`;
    intent = childTerms(parent.order.intent, bracket, bracketParent.leg, quantity);
  }
  const type = intent.order_type;
  if (!saved.triggered && type !== 'stop' && type !== 'stop_limit') return `a ${type} order not triggered`;
  const entry: VenueOrder = {
    order: Order.restored(intent, saved.order_id, { status, quantity, filledQuantity }),
    arrivalTs: saved.arrival_ts,
    arrived: saved.arrived,
    looked: saved.looked,
    triggered: saved.triggered,
    cancelAt: saved.cancel_at ?? Number.POSITIVE_INFINITY,
    expiresAt: saved.expires_at ?? Number.POSITIVE_INFINITY,
    events: saved.events,
    fills: saved.fills,
    children: undefined,
    parent: parent && bracketParent && { entry: parent, leg: bracketParent.leg },
    sibling: undefined,
  };
  if (parent !== undefined) {
    const sibling = parent.children?.[0];
    if (sibling !== undefined) {
      sibling.sibling = entry;
      entry.sibling = sibling;
    }
    parent.children = [...(parent.children ?? []), entry];
  }
  return entry;
}

/** The saved per-symbol values, or why not: a symbol twice. */
function uniqueBySymbol<T extends { readonly symbol: string }>(
  values: readonly T[],
  field: string,
): readonly T[] | string {
  const seen = new Set<string>();
  for (const { symbol } of values) {
    if (seen.has(symbol)) return `simulatedVenue.${field}: ${symbol} twice`;
    seen.add(symbol);
  }
  return values;
}
