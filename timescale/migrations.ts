// The schema as kysely migrations, defined in code (no files found by path at run time): one file per
// migration in migrations/, listed here in order. A released migration is never edited and its name
// never changes (migrations/README.md; test/unit/timescale-migrations.test.ts pins each file's content),
// so a database migrated once never reruns or misses anything: a schema change is a new migration.
import type { Kysely, Migration, MigrationProvider } from 'kysely';
import type { Database } from './database.ts';
import { coreTables } from './migrations/0001_core_tables.ts';
import { timeLayout } from './migrations/0002_time_layout.ts';
import { featureValuesAsFloat8Array } from './migrations/0003_feature_values_float8.ts';
import { dropRedundantTimeBtrees } from './migrations/0004_drop_redundant_time_btrees.ts';
import { compressionKeysAndNoDefaultRetention } from './migrations/0005_compression_keys_no_default_retention.ts';
import { dropSignals } from './migrations/0006_drop_signals.ts';
import { orderVenueFields } from './migrations/0007_order_venue_fields.ts';
import type { RetainedTable } from './migrations/shared.ts';

export { interval, RETAINED_TABLES, type RetainedTable } from './migrations/shared.ts';

export type Flavour = 'timescaledb' | 'postgresql';

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
    '0006_drop_signals': dropSignals,
    '0007_order_venue_fields': orderVenueFields,
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
