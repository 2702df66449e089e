// What several released migrations share. Released with them and frozen like them
// (README.md): a change here would change what those migrations do on a new database.
import { type Kysely, sql } from 'kysely';

/** Hypertables whose old chunks may be dropped by a retention policy. */
export const RETAINED_TABLES = ['ticks', 'bars', 'features'] as const;
export type RetainedTable = (typeof RETAINED_TABLES)[number];

/**
 * Tables whose old chunks are compressed; the rest (audit, orders) stay writable for corrections.
 * segmentby and orderby together cover each table's unique key, so TimescaleDB can check the key
 * against compressed rows (it warns otherwise, and an ON CONFLICT on a compressed chunk is slow).
 */
export const COMPRESSED: ReadonlyArray<{ table: string; segmentBy: string; orderBy: string }> = [
  { table: 'ticks', segmentBy: 'symbol', orderBy: 'ts DESC, id' },
  { table: 'bars', segmentBy: 'symbol, "interval"', orderBy: 'ts DESC' },
  { table: 'features', segmentBy: 'symbol, feature_set, feature_set_version', orderBy: 'ts DESC' },
];

/** ALTER TABLE … SET (timescaledb.compress, …) with the table's COMPRESSED settings. */
export async function enableCompression(db: Kysely<unknown>, table: string): Promise<void> {
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
