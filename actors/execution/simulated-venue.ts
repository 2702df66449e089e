// A venue simulated in event time for paper trading and backtests. Orders reach the venue after the
// latency model's delay and are matched only against market events stamped at or after that, so a
// strategy can never trade on the tick that caused its signal. All randomness sits in the injected
// models, so the same inputs and seed give the same reports, byte for byte.
import { fillIdFor, orderEventIdFor, orderIdFor } from '../../core/lineage-ids.ts';
import type { Fill, OrderEvent, OrderIntent, QuoteTick, TradeTick } from '../../schemas/messages.ts';
import type { BrokerAdapter, ExecutionReport, OpenOrder } from './broker-adapter.ts';
import { Order } from './order.ts';
import {
  availableSize,
  type FeeModel,
  type FillModel,
  type LatencyModel,
  type MarketEvent,
  type SlippageModel,
} from './venue-models.ts';

/** What most market events produce: shared, so a tick replay allocates no empty list per tick. */
const NO_REPORTS: readonly ExecutionReport[] = Object.freeze([]);

export interface SimulatedVenueOptions {
  venue?: string;
  latency: LatencyModel;
  fill: FillModel;
  slippage: SlippageModel;
  fee: FeeModel;
}

interface VenueOrder {
  readonly order: Order;
  readonly arrivalTs: number;
  arrived: boolean;
  looked: boolean;
  cancelAt: number;
  events: number;
  fills: number;
}

export class SimulatedVenue implements BrokerAdapter {
  readonly venue: string;
  readonly accountMode = 'simulated' as const;
  private readonly options: SimulatedVenueOptions;
  private readonly orders = new Map<string, VenueOrder>();
  /** Open orders per symbol in submission order, which is also their matching priority. */
  private readonly open = new Map<string, VenueOrder[]>();
  private readonly quotes = new Map<string, { bid: number; ask: number }>();
  private readonly listeners = new Set<(report: ExecutionReport) => void>();

  constructor(options: SimulatedVenueOptions) {
    this.venue = options.venue ?? 'SIM';
    this.options = options;
  }

  submit(intent: OrderIntent, now: number): ExecutionReport[] {
    if (this.orders.has(orderIdFor(intent.id))) return [];
    const order = new Order(intent);
    const entry: VenueOrder = {
      order,
      arrivalTs: now + this.options.latency.delayMs(),
      arrived: false,
      looked: false,
      cancelAt: Number.POSITIVE_INFINITY,
      events: 0,
      fills: 0,
    };
    this.orders.set(order.id, entry);
    if (intent.order_type === 'limit' && !(intent.limit_price !== undefined && intent.limit_price > 0)) {
      order.transition('denied');
      return [this.orderEvent(entry, now, 'limit order without a positive limit_price')];
    }
    order.transition('submitted');
    const list = this.open.get(intent.symbol);
    if (list) list.push(entry);
    else this.open.set(intent.symbol, [entry]);
    return [this.orderEvent(entry, now)];
  }

  cancel(orderId: string, now: number): ExecutionReport[] {
    const entry = this.orders.get(orderId);
    if (entry === undefined || !entry.order.canTransition('pending_cancel')) return [];
    entry.order.transition('pending_cancel');
    entry.cancelAt = now + this.options.latency.delayMs();
    return [this.orderEvent(entry, now)];
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
   * Venue-initiated reports are returned by onTrade/onQuote/advanceTo and also delivered here; a
   * binding uses one of the two, not both.
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

  /** Lets arrivals and cancels due by `ts` take effect without a market event (timers in event time). */
  advanceTo(ts: number): readonly ExecutionReport[] {
    if (this.open.size === 0) return NO_REPORTS;
    const reports: ExecutionReport[] = [];
    for (const list of this.open.values()) this.settle(list, ts, reports);
    this.pruneAndPublish(reports);
    return reports;
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
    for (const entry of list) {
      const { order } = entry;
      if (!entry.arrived || !order.isOpen) continue;
      const consumed = order.side === 'buy' ? bought : sold;
      const view = {
        side: order.side,
        orderType: order.intent.order_type,
        limitPrice: order.intent.limit_price,
        leaves: order.leavesQuantity,
        firstLook: !entry.looked,
      };
      const match = fill.match(view, event, availableSize(event, order.side) - consumed);
      entry.looked = true;
      if (match !== undefined) {
        let price = match.price;
        if (match.liquidity === 'taker') {
          price = slippage.apply(order.side, price, quote?.bid ?? Number.NaN, quote?.ask ?? Number.NaN);
          // Slippage never takes a limit order through its limit.
          const limit = order.intent.limit_price;
          if (limit !== undefined)
            price = order.side === 'buy' ? Math.min(price, limit) : Math.max(price, limit);
        }
        const quantity = order.fill(match.quantity);
        if (order.side === 'buy') bought += quantity;
        else sold += quantity;
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
      }
      if (order.isOpen && order.intent.time_in_force === 'ioc') {
        order.transition('canceled');
        reports.push(this.orderEvent(entry, ts, 'ioc remainder'));
      }
    }
    this.pruneAndPublish(reports);
    return reports;
  }

  /** Applies arrivals, then cancels, due by `ts`, in submission order. */
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
      if (entry.arrived && entry.cancelAt <= ts && order.canTransition('canceled')) {
        order.transition('canceled');
        reports.push(this.orderEvent(entry, Math.max(entry.cancelAt, entry.arrivalTs)));
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
