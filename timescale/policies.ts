// TimescaleDB policies that follow the data rather than the schema, applied by migrateToLatest after
// the migrations: the chunk length of the bar-driven hypertables from their bar interval, and the
// retention an operator asks for. Both change only chunks made or dropped from now on.
import { type Kysely, sql } from 'kysely';
import type { Logger } from '../core/logger.ts';
import { type Database, TIME_TABLES } from './database.ts';
import { interval, RETAINED_TABLES, type RetainedTable } from './migrations.ts';

const DAY_MS = 86_400_000;

/**
 * Rows of one symbol a chunk should hold. TimescaleDB compresses up to 1,000 rows of a segment into
 * one batch; daily bars in 7-day chunks (5 rows a symbol) compressed into more space than they took.
 */
export const ROWS_PER_SYMBOL_PER_CHUNK = 1_000;
const MIN_CHUNK_DAYS = 1;
const MAX_CHUNK_DAYS = 1_000;

/** Hypertables with at most one row per bar and symbol: sized from the bar interval. Ticks are not. */
export const BAR_DRIVEN_TABLES = TIME_TABLES.filter((table) => table !== 'ticks');

/** Whole days a chunk of bar-driven rows spans for bars `barIntervalMs` apart, within 1–1,000 days. */
export function chunkDaysForBars(barIntervalMs: number): number {
  if (!(barIntervalMs > 0)) throw new RangeError(`bar interval must be positive, got ${barIntervalMs}`);
  const days = Math.ceil((barIntervalMs * ROWS_PER_SYMBOL_PER_CHUNK) / DAY_MS);
  return Math.min(MAX_CHUNK_DAYS, Math.max(MIN_CHUNK_DAYS, days));
}

/**
 * The usual gap between consecutive bars of one symbol and interval among the latest stored bars, in
 * ms (the median, so weekends and holidays do not stretch it); undefined with too few bars.
 */
export async function measuredBarIntervalMs(db: Kysely<Database>): Promise<number | undefined> {
  const result = await sql<{ gap_ms: number | null }>`
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY gap_ms) AS gap_ms
    FROM (
      SELECT extract(epoch FROM ts - lag(ts) OVER (PARTITION BY symbol, "interval" ORDER BY ts)) * 1000 AS gap_ms
      FROM (SELECT symbol, "interval", ts FROM bars ORDER BY ts DESC LIMIT 2000) latest
    ) gaps
    WHERE gap_ms > 0
  `.execute(db);
  const gap = result.rows[0]?.gap_ms;
  return gap === null || gap === undefined ? undefined : Number(gap);
}

/**
 * Sets the chunk length of every bar-driven hypertable from `barIntervalMs` (the configured bar
 * interval), else from the bars stored; leaves it when neither is known. Returns the chunk length
 * chosen, in days. Chunks that exist keep their span; new ones get the new length.
 */
export async function sizeBarChunks(
  db: Kysely<Database>,
  barIntervalMs: number | undefined,
  logger?: Logger,
): Promise<number | undefined> {
  const basis = barIntervalMs ?? (await measuredBarIntervalMs(db));
  if (basis === undefined) return undefined;
  const days = chunkDaysForBars(basis);
  const current = await sql<{ hypertable_name: string; seconds: number }>`
    SELECT hypertable_name, extract(epoch FROM time_interval)::float8 AS seconds
    FROM timescaledb_information.dimensions
    WHERE hypertable_schema = current_schema() AND dimension_type = 'Time'
  `.execute(db);
  const changed: string[] = [];
  for (const row of current.rows) {
    if (!(BAR_DRIVEN_TABLES as readonly string[]).includes(row.hypertable_name)) continue;
    if (row.seconds * 1000 === days * DAY_MS) continue;
    await sql`
      SELECT set_chunk_time_interval(${row.hypertable_name}::regclass, ${interval(`${days} days`)}::interval)
    `.execute(db);
    changed.push(row.hypertable_name);
  }
  if (changed.length > 0) {
    logger?.info(
      { tables: changed, chunkDays: days, barIntervalMs: basis, measured: barIntervalMs === undefined },
      `chunk interval ${days} days for ${changed.join(', ')} (about ${ROWS_PER_SYMBOL_PER_CHUNK} rows a symbol per chunk; existing chunks keep theirs)`,
    );
  }
  return days;
}

/** Retention to set, by table: an interval ("365 days") or null for none. */
export type RetentionSettings = Partial<Record<RetainedTable, string | null>>;

/** Replaces the retention policy of each table named in `retention`; the others keep theirs. */
export async function applyRetention(
  db: Kysely<Database>,
  retention: RetentionSettings,
  logger?: Logger,
): Promise<void> {
  for (const table of RETAINED_TABLES) {
    const dropAfter = retention[table];
    if (dropAfter === undefined) continue;
    await sql`SELECT remove_retention_policy(${table}::regclass, if_exists => true)`.execute(db);
    if (dropAfter !== null) {
      await sql`SELECT add_retention_policy(${table}::regclass, ${interval(dropAfter)}::interval)`.execute(
        db,
      );
    }
    logger?.info(
      { table, dropAfter },
      dropAfter === null
        ? `${table}: no retention (rows are kept)`
        : `${table}: chunks older than ${dropAfter} by event time are dropped, historical loads included`,
    );
  }
}

/**
 * `--retention` text: `table=interval` or `table=off`, comma-separated, e.g. `ticks=90 days,bars=off`.
 * Throws with the bad part named.
 */
export function parseRetention(text: string): RetentionSettings {
  const settings: RetentionSettings = {};
  for (const part of text.split(',')) {
    const [table = '', value = ''] = part.split('=').map((piece) => piece.trim());
    if (!(RETAINED_TABLES as readonly string[]).includes(table)) {
      throw new Error(`"${part.trim()}": the table must be one of ${RETAINED_TABLES.join(', ')}`);
    }
    if (value !== 'off') interval(value);
    settings[table as RetainedTable] = value === 'off' ? null : value;
  }
  return settings;
}
