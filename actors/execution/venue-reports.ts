// Sluice's reports (order_event.v1, fill.v1) from what a broker said (VenueOrder, VenueFill), so every
// broker names them the same way. Pure: ids come from the venue's (core/lineage-ids.ts), so the same
// state or execution reported twice, read again at a reconciliation or after a restart, gets the same
// id and is published once (the actor skips what it already published; JetStream's duplicate window
// drops what slips through).
import { bracketChildIdFor, venueFillIdFor, venueOrderEventIdFor } from '../../core/lineage-ids.ts';
import type { AccountMode, Fill, OrderEvent, OrderStatus, Side } from '../../schemas/messages.ts';
import type { VenueFill, VenueOrder } from './broker-adapter.ts';
import { isTerminal, orderTransitions } from './order.ts';

/** An order at a broker in Sluice's names: the order and intent ids its reports carry. */
export interface OrderRef {
  orderId: string;
  intentId: string;
  symbol: string;
  side: Side;
  quantity: number;
}

/** Stamped on every report: whose money, and when Sluice heard of it (ts_init). */
export interface ReportStamp {
  accountMode: AccountMode;
  receivedAt: number;
}

/** Quantities are compared with this slack: venues send decimals that binary floats round. */
export const QUANTITY_EPSILON = 1e-9;

/** The venue's ids fit the contract (1..128 characters); a longer one is left off rather than refused. */
const MAX_VENUE_ID = 128;

function venueId(id: string | undefined): string | undefined {
  return id !== undefined && id.length > 0 && id.length <= MAX_VENUE_ID ? id : undefined;
}

/** A venue time if it is one, else when Sluice heard of it. */
function eventTime(ts: number, stamp: ReportStamp): number {
  return Number.isSafeInteger(ts) && ts >= 0 ? ts : stamp.receivedAt;
}

/** An order event stating `status` with `filled` done, as of `ts`. */
export function orderEvent(
  ref: OrderRef,
  status: OrderStatus,
  filled: number,
  ts: number,
  stamp: ReportStamp,
  details: { reason?: string | undefined; venueOrderId?: string | undefined } = {},
): OrderEvent {
  const filledQuantity = Math.min(Math.max(filled, 0), ref.quantity);
  const venueOrderId = venueId(details.venueOrderId);
  return {
    schema: 'order_event.v1',
    id: venueOrderEventIdFor(ref.orderId, status, filledQuantity),
    ts_event: eventTime(ts, stamp),
    ts_init: stamp.receivedAt,
    order_id: ref.orderId,
    intent_id: ref.intentId,
    symbol: ref.symbol,
    status,
    filled_quantity: filledQuantity,
    leaves_quantity: isTerminal(status) ? 0 : Math.max(ref.quantity - filledQuantity, 0),
    ...(details.reason ? { reason: details.reason } : {}),
    account_mode: stamp.accountMode,
    ...(venueOrderId ? { venue_order_id: venueOrderId } : {}),
  };
}

/** The order event of the venue's state of an order (`status` when Sluice settles it otherwise). */
export function orderEventFromVenue(
  ref: OrderRef,
  order: VenueOrder,
  stamp: ReportStamp,
  status: OrderStatus = order.status,
): OrderEvent {
  return orderEvent(ref, status, order.filledQuantity, order.updatedAt, stamp, {
    reason: order.reason,
    venueOrderId: order.venueOrderId,
  });
}

/** The fill of one venue execution, or why it cannot be one (a venue that sent nonsense). */
export function fillFromVenue(ref: OrderRef, fill: VenueFill, stamp: ReportStamp): Fill | string {
  if (!(Number.isFinite(fill.quantity) && fill.quantity > 0)) return `quantity ${fill.quantity}`;
  if (!(Number.isFinite(fill.price) && fill.price > 0)) return `price ${fill.price}`;
  if (!Number.isFinite(fill.fee)) return `fee ${fill.fee}`;
  const baseCommission = fill.baseCommission ?? 0;
  if (!(Number.isFinite(baseCommission) && baseCommission >= 0 && baseCommission < fill.quantity))
    return `base commission ${fill.baseCommission}`;
  const venueFillId = venueId(fill.venueFillId);
  if (venueFillId === undefined) return `venue fill id "${fill.venueFillId}"`;
  const venueOrderId = venueId(fill.venueOrderId);
  return {
    schema: 'fill.v1',
    id: venueFillIdFor(ref.orderId, venueFillId),
    ts_event: eventTime(fill.ts, stamp),
    ts_init: stamp.receivedAt,
    order_id: ref.orderId,
    symbol: ref.symbol,
    side: fill.side,
    quantity: fill.quantity,
    price: fill.price,
    fee: fill.fee,
    liquidity: fill.liquidity,
    account_mode: stamp.accountMode,
    ...(venueOrderId ? { venue_order_id: venueOrderId } : {}),
    venue_fill_id: venueFillId,
    ...(baseCommission > 0 ? { base_commission: baseCommission } : {}),
  };
}

/**
 * The status to publish when the venue reports `reported` with `reportedFilled` done for an order now
 * in `current` with `currentFilled`, or undefined when it says nothing new. The venue's word is final
 * (a terminal state is taken from any open one: a venue may cancel an order it never acknowledged),
 * but an update that arrives late never moves an order back, and a closed order never changes.
 */
export function nextStatus(
  current: OrderStatus,
  currentFilled: number,
  reported: OrderStatus,
  reportedFilled: number,
): OrderStatus | undefined {
  if (isTerminal(current)) return undefined;
  const filledMore = reportedFilled > currentFilled + QUANTITY_EPSILON;
  if (reported === current) return filledMore ? current : undefined;
  if (isTerminal(reported) || orderTransitions[current].includes(reported)) return reported;
  // A fill reported beside a state that went out of order (an `accepted` after a partial fill).
  return filledMore ? 'partially_filled' : undefined;
}

/** A leg of a bracket is its take-profit when it is a limit order, its stop-loss otherwise. */
export function legRef(parent: OrderRef, leg: VenueOrder): OrderRef {
  const which = leg.orderType === 'limit' ? 'take_profit' : 'stop_loss';
  return {
    orderId: bracketChildIdFor(parent.orderId, which),
    intentId: parent.intentId,
    symbol: parent.symbol,
    side: leg.side,
    quantity: leg.quantity,
  };
}

/** Signed quantity of a fill: buys add to a position, sells take from it. */
export function signedQuantity(side: Side, quantity: number): number {
  return side === 'buy' ? quantity : -quantity;
}
