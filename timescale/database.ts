// The database as kysely sees it: one interface per table, and a Kysely over a pg Pool.
//
// Conventions: `ts` is the event time (the message's ts_event; for bars the bar CLOSE), `ts_init` when
// Sluice received it, both timestamptz. Messages carry epoch milliseconds; toTimestamp/fromTimestamp
// convert at the edge (timestamptz keeps microseconds, so milliseconds round-trip exactly).
// Rows of a backtest carry its run id (`live` for the live session) in their unique key, so two runs
// replaying the same events keep their own rows, and a replay of one run adds none.
import { type ColumnType, Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import Cursor from 'pg-cursor';

/** A timestamptz column: read as Date, written as Date (use toTimestamp for epoch ms). */
export type Timestamp = ColumnType<Date, Date, Date>;
/**
 * A jsonb column: read parsed, written as JSON text. pg would turn a JS array into a PostgreSQL array
 * literal rather than JSON, so writes go through json() explicitly.
 */
export type Json<T> = ColumnType<T, string, string>;

export interface TicksTable {
  id: string;
  symbol: string;
  ts: Timestamp;
  ts_init: Timestamp;
  price: number;
  size: number;
  aggressor: 'buy' | 'sell' | 'unknown';
  trade_id: string | null;
  venue: string | null;
}

export interface BarsTable {
  id: string;
  symbol: string;
  /** Bar length as in the Bar message, e.g. 1m, 1d. */
  interval: string;
  /** Bar close (start + interval). */
  ts: Timestamp;
  ts_init: Timestamp;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

/**
 * One-minute bars over ticks. `bucket` is the minute's START (time_bucket/date_bin convention); the
 * bar closes at bucket + 1 minute. A continuous aggregate under TimescaleDB, a table the feature actor
 * maintains (refreshBars1m) under plain PostgreSQL.
 */
export interface Bars1mTable {
  symbol: string;
  bucket: Timestamp;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  trades: number;
}

/** A float8[] column; NULL elements read as null. */
export type Float8ArrayColumn = ColumnType<Array<number | null>, Array<number | null>, Array<number | null>>;

/**
 * One feature row. `values` is float8[] in the order of its version's `feature_sets.column_names`
 * (timescale/feature-store.ts reads rows back by name); a NULL element is a value still warming up.
 */
export interface FeaturesTable {
  id: string;
  symbol: string;
  feature_set: string;
  feature_set_version: string;
  ts: Timestamp;
  ts_init: Timestamp;
  values: Float8ArrayColumn;
  bar_id: string;
}

/** Each feature-set version once: the column names that give `features.values` its order. */
export interface FeatureSetsTable {
  /** sha256 of the set's declaration, as features.feature_set_version. */
  version: string;
  name: string;
  column_names: string[];
  created_at: ColumnType<Date, Date | undefined, Date>;
}

export interface RiskCheckRow {
  check: string;
  passed: boolean;
  value?: number;
  limit?: number;
}

/** The risk gate's audit trail: every decision, pass or deny, with the checks it ran. */
export interface RiskDecisionsTable {
  run_id: ColumnType<string, string | undefined, never>;
  id: string;
  ts: Timestamp;
  ts_init: Timestamp;
  strategy: string;
  symbol: string;
  outcome: 'pass' | 'deny';
  code: string;
  reason: string;
  trading_state: 'active' | 'reducing' | 'halted';
  checks: Json<RiskCheckRow[]>;
  signal_id: string;
  intent_id: string | null;
}

/** One row per order, keyed by its creation time; status and fill progress are updated in place. */
export interface OrdersTable {
  run_id: ColumnType<string, string | undefined, never>;
  /** The order id (order events and fills name it). */
  id: string;
  /** When the order was created (its intent's ts_event); part of the key, never updated. */
  ts: ColumnType<Date, Date, never>;
  ts_init: Timestamp;
  intent_id: string;
  /** Null for an order without an intent of its own (origin leg or venue). */
  strategy: string | null;
  symbol: string;
  side: 'buy' | 'sell';
  quantity: number;
  order_type: 'market' | 'limit' | 'stop' | 'stop_limit';
  limit_price: number | null;
  stop_price: number | null;
  time_in_force: 'day' | 'gtc' | 'ioc' | 'fok' | null;
  reduce_only: boolean;
  /** order_intent.v2's bracket: its take-profit and stop-loss prices. */
  bracket: Json<Record<string, unknown>> | null;
  exit_after: Timestamp | null;
  exit_reason: string | null;
  /** Sluice's intent, a bracket's leg kept as an order at the venue, or an order placed there by hand. */
  origin: ColumnType<'intent' | 'leg' | 'venue', 'intent' | 'leg' | 'venue' | undefined, never>;
  account_mode: 'simulated' | 'paper' | 'live' | null;
  venue_order_id: string | null;
  status: string;
  filled_quantity: ColumnType<number, number | undefined, number>;
  avg_fill_price: number | null;
  updated_at: Timestamp;
}

export interface OrderEventsTable {
  run_id: ColumnType<string, string | undefined, never>;
  id: string;
  ts: Timestamp;
  ts_init: Timestamp;
  order_id: string;
  intent_id: string;
  symbol: string;
  status: string;
  filled_quantity: number;
  leaves_quantity: number;
  reason: string | null;
  account_mode: 'simulated' | 'paper' | 'live' | null;
  venue_order_id: string | null;
}

export interface FillsTable {
  run_id: ColumnType<string, string | undefined, never>;
  id: string;
  ts: Timestamp;
  ts_init: Timestamp;
  order_id: string;
  symbol: string;
  side: 'buy' | 'sell';
  quantity: number;
  price: number;
  fee: number;
  liquidity: 'maker' | 'taker';
  account_mode: 'simulated' | 'paper' | 'live' | null;
  venue_order_id: string | null;
  venue_fill_id: string | null;
  base_commission: number | null;
}

/** Position of one symbol at each portfolio snapshot. */
export interface PositionsTable {
  run_id: ColumnType<string, string | undefined, never>;
  account: string;
  symbol: string;
  ts: Timestamp;
  /** The portfolio snapshot this row belongs to. */
  snapshot_id: string;
  quantity: number;
  avg_price: number;
  realized_pnl: number;
  unrealized_pnl: number;
  last_price: number;
}

export interface EquityTable {
  run_id: ColumnType<string, string | undefined, never>;
  account: string;
  ts: Timestamp;
  snapshot_id: string;
  cash: number;
  equity: number;
  gross_exposure: number;
  net_exposure: number;
}

export interface RunsTable {
  id: string;
  kind: 'live' | 'paper' | 'backtest';
  config: Json<Record<string, unknown>>;
  started_at: Timestamp;
  finished_at: Timestamp | null;
  status: ColumnType<string, string | undefined, string>;
  metrics: Json<Record<string, unknown>> | null;
}

export interface SluiceMetaTable {
  key: string;
  value: string;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

export interface Database {
  ticks: TicksTable;
  bars: BarsTable;
  bars_1m: Bars1mTable;
  features: FeaturesTable;
  feature_sets: FeatureSetsTable;
  risk_decisions: RiskDecisionsTable;
  orders: OrdersTable;
  order_events: OrderEventsTable;
  fills: FillsTable;
  positions: PositionsTable;
  equity: EquityTable;
  runs: RunsTable;
  sluice_meta: SluiceMetaTable;
}

/** Every Sluice table (bars_1m is a view under TimescaleDB). */
export const TABLES = [
  'ticks',
  'bars',
  'bars_1m',
  'features',
  'feature_sets',
  'risk_decisions',
  'orders',
  'order_events',
  'fills',
  'positions',
  'equity',
  'runs',
  'sluice_meta',
] as const satisfies ReadonlyArray<keyof Database>;
export type TableName = (typeof TABLES)[number];

/** Tables keyed and partitioned by event time (hypertables under TimescaleDB). */
export const TIME_TABLES = [
  'ticks',
  'bars',
  'features',
  'risk_decisions',
  'orders',
  'order_events',
  'fills',
  'positions',
  'equity',
] as const satisfies ReadonlyArray<TableName>;

/** Epoch milliseconds (as in every message) to a timestamptz value. */
export function toTimestamp(epochMillis: number): Date {
  if (!Number.isSafeInteger(epochMillis)) {
    throw new RangeError(`timestamp must be integer epoch milliseconds, got ${epochMillis}`);
  }
  return new Date(epochMillis);
}

/** A timestamptz value back to epoch milliseconds. */
export function fromTimestamp(value: Date): number {
  return value.getTime();
}

/** JSON text for a jsonb column. */
export function json(value: unknown): string {
  return JSON.stringify(value);
}

const INT8_OID = 20;
const NUMERIC_OID = 1700;

// Per-pool parsers, so the pg module's global parsers (shared with other libraries) stay untouched.
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    // int8 is counts and sums here, far below 2^53; numeric only appears from aggregates.
    if (oid === INT8_OID || oid === NUMERIC_OID) return (text: string) => Number(text);
    return format === 'binary' ? pg.types.getTypeParser(oid, 'binary') : pg.types.getTypeParser(oid, 'text');
  }) as typeof pg.types.getTypeParser,
};

export interface DatabaseOptions {
  /** Pool size; default 10. */
  maxConnections?: number;
  /** application_name shown in pg_stat_activity. */
  applicationName?: string;
}

const pools = new WeakMap<Kysely<Database>, pg.Pool>();

/** A Kysely over its own pg Pool; `await db.destroy()` closes the pool. */
export function createDatabase(url: string, options: DatabaseOptions = {}): Kysely<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.maxConnections ?? 10,
    application_name: options.applicationName ?? 'sluice',
    types,
  });
  // An idle connection the server closes (restart, failover, `pg_ctl stop -m fast`) is an 'error'
  // event on the pool, which would crash the process without a listener. The pool has already
  // dropped that connection; the next query opens a new one, and writers retry until it succeeds.
  pool.on('error', () => {});
  // A connection the server ends while a query runs on it (a FATAL error, a restart) also emits
  // 'error' on its client, which the pool listens to only while the client is idle: the query itself
  // rejects with the reason, so that event must not crash the process as well.
  pool.on('connect', (client) => client.on('error', () => {}));
  // The cursor lets query.stream() read a large result (a replay from the database) page by page.
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool, cursor: Cursor }) });
  pools.set(db, pool);
  return db;
}

/** The pg Pool under a database made by createDatabase: COPY needs a raw client. */
export function poolOf(db: Kysely<Database>): pg.Pool | undefined {
  return pools.get(db);
}
