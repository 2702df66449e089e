// 0002: the time layout of the flavour detected before migrating (migrate.ts): hypertables, a
// continuous aggregate and policies under TimescaleDB, BRIN indexes and a plain bars_1m table otherwise.
// Released: never edited (timescale/migrations/README.md); a change to the schema is a new migration.
import { type Kysely, type Migration, sql } from 'kysely';
import type { Flavour, TimescalePolicies } from '../migrations.ts';
import { COMPRESSED, enableCompression, interval, RETAINED_TABLES } from './shared.ts';

/** The tables keyed and partitioned by event time when 0002 was released (0001's). */
const TIME_TABLES = [
  'ticks',
  'bars',
  'features',
  'signals',
  'risk_decisions',
  'orders',
  'order_events',
  'fills',
  'positions',
  'equity',
] as const;

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

export function timeLayout(flavour: Flavour, policies: TimescalePolicies): Migration {
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
