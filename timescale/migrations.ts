// The schema as kysely migrations, defined in code (no files found by path at run time). The time
// layout depends on the flavour detected before migrating (migrate.ts): hypertables, a continuous
// aggregate and policies under TimescaleDB, BRIN indexes and a plain bars_1m table otherwise.
//
// Every event table has a natural unique key that includes its time column (TimescaleDB requires the
// partitioning column in unique keys) so writers use ON CONFLICT DO NOTHING and a replay after a
// restart adds no rows. Tables a backtest writes include run_id in the key.
import { type Kysely, type Migration, type MigrationProvider, sql } from 'kysely';
import { type Database, TIME_TABLES } from './database.ts';

export type Flavour = 'timescaledb' | 'postgresql';

/** Hypertables whose old chunks may be dropped by a retention policy. */
export const RETAINED_TABLES = ['ticks', 'bars', 'features'] as const;
export type RetainedTable = (typeof RETAINED_TABLES)[number];

/** TimescaleDB policies, as PostgreSQL interval text; null turns a policy off. */
export interface TimescalePolicies {
  /** Chunk length of ticks (the busiest table). */
  tickChunkInterval: string;
  /**
   * Chunk length of the other hypertables (bars, features and what follows bars) until their bar
   * interval is known; migrateToLatest then sizes them from it (policies.ts).
   */
  chunkInterval: string;
  /** Compress ticks, bars and features chunks older than this. */
  compressAfter: string | null;
  /**
   * Drop chunks older than this, by event time. Off by default for every table: a retention by event
   * time cannot tell old live rows from history loaded for backtests, and would drop that history the
   * day after it was loaded.
   */
  retention: Record<RetainedTable, string | null>;
  /** How far back each bars_1m refresh looks. */
  bars1mRefreshWindow: string;
}

export const DEFAULT_POLICIES: TimescalePolicies = {
  tickChunkInterval: '1 day',
  chunkInterval: '7 days',
  compressAfter: '7 days',
  retention: { ticks: null, bars: null, features: null },
  bars1mRefreshWindow: '1 day',
};

/**
 * Tables whose old chunks are compressed; the rest (audit, orders) stay writable for corrections.
 * segmentby and orderby together cover each table's unique key, so TimescaleDB can check the key
 * against compressed rows (it warns otherwise, and an ON CONFLICT on a compressed chunk is slow).
 */
const COMPRESSED: ReadonlyArray<{ table: string; segmentBy: string; orderBy: string }> = [
  { table: 'ticks', segmentBy: 'symbol', orderBy: 'ts DESC, id' },
  { table: 'bars', segmentBy: 'symbol, "interval"', orderBy: 'ts DESC' },
  { table: 'features', segmentBy: 'symbol, feature_set, feature_set_version', orderBy: 'ts DESC' },
];

/** ALTER TABLE … SET (timescaledb.compress, …) with the table's COMPRESSED settings. */
async function enableCompression(db: Kysely<unknown>, table: string): Promise<void> {
  const settings = COMPRESSED.find((entry) => entry.table === table);
  if (!settings) throw new Error(`${table} is not a compressed table`);
  await sql`
    ALTER TABLE ${sql.table(table)} SET (
      timescaledb.compress,
      timescaledb.compress_segmentby = ${sql.lit(settings.segmentBy)},
      timescaledb.compress_orderby = ${sql.lit(settings.orderBy)}
    )
  `.execute(db);
}

// Interval text reaches SQL as a literal; accept only what an interval looks like.
export function interval(text: string): ReturnType<typeof sql.lit> {
  if (
    !/^\d+\s*(microseconds?|milliseconds?|seconds?|minutes?|hours?|days?|weeks?|months?|years?)$/i.test(text)
  ) {
    throw new Error(`not an interval: "${text}" (use e.g. "7 days")`);
  }
  return sql.lit(text);
}

const coreTables: Migration = {
  async up(db: Kysely<unknown>) {
    // Statements in one batch: the migrator runs them in one transaction.
    await sql`
      CREATE TABLE sluice_meta (
        key text PRIMARY KEY,
        value text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE runs (
        id text PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN ('live', 'paper', 'backtest')),
        config jsonb NOT NULL DEFAULT '{}'::jsonb,
        started_at timestamptz NOT NULL,
        finished_at timestamptz,
        status text NOT NULL DEFAULT 'running',
        metrics jsonb
      );
      CREATE INDEX runs_started_at_idx ON runs (started_at DESC);

      CREATE TABLE ticks (
        id text NOT NULL,
        symbol text NOT NULL,
        ts timestamptz NOT NULL,
        ts_init timestamptz NOT NULL,
        price double precision NOT NULL,
        size double precision NOT NULL,
        aggressor text NOT NULL,
        trade_id text,
        venue text,
        PRIMARY KEY (id, ts)
      );
      CREATE INDEX ticks_symbol_ts_idx ON ticks (symbol, ts DESC);

      CREATE TABLE bars (
        id text NOT NULL,
        symbol text NOT NULL,
        interval text NOT NULL,
        ts timestamptz NOT NULL,
        ts_init timestamptz NOT NULL,
        open double precision NOT NULL,
        high double precision NOT NULL,
        low double precision NOT NULL,
        close double precision NOT NULL,
        volume double precision NOT NULL,
        PRIMARY KEY (symbol, interval, ts)
      );
      CREATE INDEX bars_ts_idx ON bars (ts DESC);

      CREATE TABLE features (
        id text NOT NULL,
        symbol text NOT NULL,
        feature_set text NOT NULL,
        feature_set_version text NOT NULL,
        ts timestamptz NOT NULL,
        ts_init timestamptz NOT NULL,
        "values" jsonb NOT NULL,
        bar_id text NOT NULL,
        PRIMARY KEY (symbol, feature_set, feature_set_version, ts)
      );
      CREATE INDEX features_ts_idx ON features (ts DESC);

      CREATE TABLE signals (
        run_id text NOT NULL DEFAULT 'live',
        id text NOT NULL,
        ts timestamptz NOT NULL,
        ts_init timestamptz NOT NULL,
        strategy text NOT NULL,
        symbol text NOT NULL,
        model_version text NOT NULL,
        direction smallint NOT NULL CHECK (direction IN (-1, 0, 1)),
        probability double precision NOT NULL,
        feature_id text NOT NULL,
        PRIMARY KEY (run_id, id, ts)
      );
      CREATE INDEX signals_run_symbol_ts_idx ON signals (run_id, symbol, ts DESC);

      CREATE TABLE risk_decisions (
        run_id text NOT NULL DEFAULT 'live',
        id text NOT NULL,
        ts timestamptz NOT NULL,
        ts_init timestamptz NOT NULL,
        strategy text NOT NULL,
        symbol text NOT NULL,
        outcome text NOT NULL CHECK (outcome IN ('pass', 'deny')),
        code text NOT NULL,
        reason text NOT NULL,
        trading_state text NOT NULL,
        checks jsonb NOT NULL,
        signal_id text NOT NULL,
        intent_id text,
        PRIMARY KEY (run_id, id, ts)
      );
      CREATE INDEX risk_decisions_run_ts_idx ON risk_decisions (run_id, ts DESC);
      CREATE INDEX risk_decisions_signal_idx ON risk_decisions (signal_id);

      CREATE TABLE orders (
        run_id text NOT NULL DEFAULT 'live',
        id text NOT NULL,
        ts timestamptz NOT NULL,
        ts_init timestamptz NOT NULL,
        intent_id text NOT NULL,
        strategy text NOT NULL,
        symbol text NOT NULL,
        side text NOT NULL CHECK (side IN ('buy', 'sell')),
        quantity double precision NOT NULL,
        order_type text NOT NULL,
        limit_price double precision,
        time_in_force text NOT NULL,
        reduce_only boolean NOT NULL,
        status text NOT NULL,
        filled_quantity double precision NOT NULL DEFAULT 0,
        avg_fill_price double precision,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (run_id, id, ts)
      );
      CREATE INDEX orders_run_ts_idx ON orders (run_id, ts DESC);
      CREATE INDEX orders_open_idx ON orders (run_id, symbol)
        WHERE status NOT IN ('filled', 'canceled', 'expired', 'rejected', 'denied');

      CREATE TABLE order_events (
        run_id text NOT NULL DEFAULT 'live',
        id text NOT NULL,
        ts timestamptz NOT NULL,
        ts_init timestamptz NOT NULL,
        order_id text NOT NULL,
        intent_id text NOT NULL,
        symbol text NOT NULL,
        status text NOT NULL,
        filled_quantity double precision NOT NULL,
        leaves_quantity double precision NOT NULL,
        reason text,
        PRIMARY KEY (run_id, id, ts)
      );
      CREATE INDEX order_events_order_idx ON order_events (run_id, order_id, ts);

      CREATE TABLE fills (
        run_id text NOT NULL DEFAULT 'live',
        id text NOT NULL,
        ts timestamptz NOT NULL,
        ts_init timestamptz NOT NULL,
        order_id text NOT NULL,
        symbol text NOT NULL,
        side text NOT NULL CHECK (side IN ('buy', 'sell')),
        quantity double precision NOT NULL,
        price double precision NOT NULL,
        fee double precision NOT NULL,
        liquidity text NOT NULL,
        PRIMARY KEY (run_id, id, ts)
      );
      CREATE INDEX fills_run_symbol_ts_idx ON fills (run_id, symbol, ts DESC);
      CREATE INDEX fills_order_idx ON fills (run_id, order_id);

      CREATE TABLE positions (
        run_id text NOT NULL DEFAULT 'live',
        account text NOT NULL,
        symbol text NOT NULL,
        ts timestamptz NOT NULL,
        snapshot_id text NOT NULL,
        quantity double precision NOT NULL,
        avg_price double precision NOT NULL,
        realized_pnl double precision NOT NULL,
        unrealized_pnl double precision NOT NULL,
        last_price double precision NOT NULL,
        PRIMARY KEY (run_id, account, symbol, ts)
      );
      CREATE INDEX positions_run_ts_idx ON positions (run_id, ts DESC);

      CREATE TABLE equity (
        run_id text NOT NULL DEFAULT 'live',
        account text NOT NULL,
        ts timestamptz NOT NULL,
        snapshot_id text NOT NULL,
        cash double precision NOT NULL,
        equity double precision NOT NULL,
        gross_exposure double precision NOT NULL,
        net_exposure double precision NOT NULL,
        PRIMARY KEY (run_id, account, ts)
      );
    `.execute(db);
  },
  async down(db: Kysely<unknown>) {
    await sql`
      DROP TABLE IF EXISTS equity, positions, fills, order_events, orders, risk_decisions, signals,
        features, bars, ticks, runs, sluice_meta CASCADE;
    `.execute(db);
  },
};

async function timescaleLayout(db: Kysely<unknown>, policies: TimescalePolicies): Promise<void> {
  for (const table of TIME_TABLES) {
    const chunk = table === 'ticks' ? policies.tickChunkInterval : policies.chunkInterval;
    await sql`
      SELECT create_hypertable(${table}::regclass, 'ts', chunk_time_interval => ${interval(chunk)}::interval,
        if_not_exists => true, migrate_data => true)
    `.execute(db);
  }

  // WITH NO DATA lets this run inside the migration's transaction; the policy fills it.
  // materialized_only = false: queries also see the minutes the policy has not materialised yet.
  await sql`
    CREATE MATERIALIZED VIEW bars_1m
    WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
    SELECT symbol,
      time_bucket(INTERVAL '1 minute', ts) AS bucket,
      first(price, ts) AS open,
      max(price) AS high,
      min(price) AS low,
      last(price, ts) AS close,
      sum(size) AS volume,
      count(*) AS trades
    FROM ticks
    GROUP BY symbol, bucket
    WITH NO DATA
  `.execute(db);
  await sql`
    SELECT add_continuous_aggregate_policy('bars_1m',
      start_offset => ${interval(policies.bars1mRefreshWindow)}::interval,
      end_offset => INTERVAL '1 minute',
      schedule_interval => INTERVAL '1 minute',
      if_not_exists => true)
  `.execute(db);

  if (policies.compressAfter !== null) {
    for (const { table } of COMPRESSED) {
      await enableCompression(db, table);
      await sql`
        SELECT add_compression_policy(${table}::regclass, ${interval(policies.compressAfter)}::interval,
          if_not_exists => true)
      `.execute(db);
    }
  }
  for (const table of RETAINED_TABLES) {
    const dropAfter = policies.retention[table];
    if (dropAfter === null) continue;
    await sql`
      SELECT add_retention_policy(${table}::regclass, ${interval(dropAfter)}::interval, if_not_exists => true)
    `.execute(db);
  }
}

async function postgresLayout(db: Kysely<unknown>): Promise<void> {
  // BRIN: tiny indexes that fit append-mostly, time-ordered tables, for range scans by time.
  for (const table of TIME_TABLES) {
    await sql`CREATE INDEX ${sql.id(`${table}_ts_brin`)} ON ${sql.table(table)} USING brin (ts)`.execute(db);
  }
  await sql`
    CREATE TABLE bars_1m (
      symbol text NOT NULL,
      bucket timestamptz NOT NULL,
      open double precision NOT NULL,
      high double precision NOT NULL,
      low double precision NOT NULL,
      close double precision NOT NULL,
      volume double precision NOT NULL,
      trades bigint NOT NULL,
      PRIMARY KEY (symbol, bucket)
    );
    CREATE INDEX bars_1m_bucket_brin ON bars_1m USING brin (bucket);
  `.execute(db);
}

function timeLayout(flavour: Flavour, policies: TimescalePolicies): Migration {
  return {
    async up(db: Kysely<unknown>) {
      if (flavour === 'timescaledb') await timescaleLayout(db, policies);
      else await postgresLayout(db);
      // Recorded with the layout, in the same transaction: the schema's flavour, whatever is
      // installed later.
      await sql`
        INSERT INTO sluice_meta (key, value) VALUES ('flavour', ${flavour})
        ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now()
      `.execute(db);
    },
    async down(db: Kysely<unknown>) {
      if (flavour === 'timescaledb') await sql`DROP MATERIALIZED VIEW IF EXISTS bars_1m`.execute(db);
      else await sql`DROP TABLE IF EXISTS bars_1m`.execute(db);
      await sql`DELETE FROM sluice_meta WHERE key = 'flavour'`.execute(db);
    },
  };
}

// features."values" as float8[] in the column order its feature set registered once in feature_sets
// (version → column names), instead of jsonb that repeats every name in every row and costs the server
// a JSON parse per row. A NULL element is a value still warming up (jsonb stored null). Rows already
// stored are converted with the names their own jsonb holds, sorted; the writer follows whatever order
// feature_sets holds for a version, so old and new rows of one version line up.
const FEATURE_SETS_TABLE = sql`
  CREATE TABLE IF NOT EXISTS feature_sets (
    version text PRIMARY KEY,
    name text NOT NULL,
    column_names text[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
  )
`;

/**
 * Runs `alter` on features with TimescaleDB compression out of the way: a column's type cannot change
 * while compression is enabled, so compressed chunks are decompressed, compression (and its policy) is
 * turned off, and both are restored afterwards with the settings 0002 set and the policy's own
 * compress_after. Plain PostgreSQL (or compression never enabled) just runs `alter`.
 */
async function withFeaturesUncompressed(
  db: Kysely<unknown>,
  flavour: Flavour,
  alter: () => Promise<void>,
): Promise<void> {
  if (flavour !== 'timescaledb') return alter();
  const enabled = await sql<{ compression_enabled: boolean }>`
    SELECT compression_enabled FROM timescaledb_information.hypertables
    WHERE hypertable_schema = current_schema() AND hypertable_name = 'features'
  `.execute(db);
  if (!enabled.rows[0]?.compression_enabled) return alter();
  const policy = await sql<{ compress_after: string | null }>`
    SELECT config->>'compress_after' AS compress_after FROM timescaledb_information.jobs
    WHERE proc_name = 'policy_compression' AND hypertable_schema = current_schema()
      AND hypertable_name = 'features'
  `.execute(db);
  const compressAfter = policy.rows[0]?.compress_after ?? null;
  await sql`SELECT remove_compression_policy('features', if_exists => true)`.execute(db);
  await sql`SELECT decompress_chunk(c, if_compressed => true) FROM show_chunks('features') c`.execute(db);
  await sql`ALTER TABLE features SET (timescaledb.compress = false)`.execute(db);
  await alter();
  await enableCompression(db, 'features');
  if (compressAfter !== null) {
    // Chunks older than compress_after are compressed again by the policy's next run.
    await sql`
      SELECT add_compression_policy('features', ${compressAfter}::interval, if_not_exists => true)
    `.execute(db);
  }
}

function featureValuesAsFloat8Array(flavour: Flavour): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await FEATURE_SETS_TABLE.execute(db);
      await sql`
        INSERT INTO feature_sets (version, name, column_names)
        SELECT feature_set_version, min(feature_set), array_agg(DISTINCT k ORDER BY k)
        FROM features, jsonb_object_keys("values") AS k
        GROUP BY feature_set_version
        ON CONFLICT (version) DO NOTHING
      `.execute(db);
      // A function because ALTER … USING cannot hold a subquery; dropped again below.
      await sql`
        CREATE FUNCTION sluice_feature_values_0003(v jsonb, set_version text) RETURNS float8[]
        LANGUAGE sql STABLE AS $$
          SELECT coalesce(array_agg((v ->> u.name)::float8 ORDER BY u.i), '{}')
          FROM feature_sets fs, unnest(fs.column_names) WITH ORDINALITY AS u(name, i)
          WHERE fs.version = set_version
        $$
      `.execute(db);
      await withFeaturesUncompressed(db, flavour, async () => {
        await sql`
          ALTER TABLE features ALTER COLUMN "values" TYPE float8[]
            USING sluice_feature_values_0003("values", feature_set_version)
        `.execute(db);
      });
      await sql`DROP FUNCTION sluice_feature_values_0003(jsonb, text)`.execute(db);
    },
    async down(db: Kysely<unknown>) {
      await sql`
        CREATE FUNCTION sluice_feature_values_0003(v float8[], set_version text) RETURNS jsonb
        LANGUAGE sql STABLE AS $$
          SELECT coalesce(jsonb_object_agg(u.name, to_jsonb(u.value)), '{}')
          FROM feature_sets fs, unnest(fs.column_names, v) AS u(name, value)
          WHERE fs.version = set_version AND u.name IS NOT NULL
        $$
      `.execute(db);
      await withFeaturesUncompressed(db, flavour, async () => {
        await sql`
          ALTER TABLE features ALTER COLUMN "values" TYPE jsonb
            USING sluice_feature_values_0003("values", feature_set_version)
        `.execute(db);
      });
      await sql`DROP FUNCTION sluice_feature_values_0003(float8[], text)`.execute(db);
      await sql`DROP TABLE IF EXISTS feature_sets`.execute(db);
    },
  };
}

// On plain PostgreSQL, bars and features carried a btree on ts alone (0001) beside the BRIN of 0002.
// Time ranges need only the BRIN and per-symbol reads use the primary key, while every row written paid
// for the btree (about 15 % of feature rows written per second). TimescaleDB keeps it: there it is
// the hypertables' time index.
const REDUNDANT_TIME_BTREES = [
  { index: 'bars_ts_idx', table: 'bars' },
  { index: 'features_ts_idx', table: 'features' },
] as const;

function dropRedundantTimeBtrees(flavour: Flavour): Migration {
  return {
    async up(db) {
      if (flavour === 'timescaledb') return;
      for (const { index } of REDUNDANT_TIME_BTREES)
        await sql`DROP INDEX IF EXISTS ${sql.id(index)}`.execute(db);
    },
    async down(db) {
      if (flavour === 'timescaledb') return;
      for (const { index, table } of REDUNDANT_TIME_BTREES)
        await sql`CREATE INDEX IF NOT EXISTS ${sql.id(index)} ON ${sql.table(table)} (ts DESC)`.execute(db);
    },
  };
}

// 0002 compressed without covering the unique keys (ticks' id, features' feature_set_version), and
// kept ticks 90 days by event time, which dropped any historical load of ticks the day after. Settings
// take effect for chunks compressed from now on (TimescaleDB keeps each compressed chunk's own).
const OLD_DEFAULT_TICK_RETENTION = '90 days';

function compressionKeysAndNoDefaultRetention(flavour: Flavour): Migration {
  return {
    async up(db) {
      if (flavour !== 'timescaledb') return;
      const compressed = await sql<{ hypertable_name: string }>`
        SELECT hypertable_name FROM timescaledb_information.hypertables
        WHERE hypertable_schema = current_schema() AND compression_enabled
      `.execute(db);
      for (const { hypertable_name } of compressed.rows) {
        if (COMPRESSED.some((entry) => entry.table === hypertable_name))
          await enableCompression(db, hypertable_name);
      }
      // Only the old default goes; a retention someone set on purpose stays.
      await sql`
        SELECT delete_job(job_id) FROM timescaledb_information.jobs
        WHERE proc_name = 'policy_retention' AND hypertable_schema = current_schema()
          AND hypertable_name = 'ticks' AND (config->>'drop_after')::interval = ${OLD_DEFAULT_TICK_RETENTION}::interval
      `.execute(db);
    },
    async down() {
      // Compression settings and a dropped default are not restored: neither loses data.
    },
  };
}

/** The migrations in order; their names never change once released. */
export function buildMigrations(
  flavour: Flavour,
  policies: TimescalePolicies = DEFAULT_POLICIES,
): Record<string, Migration> {
  return {
    '0001_core_tables': coreTables,
    '0002_time_layout': timeLayout(flavour, policies),
    '0003_feature_values_float8': featureValuesAsFloat8Array(flavour),
    '0004_drop_redundant_time_btrees': dropRedundantTimeBtrees(flavour),
    '0005_compression_keys_no_default_retention': compressionKeysAndNoDefaultRetention(flavour),
  };
}

export class InCodeMigrationProvider implements MigrationProvider {
  constructor(private readonly migrations: Record<string, Migration>) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    return this.migrations;
  }
}

export const MIGRATION_TABLE = 'sluice_migration';
export const MIGRATION_LOCK_TABLE = 'sluice_migration_lock';

/** For typing convenience: the migrator works on the untyped view of the typed database. */
export function untyped(db: Kysely<Database>): Kysely<unknown> {
  return db as unknown as Kysely<unknown>;
}
