// 0007: what orders, order events and fills say at a broker and what order_intent.v2 added, as columns:
// the account mode and the venue's ids (order, fill); the part of a fill's fee a venue took in the base
// asset (fill.v1 base_commission); an order's stop price, bracket, time exit and
// exit reason; and where an order came from (`origin`): Sluice's intent, a bracket's leg the venue keeps
// as an order of its own, or an order placed at the venue by hand that reconciliation adopted. Orders
// without an intent of their own have no strategy and may have no time in force. Every new column is
// nullable or has a default, so the change is instant on large tables and hypertables alike (none of
// these three is compressed), and plain PostgreSQL and TimescaleDB take the same statements.
// Released: never edited (timescale/migrations/README.md); a change to the schema is a new migration.
import { type Migration, sql } from 'kysely';

export const orderVenueFields: Migration = {
  async up(db) {
    // One ALTER per change: TimescaleDB propagates single-command ALTERs of a hypertable to its chunks.
    for (const statement of [
      sql`ALTER TABLE orders ADD COLUMN account_mode text`,
      sql`ALTER TABLE orders ADD COLUMN venue_order_id text`,
      sql`ALTER TABLE orders ADD COLUMN stop_price double precision`,
      sql`ALTER TABLE orders ADD COLUMN bracket jsonb`,
      sql`ALTER TABLE orders ADD COLUMN exit_after timestamptz`,
      sql`ALTER TABLE orders ADD COLUMN exit_reason text`,
      sql`ALTER TABLE orders ADD COLUMN origin text NOT NULL DEFAULT 'intent' CHECK (origin IN ('intent', 'leg', 'venue'))`,
      sql`ALTER TABLE orders ALTER COLUMN strategy DROP NOT NULL`,
      sql`ALTER TABLE orders ALTER COLUMN time_in_force DROP NOT NULL`,
      sql`ALTER TABLE order_events ADD COLUMN account_mode text`,
      sql`ALTER TABLE order_events ADD COLUMN venue_order_id text`,
      sql`ALTER TABLE fills ADD COLUMN account_mode text`,
      sql`ALTER TABLE fills ADD COLUMN venue_order_id text`,
      sql`ALTER TABLE fills ADD COLUMN venue_fill_id text`,
      sql`ALTER TABLE fills ADD COLUMN base_commission double precision`,
    ]) {
      await statement.execute(db);
    }
  },
  async down(db) {
    for (const [table, column] of [
      ['fills', 'base_commission'],
      ['fills', 'venue_fill_id'],
      ['fills', 'venue_order_id'],
      ['fills', 'account_mode'],
      ['order_events', 'venue_order_id'],
      ['order_events', 'account_mode'],
      ['orders', 'origin'],
      ['orders', 'exit_reason'],
      ['orders', 'exit_after'],
      ['orders', 'bracket'],
      ['orders', 'stop_price'],
      ['orders', 'venue_order_id'],
      ['orders', 'account_mode'],
    ] as const) {
      await sql`ALTER TABLE ${sql.table(table)} DROP COLUMN IF EXISTS ${sql.id(column)}`.execute(db);
    }
    // strategy and time_in_force stay nullable: rows without them may exist by now.
  },
};
