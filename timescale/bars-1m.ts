// One-minute bars over ticks, for both flavours behind one call. Under TimescaleDB the continuous
// aggregate does the work and this only forces a refresh; under plain PostgreSQL the feature actor
// calls it after writing ticks, and it recomputes the whole minutes the range touches.
import { type Kysely, sql } from 'kysely';
import { type Database, toTimestamp } from './database.ts';

const MINUTE_MS = 60_000;

/**
 * Brings bars_1m up to date for ticks with ts in [fromMs, toMs) (epoch ms). Every minute the range
 * touches is rebuilt from all of its ticks, so calling it again, or with overlapping ranges, is safe.
 * Returns the number of bars written (plain PostgreSQL) or undefined (TimescaleDB refreshes in place).
 * Not inside a transaction: TimescaleDB refuses to refresh in one.
 */
export async function refreshBars1m(
  db: Kysely<Database>,
  fromMs: number,
  toMs: number,
): Promise<number | undefined> {
  const from = toTimestamp(Math.floor(fromMs / MINUTE_MS) * MINUTE_MS);
  const to = toTimestamp(Math.ceil(toMs / MINUTE_MS) * MINUTE_MS);
  if (to <= from) return 0;

  const meta = await db
    .selectFrom('sluice_meta')
    .select('value')
    .where('key', '=', 'flavour')
    .executeTakeFirst();
  if (meta?.value === 'timescaledb') {
    await sql`CALL refresh_continuous_aggregate('bars_1m', ${from}::timestamptz, ${to}::timestamptz)`.execute(
      db,
    );
    return undefined;
  }
  // Ties inside one timestamp are broken by id, so open/close are deterministic across replays.
  const result = await sql`
    INSERT INTO bars_1m (symbol, bucket, open, high, low, close, volume, trades)
    SELECT symbol,
      date_bin(INTERVAL '1 minute', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
      (array_agg(price ORDER BY ts, id))[1],
      max(price),
      min(price),
      (array_agg(price ORDER BY ts DESC, id DESC))[1],
      sum(size),
      count(*)
    FROM ticks
    WHERE ts >= ${from} AND ts < ${to}
    GROUP BY symbol, bucket
    ON CONFLICT (symbol, bucket) DO UPDATE SET
      open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close,
      volume = excluded.volume, trades = excluded.trades
  `.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}
