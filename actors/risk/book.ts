// The risk gate's own book, as NautilusTrader's RiskEngine keeps one: per symbol its position, the
// unfilled quantity of its working orders and its latest market data, fed from execution reports and
// market data instead of waiting for the portfolio; and the exposure of the whole book at reference
// prices, working orders counted at their worst.
//
// Each symbol's exposure contribution (worst-case gross, long and short notional at its reference
// price) is kept up to date when its price, position or working orders change; the totals are summed
// again, in symbol order as always, only when a contribution changed.
import { positionChange } from '../../core/fill-position.ts';
import type { Bar, Fill, OrderEvent, OrderIntent, QuoteTick, TradeTick } from '../../schemas/messages.ts';
import type { WorkingOrdersState } from '../../schemas/snapshots.ts';
import { isTerminal } from '../execution/order.ts';
import { RecentIds } from './recent-ids.ts';

export type Side = OrderIntent['side'];

/** What the book knows of one symbol, and the `rules` its user keeps for the symbol beside it. */
export interface BookEntry<Rules = unknown> {
  readonly symbol: string;
  /** Position in the book's symbol order and in the exposure contribution arrays. */
  readonly index: number;
  readonly rules: Rules;
  position: number;
  /** Unfilled quantity of working buy / sell orders. */
  workingBuy: number;
  workingSell: number;
  lastTrade: number;
  bid: number;
  ask: number;
  lastDataTs: number;
  volatility: number;
}

export interface Exposure {
  gross: number;
  netLong: number;
  netShort: number;
}

interface WorkingOrder {
  readonly entry: BookEntry;
  readonly side: Side;
  /** The signal it was passed for: a restored gate knows that signal as decided. */
  readonly signalId: string;
  /** Quantity that will ever fill: the order quantity, or what had filled when it ended. */
  quantity: number;
  filled: number;
}

/** The last trade, else the mid of a two-sided quote, else NaN. */
export function referencePrice(s: BookEntry): number {
  if (s.lastTrade > 0) return s.lastTrade;
  return s.bid > 0 && s.ask > 0 ? (s.bid + s.ask) / 2 : Number.NaN;
}

/**
 * `rulesFor` makes what a user of the book keeps per symbol beside the book (the gate: the symbol's
 * limits and throttles), so one map lookup finds both.
 */
export class PositionBook<Rules> {
  private readonly entries = new Map<string, BookEntry<Rules>>();
  /** Same objects as `entries`, in symbol order, for the exposure loop. */
  private readonly list: BookEntry<Rules>[] = [];
  private readonly working = new Map<string, WorkingOrder>();
  private readonly seenFills: RecentIds;
  /** Grows whenever the working orders change: the gate saves its snapshot when it moved. */
  private workingChanges = 0;

  private grossBySymbol = new Float64Array(64);
  private longBySymbol = new Float64Array(64);
  private shortBySymbol = new Float64Array(64);
  private stale = true;
  /** The totals, refreshed in place so reading them allocates nothing. */
  private readonly totals: Exposure = { gross: 0, netLong: 0, netShort: 0 };

  /** `fillMemory`: how many fill ids are remembered for duplicate detection. */
  constructor(
    private readonly rulesFor: (symbol: string) => Rules,
    fillMemory: number,
  ) {
    this.seenFills = new RecentIds(fillMemory);
  }

  /** The symbol's entry, or undefined for a symbol never seen on any input. */
  get(symbol: string): BookEntry<Rules> | undefined {
    return this.entries.get(symbol);
  }

  onTrade(tick: TradeTick): void {
    this.mark(tick.symbol, tick.price, tick.ts_event);
  }

  /** A bar marks at its close: the last known price at its ts_event. */
  onBar(bar: Bar): void {
    this.mark(bar.symbol, bar.close, bar.ts_event);
  }

  private mark(symbol: string, price: number, ts: number): void {
    const s = this.entry(symbol);
    s.lastTrade = price;
    if (ts > s.lastDataTs) s.lastDataTs = ts;
    this.contributionChanged(s);
  }

  onQuote(quote: QuoteTick): void {
    const s = this.entry(quote.symbol);
    s.bid = quote.bid;
    s.ask = quote.ask;
    if (quote.ts_event > s.lastDataTs) s.lastDataTs = quote.ts_event;
    this.contributionChanged(s);
  }

  setVolatility(symbol: string, volatility: number): void {
    this.entry(symbol).volatility = volatility;
  }

  /** Applies a fill to positions and working orders; a fill id seen before is ignored (false). */
  onFill(fill: Fill): boolean {
    if (!this.seenFills.add(fill.id)) return false;
    const s = this.entry(fill.symbol);
    s.position += positionChange(fill);
    this.contributionChanged(s);
    const order = this.working.get(fill.order_id);
    if (order === undefined) return true;
    this.workingChanges++;
    const applied = Math.min(fill.quantity, order.quantity - order.filled);
    order.filled += applied;
    this.release(order, applied);
    if (order.filled >= order.quantity) this.working.delete(fill.order_id);
    return true;
  }

  /**
   * Ends a working order on a terminal status. Its quantity shrinks to what had filled, so fills
   * still in flight keep counting against the limits until they arrive.
   */
  onOrderEvent(event: OrderEvent): void {
    if (!isTerminal(event.status)) return;
    const order = this.working.get(event.order_id);
    if (order === undefined) return;
    this.workingChanges++;
    const finalQuantity = Math.max(event.filled_quantity, order.filled);
    this.release(order, order.quantity - finalQuantity);
    order.quantity = finalQuantity;
    if (order.filled >= order.quantity) this.working.delete(event.order_id);
  }

  /** A passed order, working until its fills or a terminal event take it off. */
  addWorking(orderId: string, s: BookEntry, side: Side, quantity: number, signalId: string): void {
    if (side === 'buy') s.workingBuy += quantity;
    else s.workingSell += quantity;
    this.contributionChanged(s);
    this.working.set(orderId, { entry: s, side, signalId, quantity, filled: 0 });
    this.workingChanges++;
  }

  get workingRevision(): number {
    return this.workingChanges;
  }

  /**
   * The working orders in the order they were passed, and each symbol's unfilled totals as summed here
   * (a float residue of ended orders included), so a restored book counts exactly the same exposure.
   */
  saveWorking(): WorkingOrdersState {
    const orders = [...this.working].map(([orderId, o]) => ({
      orderId,
      symbol: o.entry.symbol,
      side: o.side,
      signalId: o.signalId,
      quantity: o.quantity,
      filled: o.filled,
    }));
    const totals = this.list
      .filter((s) => s.workingBuy !== 0 || s.workingSell !== 0)
      .map((s) => ({ symbol: s.symbol, buy: s.workingBuy, sell: s.workingSell }));
    return { orders, totals };
  }

  /** Takes back what saveWorking() returned (checked by the snapshot contract), before any order is passed. */
  restoreWorking(state: WorkingOrdersState): void {
    for (const o of state.orders) {
      const s = this.entry(o.symbol);
      this.working.set(o.orderId, {
        entry: s,
        side: o.side,
        signalId: o.signalId,
        quantity: o.quantity,
        filled: o.filled,
      });
    }
    for (const total of state.totals) {
      const s = this.entry(total.symbol);
      s.workingBuy = total.buy;
      s.workingSell = total.sell;
      this.contributionChanged(s);
    }
  }

  /** Replaces positions with reconciled ones. */
  reconcile(positions: readonly { symbol: string; quantity: number }[]): void {
    for (const s of this.list) s.position = 0;
    for (const p of positions) this.entry(p.symbol).position = p.quantity;
    for (const s of this.list) this.contributionChanged(s);
  }

  workingOrderIds(): string[] {
    return [...this.working.keys()];
  }

  position(symbol: string): number {
    return this.entries.get(symbol)?.position ?? 0;
  }

  /**
   * The totals, summed in symbol order. A symbol without position or working orders adds an exact
   * zero, which leaves a sum unchanged (a sum that starts at +0 is never −0), so the totals are the
   * same numbers a loop skipping those symbols gives. The object is the book's own, valid until the
   * book next changes.
   */
  exposure(): Readonly<Exposure> {
    if (!this.stale) return this.totals;
    const grossBySymbol = this.grossBySymbol;
    const longBySymbol = this.longBySymbol;
    const shortBySymbol = this.shortBySymbol;
    let gross = 0;
    let netLong = 0;
    let netShort = 0;
    for (let i = 0; i < this.list.length; i++) {
      gross += grossBySymbol[i]!;
      netLong += longBySymbol[i]!;
      netShort += shortBySymbol[i]!;
    }
    this.totals.gross = gross;
    this.totals.netLong = netLong;
    this.totals.netShort = netShort;
    this.stale = false;
    return this.totals;
  }

  /** The symbol's entry, made on first sight. */
  entry(symbol: string): BookEntry<Rules> {
    let s = this.entries.get(symbol);
    if (s === undefined) {
      s = {
        symbol,
        index: this.list.length,
        rules: this.rulesFor(symbol),
        position: 0,
        workingBuy: 0,
        workingSell: 0,
        lastTrade: Number.NaN,
        bid: Number.NaN,
        ask: Number.NaN,
        lastDataTs: Number.NEGATIVE_INFINITY,
        volatility: Number.NaN,
      };
      this.entries.set(symbol, s);
      this.list.push(s);
      if (s.index >= this.grossBySymbol.length) {
        const grow = (from: Float64Array) => {
          const to = new Float64Array(from.length * 2);
          to.set(from);
          return to;
        };
        this.grossBySymbol = grow(this.grossBySymbol);
        this.longBySymbol = grow(this.longBySymbol);
        this.shortBySymbol = grow(this.shortBySymbol);
      }
    }
    return s;
  }

  private release(order: WorkingOrder, quantity: number): void {
    if (order.side === 'buy') order.entry.workingBuy -= quantity;
    else order.entry.workingSell -= quantity;
    this.contributionChanged(order.entry);
  }

  /** Recomputes one symbol's exposure contribution (zero while it has no position nor working order). */
  private contributionChanged(s: BookEntry): void {
    const i = s.index;
    if (s.position === 0 && s.workingBuy === 0 && s.workingSell === 0) {
      this.grossBySymbol[i] = 0;
      this.longBySymbol[i] = 0;
      this.shortBySymbol[i] = 0;
    } else {
      const price = referencePrice(s);
      const long = s.position + s.workingBuy;
      const short = s.position - s.workingSell;
      this.grossBySymbol[i] = Math.max(Math.abs(long), Math.abs(short)) * price;
      this.longBySymbol[i] = long * price;
      this.shortBySymbol[i] = short * price;
    }
    this.stale = true;
  }
}
