// The interface between the ExecutionActor and a venue. SimulatedVenue implements it for paper
// trading and backtests; a live adapter (FIX, a broker's REST/WebSocket API) implements it too, so
// the actor and its binding do not know which one they drive.
//
// Contract for implementers:
// - Order ids are deterministic: orderIdFor(intent.id) (core/lineage-ids.ts). submit() of an id the adapter already knows
//   is a no-op that returns no reports (idempotent after a restart or a redelivered intent).
// - Reports are the messages the binding publishes unchanged: OrderEvent (schema order_event.v1)
//   and Fill (fill.v1), each with a deterministic id, so a re-published report is deduplicated.
//   A fill is reported before the order event that reflects it.
// - Reports that follow directly from a call are returned by it (a live adapter resolves the
//   promise with what the venue acknowledged). Reports the venue initiates later (fills, expiries,
//   cancels taking effect) go to the listener given to onReport.
// - openOrders() lists orders still working at the venue, for reconciliation after a restart.
// - Times are epoch milliseconds of event time; adapters never read the wall clock themselves.
import type { Fill, OrderEvent, OrderIntent, OrderStatus } from '../../schemas/messages.ts';

export type ExecutionReport = OrderEvent | Fill;

export interface OpenOrder {
  order_id: string;
  intent_id: string;
  symbol: string;
  side: OrderIntent['side'];
  quantity: number;
  filled_quantity: number;
  status: OrderStatus;
}

type MaybePromise<T> = T | Promise<T>;

export interface BrokerAdapter {
  readonly venue: string;
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
