// The order state machine, with NautilusTrader's states, as an explicit transition table. Orders
// change per market event, so this is a plain table lookup rather than an xstate actor (design §4).
import { orderIdFor } from '../../core/lineage-ids.ts';
import type { OrderIntent, OrderStatus } from '../../schemas/messages.ts';

const terminal = [] as const;

/** Allowed next states. Fills may arrive while a cancel is pending (the venue had already matched). */
export const orderTransitions: Readonly<Record<OrderStatus, readonly OrderStatus[]>> = {
  initialized: ['submitted', 'denied'],
  submitted: ['accepted', 'rejected', 'pending_cancel', 'partially_filled', 'filled'],
  accepted: ['pending_cancel', 'canceled', 'expired', 'partially_filled', 'filled'],
  partially_filled: ['pending_cancel', 'canceled', 'expired', 'partially_filled', 'filled'],
  pending_cancel: ['canceled', 'accepted', 'partially_filled', 'filled', 'expired'],
  denied: terminal,
  rejected: terminal,
  canceled: terminal,
  expired: terminal,
  filled: terminal,
};

export function isTerminal(status: OrderStatus): boolean {
  return orderTransitions[status].length === 0;
}

export class InvalidOrderTransition extends Error {
  constructor(
    readonly orderId: string,
    readonly from: OrderStatus,
    readonly to: OrderStatus,
  ) {
    super(`order ${orderId}: cannot go from ${from} to ${to}`);
    this.name = 'InvalidOrderTransition';
  }
}

export class Order {
  private current: OrderStatus = 'initialized';
  private filled = 0;
  private total: number;

  /** `id`: orderIdFor(intent.id), or a bracket child's id (its intent is the entry's, as the child's terms). */
  constructor(
    readonly intent: OrderIntent,
    readonly id = orderIdFor(intent.id),
  ) {
    this.total = intent.quantity;
  }

  /** An order as a snapshot saved it (simulated-venue.ts checks the values first). */
  static restored(
    intent: OrderIntent,
    id: string,
    saved: { status: OrderStatus; quantity: number; filledQuantity: number },
  ): Order {
    const order = new Order(intent, id);
    order.current = saved.status;
    order.total = saved.quantity;
    order.filled = saved.filledQuantity;
    return order;
  }

  get status(): OrderStatus {
    return this.current;
  }

  get symbol(): string {
    return this.intent.symbol;
  }

  get side(): OrderIntent['side'] {
    return this.intent.side;
  }

  get quantity(): number {
    return this.total;
  }

  get filledQuantity(): number {
    return this.filled;
  }

  get leavesQuantity(): number {
    return isTerminal(this.current) ? 0 : this.total - this.filled;
  }

  get isOpen(): boolean {
    return !isTerminal(this.current);
  }

  canTransition(to: OrderStatus): boolean {
    return orderTransitions[this.current].includes(to);
  }

  /** Moves to `to` or throws InvalidOrderTransition; use fill() for fills. */
  transition(to: OrderStatus): void {
    if (!this.canTransition(to)) throw new InvalidOrderTransition(this.id, this.current, to);
    this.current = to;
  }

  /** Records an execution of `quantity` (capped by what is left) and returns the quantity applied. */
  fill(quantity: number): number {
    const applied = Math.min(quantity, this.total - this.filled);
    if (!(applied > 0))
      throw new RangeError(`order ${this.id}: fill of ${quantity} with ${this.leavesQuantity} left`);
    this.filled += applied;
    this.transition(this.filled >= this.total ? 'filled' : 'partially_filled');
    return applied;
  }

  /** Adds `quantity` to an open order (a bracket child as more of its entry fills). */
  extend(quantity: number): void {
    if (!this.isOpen || !(quantity > 0)) throw new RangeError(`order ${this.id}: cannot add ${quantity}`);
    this.total += quantity;
  }
}
