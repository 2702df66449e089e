// Reconciliation with a broker, as a pure function: what the venue's books say (open orders,
// positions, fills since the last one Sluice knows, and what became of Sluice's orders it no longer
// lists as open) against what Sluice published, and what to do about each difference.
//
// - A fill Sluice missed is adopted (published with the venue's ids): under its order's id for
//   Sluice's own orders, under an id derived from the venue's order id for an order placed by hand.
// - An order whose state moved on while Sluice was not listening has its state adopted.
// - Sluice's own order that the venue never received (a crash between submit and acknowledgement
//   before the request left) is sent again, under the same client order id.
// - An open order Sluice did not place is cancelled, adopted or flagged per `unknownOrders`.
// - Positions, once the missed fills are counted, must then agree symbol by symbol; any that do not
//   are an unexplained difference, as are a flagged order and an acknowledged order the venue has no
//   record of. The risk gate stays halted until a reconciliation has none.
// - A spot balance (VenuePosition.balance) is not Sluice's position: it holds what the account had
//   before Sluice traded, and commissions taken in the base asset come out of it. It is compared as
//   baseline + Sluice's position − those commissions. The baseline is what the balance holds beyond
//   Sluice's net position the first time a reconciliation sees the symbol (on a fresh account: the
//   whole balance), recorded then and kept with the books from then on.
import { adoptedIntentIdFor, orderIdFor } from '../../core/lineage-ids.ts';
import type { OrderStatus, ReconciliationDifference } from '../../schemas/messages.ts';
import type { VenueFill, VenueOrder, VenuePosition } from './broker-adapter.ts';
import { isTerminal } from './order.ts';
import { type OrderRef, QUANTITY_EPSILON, signedQuantity } from './venue-reports.ts';

/** What reconciliation does with an open order at the venue that Sluice did not place. */
export type UnknownOrderPolicy = 'cancel' | 'adopt' | 'halt';

/** An order Sluice follows at the broker, as reconciliation needs it. */
export interface BookOrder extends OrderRef {
  clientOrderId: string | undefined;
  venueOrderId: string | undefined;
  status: OrderStatus;
  filledQuantity: number;
  venueFillIds: ReadonlySet<string>;
  /** Sluice placed it (it has the intent, so it can be sent again). */
  own: boolean;
}

export interface SluiceBook {
  venue: string;
  /** The orders Sluice follows that it holds open. */
  orders: readonly BookOrder[];
  /** Signed position per symbol, from the fills Sluice published. */
  positions: ReadonlyMap<string, number>;
  /** Venue fill ids published lately, of any order. */
  publishedFillIds: ReadonlySet<string>;
  /** Base-asset commissions of the fills Sluice published, per symbol (VenueFill.baseCommission). */
  commissions: ReadonlyMap<string, number>;
  /** Per symbol held as a spot balance: what the balance held beyond Sluice's fills when first seen. */
  balanceBaselines: ReadonlyMap<string, number>;
}

export interface VenueBooks {
  openOrders: readonly VenueOrder[];
  positions: readonly VenuePosition[];
  /** The venue's fills since the last one Sluice knows, oldest first. */
  fills: readonly VenueFill[];
  /**
   * Sluice's orders the venue does not list as open, as it knows them by client order id (undefined:
   * it has no such order). Orders without a client order id have no entry.
   */
  closed: ReadonlyMap<string, VenueOrder | undefined>;
  /** When the books were read (epoch ms): the time of a state Sluice settles itself. */
  readAt: number;
}

export interface ReconciliationPlan {
  /** Fills to publish, oldest first, each with the order it belongs to. */
  fills: { ref: OrderRef; fill: VenueFill }[];
  /** New states of orders Sluice follows, as the venue states them. */
  orderStates: { orderId: string; order: VenueOrder }[];
  /** Sluice's own orders (by order id) that the venue never received: to send again. */
  resubmit: string[];
  /** Acknowledged orders the venue has no record of: closed by Sluice as canceled. */
  missing: string[];
  /** Open orders at the venue that Sluice did not place, and what to do with each. */
  unknown: { order: VenueOrder; ref: OrderRef; action: 'cancel' | 'adopt' | 'flag' }[];
  /** Positions with the missed fills counted. */
  positions: Map<string, number>;
  /** Base-asset commissions with the missed fills' counted. */
  commissions: Map<string, number>;
  /** Balance baselines first recorded by this reconciliation, to keep with the books. */
  newBaselines: Map<string, number>;
  differences: ReconciliationDifference[];
  /** True when every difference was explained (nothing left `unexplained`). */
  ok: boolean;
}

/** The order an order placed by hand stands under once Sluice adopts it or one of its fills. */
export function adoptedRef(
  venue: string,
  order: Pick<VenueOrder, 'venueOrderId' | 'symbol' | 'side' | 'quantity'>,
): OrderRef {
  const intentId = adoptedIntentIdFor(venue, order.venueOrderId);
  return {
    orderId: orderIdFor(intentId),
    intentId,
    symbol: order.symbol,
    side: order.side,
    quantity: order.quantity,
  };
}

/** Each open order and, after it, the legs of a bracket the venue keeps as orders of their own. */
export function withLegs(orders: readonly VenueOrder[]): VenueOrder[] {
  return orders.flatMap((order) => [order, ...withLegs(order.legs)]);
}

function sameQuantity(a: number, b: number): boolean {
  return Math.abs(a - b) <= QUANTITY_EPSILON * Math.max(1, Math.abs(a), Math.abs(b));
}

export function reconcile(
  book: SluiceBook,
  venue: VenueBooks,
  unknownOrders: UnknownOrderPolicy,
): ReconciliationPlan {
  const plan: ReconciliationPlan = {
    fills: [],
    orderStates: [],
    resubmit: [],
    missing: [],
    unknown: [],
    positions: new Map(book.positions),
    commissions: new Map(book.commissions),
    newBaselines: new Map(),
    differences: [],
    ok: true,
  };
  const byClientId = new Map<string, BookOrder>();
  const byVenueId = new Map<string, BookOrder>();
  for (const order of book.orders) {
    if (order.clientOrderId !== undefined) byClientId.set(order.clientOrderId, order);
    if (order.venueOrderId !== undefined) byVenueId.set(order.venueOrderId, order);
  }
  const find = (clientOrderId: string | undefined, venueOrderId: string): BookOrder | undefined =>
    (clientOrderId !== undefined ? byClientId.get(clientOrderId) : undefined) ?? byVenueId.get(venueOrderId);

  adoptMissedFills(book, venue, find, plan);

  const listedOpen = new Set<BookOrder>();
  for (const order of withLegs(venue.openOrders)) {
    if (isTerminal(order.status)) continue;
    const known = find(order.clientOrderId, order.venueOrderId);
    if (known !== undefined) {
      listedOpen.add(known);
      adoptState(known, order, plan);
      continue;
    }
    const ref = adoptedRef(book.venue, order);
    const action = unknownOrders === 'halt' ? 'flag' : unknownOrders;
    plan.unknown.push({ order, ref, action });
    plan.differences.push({
      kind: 'unknown_order',
      resolution: action === 'cancel' ? 'cancelled' : action === 'adopt' ? 'adopted' : 'unexplained',
      symbol: order.symbol,
      order_id: ref.orderId,
      venue_order_id: order.venueOrderId,
      detail: `${order.side} ${order.quantity} ${order.symbol} (${order.orderType}, ${order.status}) open at the venue, not placed by Sluice (client order id ${order.clientOrderId ?? 'none'})`,
    });
  }

  for (const order of book.orders) {
    if (listedOpen.has(order) || isTerminal(order.status)) continue;
    settleUnlisted(order, venue, plan);
  }

  comparePositions(venue.positions, book.balanceBaselines, plan);
  plan.ok = plan.differences.every((difference) => difference.resolution !== 'unexplained');
  return plan;
}

function adoptMissedFills(
  book: SluiceBook,
  venue: VenueBooks,
  find: (clientOrderId: string | undefined, venueOrderId: string) => BookOrder | undefined,
  plan: ReconciliationPlan,
): void {
  const seen = new Set(book.publishedFillIds);
  for (const fill of venue.fills) {
    const known = find(fill.clientOrderId, fill.venueOrderId);
    if (seen.has(fill.venueFillId) || known?.venueFillIds.has(fill.venueFillId)) continue;
    seen.add(fill.venueFillId);
    const ref = known ?? adoptedRef(book.venue, fill);
    plan.fills.push({ ref, fill });
    addTo(plan.positions, fill.symbol, signedQuantity(fill.side, fill.quantity));
    addTo(plan.commissions, fill.symbol, fill.baseCommission ?? 0);
    plan.differences.push({
      kind: 'missed_fill',
      resolution: 'adopted',
      symbol: fill.symbol,
      order_id: ref.orderId,
      venue_order_id: fill.venueOrderId,
      detail: `${fill.side} ${fill.quantity} ${fill.symbol} at ${fill.price} (venue fill ${fill.venueFillId}${known ? '' : ', an order placed by hand'})`,
    });
  }
}

function adoptState(known: BookOrder, order: VenueOrder, plan: ReconciliationPlan): void {
  if (order.status === known.status && sameQuantity(order.filledQuantity, known.filledQuantity)) return;
  plan.orderStates.push({ orderId: known.orderId, order });
  plan.differences.push({
    kind: 'order_state',
    resolution: 'adopted',
    symbol: known.symbol,
    order_id: known.orderId,
    venue_order_id: order.venueOrderId,
    detail: `${known.status} ${known.filledQuantity} filled at Sluice, ${order.status} ${order.filledQuantity} filled at the venue`,
  });
}

/** An order Sluice holds open that the venue does not list as open. */
function settleUnlisted(order: BookOrder, venue: VenueBooks, plan: ReconciliationPlan): void {
  const common = { symbol: order.symbol, order_id: order.orderId };
  if (order.clientOrderId === undefined || !venue.closed.has(order.clientOrderId)) {
    // Adopted without a client order id, it cannot be asked for: no longer open, it is closed.
    const status: OrderStatus =
      order.filledQuantity + QUANTITY_EPSILON >= order.quantity ? 'filled' : 'canceled';
    const closed: VenueOrder = {
      clientOrderId: order.clientOrderId,
      venueOrderId: order.venueOrderId ?? order.orderId,
      symbol: order.symbol,
      side: order.side,
      orderType: 'market',
      quantity: order.quantity,
      filledQuantity: order.filledQuantity,
      averageFillPrice: undefined,
      limitPrice: undefined,
      stopPrice: undefined,
      status,
      legs: [],
      updatedAt: venue.readAt,
      reason: 'no longer open at the venue',
    };
    adoptState(order, closed, plan);
    return;
  }
  const atVenue = venue.closed.get(order.clientOrderId);
  if (atVenue !== undefined) {
    adoptState(order, atVenue, plan);
    return;
  }
  if (order.own && order.status === 'submitted') {
    plan.resubmit.push(order.orderId);
    plan.differences.push({
      ...common,
      kind: 'resubmitted',
      resolution: 'resubmitted',
      detail: `${order.side} ${order.quantity} ${order.symbol} never reached the venue; sent again under client order id ${order.clientOrderId}`,
    });
    return;
  }
  plan.missing.push(order.orderId);
  plan.differences.push({
    ...common,
    kind: 'order_missing',
    resolution: 'unexplained',
    detail: `${order.status} at Sluice with ${order.filledQuantity} of ${order.quantity} filled; the venue has no order under client order id ${order.clientOrderId}`,
  });
}

function comparePositions(
  venuePositions: readonly VenuePosition[],
  baselines: ReadonlyMap<string, number>,
  plan: ReconciliationPlan,
): void {
  const atVenue = new Map<string, number>();
  const balances = new Set<string>();
  for (const position of venuePositions) {
    addTo(atVenue, position.symbol, position.quantity);
    if (position.balance) balances.add(position.symbol);
  }
  const symbols = [...new Set([...atVenue.keys(), ...plan.positions.keys()])].sort();
  for (const symbol of symbols) {
    const venueQuantity = atVenue.get(symbol) ?? 0;
    const sluiceQuantity = plan.positions.get(symbol) ?? 0;
    if (!balances.has(symbol)) {
      if (!sameQuantity(venueQuantity, sluiceQuantity))
        positionDifference(plan, symbol, venueQuantity, sluiceQuantity);
      continue;
    }
    // What Sluice's fills leave in the balance: the commissions taken in the asset came out of it.
    const commission = plan.commissions.get(symbol) ?? 0;
    const fromFills = sluiceQuantity - commission;
    let baseline = baselines.get(symbol);
    if (baseline === undefined) {
      baseline = venueQuantity - fromFills;
      plan.newBaselines.set(symbol, baseline);
    }
    if (sameQuantity(venueQuantity, baseline + fromFills)) continue;
    positionDifference(
      plan,
      symbol,
      venueQuantity,
      sluiceQuantity,
      ` (a balance: ${baseline} held before Sluice's fills, ${commission} taken as commission, so ${baseline + fromFills} expected)`,
    );
  }
}

function positionDifference(
  plan: ReconciliationPlan,
  symbol: string,
  venueQuantity: number,
  sluiceQuantity: number,
  why = '',
): void {
  plan.differences.push({
    kind: 'position',
    resolution: 'unexplained',
    symbol,
    venue_quantity: venueQuantity,
    sluice_quantity: sluiceQuantity,
    detail: `${symbol}: the venue holds ${venueQuantity}, Sluice's fills make ${sluiceQuantity}${why}`,
  });
}

function addTo(totals: Map<string, number>, symbol: string, quantity: number): void {
  totals.set(symbol, (totals.get(symbol) ?? 0) + quantity);
}

/** Differences counted by kind and resolution, for metrics and the CLI. */
export function differenceCounts(differences: readonly ReconciliationDifference[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { kind, resolution } of differences) {
    const key = `${kind}:${resolution}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}
