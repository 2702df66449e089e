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
import { type Database, poolOf, type TableName } from './database.ts';

export type ColumnType = 'text' | 'float8' | 'float8[]' | 'int8' | 'bool' | 'jsonb' | 'timestamptz';

/** A column's value: jsonb a JSON string, timestamptz epoch milliseconds, float8[] numbers (null = NULL element). */
export type ColumnValue = string | number | boolean | null | ArrayLike<number | null>;

export interface ColumnSpec<Row> {
  name: string;
  type: ColumnType;
  value: (row: Row) => ColumnValue;
}

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
 * A value the binary COPY encoder cannot represent in its column type (PostgreSQL would refuse it the
 * same way), with the SQLSTATE the server gives for it.
 */
export class ValueOutOfRangeError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'ValueOutOfRangeError';
  }
}

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
const DATETIME_FIELD_OVERFLOW = '22008';
const NUMERIC_VALUE_OUT_OF_RANGE = '22003';
const WRITERS = 2;
const FLOAT8_OID = 701;
/** 2000-01-01T00:00:00Z, PostgreSQL's epoch, in Unix milliseconds. */
const PG_EPOCH_MS = 946_684_800_000;
const TWO_POW_32 = 4_294_967_296;
// "PGCOPY\n\377\r\n\0", then flags and header-extension length (both 0).
const COPY_HEADER = Buffer.from([
  0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
]);

/** An integer int8 holds; anything else would wrap around in the encoder into another value. */
function fitsInt8(value: number): boolean {
  return Number.isInteger(value) && value >= -(2 ** 63) && value < 2 ** 63;
}

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

/**
 * Rows in PostgreSQL's binary COPY format, written into one growing buffer: per row a field count,
 * then per field its byte length (-1 for NULL) and its binary value (send/recv format of the type).
 */
class BinaryCopyEncoder {
  private buffer: Buffer;
  private view: DataView;
  private offset = 0;

  constructor(capacity: number) {
    this.buffer = Buffer.allocUnsafe(Math.max(capacity, 1024));
    this.view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
    COPY_HEADER.copy(this.buffer, 0);
    this.offset = COPY_HEADER.length;
  }

  private ensure(bytes: number): void {
    if (this.offset + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.offset + bytes));
    this.buffer.copy(grown, 0, 0, this.offset);
    this.buffer = grown;
    this.view = new DataView(grown.buffer, grown.byteOffset, grown.byteLength);
  }

  fieldCount(count: number): void {
    this.ensure(2);
    this.view.setInt16(this.offset, count);
    this.offset += 2;
  }

  field(value: ColumnValue, type: ColumnType): void {
    if (value === null || value === undefined) {
      this.ensure(4);
      this.view.setInt32(this.offset, -1);
      this.offset += 4;
      return;
    }
    switch (type) {
      case 'float8':
        this.ensure(12);
        this.view.setInt32(this.offset, 8);
        this.view.setFloat64(this.offset + 4, value as number);
        this.offset += 12;
        return;
      case 'timestamptz': {
        // Microseconds since 2000-01-01 as int8; exact in a double for any real date.
        const micros = ((value as number) - PG_EPOCH_MS) * 1000;
        if (!fitsInt8(micros))
          throw new ValueOutOfRangeError(`timestamp out of range: ${value} ms`, DATETIME_FIELD_OVERFLOW);
        this.int8(micros);
        return;
      }
      case 'int8':
        if (!fitsInt8(value as number))
          throw new ValueOutOfRangeError(`bigint out of range: ${value}`, NUMERIC_VALUE_OUT_OF_RANGE);
        this.int8(value as number);
        return;
      case 'bool':
        this.ensure(5);
        this.view.setInt32(this.offset, 1);
        this.buffer[this.offset + 4] = value ? 1 : 0;
        this.offset += 5;
        return;
      case 'text':
        this.string(String(value), 0);
        return;
      case 'jsonb':
        // jsonb's binary form: a version byte (1), then the JSON text.
        this.string(value as string, 1);
        return;
      case 'float8[]':
        this.float8Array(value as ArrayLike<number | null>);
        return;
    }
  }

  private int8(value: number): void {
    this.ensure(12);
    const high = Math.floor(value / TWO_POW_32);
    this.view.setInt32(this.offset, 8);
    this.view.setInt32(this.offset + 4, high);
    this.view.setUint32(this.offset + 8, value - high * TWO_POW_32);
    this.offset += 12;
  }

  private string(text: string, version: number): void {
    const prefix = version ? 1 : 0;
    const length = text.length;
    this.ensure(4 + prefix + length * 3);
    const buffer = this.buffer;
    const start = this.offset + 4;
    if (prefix) buffer[start] = version;
    let at = start + prefix;
    // Short ASCII strings (ids, symbols) are copied here: cheaper than a call into the UTF-8 encoder.
    if (length <= 64) {
      let i = 0;
      for (; i < length; i++) {
        const code = text.charCodeAt(i);
        if (code >= 0x80) break;
        buffer[at + i] = code;
      }
      if (i === length) at += length;
      else at += buffer.write(text, at, 'utf8');
    } else {
      at += buffer.write(text, at, 'utf8');
    }
    this.view.setInt32(this.offset, at - start);
    this.offset = at;
  }

  /** array_recv's format: ndim, has-nulls flag, element type, (size, lower bound) per dimension, elements. */
  private float8Array(values: ArrayLike<number | null>): void {
    const n = values.length;
    const bytes = n === 0 ? 12 : 20 + n * 12;
    this.ensure(4 + bytes);
    const view = this.view;
    let at = this.offset;
    view.setInt32(at, bytes);
    view.setInt32(at + 4, n === 0 ? 0 : 1);
    const flagsAt = at + 8;
    view.setInt32(at + 12, FLOAT8_OID);
    at += 16;
    let hasNull = 0;
    if (n > 0) {
      view.setInt32(at, n);
      view.setInt32(at + 4, 1);
      at += 8;
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (v === null || v === undefined) {
          view.setInt32(at, -1);
          at += 4;
          hasNull = 1;
        } else {
          view.setInt32(at, 8);
          view.setFloat64(at + 4, v);
          at += 12;
        }
      }
    }
    view.setInt32(flagsAt, hasNull);
    // NULL elements take 4 bytes, not 12: the length written above assumed none.
    view.setInt32(this.offset, at - this.offset - 4);
    this.offset = at;
  }

  finish(): Buffer {
    this.ensure(2);
    this.view.setInt16(this.offset, -1);
    this.offset += 2;
    return this.buffer.subarray(0, this.offset);
  }
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
      for (const name of [...upsert.key, ...upsert.set]) {
        if (!known.has(name)) throw new Error(`${options.table} upsert names ${name}, which is not a column`);
      }
      this.keyColumns = upsert.key.map((name) => options.columns.find((column) => column.name === name)!);
    }
    const onConflict = upsert
      ? `ON CONFLICT (${upsert.key.map((name) => `"${name}"`).join(', ')}) DO UPDATE SET ${upsert.set
          .map((name) => `"${name}" = excluded."${name}"`)
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

  /** The batch in binary COPY format. */
  private encode(batch: readonly Row[]): Buffer {
    const columns = this.options.columns;
    const encoder = new BinaryCopyEncoder(Math.ceil(batch.length * this.bytesPerRow * 1.25) + 64);
    for (const row of batch) {
      encoder.fieldCount(columns.length);
      for (const column of columns) encoder.field(column.value(row), column.type);
    }
    const data = encoder.finish();
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
