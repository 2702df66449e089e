// 0004: on plain PostgreSQL, bars and features carried a btree on ts alone (0001) beside the BRIN of 0002.
// Time ranges need only the BRIN and per-symbol reads use the primary key, while every row written paid
// for the btree (about 15 % of feature rows written per second). TimescaleDB keeps it: there it is
// the hypertables' time index.
// Released: never edited (timescale/migrations/README.md); a change to the schema is a new migration.
import { type Migration, sql } from 'kysely';
import type { Flavour } from '../migrations.ts';

const REDUNDANT_TIME_BTREES = [
  { index: 'bars_ts_idx', table: 'bars' },
  { index: 'features_ts_idx', table: 'features' },
] as const;

export function dropRedundantTimeBtrees(flavour: Flavour): Migration {
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
