// Row mappings in timescale/rows: a message written by a table's columns and read back from the stored
// row is the same message, and still meets its contract (a replay reads what the actor wrote).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Selectable } from 'kysely';
import type { Bar, TradeTick } from '../../schemas/messages.ts';
import { decodeMessage } from '../../schemas/validate.ts';
import type { ColumnSpec } from '../../timescale/copy-encoder.ts';
import { type BarsTable, type TicksTable, toTimestamp } from '../../timescale/database.ts';
import { barColumns, barFromRow } from '../../timescale/rows/bars.ts';
import { tickColumns, tickFromRow } from '../../timescale/rows/ticks.ts';

/** The row PostgreSQL would hand back for what `columns` write of `message` (timestamptz as a Date). */
function stored<Message, Row>(columns: readonly ColumnSpec<Message>[], message: Message): Selectable<Row> {
  const row: Record<string, unknown> = {};
  for (const column of columns) {
    const value = column.value(message);
    row[column.name] = column.type === 'timestamptz' ? toTimestamp(value as number) : value;
  }
  return row as Selectable<Row>;
}

const T = Date.UTC(2024, 2, 1, 14, 30);

describe('timescale row mappings', () => {
  it('a bar comes back from its row as it was written', () => {
    const bar: Bar = {
      schema: 'bar.v1',
      id: 'csv:AAPL:2024-03-01',
      ts_event: T,
      ts_init: T + 5,
      symbol: 'AAPL',
      interval: '1d',
      open: 180.1,
      high: 182.5,
      low: 179.25,
      close: 181,
      volume: 1_234_567,
    };
    const back = barFromRow(stored<Bar, BarsTable>(barColumns, bar));
    assert.deepEqual(back, bar);
    assert.ok(decodeMessage('bar', new TextEncoder().encode(JSON.stringify(back))).ok);
  });

  it('a trade comes back from its row as it was written, optional fields absent or present', () => {
    const bare: TradeTick = {
      schema: 'trade_tick.v1',
      id: 'feed:1',
      ts_event: T,
      ts_init: T + 1,
      symbol: 'BTC-USD',
      price: 64_000.5,
      size: 0.25,
      aggressor: 'buy',
    };
    const full: TradeTick = { ...bare, id: 'feed:2', trade_id: 't-9', venue: 'XNAS' };
    for (const tick of [bare, full]) {
      const back = tickFromRow(stored<TradeTick, TicksTable>(tickColumns, tick));
      assert.deepEqual(back, tick);
      assert.ok(decodeMessage('trade_tick', new TextEncoder().encode(JSON.stringify(back))).ok);
    }
  });
});
