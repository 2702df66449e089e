// Brings a database to the latest schema and says which flavour it runs: TimescaleDB when the
// extension can be created, plain PostgreSQL otherwise (design §2). Safe to run at every start-up and
// from several processes at once (the migrator holds a lock row).
import { type Kysely, Migrator, sql } from 'kysely';
import type { Logger } from '../core/logger.ts';
import { type Database, TABLES } from './database.ts';
import {
  buildMigrations,
  DEFAULT_POLICIES,
  type Flavour,
  InCodeMigrationProvider,
  MIGRATION_LOCK_TABLE,
  MIGRATION_TABLE,
  type TimescalePolicies,
  untyped,
} from './migrations.ts';

export type { Flavour, TimescalePolicies };

export interface MigrateOptions {
  /** 'auto' (default) uses TimescaleDB when it can be created; 'postgresql' never tries. */
  flavour?: 'auto' | 'postgresql';
  /** TimescaleDB chunk, compression and retention settings, used when the layout is first created. */
  policies?: Partial<TimescalePolicies>;
}

export interface MigrateResult {
  flavour: Flavour;
  timescaleVersion?: string;
  /** Migrations applied by this call (empty when already up to date). */
  applied: string[];
}

interface Detected {
  flavour: Flavour;
  timescaleVersion?: string;
  /** Why plain PostgreSQL was chosen, for the log. */
  reason?: string;
}

async function recordedFlavour(db: Kysely<Database>): Promise<Flavour | undefined> {
  const exists = await sql<{
    present: boolean;
  }>`SELECT to_regclass('sluice_meta') IS NOT NULL AS present`.execute(db);
  if (!exists.rows[0]?.present) return undefined;
  const row = await db
    .selectFrom('sluice_meta')
    .select('value')
    .where('key', '=', 'flavour')
    .executeTakeFirst();
  return row?.value === 'timescaledb' || row?.value === 'postgresql' ? row.value : undefined;
}

async function installedTimescaleVersion(db: Kysely<Database>): Promise<string | undefined> {
  const result = await sql<{ extversion: string }>`
    SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'
  `.execute(db);
  return result.rows[0]?.extversion;
}

async function timescaleAvailable(db: Kysely<Database>): Promise<boolean> {
  const result = await sql<{ name: string }>`
    SELECT name FROM pg_available_extensions WHERE name = 'timescaledb'
  `.execute(db);
  return result.rows.length > 0;
}

/** The flavour to migrate with: the one already recorded, else what this server can do. */
async function detectFlavour(db: Kysely<Database>, options: MigrateOptions): Promise<Detected> {
  const recorded = await recordedFlavour(db);
  if (recorded === 'timescaledb') {
    const timescaleVersion = await installedTimescaleVersion(db);
    return timescaleVersion ? { flavour: recorded, timescaleVersion } : { flavour: recorded };
  }
  if (recorded === 'postgresql') {
    return { flavour: recorded, reason: 'the schema was created without TimescaleDB' };
  }
  if (options.flavour === 'postgresql')
    return { flavour: 'postgresql', reason: 'plain PostgreSQL was requested' };
  if (!(await timescaleAvailable(db))) {
    return { flavour: 'postgresql', reason: 'the timescaledb extension is not installed on this server' };
  }
  try {
    // Outside the migration transaction: a failure here (not preloaded, no privilege) must not abort it.
    await sql`CREATE EXTENSION IF NOT EXISTS timescaledb`.execute(db);
  } catch (error) {
    return {
      flavour: 'postgresql',
      reason: `CREATE EXTENSION timescaledb failed: ${(error as Error).message}`,
    };
  }
  const timescaleVersion = await installedTimescaleVersion(db);
  return timescaleVersion ? { flavour: 'timescaledb', timescaleVersion } : { flavour: 'timescaledb' };
}

function migrator(db: Kysely<Database>, flavour: Flavour, policies: TimescalePolicies): Migrator {
  return new Migrator({
    db: untyped(db),
    provider: new InCodeMigrationProvider(buildMigrations(flavour, policies)),
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: MIGRATION_LOCK_TABLE,
  });
}

/** Runs every pending migration; logs the flavour once. Running it again applies nothing. */
export async function migrateToLatest(
  db: Kysely<Database>,
  logger?: Logger,
  options: MigrateOptions = {},
): Promise<MigrateResult> {
  const detected = await detectFlavour(db, options);
  const policies = { ...DEFAULT_POLICIES, ...options.policies };
  const { error, results = [] } = await migrator(db, detected.flavour, policies).migrateToLatest();
  if (error) {
    const failed = results.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`database migration ${failed} failed: ${message}`, { cause: error });
  }
  const applied = results.filter((r) => r.status === 'Success').map((r) => r.migrationName);

  await db
    .insertInto('sluice_meta')
    .values({ key: 'timescale_version', value: detected.timescaleVersion ?? '' })
    .onConflict((oc) =>
      oc.column('key').doUpdateSet({ value: (eb) => eb.ref('excluded.value'), updated_at: new Date() }),
    )
    .execute();

  if (detected.flavour === 'timescaledb') {
    logger?.info(
      { flavour: detected.flavour, timescaleVersion: detected.timescaleVersion, applied },
      `TimescaleDB ${detected.timescaleVersion ?? '?'}: hypertables, continuous aggregate bars_1m, compression and retention policies`,
    );
  } else {
    logger?.info(
      { flavour: detected.flavour, reason: detected.reason, applied },
      'TimescaleDB not available: plain PostgreSQL fallback (BRIN, bars maintained by the actor)',
    );
  }
  return detected.timescaleVersion
    ? { flavour: detected.flavour, timescaleVersion: detected.timescaleVersion, applied }
    : { flavour: detected.flavour, applied };
}

export interface TableStatus {
  name: string;
  /** null when the relation does not exist or is a view. */
  rows: number | null;
  /** false when counted exactly (small tables the planner has no statistics for yet). */
  estimated: boolean;
}

export interface DatabaseStatus {
  serverVersion: string;
  /** 'unmigrated' until migrateToLatest has created the schema. */
  flavour: Flavour | 'unmigrated';
  timescaleVersion?: string;
  /** Whether this server could run TimescaleDB (the extension is installed on it). */
  timescaleAvailable: boolean;
  migrations: Array<{ name: string; executedAt?: Date }>;
  pendingMigrations: string[];
  tables: TableStatus[];
}

// A table the planner has never analysed reports -1 rows; counting is cheap while it is small.
const EXACT_COUNT_LIMIT = 100_000;

/** What `sluice status` reports about the database. */
export async function databaseStatus(db: Kysely<Database>): Promise<DatabaseStatus> {
  const version = await sql<{ server_version: string }>`SHOW server_version`.execute(db);
  const flavour = (await recordedFlavour(db)) ?? 'unmigrated';
  const timescaleVersion = await installedTimescaleVersion(db);
  const available = await timescaleAvailable(db);

  // Names do not depend on the flavour; the provider is only read for them here.
  const infos = await migrator(db, flavour === 'timescaledb' ? 'timescaledb' : 'postgresql', DEFAULT_POLICIES)
    .getMigrations()
    .catch(() => []);
  const migrations = infos.map((m) =>
    m.executedAt ? { name: m.name, executedAt: m.executedAt } : { name: m.name },
  );

  const hypertables = new Set<string>();
  if (flavour === 'timescaledb') {
    const result = await sql<{ hypertable_name: string }>`
      SELECT hypertable_name FROM timescaledb_information.hypertables
    `.execute(db);
    for (const row of result.rows) hypertables.add(row.hypertable_name);
  }

  const relations = await sql<{ relname: string; relkind: string; reltuples: number }>`
    SELECT c.relname, c.relkind, c.reltuples::float8 AS reltuples
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relname = ANY(${[...TABLES]})
  `.execute(db);
  const byName = new Map(relations.rows.map((r) => [r.relname, r]));

  const tables: TableStatus[] = [];
  for (const name of TABLES) {
    const relation = byName.get(name);
    if (!relation || relation.relkind === 'v') {
      tables.push({ name, rows: null, estimated: true });
    } else if (hypertables.has(name)) {
      const result = await sql<{
        rows: number;
      }>`SELECT approximate_row_count(${name}::regclass)::float8 AS rows`.execute(db);
      tables.push({ name, rows: Math.max(0, Math.round(result.rows[0]?.rows ?? 0)), estimated: true });
    } else if (relation.reltuples >= 0) {
      tables.push({ name, rows: Math.round(relation.reltuples), estimated: true });
    } else {
      const result = await sql<{ rows: number }>`
        SELECT count(*)::float8 AS rows FROM (SELECT 1 FROM ${sql.table(name)} LIMIT ${EXACT_COUNT_LIMIT}) t
      `.execute(db);
      const rows = result.rows[0]?.rows ?? 0;
      tables.push({ name, rows, estimated: rows >= EXACT_COUNT_LIMIT });
    }
  }

  return {
    serverVersion: version.rows[0]?.server_version ?? 'unknown',
    flavour,
    ...(timescaleVersion ? { timescaleVersion } : {}),
    timescaleAvailable: available,
    migrations,
    pendingMigrations: migrations.filter((m) => !m.executedAt).map((m) => m.name),
    tables,
  };
}
