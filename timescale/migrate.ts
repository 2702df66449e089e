// Brings a database to the latest schema and says which flavour it runs: TimescaleDB when the
// extension can be created, plain PostgreSQL otherwise (design §2). Safe to run at every start-up and
// from several processes at once (the migrator holds a lock row).
import { type Kysely, Migrator, sql } from 'kysely';
import pg from 'pg';
import type { Logger } from '../core/logger.ts';
import { type Database, poolOf, TABLES } from './database.ts';
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
import { applyRetention, type RetentionSettings, sizeBarChunks } from './policies.ts';

export type { Flavour, TimescalePolicies };

export interface MigrateOptions {
  /** 'auto' (default) uses TimescaleDB when it can be created; 'postgresql' never tries. */
  flavour?: 'auto' | 'postgresql';
  /** TimescaleDB chunk, compression and retention settings, used when the layout is first created. */
  policies?: Partial<TimescalePolicies>;
  /**
   * The bar interval this deployment writes, in ms: sizes the chunks of bars, features and the other
   * bar-driven hypertables (policies.ts). Without it they are sized from the bars stored, if any.
   */
  barIntervalMs?: number;
  /** Retention to set now, by table (null: none); tables not named keep theirs. */
  retention?: RetentionSettings;
}

export interface MigrateResult {
  flavour: Flavour;
  timescaleVersion?: string;
  /** Migrations applied by this call (empty when already up to date). */
  applied: string[];
  /** Why TimescaleDB is not used although this server has it, and how to enable it (logged at warn). */
  warning?: string;
}

interface Detected {
  flavour: Flavour;
  timescaleVersion?: string;
  /** Why plain PostgreSQL was chosen, for the log. */
  reason?: string;
  /** Set when TimescaleDB is on the server but cannot be used: logged at warn, with the fix. */
  warning?: string;
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

/** What the server says about TimescaleDB, read before anything loads the extension. */
export interface TimescaleProbe {
  /** The extension's files are installed on the server (pg_available_extensions). */
  available: boolean;
  /**
   * Whether shared_preload_libraries names timescaledb; undefined when this role may not read the
   * setting (it is superuser-only without pg_read_all_settings).
   */
  preloaded: boolean | undefined;
  /** The extension's version when it is created in this database. */
  installedVersion: string | undefined;
}

export type FlavourDecision =
  | { flavour: 'timescaledb'; createExtension: boolean }
  | { flavour: 'postgresql'; reason: string; warning?: string };

export const PRELOAD_HOWTO =
  "add timescaledb to shared_preload_libraries in postgresql.conf (shared_preload_libraries = 'timescaledb') and restart PostgreSQL";

/**
 * Which flavour to migrate with. TimescaleDB's library refuses to load unless the server preloaded it,
 * and it refuses with FATAL, which ends the connection: so CREATE EXTENSION is attempted only where
 * the library is preloaded (or this role cannot tell), and a database that already has the extension
 * but a server that does not preload it is an error no fallback can work around (TimescaleDB's event
 * triggers load the library on any DDL there).
 */
export function decideFlavour(
  recorded: Flavour | undefined,
  requested: MigrateOptions['flavour'],
  probe: TimescaleProbe,
): FlavourDecision {
  if (probe.installedVersion !== undefined && probe.preloaded === false) {
    throw new Error(
      `this database has the timescaledb extension (${probe.installedVersion}) but the server does not preload it, so any use of it ends the connection: ${PRELOAD_HOWTO}`,
    );
  }
  if (recorded === 'timescaledb') return { flavour: 'timescaledb', createExtension: false };
  if (recorded === 'postgresql')
    return { flavour: 'postgresql', reason: 'the schema was created without TimescaleDB' };
  if (requested === 'postgresql') return { flavour: 'postgresql', reason: 'plain PostgreSQL was requested' };
  if (!probe.available) {
    return { flavour: 'postgresql', reason: 'the timescaledb extension is not installed on this server' };
  }
  if (probe.preloaded === false) {
    const reason = 'timescaledb is installed on this server but not in shared_preload_libraries';
    return { flavour: 'postgresql', reason, warning: `${reason}; to use it, ${PRELOAD_HOWTO}` };
  }
  return { flavour: 'timescaledb', createExtension: probe.installedVersion === undefined };
}

const INSUFFICIENT_PRIVILEGE = '42501';

/** Library names in a shared_preload_libraries value (a list, names may be quoted or carry a path). */
export function preloadedLibraries(setting: string): string[] {
  return setting
    .split(',')
    .map((entry) =>
      entry
        .trim()
        .replace(/^"(.*)"$/, '$1')
        .replace(/^.*\//, '')
        .replace(/\.so$/, ''),
    )
    .filter(Boolean);
}

/** Reads what the server says about TimescaleDB without loading it. */
export async function probeTimescale(db: Kysely<Database>): Promise<TimescaleProbe> {
  let preloaded: boolean | undefined;
  try {
    const setting = await sql<{ shared_preload_libraries: string }>`SHOW shared_preload_libraries`.execute(
      db,
    );
    preloaded = preloadedLibraries(setting.rows[0]?.shared_preload_libraries ?? '').includes('timescaledb');
  } catch (error) {
    if ((error as { code?: string }).code !== INSUFFICIENT_PRIVILEGE) throw error;
  }
  return {
    available: await timescaleAvailable(db),
    preloaded,
    installedVersion: await installedTimescaleVersion(db),
  };
}

/**
 * CREATE EXTENSION on a connection of its own, outside the migration transaction and the pool: where
 * the library turns out not to be preloaded after all, its FATAL ends that connection only.
 */
async function createTimescaleExtension(db: Kysely<Database>): Promise<void> {
  const pool = poolOf(db);
  if (!pool) {
    await sql`CREATE EXTENSION IF NOT EXISTS timescaledb`.execute(db);
    return;
  }
  const client = new pg.Client(pool.options);
  // The query rejects with the server's reason; the ended connection's 'error' event adds nothing.
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('CREATE EXTENSION IF NOT EXISTS timescaledb');
  } finally {
    await client.end().catch(() => {});
  }
}

/** The flavour to migrate with: the one already recorded, else what this server can do. */
async function detectFlavour(db: Kysely<Database>, options: MigrateOptions): Promise<Detected> {
  const decision = decideFlavour(await recordedFlavour(db), options.flavour, await probeTimescale(db));
  if (decision.flavour === 'postgresql') return decision;
  if (decision.createExtension) {
    try {
      await createTimescaleExtension(db);
    } catch (error) {
      const reason = `CREATE EXTENSION timescaledb failed: ${(error as Error).message}`;
      return { flavour: 'postgresql', reason, warning: reason };
    }
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
    await sizeBarChunks(db, options.barIntervalMs, logger);
    if (options.retention) await applyRetention(db, options.retention, logger);
    logger?.info(
      { flavour: detected.flavour, timescaleVersion: detected.timescaleVersion, applied },
      `TimescaleDB ${detected.timescaleVersion ?? '?'}: hypertables, continuous aggregate bars_1m, compression (retention only where set: sluice migrate --retention)`,
    );
  } else if (detected.warning) {
    logger?.warn(
      { flavour: detected.flavour, reason: detected.reason, applied },
      `TimescaleDB not usable: plain PostgreSQL fallback (BRIN, bars maintained by the actor): ${detected.warning}`,
    );
  } else {
    logger?.info(
      { flavour: detected.flavour, reason: detected.reason, applied },
      'TimescaleDB not available: plain PostgreSQL fallback (BRIN, bars maintained by the actor)',
    );
  }
  return {
    flavour: detected.flavour,
    ...(detected.timescaleVersion ? { timescaleVersion: detected.timescaleVersion } : {}),
    applied,
    ...(detected.warning ? { warning: detected.warning } : {}),
  };
}

export interface TableStatus {
  name: string;
  /** null when the relation does not exist or is a view, or could not even be estimated in time. */
  rows: number | null;
  /**
   * true when `rows` is the planner's estimate (approximate_row_count for a hypertable): the exact
   * count did not finish within the status query's time limit.
   */
  estimated: boolean;
}

export interface DatabaseStatus {
  serverVersion: string;
  /** 'unmigrated' until migrateToLatest has created the schema. */
  flavour: Flavour | 'unmigrated';
  timescaleVersion?: string;
  /** Whether this server could run TimescaleDB (the extension is installed on it). */
  timescaleAvailable: boolean;
  /** Whether the server preloads the TimescaleDB library; undefined when this role cannot read it. */
  timescalePreloaded?: boolean;
  migrations: Array<{ name: string; executedAt?: Date }>;
  pendingMigrations: string[];
  tables: TableStatus[];
}

export interface DatabaseStatusOptions {
  /** How long one table's exact count may take before its estimate is shown instead; default 2 s. */
  exactCountTimeoutMs?: number;
}

const QUERY_CANCELED = '57014';

/** Runs `query` in a transaction of its own that the server cancels after `timeoutMs`; undefined then. */
async function withinTimeout<T>(
  db: Kysely<Database>,
  timeoutMs: number,
  query: (trx: Kysely<Database>) => Promise<T>,
): Promise<T | undefined> {
  try {
    return await db.transaction().execute(async (trx) => {
      await sql`SET LOCAL statement_timeout = ${sql.lit(Math.max(1, Math.round(timeoutMs)))}`.execute(trx);
      return query(trx);
    });
  } catch (error) {
    if ((error as { code?: string }).code === QUERY_CANCELED) return undefined;
    throw error;
  }
}

/**
 * A table's rows counted exactly when that takes at most `timeoutMs`, else estimated and marked so
 * (null when even the estimate waits that long, e.g. on a lock). Estimates alone misled:
 * approximate_row_count() is 0 for hypertable chunks never analysed (12,581 bars showed as 0).
 */
async function tableRows(
  db: Kysely<Database>,
  name: string,
  timeoutMs: number,
  estimate: (trx: Kysely<Database>) => Promise<number>,
): Promise<TableStatus> {
  const exact = await withinTimeout(db, timeoutMs, async (trx) => {
    const result = await sql<{ rows: number }>`SELECT count(*) AS rows FROM ${sql.table(name)}`.execute(trx);
    return result.rows[0]?.rows ?? 0;
  });
  if (exact !== undefined) return { name, rows: exact, estimated: false };
  const estimated = await withinTimeout(db, timeoutMs, estimate);
  return { name, rows: estimated === undefined ? null : Math.max(0, Math.round(estimated)), estimated: true };
}

/** What `sluice status` reports about the database. */
export async function databaseStatus(
  db: Kysely<Database>,
  options: DatabaseStatusOptions = {},
): Promise<DatabaseStatus> {
  const version = await sql<{ server_version: string }>`SHOW server_version`.execute(db);
  const flavour = (await recordedFlavour(db)) ?? 'unmigrated';
  const probe = await probeTimescale(db);

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

  const timeoutMs = options.exactCountTimeoutMs ?? 2_000;
  const tables: TableStatus[] = [];
  for (const name of TABLES) {
    const relation = byName.get(name);
    if (!relation || relation.relkind === 'v') {
      tables.push({ name, rows: null, estimated: true });
      continue;
    }
    const estimate = hypertables.has(name)
      ? async (trx: Kysely<Database>) =>
          (
            await sql<{
              rows: number;
            }>`SELECT approximate_row_count(${name}::regclass)::float8 AS rows`.execute(trx)
          ).rows[0]?.rows ?? 0
      : async () => relation.reltuples;
    tables.push(await tableRows(db, name, timeoutMs, estimate));
  }

  return {
    serverVersion: version.rows[0]?.server_version ?? 'unknown',
    flavour,
    ...(probe.installedVersion ? { timescaleVersion: probe.installedVersion } : {}),
    timescaleAvailable: probe.available,
    ...(probe.preloaded !== undefined ? { timescalePreloaded: probe.preloaded } : {}),
    migrations,
    pendingMigrations: migrations.filter((m) => !m.executedAt).map((m) => m.name),
    tables,
  };
}
