// 0006: the signals table (0001) goes: nothing ever wrote or read it. Signals travel on the SIGNALS
// stream, and every decision the risk gate takes on one is stored in risk_decisions with its signal_id.
// Released: never edited (timescale/migrations/README.md); a change to the schema is a new migration.
import { type Migration, sql } from 'kysely';

export const dropSignals: Migration = {
  async up(db) {
    // A hypertable's chunks go with it.
    await sql`DROP TABLE IF EXISTS signals`.execute(db);
  },
  async down() {
    // Not re-created: it held nothing, and 0001's down drops it only if it exists.
  },
};
