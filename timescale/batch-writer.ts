// Batched, idempotent writes for actors: rows are buffered and each batch goes in by COPY (the fast
// path, several times quicker than any INSERT for jsonb rows); when the batch holds a row the table
// already has (a replay after a restart), the batch is written again as one
// `INSERT … SELECT FROM unnest($1::type[], …) ON CONFLICT DO NOTHING`, so no duplicate is added. The buffer is
// bounded: when the database is slow or down, add() returns a promise that waits for room, which
// pushes back on the consumer (and from there on JetStream through max_ack_pending) instead of
// growing memory. A failed batch is retried, never dropped.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Kysely, sql } from 'kysely';
import { from as copyFrom } from 'pg-copy-streams';
import type { Logger } from '../core/logger.ts';
import { type Database, poolOf, type TableName } from './database.ts';

export type ColumnType = 'text' | 'float8' | 'int8' | 'bool' | 'jsonb' | 'timestamptz';

export interface ColumnSpec<Row> {
  name: string;
  type: ColumnType;
  /** jsonb: a JSON string; timestamptz: epoch milliseconds. */
  value: (row: Row) => string | number | boolean | null;
}

export interface BatchWriterOptions<Row> {
  table: TableName;
  columns: readonly ColumnSpec<Row>[];
  /** Rows per INSERT. */
  batchRows?: number;
  /** Rows held in memory before add() waits. */
  maxBufferedRows?: number;
  /** Waits between retries of a failed batch; the last repeats until the database answers. */
  retryDelaysMs?: readonly number[];
  /** Runs after each batch is stored (e.g. refreshing an aggregate over the rows' time range). */
  onBatchWritten?: (rows: readonly Row[]) => Promise<unknown>;
  logger?: Logger;
}

export interface BatchWriterStats {
  rowsWritten: number;
  batches: number;
  failedAttempts: number;
  buffered: number;
}

// Arrays travel as text[] / float8[] …; jsonb and timestamptz are converted in the SELECT.
const arrayType: Record<ColumnType, string> = {
  text: 'text[]',
  float8: 'float8[]',
  int8: 'int8[]',
  bool: 'bool[]',
  jsonb: 'text[]',
  timestamptz: 'float8[]',
};

const UNIQUE_VIOLATION = '23505';
const WRITERS = 2;
const NEEDS_ESCAPE = /[\\\t\n\r]/;

/** A value in COPY text format: backslash escapes for the characters that delimit fields and rows. */
function copyField(value: string | number | boolean | null, type: ColumnType): string {
  if (value === null) return '\\N';
  if (type === 'timestamptz') return new Date(value as number).toISOString();
  if (type === 'bool') return value ? 't' : 'f';
  const text = String(value);
  if (!NEEDS_ESCAPE.test(text)) return text;
  return text.replace(/[\\\t\n\r]/g, (char) =>
    char === '\\' ? '\\\\' : char === '\t' ? '\\t' : char === '\n' ? '\\n' : '\\r',
  );
}

function selectExpression(column: string, type: ColumnType): string {
  if (type === 'jsonb') return `${column}::jsonb`;
  if (type === 'timestamptz') return `to_timestamp(${column} / 1000.0)`;
  return column;
}

export class BatchWriter<Row> {
  private buffer: Row[] = [];
  private flushing: Promise<void> | undefined;
  private readonly batchRows: number;
  private readonly maxBufferedRows: number;
  private readonly retryDelaysMs: readonly number[];
  private readonly statementHead: string;
  private readonly counters = { rowsWritten: 0, batches: 0, failedAttempts: 0 };

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
    this.statementHead = `INSERT INTO "${options.table}" (${names.join(', ')}) SELECT ${selects.join(', ')} FROM unnest(`;
    this.statementTail = `) AS t(${aliases.join(', ')}) ON CONFLICT DO NOTHING`;
  }

  private readonly statementTail: string;

  get stats(): BatchWriterStats {
    return { ...this.counters, buffered: this.buffer.length };
  }

  /** Buffers a row; the returned promise (only when the buffer is full) resolves once there is room. */
  add(row: Row): Promise<void> | undefined {
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

  /** COPY, or false when the batch holds a row the table already has. */
  private async copyBatch(batch: readonly Row[]): Promise<boolean> {
    const pool = poolOf(this.db);
    if (!pool) return false;
    const columns = this.options.columns;
    const lines = batch.map(
      (row) => `${columns.map((column) => copyField(column.value(row), column.type)).join('\t')}\n`,
    );
    const client = await pool.connect();
    try {
      const names = columns.map((column) => `"${column.name}"`).join(', ');
      await pipeline(
        Readable.from([lines.join('')]),
        client.query(copyFrom(`COPY "${this.options.table}" (${names}) FROM STDIN`)),
      );
      return true;
    } catch (error) {
      if ((error as { code?: string }).code === UNIQUE_VIOLATION) return false;
      throw error;
    } finally {
      client.release();
    }
  }

  private async writeWithRetry(batch: Row[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        if (!(await this.copyBatch(batch))) await this.insertIgnoringDuplicates(batch);
        this.counters.rowsWritten += batch.length;
        this.counters.batches++;
        await this.options.onBatchWritten?.(batch);
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

  private async insertIgnoringDuplicates(batch: readonly Row[]): Promise<void> {
    const columns = this.options.columns;
    const parameters = columns.map((column) => batch.map((row) => column.value(row)));
    const placeholders = columns.map((column, index) => `$${index + 1}::${arrayType[column.type]}`);
    const text = `${this.statementHead}${placeholders.join(', ')}${this.statementTail}`;
    await this.db.executeQuery({ ...sql.raw(text).compile(this.db), parameters });
  }
}
