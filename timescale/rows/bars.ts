// The bars table and the bar.v1 message it stores: the columns a writer fills from a bar, and the bar
// a stored row gives back (a replay reads what the feature actor wrote).
import type { Kysely, Selectable } from 'kysely';
import type { Bar } from '../../schemas/messages.ts';
import { BatchWriter, type WriterTuning } from '../batch-writer.ts';
import type { ColumnSpec } from '../copy-encoder.ts';
import { type BarsTable, type Database, fromTimestamp } from '../database.ts';

/** The table's columns, each from the message's field of the same meaning (ts is ts_event). */
export const barColumns: readonly ColumnSpec<Bar>[] = [
  { name: 'id', type: 'text', value: (bar) => bar.id },
  { name: 'symbol', type: 'text', value: (bar) => bar.symbol },
  { name: 'interval', type: 'text', value: (bar) => bar.interval },
  { name: 'ts', type: 'timestamptz', value: (bar) => bar.ts_event },
  { name: 'ts_init', type: 'timestamptz', value: (bar) => bar.ts_init },
  { name: 'open', type: 'float8', value: (bar) => bar.open },
  { name: 'high', type: 'float8', value: (bar) => bar.high },
  { name: 'low', type: 'float8', value: (bar) => bar.low },
  { name: 'close', type: 'float8', value: (bar) => bar.close },
  { name: 'volume', type: 'float8', value: (bar) => bar.volume },
];

/** A writer of bars into `bars` (binary COPY, idempotent: see BatchWriter). */
export function barWriter(db: Kysely<Database>, options: WriterTuning<Bar> = {}): BatchWriter<Bar> {
  return new BatchWriter<Bar>(db, {
    ...options,
    table: 'bars',
    columns: barColumns,
  });
}

/** The bar a stored row holds. */
export function barFromRow(row: Selectable<BarsTable>): Bar {
  return {
    schema: 'bar.v1',
    id: row.id,
    ts_event: fromTimestamp(row.ts),
    ts_init: fromTimestamp(row.ts_init),
    symbol: row.symbol,
    interval: row.interval,
    open: row.open,
    high: row.high,
    low: row.low,
    close: row.close,
    volume: row.volume,
  };
}
