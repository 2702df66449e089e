// The execution tables: orders (one row per order, its latest state), order_events (every state change,
// order_event.v1) and fills (fill.v1).
import type { Kysely } from 'kysely';
import type { Fill, OrderEvent, OrderIntent, OrderStatus } from '../../schemas/messages.ts';
import { BatchWriter, type WriterTuning } from '../batch-writer.ts';
import type { Database } from '../database.ts';
import { runIdColumn } from './run-id.ts';

/** An order's `orders` row: its intent as submitted, and its state as of its latest order event. */
export interface OrderRow {
  /** The order's id (derived from the intent's). */
  id: string;
  intent: OrderIntent;
  status: OrderStatus;
  filled: number;
  /** Volume-weighted price of its fills so far; null before the first. */
  avgFillPrice: number | null;
  updatedAt: number;
}

/**
 * One row per order, keyed by its creation: inserted as submitted, then its status, filled quantity
 * and average fill price follow each order event (every state change is also an order_events row).
 * Once an order is in one of `terminal` its row never changes again, and a state with less filled never
 * overwrites one with more, so a replay after a restart (the venue resubmits open orders) cannot move
 * a row back.
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
      { name: 'id', type: 'text', value: (o) => o.id },
      { name: 'ts', type: 'timestamptz', value: (o) => o.intent.ts_event },
      { name: 'ts_init', type: 'timestamptz', value: (o) => o.intent.ts_init },
      { name: 'intent_id', type: 'text', value: (o) => o.intent.id },
      { name: 'strategy', type: 'text', value: (o) => o.intent.strategy },
      { name: 'symbol', type: 'text', value: (o) => o.intent.symbol },
      { name: 'side', type: 'text', value: (o) => o.intent.side },
      { name: 'quantity', type: 'float8', value: (o) => o.intent.quantity },
      { name: 'order_type', type: 'text', value: (o) => o.intent.order_type },
      { name: 'limit_price', type: 'float8', value: (o) => o.intent.limit_price ?? null },
      { name: 'time_in_force', type: 'text', value: (o) => o.intent.time_in_force },
      { name: 'reduce_only', type: 'bool', value: (o) => o.intent.reduce_only },
      { name: 'status', type: 'text', value: (o) => o.status },
      { name: 'filled_quantity', type: 'float8', value: (o) => o.filled },
      { name: 'avg_fill_price', type: 'float8', value: (o) => o.avgFillPrice },
      { name: 'updated_at', type: 'timestamptz', value: (o) => o.updatedAt },
    ],
    upsert: {
      key: ['run_id', 'id', 'ts'],
      set: ['status', 'filled_quantity', 'avg_fill_price', 'updated_at'],
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
    ],
  });
}
