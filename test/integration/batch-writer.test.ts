import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Kysely } from 'kysely';
import type { Bar } from '../../schemas/messages.ts';
import { BatchWriter } from '../../timescale/batch-writer.ts';
import { createDatabase, type Database } from '../../timescale/database.ts';
import { migrateToLatest } from '../../timescale/migrate.ts';
import { postgresForTests } from '../support/postgres.ts';

function bar(index: number, symbol = 'AAPL'): Bar {
  return {
    schema: 'bar.v1',
    id: `test:${symbol}:${index}`,
    ts_event: 1_600_000_000_000 + index * 60_000,
    ts_init: 1_600_000_000_000 + index * 60_000,
    symbol,
    interval: '1m',
    open: 100 + index,
    high: 101 + index,
    low: 99 + index,
    close: 100.5 + index,
    volume: index,
  };
}

function barWriter(db: Kysely<Database>) {
  return new BatchWriter<Bar>(db, {
    table: 'bars',
    batchRows: 500,
    columns: [
      { name: 'id', type: 'text', value: (row) => row.id },
      { name: 'symbol', type: 'text', value: (row) => row.symbol },
      { name: 'interval', type: 'text', value: (row) => row.interval },
      { name: 'ts', type: 'timestamptz', value: (row) => row.ts_event },
      { name: 'ts_init', type: 'timestamptz', value: (row) => row.ts_init },
      { name: 'open', type: 'float8', value: (row) => row.open },
      { name: 'high', type: 'float8', value: (row) => row.high },
      { name: 'low', type: 'float8', value: (row) => row.low },
      { name: 'close', type: 'float8', value: (row) => row.close },
      { name: 'volume', type: 'float8', value: (row) => row.volume },
    ],
  });
}

describe('BatchWriter against a real PostgreSQL', () => {
  let database: { url: string; close(): Promise<void> };
  let db: Kysely<Database>;
  before(async () => {
    database = await postgresForTests();
    db = createDatabase(database.url);
    await migrateToLatest(db);
  });
  after(async () => {
    await db?.destroy();
    await database?.close();
  });

  it('writes by COPY and, when a batch overlaps stored rows, adds only the new ones', async () => {
    const writer = barWriter(db);
    for (let index = 0; index < 2_000; index++) await writer.add(bar(index));
    await writer.flush();
    // A replay after a restart: half of these are stored already.
    for (let index = 1_000; index < 3_000; index++) await writer.add(bar(index));
    await writer.flush();
    const rows = await db
      .selectFrom('bars')
      .select(({ fn }) => fn.countAll<number>().as('count'))
      .executeTakeFirstOrThrow();
    assert.equal(Number(rows.count), 3_000);
    const last = await db
      .selectFrom('bars')
      .selectAll()
      .where('id', '=', 'test:AAPL:2999')
      .executeTakeFirstOrThrow();
    assert.equal(last.close, 3_099.5);
    assert.equal(last.ts.getTime(), bar(2_999).ts_event);
  });

  it('keeps text with tabs, newlines and backslashes intact through COPY', async () => {
    const writer = barWriter(db);
    const symbol = 'ODD\t\\SYM\nX';
    await writer.add(bar(0, symbol));
    await writer.flush();
    const stored = await db
      .selectFrom('bars')
      .select(['symbol', 'id'])
      .where('symbol', '=', symbol)
      .execute();
    assert.deepEqual(stored, [{ symbol, id: `test:${symbol}:0` }]);
  });
});
