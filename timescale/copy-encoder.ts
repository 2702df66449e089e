// PostgreSQL's binary COPY format (COPY … FROM STDIN (FORMAT binary)) for rows of typed columns: pure,
// no I/O. BatchWriter sends what it returns; nothing here knows about tables or connections.
// Per row a field count, then per field its byte length (-1 for NULL) and its value in the type's
// send/recv format; the header and a -1 trailer around the rows.

export type ColumnType = 'text' | 'float8' | 'float8[]' | 'int8' | 'bool' | 'jsonb' | 'timestamptz';

/** A column's value: jsonb a JSON string, timestamptz epoch milliseconds, float8[] numbers (null = NULL element). */
export type ColumnValue = string | number | boolean | null | ArrayLike<number | null>;

export interface ColumnSpec<Row> {
  name: string;
  type: ColumnType;
  value: (row: Row) => ColumnValue;
}

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

const DATETIME_FIELD_OVERFLOW = '22008';
const NUMERIC_VALUE_OUT_OF_RANGE = '22003';
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

/**
 * `rows` in binary COPY format, one field per column in `columns` order. `capacity` is the buffer's
 * first size in bytes (it grows as needed): a good guess saves copies.
 */
export function encodeBinaryCopy<Row>(
  rows: readonly Row[],
  columns: readonly ColumnSpec<Row>[],
  capacity = rows.length * 256,
): Buffer {
  const encoder = new BinaryCopyEncoder(capacity);
  for (const row of rows) {
    encoder.fieldCount(columns.length);
    for (const column of columns) encoder.field(column.value(row), column.type);
  }
  return encoder.finish();
}
