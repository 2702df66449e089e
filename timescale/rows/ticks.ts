// The ticks table and the trade_tick.v1 message it stores: the columns a writer fills from a trade, and
// the trade a stored row gives back (a replay reads what the feature actor wrote).
import type { Kysely, Selectable } from 'kysely';
import type { TradeTick } from '../../schemas/messages.ts';
import { refreshBars1m } from '../bars-1m.ts';
import { BatchWriter, type WriterTuning } from '../batch-writer.ts';
import type { ColumnSpec } from '../copy-encoder.ts';
import { type Database, fromTimestamp, type TicksTable } from '../database.ts';

/** The table's columns, each from the message's field of the same meaning (ts is ts_event). */
export const tickColumns: readonly ColumnSpec<TradeTick>[] = [
  { name: 'id', type: 'text', value: (tick) => tick.id },
  { name: 'symbol', type: 'text', value: (tick) => tick.symbol },
  { name: 'ts', type: 'timestamptz', value: (tick) => tick.ts_event },
  { name: 'ts_init', type: 'timestamptz', value: (tick) => tick.ts_init },
  { name: 'price', type: 'float8', value: (tick) => tick.price },
  { name: 'size', type: 'float8', value: (tick) => tick.size },
  { name: 'aggressor', type: 'text', value: (tick) => tick.aggressor },
  { name: 'trade_id', type: 'text', value: (tick) => tick.trade_id ?? null },
  { name: 'venue', type: 'text', value: (tick) => tick.venue ?? null },
];

/**
 * A writer of trades into `ticks` (binary COPY, idempotent: see BatchWriter) that keeps bars_1m
 * current over the minutes each batch touched: plain PostgreSQL has no continuous aggregate.
 */
export function tickWriter(
  db: Kysely<Database>,
  options: WriterTuning<TradeTick> = {},
): BatchWriter<TradeTick> {
  return new BatchWriter<TradeTick>(db, {
    ...options,
    table: 'ticks',
    columns: tickColumns,
    onBatchWritten: async (ticks) => {
      const times = ticks.map((tick) => tick.ts_event);
      await refreshBars1m(db, Math.min(...times), Math.max(...times) + 1);
    },
  });
}

/** The trade a stored row holds. */
export function tickFromRow(row: Selectable<TicksTable>): TradeTick {
  return {
    schema: 'trade_tick.v1',
    id: row.id,
    ts_event: fromTimestamp(row.ts),
    ts_init: fromTimestamp(row.ts_init),
    symbol: row.symbol,
    price: row.price,
    size: row.size,
    aggressor: row.aggressor,
    ...(row.trade_id ? { trade_id: row.trade_id } : {}),
    ...(row.venue ? { venue: row.venue } : {}),
  };
}
