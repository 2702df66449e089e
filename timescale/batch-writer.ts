// Batched, idempotent writes for actors: rows are buffered and each batch goes in by binary COPY (the
// fast path: no number or timestamp is formatted as text in JS, and none is parsed on the server);
// when the batch holds a row the table already has (a replay after a restart), the batch is written
// again as one `INSERT … SELECT FROM unnest($1::type[], …) ON CONFLICT DO NOTHING`, so no duplicate is
// added. The buffer is bounded: when the database is slow or down, add() returns a promise that waits
// for room, which pushes back on the consumer (and from there on JetStream through max_ack_pending)
// instead of growing memory. A failed batch is retried, never dropped — unless the database refuses
// one of its rows for good (a value it cannot store, a CHECK or foreign-key constraint): then the batch
// is written in halves down to the refused rows, the others land, and each refused row goes to
// `onRefused` with the reason (its cause is dead-lettered), so one bad row cannot stall a writer.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Kysely, sql } from 'kysely';
import { from as copyFrom } from 'pg-copy-streams';
import type { Logger } from '../core/logger.ts';
import { type ColumnSpec, type ColumnType, encodeBinaryCopy } from './copy-encoder.ts';
import { type Database, poolOf, type TableName } from './database.ts';

export interface BatchWriterOptions<Row> {
  table: TableName;
  columns: readonly ColumnSpec<Row>[];
  /** Rows per COPY. */
  batchRows?: number;
  /** Rows held in memory before add() waits. */
  maxBufferedRows?: number;
  /** Waits between retries of a failed batch; the last repeats until the database answers. */
  retryDelaysMs?: readonly number[];
  /**
   * Runs before each batch is encoded, inside the retry loop (e.g. registering the feature set the
   * rows refer to, so a database that is down at start-up delays the rows instead of failing).
   */
  prepare?: () => Promise<unknown>;
  /** Runs after each batch is stored (e.g. refreshing an aggregate over the rows' time range). */
  onBatchWritten?: (rows: readonly Row[]) => Promise<unknown>;
  /**
   * A row the database refuses for good (see refusesRow) with the reason; the rest of its batch is
   * written. Without it, such a batch is retried like any other. A throw retries the whole batch
   * (rows already stored are skipped), so this must be safe to call again for the same row.
   */
  onRefused?: (row: Row, reason: string) => Promise<unknown>;
  /** A row whose key is stored already updates it instead of being ignored (see Upsert). */
  upsert?: Upsert;
  logger?: Logger;
}

/** What an owner of a writer tunes; the table, its columns and its hooks come with the writer. */
export type WriterTuning<Row> = Pick<
  BatchWriterOptions<Row>,
  'batchRows' | 'maxBufferedRows' | 'logger' | 'onRefused'
>;

/**
 * Rows that carry the latest state of something (an order's status) rather than an event: a row
 * whose key is already stored updates the columns `set`, when `where` holds (SQL over the stored row,
 * named by the table, and the new one, `excluded`), e.g. so that a replayed older state cannot
 * overwrite a newer one. Within a batch the last row of a key wins. Without `upsert` a stored key is
 * left as it is (ON CONFLICT DO NOTHING).
 */
export interface Upsert {
  /** The table's unique key (the conflict target); every name must be a column of the writer. */
  key: readonly string[];
  set: readonly string[];
  /** Of `set`, the columns that keep their stored value when the new row has none (null). */
  keepWhenNull?: readonly string[];
  where?: string;
}

export interface BatchWriterStats {
  rowsWritten: number;
  /** Rows the database refused for good, handed to onRefused. */
  rowsRefused: number;
  batches: number;
  failedAttempts: number;
  buffered: number;
}

// Fallback INSERT: columns travel as one array each; jsonb, timestamptz and float8[] (rows of arrays,
// which unnest would flatten) are converted in the SELECT.
const arrayType: Record<ColumnType, string> = {
  text: 'text[]',
  float8: 'float8[]',
  'float8[]': 'text[]',
  int8: 'int8[]',
  bool: 'bool[]',
  jsonb: 'text[]',
  timestamptz: 'float8[]',
};

// Binary COPY takes no casts: each declared type must be the column's own type (format_type's name).
const sqlTypeName: Record<ColumnType, string> = {
  text: 'text',
  float8: 'double precision',
  'float8[]': 'double precision[]',
  int8: 'bigint',
  bool: 'boolean',
  jsonb: 'jsonb',
  timestamptz: 'timestamp with time zone',
};

const UNIQUE_VIOLATION = '23505';

/**
 * Whether an error refuses a row for good: SQLSTATE class 22 (data exception: a value out of range or
 * not representable) or 23 (integrity constraint) other than the unique key, which a replay hits and
 * is handled as a duplicate. Everything else — connection loss (08), serialization failures and
 * deadlocks (40), shutdowns (57), resources (53), and errors about the schema or the setup (42) that no
 * single row causes — is retried: only a row's own fault is dead-lettered.
 */
export function refusesRow(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string' || code === UNIQUE_VIOLATION) return false;
  return code.startsWith('22') || code.startsWith('23');
}

/** A refusal as onRefused receives it: the server's message, its detail and SQLSTATE. */
function refusalReason(table: string, error: unknown): string {
  const { message, detail, code } = error as { message?: string; detail?: string; code?: string };
  return `${table} refused the row: ${message ?? String(error)}${detail ? ` (${detail})` : ''} [SQLSTATE ${code}]`;
}

const WRITERS = 2;

function selectExpression(column: string, type: ColumnType): string {
  if (type === 'jsonb') return `${column}::jsonb`;
  if (type === 'timestamptz') return `to_timestamp(${column} / 1000.0)`;
  if (type === 'float8[]') return `${column}::float8[]`;
  return column;
}

/** A float8[] as PostgreSQL array text, for the fallback INSERT ("NaN" and "Infinity" parse back). */
function float8ArrayLiteral(values: ArrayLike<number | null>): string {
  let text = '{';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    text += `${i > 0 ? ',' : ''}${v === null || v === undefined ? 'NULL' : String(v)}`;
  }
  return `${text}}`;
}

export class BatchWriter<Row> {
  private buffer: Row[] = [];
  private flushing: Promise<void> | undefined;
  private readonly batchRows: number;
  private readonly maxBufferedRows: number;
  private readonly retryDelaysMs: readonly number[];
  private readonly copyStatement: string;
  private readonly statementHead: string;
  private readonly statementTail: string;
  /** Key columns of an upsert writer. */
  private readonly keyColumns: readonly ColumnSpec<Row>[] | undefined;
  /** Bytes per row of the last batch, to size the next batch's buffer. */
  private bytesPerRow = 256;
  private columnsChecked = false;
  private readonly counters = { rowsWritten: 0, rowsRefused: 0, batches: 0, failedAttempts: 0 };

  constructor(
    private readonly db: Kysely<Database>,
    private readonly options: BatchWriterOptions<Row>,
  ) {
    this.batchRows = options.batchRows ?? 2_000;
    this.maxBufferedRows = options.maxBufferedRows ?? 20_000;
    this.retryDelaysMs = options.retryDelaysMs ?? [100, 250, 500, 1_000, 2_000];
    const names = options.columns.map((column) => `"${column.name}"`);
    const aliases = options.columns.map((_, index) => `c${index}`);
    const selects = options.columns.map((column, index) => selectExpression(`c${index}`, column.type));
    this.copyStatement = `COPY "${options.table}" (${names.join(', ')}) FROM STDIN (FORMAT binary)`;
    this.statementHead = `INSERT INTO "${options.table}" (${names.join(', ')}) SELECT ${selects.join(', ')} FROM unnest(`;
    const upsert = options.upsert;
    if (upsert) {
      const known = new Set(options.columns.map((column) => column.name));
      for (const name of [...upsert.key, ...upsert.set, ...(upsert.keepWhenNull ?? [])]) {
        if (!known.has(name)) throw new Error(`${options.table} upsert names ${name}, which is not a column`);
      }
      this.keyColumns = upsert.key.map((name) => options.columns.find((column) => column.name === name)!);
    }
    const onConflict = upsert
      ? `ON CONFLICT (${upsert.key.map((name) => `"${name}"`).join(', ')}) DO UPDATE SET ${upsert.set
          .map((name) =>
            upsert.keepWhenNull?.includes(name)
              ? `"${name}" = COALESCE(excluded."${name}", "${options.table}"."${name}")`
              : `"${name}" = excluded."${name}"`,
          )
          .join(', ')}${upsert.where ? ` WHERE ${upsert.where}` : ''}`
      : 'ON CONFLICT DO NOTHING';
    this.statementTail = `) AS t(${aliases.join(', ')}) ${onConflict}`;
  }

  /** An upsert batch keeps the last row of each key, in the order those rows came. */
  private lastPerKey(batch: readonly Row[]): readonly Row[] {
    const columns = this.keyColumns;
    if (columns === undefined) return batch;
    const last = new Map<string, number>();
    batch.forEach((row, index) => {
      last.set(JSON.stringify(columns.map((column) => column.value(row))), index);
    });
    if (last.size === batch.length) return batch;
    const keep = new Set(last.values());
    return batch.filter((_, index) => keep.has(index));
  }

  get stats(): BatchWriterStats {
    return { ...this.counters, buffered: this.buffer.length };
  }

  /** Buffers a row; the returned promise (only when the buffer is full) resolves once there is room. */
  add(row: Row): Promise<void> | undefined {
    // Full already (another producer, e.g. a second partition's consumer, filled it): wait for room
    // before taking the row, or each concurrent producer would push the buffer one row past its bound.
    if (this.buffer.length >= this.maxBufferedRows) return this.waitForRoom().then(() => this.add(row));
    this.buffer.push(row);
    if (this.buffer.length >= this.batchRows && !this.flushing) this.startFlush();
    if (this.buffer.length >= this.maxBufferedRows) return this.waitForRoom();
    return undefined;
  }

  /** Writes everything buffered so far. */
  async flush(): Promise<void> {
    while (this.buffer.length > 0 || this.flushing) {
      if (!this.flushing) this.startFlush();
      await this.flushing;
    }
  }

  private async waitForRoom(): Promise<void> {
    while (this.buffer.length >= this.maxBufferedRows) {
      if (!this.flushing) this.startFlush();
      await this.flushing;
    }
  }

  private startFlush(): void {
    this.flushing = this.drainBuffer().finally(() => {
      this.flushing = undefined;
    });
  }

  /** Writes up to WRITERS batches at once (separate connections), so the server works while JS encodes. */
  private async drainBuffer(): Promise<void> {
    while (this.buffer.length > 0) {
      const batches: Row[][] = [];
      for (let start = 0; start < this.buffer.length && batches.length < WRITERS; start += this.batchRows) {
        batches.push(this.buffer.slice(start, start + this.batchRows));
      }
      await Promise.all(batches.map((batch) => this.writeWithRetry(batch)));
      this.buffer = this.buffer.slice(batches.reduce((total, batch) => total + batch.length, 0));
    }
  }

  /** The batch in binary COPY format, its buffer sized from the last batch's bytes per row. */
  private encode(batch: readonly Row[]): Buffer {
    const data = encodeBinaryCopy(
      batch,
      this.options.columns,
      Math.ceil(batch.length * this.bytesPerRow * 1.25) + 64,
    );
    if (batch.length > 0) this.bytesPerRow = Math.ceil(data.length / batch.length);
    return data;
  }

  /** COPY, or false when the batch holds a row the table already has. */
  private async copyBatch(batch: readonly Row[]): Promise<boolean> {
    const pool = poolOf(this.db);
    if (!pool) return false;
    const data = this.encode(batch);
    const client = await pool.connect();
    // A socket error during COPY (the server stopped) fails the COPY stream and is then also emitted
    // on the checked-out client, where no pool listener is: without this one it crashes the process.
    let broken: Error | undefined;
    const onClientError = (error: Error) => {
      broken = error;
    };
    client.on('error', onClientError);
    try {
      await pipeline(Readable.from([data]), client.query(copyFrom(this.copyStatement)));
      return true;
    } catch (error) {
      if ((error as { code?: string }).code === UNIQUE_VIOLATION) return false;
      throw error;
    } finally {
      client.off('error', onClientError);
      // A broken connection is closed rather than handed back to the pool.
      client.release(broken);
    }
  }

  /** Once: the declared column types against the table's, so a mismatch fails with a clear message. */
  private async checkColumns(): Promise<void> {
    if (this.columnsChecked) return;
    const result = await sql<{ name: string; type: string }>`
      SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
      WHERE attrelid = to_regclass(${`"${this.options.table}"`}) AND attnum > 0 AND NOT attisdropped
    `.execute(this.db);
    const actual = new Map(result.rows.map((row) => [row.name, row.type]));
    for (const column of this.options.columns) {
      const type = actual.get(column.name);
      if (type !== sqlTypeName[column.type]) {
        throw new Error(
          `${this.options.table}.${column.name} is ${type ?? 'missing'}, but the writer declares ${column.type} (${sqlTypeName[column.type]})`,
        );
      }
    }
    this.columnsChecked = true;
  }

  private async writeWithRetry(batch: Row[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.checkColumns();
        await this.options.prepare?.();
        const rows = this.lastPerKey(batch);
        const refused = await this.writeAroundRefused(rows);
        const refusedRows = new Set(refused.map((refusal) => refusal.row));
        const written = refused.length === 0 ? batch : batch.filter((row) => !refusedRows.has(row));
        if (written.length > 0) await this.options.onBatchWritten?.(written);
        for (const { row, reason } of refused) await this.options.onRefused?.(row, reason);
        this.counters.rowsWritten += written.length;
        this.counters.rowsRefused += refused.length;
        this.counters.batches++;
        return;
      } catch (error) {
        this.counters.failedAttempts++;
        const delay = this.retryDelaysMs[Math.min(attempt, this.retryDelaysMs.length - 1)] ?? 1_000;
        this.options.logger?.warn(
          { err: error, table: this.options.table, rows: batch.length, attempt, delay },
          'batch write failed; retrying',
        );
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  /**
   * Writes the rows; when the database refuses one for good (and onRefused is there to take it),
   * writes each half again, down to the single rows it refuses, and returns those with the reason.
   * Any other error is thrown: the caller retries the whole batch.
   */
  private async writeAroundRefused(rows: readonly Row[]): Promise<{ row: Row; reason: string }[]> {
    try {
      if (!(await this.copyBatch(rows))) await this.insertIgnoringDuplicates(rows);
      return [];
    } catch (error) {
      if (!this.options.onRefused || !refusesRow(error)) throw error;
      const [only] = rows;
      if (rows.length === 1 && only !== undefined)
        return [{ row: only, reason: refusalReason(this.options.table, error) }];
      const middle = rows.length >> 1;
      const first = await this.writeAroundRefused(rows.slice(0, middle));
      return first.concat(await this.writeAroundRefused(rows.slice(middle)));
    }
  }

  private async insertIgnoringDuplicates(batch: readonly Row[]): Promise<void> {
    const columns = this.options.columns;
    const parameters = columns.map((column) =>
      batch.map((row) => {
        const value = column.value(row);
        return column.type === 'float8[]' && value !== null
          ? float8ArrayLiteral(value as ArrayLike<number | null>)
          : value;
      }),
    );
    const placeholders = columns.map((column, index) => `$${index + 1}::${arrayType[column.type]}`);
    const text = `${this.statementHead}${placeholders.join(', ')}${this.statementTail}`;
    await this.db.executeQuery({ ...sql.raw(text).compile(this.db), parameters });
  }
}
