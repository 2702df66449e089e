// 0005: 0002 compressed without covering the unique keys (ticks' id, features' feature_set_version), and
// kept ticks 90 days by event time, which dropped any historical load of ticks the day after. Settings
// take effect for chunks compressed from now on (TimescaleDB keeps each compressed chunk's own).
// Released: never edited (timescale/migrations/README.md); a change to the schema is a new migration.
import { type Migration, sql } from 'kysely';
import type { Flavour } from '../migrations.ts';
import { COMPRESSED, enableCompression } from './shared.ts';

const OLD_DEFAULT_TICK_RETENTION = '90 days';

export function compressionKeysAndNoDefaultRetention(flavour: Flavour): Migration {
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
