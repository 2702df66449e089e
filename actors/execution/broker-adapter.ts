// The interface between the ExecutionActor and a venue. Two kinds implement it:
//
// - SimulatedVenue (simulated-venue.ts): in event time, driven by the market data the actor hands
//   it, synchronous, for backtests and paper trading in process. It returns Sluice's reports
//   (OrderEvent, Fill) itself.
// - A broker (LiveBroker below: Alpaca, any ccxt exchange): a real account, paper or live, over the
//   broker's own client library. It says what the venue said (VenueOrder, VenueFill) and the actor
//   turns that into Sluice's reports (venue-reports.ts), so every broker names them the same way.
//
// Contract for implementers of both:
// - Order ids are deterministic: orderIdFor(intent.id) (core/lineage-ids.ts). A broker is sent
//   clientOrderIdFor(orderId) as the venue's client order id, so submitting an order the venue
//   already has finds it instead of placing a second one (idempotent after a crash).
// - Times are epoch milliseconds; an adapter never reads the wall clock for an event time it can
//   take from the venue.
import type {
  AccountMode,
  Fill,
  OrderEvent,
  OrderIntent,
  OrderStatus,
  OrderType,
  Side,
} from '../../schemas/messages.ts';
import type { VenueRules } from '../risk/venue-rules.ts';

export type ExecutionReport = OrderEvent | Fill;

export interface OpenOrder {
  order_id: string;
  intent_id: string;
  symbol: string;
  side: Side;
  quantity: number;
  filled_quantity: number;
  status: OrderStatus;
}

type MaybePromise<T> = T | Promise<T>;

/** The simulated venue's side of the contract (and the part a broker shares). */
export interface BrokerAdapter {
  readonly venue: string;
  readonly accountMode: AccountMode;
  submit(intent: OrderIntent, now: number): MaybePromise<ExecutionReport[]>;
  /** Requests a cancel; the order is pending_cancel until the venue confirms. Unknown or closed orders: no reports. */
  cancel(orderId: string, now: number): MaybePromise<ExecutionReport[]>;
  openOrders(): MaybePromise<OpenOrder[]>;
  /** Subscribes to venue-initiated reports; returns the unsubscribe function. */
  onReport(listener: (report: ExecutionReport) => void): () => void;
}

export function isFill(report: ExecutionReport): report is Fill {
  return report.schema === 'fill.v1';
}

/** An order as the venue states it. */
export interface VenueOrder {
  /** The client order id the venue holds: clientOrderIdFor(orderId) for Sluice's, anything for one placed by hand. */
  clientOrderId: string | undefined;
  venueOrderId: string;
  symbol: string;
  side: Side;
  orderType: OrderType;
  quantity: number;
  filledQuantity: number;
  /** Average price of what filled, when anything did. */
  averageFillPrice: number | undefined;
  limitPrice: number | undefined;
  stopPrice: number | undefined;
  status: OrderStatus;
  /** The take-profit and stop-loss children of a bracket, when the venue keeps them as orders. */
  legs: VenueOrder[];
  /** When the venue last changed it (epoch ms). */
  updatedAt: number;
  /** The venue's words for a reject or cancel, when it gave any. */
  reason: string | undefined;
}

/** One execution as the venue states it. */
export interface VenueFill {
  /** The venue's id of this execution: the same execution reported twice has the same id. */
  venueFillId: string;
  venueOrderId: string;
  clientOrderId: string | undefined;
  symbol: string;
  side: Side;
  quantity: number;
  price: number;
  fee: number;
  /**
   * Spot: the quantity of the symbol's base asset the venue kept as commission (Binance takes a buy's
   * commission from the asset bought, unless paid in BNB), so the balance moved by that much less
   * than `quantity`. Absent when the commission was paid in anything else.
   */
  baseCommission?: number;
  liquidity: Fill['liquidity'];
  /** When it executed (epoch ms). */
  ts: number;
}

/** A position as the venue states it: signed quantity (long > 0). */
export interface VenuePosition {
  symbol: string;
  quantity: number;
  averagePrice: number;
  /**
   * A spot balance of the symbol's base asset rather than a position: it holds what the account had
   * before Sluice traded, and less the commissions taken in it (VenueFill.baseCommission).
   * Reconciliation compares it net of both (reconcile.ts).
   */
  balance?: boolean;
}

/** Something the venue said without being asked: an order changed, and the fill that changed it, if one did. */
export interface VenueUpdate {
  order: VenueOrder;
  fill: VenueFill | undefined;
}

/** What went wrong at the venue, as the actor acts on it (typed order events, never a crash). */
export type VenueFaultKind =
  /** The venue refused the order; it does not exist there. */
  | 'rejected'
  /** Too many requests: retry after `retryAfterMs` (the same client order id, so never a duplicate). */
  | 'rate_limited'
  /** No answer in time: the order may or may not exist; ask by client order id before any retry. */
  | 'unknown_outcome'
  /** Not reachable now (connection refused, 5xx): nothing happened; retry. */
  | 'unavailable'
  /** The venue does not know the order (a cancel of an order it already closed, say). */
  | 'not_found'
  /** Credentials refused: permanent, the actor stops rather than retry. */
  | 'unauthorised';

/** Why a venue rejected an order, in Sluice's words; `other` keeps the venue's text in the message. */
export type RejectReason =
  | 'insufficient_buying_power'
  | 'market_closed'
  | 'invalid_quantity'
  | 'invalid_price'
  | 'unsupported_order_type'
  | 'duplicate_client_order_id'
  | 'other';

export class VenueFault extends Error {
  constructor(
    readonly kind: VenueFaultKind,
    message: string,
    readonly details: { rejectReason?: RejectReason; retryAfterMs?: number; status?: number } = {},
  ) {
    super(message);
    this.name = 'VenueFault';
  }
}

/**
 * A real broker account. Calls that fail throw VenueFault; everything else the venue says arrives
 * through onUpdate, in the order the venue sent it, after connect() resolved.
 */
export interface LiveBroker {
  readonly venue: string;
  readonly accountMode: Exclude<AccountMode, 'simulated'>;
  /** Checks the credentials and opens the update stream. Throws VenueFault 'unauthorised' when refused. */
  connect(): Promise<void>;
  close(): Promise<void>;
  /**
   * Places the order under `clientOrderId`. Resolves with the venue's acknowledgement. A bracket
   * intent places its exits too, where the venue supports brackets; where not, it is rejected with
   * `unsupported_order_type` (the actor never splits it itself).
   */
  submit(intent: OrderIntent, clientOrderId: string): Promise<VenueOrder>;
  /** Asks the venue to cancel; resolves with the order's state after the request (maybe still open). */
  cancel(clientOrderId: string, venueOrderId: string | undefined): Promise<VenueOrder | undefined>;
  /** The order the venue holds under `clientOrderId`, or undefined when it has none. */
  orderByClientId(clientOrderId: string): Promise<VenueOrder | undefined>;
  openOrders(): Promise<VenueOrder[]>;
  positions(): Promise<VenuePosition[]>;
  /** Executions at or after `since` (epoch ms), oldest first. */
  fillsSince(since: number): Promise<VenueFill[]>;
  /**
   * The executions of one order, found by its venue id, oldest first: no time window, so Sluice's
   * clock and the venue's need not agree. Undefined (or no method) where the venue cannot look fills
   * up by order: the driver then reads them by time (fillsSince).
   */
  fillsOfOrder?(symbol: string, venueOrderId: string): Promise<VenueFill[] | undefined>;
  /** Venue-initiated changes (the trade_updates stream, watchOrders / watchMyTrades). */
  onUpdate(listener: (update: VenueUpdate) => void): () => void;
  /**
   * The update stream's state: after 'connected' (again) the actor reconciles, because updates sent
   * while it was down are lost.
   */
  onConnection(listener: (state: 'connected' | 'disconnected') => void): () => void;
  /**
   * The venue's lot, minimum and tick rules for those of `symbols` it describes (a symbol it does not
   * list is left out), read from the venue; callable before connect(). A broker whose venue states no
   * such rules has no method. The run merges these into the gate's (mergeVenueRules).
   */
  venueRules?(symbols: readonly string[]): Promise<VenueRules>;
}
