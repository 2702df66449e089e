// The execution tables: orders (one row per order, its latest state), order_events (every state change,
// order_event.v1) and fills (fill.v1).
import type { Kysely } from 'kysely';
import type {
  AccountMode,
  Bracket,
  ExitReason,
  Fill,
  OrderEvent,
  OrderIntent,
  OrderStatus,
  OrderType,
  Side,
  TimeInForce,
} from '../../schemas/messages.ts';
import { BatchWriter, type WriterTuning } from '../batch-writer.ts';
import type { Database } from '../database.ts';
import { runIdColumn } from './run-id.ts';

/** Where an order came from: Sluice's intent, a bracket's leg the venue keeps, an order placed there by hand. */
export type OrderOrigin = 'intent' | 'leg' | 'venue';

/** What an `orders` row says of the order itself, fixed when it is created. */
export interface OrderSpec {
  /** The order's id (derived from the intent's, or from the venue's order id). */
  id: string;
  /** When it was created: its intent's ts_event, or when Sluice first saw it at the venue. */
  ts: number;
  tsInit: number;
  intentId: string;
  /** Null without an intent of its own. */
  strategy: string | null;
  symbol: string;
  side: Side;
  quantity: number;
  orderType: OrderType;
  limitPrice: number | null;
  stopPrice: number | null;
  /** Null where the venue does not say (an adopted order). */
  timeInForce: TimeInForce | null;
  reduceOnly: boolean;
  bracket: Bracket | null;
  exitAfter: number | null;
  exitReason: ExitReason | null;
  origin: OrderOrigin;
}

/** The spec of Sluice's own order, from its intent. */
export function orderSpecOfIntent(id: string, intent: OrderIntent): OrderSpec {
  return {
    id,
    ts: intent.ts_event,
    tsInit: intent.ts_init,
    intentId: intent.id,
    strategy: intent.strategy,
    symbol: intent.symbol,
    side: intent.side,
    quantity: intent.quantity,
    orderType: intent.order_type,
    limitPrice: intent.limit_price ?? null,
    stopPrice: intent.stop_price ?? null,
    timeInForce: intent.time_in_force,
    reduceOnly: intent.reduce_only,
    bracket: intent.bracket ?? null,
    exitAfter: intent.exit_after ?? null,
    exitReason: intent.exit_reason ?? null,
    origin: 'intent',
  };
}

/** An order's `orders` row: what it is, and its state as of its latest order event. */
export interface OrderRow {
  order: OrderSpec;
  status: OrderStatus;
  filled: number;
  /** Volume-weighted price of its fills so far; null before the first. */
  avgFillPrice: number | null;
  updatedAt: number;
  /** Null until an order event says (the simulated venue's say `simulated`). */
  accountMode: AccountMode | null;
  venueOrderId: string | null;
}

/**
 * One row per order, keyed by its creation: inserted as submitted (or as first seen at the venue), then
 * its status, filled quantity and average fill price follow each order event (every state change is also
 * an order_events row), and its account mode and venue order id once an event names them. Once an order
 * is in one of `terminal` its row never changes again, and a state with less filled never overwrites one
 * with more, so a replay after a restart (the venue resubmits open orders) cannot move a row back.
 */
export function orderWriter(
  db: Kysely<Database>,
  runId: string,
  terminal: readonly OrderStatus[],
  tuning: WriterTuning<OrderRow> = {},
): BatchWriter<OrderRow> {
  const terminalList = terminal.map((status) => `'${status}'`).join(', ');
  return new BatchWriter<OrderRow>(db, {
    ...tuning,
    table: 'orders',
    columns: [
      runIdColumn(runId),
      { name: 'id', type: 'text', value: (o) => o.order.id },
      { name: 'ts', type: 'timestamptz', value: (o) => o.order.ts },
      { name: 'ts_init', type: 'timestamptz', value: (o) => o.order.tsInit },
      { name: 'intent_id', type: 'text', value: (o) => o.order.intentId },
      { name: 'strategy', type: 'text', value: (o) => o.order.strategy },
      { name: 'symbol', type: 'text', value: (o) => o.order.symbol },
      { name: 'side', type: 'text', value: (o) => o.order.side },
      { name: 'quantity', type: 'float8', value: (o) => o.order.quantity },
      { name: 'order_type', type: 'text', value: (o) => o.order.orderType },
      { name: 'limit_price', type: 'float8', value: (o) => o.order.limitPrice },
      { name: 'stop_price', type: 'float8', value: (o) => o.order.stopPrice },
      { name: 'time_in_force', type: 'text', value: (o) => o.order.timeInForce },
      { name: 'reduce_only', type: 'bool', value: (o) => o.order.reduceOnly },
      {
        name: 'bracket',
        type: 'jsonb',
        value: (o) => (o.order.bracket ? JSON.stringify(o.order.bracket) : null),
      },
      { name: 'exit_after', type: 'timestamptz', value: (o) => o.order.exitAfter },
      { name: 'exit_reason', type: 'text', value: (o) => o.order.exitReason },
      { name: 'origin', type: 'text', value: (o) => o.order.origin },
      { name: 'account_mode', type: 'text', value: (o) => o.accountMode },
      { name: 'venue_order_id', type: 'text', value: (o) => o.venueOrderId },
      { name: 'status', type: 'text', value: (o) => o.status },
      { name: 'filled_quantity', type: 'float8', value: (o) => o.filled },
      { name: 'avg_fill_price', type: 'float8', value: (o) => o.avgFillPrice },
      { name: 'updated_at', type: 'timestamptz', value: (o) => o.updatedAt },
    ],
    upsert: {
      key: ['run_id', 'id', 'ts'],
      set: ['status', 'filled_quantity', 'avg_fill_price', 'updated_at', 'account_mode', 'venue_order_id'],
      keepWhenNull: ['account_mode', 'venue_order_id'],
      where: `orders.status NOT IN (${terminalList}) AND excluded.filled_quantity >= orders.filled_quantity`,
    },
  });
}

export function orderEventWriter(
  db: Kysely<Database>,
  runId: string,
  tuning: WriterTuning<OrderEvent> = {},
): BatchWriter<OrderEvent> {
  return new BatchWriter<OrderEvent>(db, {
    ...tuning,
    table: 'order_events',
    columns: [
      runIdColumn(runId),
      { name: 'id', type: 'text', value: (e) => e.id },
      { name: 'ts', type: 'timestamptz', value: (e) => e.ts_event },
      { name: 'ts_init', type: 'timestamptz', value: (e) => e.ts_init },
      { name: 'order_id', type: 'text', value: (e) => e.order_id },
      { name: 'intent_id', type: 'text', value: (e) => e.intent_id },
      { name: 'symbol', type: 'text', value: (e) => e.symbol },
      { name: 'status', type: 'text', value: (e) => e.status },
      { name: 'filled_quantity', type: 'float8', value: (e) => e.filled_quantity },
      { name: 'leaves_quantity', type: 'float8', value: (e) => e.leaves_quantity },
      { name: 'reason', type: 'text', value: (e) => e.reason ?? null },
      { name: 'account_mode', type: 'text', value: (e) => e.account_mode ?? null },
      { name: 'venue_order_id', type: 'text', value: (e) => e.venue_order_id ?? null },
    ],
  });
}

export function fillWriter(
  db: Kysely<Database>,
  runId: string,
  tuning: WriterTuning<Fill> = {},
): BatchWriter<Fill> {
  return new BatchWriter<Fill>(db, {
    ...tuning,
    table: 'fills',
    columns: [
      runIdColumn(runId),
      { name: 'id', type: 'text', value: (f) => f.id },
      { name: 'ts', type: 'timestamptz', value: (f) => f.ts_event },
      { name: 'ts_init', type: 'timestamptz', value: (f) => f.ts_init },
      { name: 'order_id', type: 'text', value: (f) => f.order_id },
      { name: 'symbol', type: 'text', value: (f) => f.symbol },
      { name: 'side', type: 'text', value: (f) => f.side },
      { name: 'quantity', type: 'float8', value: (f) => f.quantity },
      { name: 'price', type: 'float8', value: (f) => f.price },
      { name: 'fee', type: 'float8', value: (f) => f.fee },
      { name: 'liquidity', type: 'text', value: (f) => f.liquidity },
      { name: 'account_mode', type: 'text', value: (f) => f.account_mode ?? null },
      { name: 'venue_order_id', type: 'text', value: (f) => f.venue_order_id ?? null },
      { name: 'venue_fill_id', type: 'text', value: (f) => f.venue_fill_id ?? null },
      { name: 'base_commission', type: 'float8', value: (f) => f.base_commission ?? null },
    ],
  });
}
