// 0001: every table.
// Released: never edited (timescale/migrations/README.md); a change to the schema is a new migration.
//
// Every event table has a natural unique key that includes its time column (TimescaleDB requires the
// partitioning column in unique keys) so writers use ON CONFLICT DO NOTHING and a replay after a
// restart adds no rows. Tables a backtest writes include run_id in the key.
import { type Kysely, type Migration, sql } from 'kysely';

export const coreTables: Migration = {
  async up(db: Kysely<unknown>) {
    // Statements in one batch: the migrator runs them in one transaction.
    await sql`
      CREATE TABLE sluice_meta (
        key text PRIMARY KEY,
        value text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE runs (
        id text PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN ('live', 'paper', 'backtest')),
        config jsonb NOT NULL DEFAULT '{}'::jsonb,
        started_at timestamptz NOT NULL,
        finished_at timestamptz,
        status text NOT NULL DEFAULT 'running',
        metrics jsonb
      );
      CREATE INDEX runs_started_at_idx ON runs (started_at DESC);

      CREATE TABLE ticks (
        id text NOT NULL,
        symbol text NOT NULL,
        ts timestamptz NOT NULL,
        ts_init timestamptz NOT NULL,
        price double precision NOT NULL,
        size double precision NOT NULL,
        aggressor text NOT NULL,
        trade_id text,
        venue text,
        PRIMARY KEY (id, ts)
      );
      CREATE INDEX ticks_symbol_ts_idx ON ticks (symbol, ts DESC);

      CREATE TABLE bars (
        id text NOT NULL,
        symbol text NOT NULL,
        interval text NOT NULL,
        ts timestamptz NOT NULL,
        ts_init timestamptz NOT NULL,
        open double precision NOT NULL,
        high double precision NOT NULL,
        low double precision NOT NULL,
        close double precision NOT NULL,
        volume double precision NOT NULL,
        PRIMARY KEY (symbol, interval, ts)
      );
      CREATE INDEX bars_ts_idx ON bars (ts DESC);

      CREATE TABLE features (
        id text NOT NULL,
        symbol text NOT NULL,
        feature_set text NOT NULL,
        feature_set_version text NOT NULL,
        ts timestamptz NOT NULL,
        ts_init timestamptz NOT NULL,
        "values" jsonb NOT NULL,
        bar_id text NOT NULL,
        PRIMARY KEY (symbol, feature_set, feature_set_version, ts)
      );
      CREATE INDEX features_ts_idx ON features (ts DESC);

      CREATE TABLE signals (
        run_id text NOT NULL DEFAULT 'live',
        id text NOT NULL,
        ts timestamptz NOT NULL,
        ts_init timestamptz NOT NULL,
        strategy text NOT NULL,
        symbol text NOT NULL,
        model_version text NOT NULL,
        direction smallint NOT NULL CHECK (direction IN (-1, 0, 1)),
        probability double precision NOT NULL,
        feature_id text NOT NULL,
        PRIMARY KEY (run_id, id, ts)
      );
      CREATE INDEX signals_run_symbol_ts_idx ON signals (run_id, symbol, ts DESC);

      CREATE TABLE risk_decisions (
        run_id text NOT NULL DEFAULT 'live',
        id text NOT NULL,
        ts timestamptz NOT NULL,
        ts_init timestamptz NOT NULL,
        strategy text NOT NULL,
        symbol text NOT NULL,
        outcome text NOT NULL CHECK (outcome IN ('pass', 'deny')),
        code text NOT NULL,
        reason text NOT NULL,
        trading_state text NOT NULL,
        checks jsonb NOT NULL,
        signal_id text NOT NULL,
        intent_id text,
        PRIMARY KEY (run_id, id, ts)
      );
      CREATE INDEX risk_decisions_run_ts_idx ON risk_decisions (run_id, ts DESC);
      CREATE INDEX risk_decisions_signal_idx ON risk_decisions (signal_id);

      CREATE TABLE orders (
        run_id text NOT NULL DEFAULT 'live',
        id text NOT NULL,
        ts timestamptz NOT NULL,
        ts_init timestamptz NOT NULL,
        intent_id text NOT NULL,
        strategy text NOT NULL,
        symbol text NOT NULL,
        side text NOT NULL CHECK (side IN ('buy', 'sell')),
        quantity double precision NOT NULL,
        order_type text NOT NULL,
        limit_price double precision,
        time_in_force text NOT NULL,
        reduce_only boolean NOT NULL,
        status text NOT NULL,
        filled_quantity double precision NOT NULL DEFAULT 0,
        avg_fill_price double precision,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (run_id, id, ts)
      );
      CREATE INDEX orders_run_ts_idx ON orders (run_id, ts DESC);
      CREATE INDEX orders_open_idx ON orders (run_id, symbol)
        WHERE status NOT IN ('filled', 'canceled', 'expired', 'rejected', 'denied');

      CREATE TABLE order_events (
        run_id text NOT NULL DEFAULT 'live',
        id text NOT NULL,
        ts timestamptz NOT NULL,
        ts_init timestamptz NOT NULL,
        order_id text NOT NULL,
        intent_id text NOT NULL,
        symbol text NOT NULL,
        status text NOT NULL,
        filled_quantity double precision NOT NULL,
        leaves_quantity double precision NOT NULL,
        reason text,
        PRIMARY KEY (run_id, id, ts)
      );
      CREATE INDEX order_events_order_idx ON order_events (run_id, order_id, ts);

      CREATE TABLE fills (
        run_id text NOT NULL DEFAULT 'live',
        id text NOT NULL,
        ts timestamptz NOT NULL,
        ts_init timestamptz NOT NULL,
        order_id text NOT NULL,
        symbol text NOT NULL,
        side text NOT NULL CHECK (side IN ('buy', 'sell')),
        quantity double precision NOT NULL,
        price double precision NOT NULL,
        fee double precision NOT NULL,
        liquidity text NOT NULL,
        PRIMARY KEY (run_id, id, ts)
      );
      CREATE INDEX fills_run_symbol_ts_idx ON fills (run_id, symbol, ts DESC);
      CREATE INDEX fills_order_idx ON fills (run_id, order_id);

      CREATE TABLE positions (
        run_id text NOT NULL DEFAULT 'live',
        account text NOT NULL,
        symbol text NOT NULL,
        ts timestamptz NOT NULL,
        snapshot_id text NOT NULL,
        quantity double precision NOT NULL,
        avg_price double precision NOT NULL,
        realized_pnl double precision NOT NULL,
        unrealized_pnl double precision NOT NULL,
        last_price double precision NOT NULL,
        PRIMARY KEY (run_id, account, symbol, ts)
      );
      CREATE INDEX positions_run_ts_idx ON positions (run_id, ts DESC);

      CREATE TABLE equity (
        run_id text NOT NULL DEFAULT 'live',
        account text NOT NULL,
        ts timestamptz NOT NULL,
        snapshot_id text NOT NULL,
        cash double precision NOT NULL,
        equity double precision NOT NULL,
        gross_exposure double precision NOT NULL,
        net_exposure double precision NOT NULL,
        PRIMARY KEY (run_id, account, ts)
      );
    `.execute(db);
  },
  async down(db: Kysely<unknown>) {
    await sql`
      DROP TABLE IF EXISTS equity, positions, fills, order_events, orders, risk_decisions, signals,
        features, bars, ticks, runs, sluice_meta CASCADE;
    `.execute(db);
  },
};
