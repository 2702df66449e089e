import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Kysely, sql } from 'kysely';
import type { Bar } from '../../schemas/messages.ts';
import { BatchWriter } from '../../timescale/batch-writer.ts';
import type { Database } from '../../timescale/database.ts';
import { useMigratedDatabase } from '../support/postgres.ts';

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

function barWriter(db: Kysely<Database>, onRefused?: (row: Bar, reason: string) => Promise<unknown>) {
  return new BatchWriter<Bar>(db, {
    table: 'bars',
    batchRows: 500,
    ...(onRefused ? { onRefused } : {}),
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
  let db: Kysely<Database>;
  useMigratedDatabase((opened) => {
    db = opened;
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

  it('a row refused for good (a timestamp out of range, a NUL byte, a CHECK) goes to onRefused with the reason; the rest of its batch lands; nothing is retried', {
    timeout: 30_000,
  }, async () => {
    // A CHECK the contract knows nothing of: PostgreSQL refuses what the bar contract allows.
    await sql`ALTER TABLE bars ADD CONSTRAINT test_refused_volume CHECK (symbol <> 'REFUSE' OR volume < 1e9)`.execute(
      db,
    );
    try {
      const refused: { id: string; reason: string }[] = [];
      const writer = barWriter(db, async (row, reason) => {
        refused.push({ id: row.id, reason });
      });
      const good = Array.from({ length: 1_200 }, (_, index) => bar(index, 'REFUSE'));
      const bad: Bar[] = [
        { ...bar(5_000, 'REFUSE'), id: 'bad:far-future', ts_event: 1e16 },
        { ...bar(5_001, 'REFUSE'), id: 'bad:nul', symbol: 'REF\u0000USE' },
        { ...bar(5_002, 'REFUSE'), id: 'bad:check', volume: 5e9 },
      ];
      // The bad rows among the good, in two batches of 500 and a third of 203.
      for (const row of [
        ...good.slice(0, 100),
        bad[0]!,
        ...good.slice(100, 700),
        bad[1]!,
        ...good.slice(700),
        bad[2]!,
      ])
        await writer.add(row);
      await writer.flush();
      const count = async () =>
        Number(
          (
            await db
              .selectFrom('bars')
              .select(({ fn }) => fn.countAll<number>().as('count'))
              .where('symbol', '=', 'REFUSE')
              .executeTakeFirstOrThrow()
          ).count,
        );
      assert.equal(await count(), good.length, 'every good row stored');
      // Batches may be written concurrently, so refusals arrive in any order.
      const reasonOf = new Map(refused.map((refusal) => [refusal.id, refusal.reason]));
      assert.deepEqual([...reasonOf.keys()].sort(), ['bad:check', 'bad:far-future', 'bad:nul']);
      assert.equal(refused.length, 3, 'each refused row reported once');
      assert.match(
        reasonOf.get('bad:far-future')!,
        /^bars refused the row: timestamp out of range.*\[SQLSTATE 22008\]/,
      );
      assert.match(reasonOf.get('bad:nul')!, /invalid byte sequence.*\[SQLSTATE 22021\]/);
      assert.match(
        reasonOf.get('bad:check')!,
        /violates check constraint "test_refused_volume".*\[SQLSTATE 23514\]/,
      );
      assert.deepEqual(
        { ...writer.stats, buffered: 0 },
        { rowsWritten: good.length, rowsRefused: 3, batches: 3, failedAttempts: 0, buffered: 0 },
      );

      // A replay overlapping stored rows takes the fallback INSERT: it refuses the same rows there.
      refused.length = 0;
      for (const row of [...good.slice(900), ...bad, bar(6_000, 'REFUSE')]) await writer.add(row);
      await writer.flush();
      assert.equal(await count(), good.length + 1);
      assert.deepEqual(refused.map((refusal) => refusal.id).sort(), [
        'bad:check',
        'bad:far-future',
        'bad:nul',
      ]);
    } finally {
      await sql`ALTER TABLE bars DROP CONSTRAINT test_refused_volume`.execute(db);
    }
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

  it('an upsert writer keeps the last state per key and never moves a row back', async () => {
    interface State {
      id: string;
      status: string;
      filled: number;
      at: number;
    }
    const T = 1_600_000_000_000;
    const writer = () =>
      new BatchWriter<State>(db, {
        table: 'orders',
        columns: [
          { name: 'run_id', type: 'text', value: () => 'upsert-test' },
          { name: 'id', type: 'text', value: (o) => o.id },
          { name: 'ts', type: 'timestamptz', value: () => T },
          { name: 'ts_init', type: 'timestamptz', value: () => T },
          { name: 'intent_id', type: 'text', value: (o) => `${o.id}:intent` },
          { name: 'strategy', type: 'text', value: () => 's' },
          { name: 'symbol', type: 'text', value: () => 'AAPL' },
          { name: 'side', type: 'text', value: () => 'buy' },
          { name: 'quantity', type: 'float8', value: () => 10 },
          { name: 'order_type', type: 'text', value: () => 'market' },
          { name: 'time_in_force', type: 'text', value: () => 'ioc' },
          { name: 'reduce_only', type: 'bool', value: () => false },
          { name: 'status', type: 'text', value: (o) => o.status },
          { name: 'filled_quantity', type: 'float8', value: (o) => o.filled },
          { name: 'updated_at', type: 'timestamptz', value: (o) => T + o.at },
        ],
        upsert: {
          key: ['run_id', 'id', 'ts'],
          set: ['status', 'filled_quantity', 'updated_at'],
          where: "orders.status <> 'filled' AND excluded.filled_quantity >= orders.filled_quantity",
        },
      });
    const stored = async () =>
      (await db.selectFrom('orders').select(['id', 'status', 'filled_quantity']).orderBy('id').execute()).map(
        (row) => `${row.id} ${row.status} ${row.filled_quantity}`,
      );
    // One batch: the last state of each key wins (COPY cannot take a key twice; the upsert can).
    let w = writer();
    for (const state of [
      { id: 'o1', status: 'submitted', filled: 0, at: 0 },
      { id: 'o2', status: 'submitted', filled: 0, at: 0 },
      { id: 'o1', status: 'partially_filled', filled: 4, at: 1 },
      { id: 'o1', status: 'filled', filled: 10, at: 2 },
    ])
      w.add(state);
    await w.flush();
    assert.deepEqual(await stored(), ['o1 filled 10', 'o2 submitted 0']);
    // Later batches update stored rows; a replayed older state changes nothing.
    w = writer();
    w.add({ id: 'o2', status: 'partially_filled', filled: 5, at: 1 });
    await w.flush();
    w.add({ id: 'o1', status: 'submitted', filled: 0, at: 0 });
    w.add({ id: 'o2', status: 'accepted', filled: 0, at: 0 });
    await w.flush();
    assert.deepEqual(await stored(), ['o1 filled 10', 'o2 partially_filled 5']);
    await db.deleteFrom('orders').execute();
  });
});

describe('BatchWriter binary COPY encoding', () => {
  let db: Kysely<Database>;
  useMigratedDatabase((opened) => {
    db = opened;
  });

  interface Raw {
    id: string;
    ts: number;
    values: Array<number | null>;
  }
  const rawWriter = () =>
    new BatchWriter<Raw>(db, {
      table: 'features',
      batchRows: 3,
      columns: [
        { name: 'id', type: 'text', value: (row) => row.id },
        { name: 'symbol', type: 'text', value: () => 'Ünïcode✓' },
        { name: 'feature_set', type: 'text', value: () => 'raw' },
        { name: 'feature_set_version', type: 'text', value: () => 'v' },
        { name: 'ts', type: 'timestamptz', value: (row) => row.ts },
        { name: 'ts_init', type: 'timestamptz', value: (row) => row.ts + 1 },
        { name: 'values', type: 'float8[]', value: (row) => row.values },
        { name: 'bar_id', type: 'text', value: (row) => `bar:${row.id}` },
      ],
    });
  const rows: Raw[] = [
    { id: 'a', ts: Date.UTC(1999, 11, 31, 23, 59, 59, 999), values: [1.5, -0, 1e-310, Number.MAX_VALUE] },
    { id: 'b', ts: Date.UTC(1970, 0, 1), values: [null, Number.NaN, Number.POSITIVE_INFINITY, null] },
    { id: 'c', ts: Date.UTC(2000, 0, 1), values: [] },
    { id: 'd', ts: Date.UTC(2024, 5, 30, 12, 0, 0, 123), values: [Number.NEGATIVE_INFINITY, 2 ** 60] },
    { id: 'e', ts: Date.UTC(1901, 0, 1, 0, 0, 0, 1), values: [0.1 + 0.2] },
  ];

  async function stored() {
    const result = await db
      .selectFrom('features')
      .select(['id', 'symbol', 'ts', 'ts_init', 'values'])
      .where('feature_set', '=', 'raw')
      .orderBy('id')
      .execute();
    return result.map((row) => ({
      id: row.id,
      symbol: row.symbol,
      ts: row.ts.getTime(),
      ts_init: row.ts_init.getTime(),
      values: row.values,
    }));
  }

  it('float8[] (NULL, NaN, ±Infinity, empty), timestamps before and after 2000 and UTF-8 text round-trip by COPY and by the fallback INSERT', async () => {
    const expected = rows.map((row) => ({
      id: row.id,
      symbol: 'Ünïcode✓',
      ts: row.ts,
      ts_init: row.ts + 1,
      values: row.values,
    }));
    const copy = rawWriter();
    for (const row of rows.slice(0, 3)) await copy.add(row);
    await copy.flush();
    // Overlaps 'c': this batch goes through the fallback INSERT … ON CONFLICT DO NOTHING.
    const replay = rawWriter();
    for (const row of rows.slice(2)) await replay.add(row);
    await replay.flush();
    assert.deepEqual(await stored(), expected);
    assert.equal(replay.stats.rowsWritten, 3);
  });
});

describe('BatchWriter binary COPY of jsonb, bool and NULL columns', () => {
  let db: Kysely<Database>;
  useMigratedDatabase((opened) => {
    db = opened;
  });

  it('round-trips jsonb text, booleans and NULLs', async () => {
    const ts = Date.UTC(2024, 0, 2);
    const checks = [{ check: 'collar ✓', passed: true, value: 1.25, note: 'tab\there "quoted" \\' }];
    const orderWriter = new BatchWriter<{ id: string; reduceOnly: boolean; limit: number | null }>(db, {
      table: 'orders',
      columns: [
        { name: 'id', type: 'text', value: (row) => row.id },
        { name: 'ts', type: 'timestamptz', value: () => ts },
        { name: 'ts_init', type: 'timestamptz', value: () => ts },
        { name: 'intent_id', type: 'text', value: (row) => `intent:${row.id}` },
        { name: 'strategy', type: 'text', value: () => 'mom' },
        { name: 'symbol', type: 'text', value: () => 'AAPL' },
        { name: 'side', type: 'text', value: () => 'buy' },
        { name: 'quantity', type: 'float8', value: () => 10 },
        { name: 'order_type', type: 'text', value: (row) => (row.limit === null ? 'market' : 'limit') },
        { name: 'limit_price', type: 'float8', value: (row) => row.limit },
        { name: 'time_in_force', type: 'text', value: () => 'day' },
        { name: 'reduce_only', type: 'bool', value: (row) => row.reduceOnly },
        { name: 'status', type: 'text', value: () => 'accepted' },
        { name: 'updated_at', type: 'timestamptz', value: () => ts },
      ],
    });
    await orderWriter.add({ id: 'o1', reduceOnly: true, limit: null });
    await orderWriter.add({ id: 'o2', reduceOnly: false, limit: 101.5 });
    await orderWriter.flush();
    const orders = await db
      .selectFrom('orders')
      .select(['id', 'reduce_only', 'limit_price'])
      .orderBy('id')
      .execute();
    assert.deepEqual(orders, [
      { id: 'o1', reduce_only: true, limit_price: null },
      { id: 'o2', reduce_only: false, limit_price: 101.5 },
    ]);

    const audit = new BatchWriter<{ id: string }>(db, {
      table: 'risk_decisions',
      columns: [
        { name: 'id', type: 'text', value: (row) => row.id },
        { name: 'ts', type: 'timestamptz', value: () => ts },
        { name: 'ts_init', type: 'timestamptz', value: () => ts },
        { name: 'strategy', type: 'text', value: () => 'mom' },
        { name: 'symbol', type: 'text', value: () => 'AAPL' },
        { name: 'outcome', type: 'text', value: () => 'pass' },
        { name: 'code', type: 'text', value: () => 'OK' },
        { name: 'reason', type: 'text', value: () => '' },
        { name: 'trading_state', type: 'text', value: () => 'active' },
        { name: 'checks', type: 'jsonb', value: () => JSON.stringify(checks) },
        { name: 'signal_id', type: 'text', value: () => 'sig' },
        { name: 'intent_id', type: 'text', value: () => null },
      ],
    });
    await audit.add({ id: 'rd1' });
    await audit.flush();
    const stored = await db
      .selectFrom('risk_decisions')
      .select(['checks', 'reason', 'intent_id'])
      .executeTakeFirstOrThrow();
    assert.deepEqual(stored, { checks, reason: '', intent_id: null });
  });
});
