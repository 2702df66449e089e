// The binary COPY encoder on its own: the exact bytes PostgreSQL's binary COPY format gives for known
// rows (header, per row a field count, per field length and send/recv value, trailer), and values no
// column type can hold refused with the SQLSTATE the server would give.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ColumnSpec, encodeBinaryCopy, ValueOutOfRangeError } from '../../timescale/copy-encoder.ts';

const HEADER = '5047434f50590aff0d0a00' + '00000000' + '00000000';
const TRAILER = 'ffff';
const PG_EPOCH_MS = Date.UTC(2000, 0, 1);

type Row = Record<string, unknown>;
const column = (name: string, type: ColumnSpec<Row>['type']): ColumnSpec<Row> => ({
  name,
  type,
  value: (row) => row[name] as ReturnType<ColumnSpec<Row>['value']>,
});

const hex = (buffer: Buffer) => buffer.toString('hex');

describe('encodeBinaryCopy', () => {
  it('encodes every column type as PostgreSQL reads it', () => {
    const columns = [
      column('text', 'text'),
      column('float8', 'float8'),
      column('int8', 'int8'),
      column('bool', 'bool'),
      column('ts', 'timestamptz'),
      column('jsonb', 'jsonb'),
      column('array', 'float8[]'),
      column('empty', 'float8[]'),
      column('missing', 'text'),
    ];
    const row = {
      text: 'Aé',
      float8: 1.5,
      int8: -2,
      bool: true,
      ts: PG_EPOCH_MS + 1,
      jsonb: '{}',
      array: [1, null],
      empty: [],
      missing: null,
    };
    const expected = [
      HEADER,
      '0009', // fields
      '00000003' + '41c3a9', // 'Aé' in UTF-8
      '00000008' + '3ff8000000000000', // 1.5
      '00000008' + 'fffffffffffffffe', // -2
      '00000001' + '01',
      '00000008' + '00000000000003e8', // 1 ms after 2000-01-01: 1,000 µs
      '00000003' + '01' + '7b7d', // jsonb version 1, then the text
      // ndim 1, has nulls, float8 (701), 2 elements from 1; 1.0, NULL
      '00000024' +
        '00000001' +
        '00000001' +
        '000002bd' +
        '00000002' +
        '00000001' +
        '00000008' +
        '3ff0000000000000' +
        'ffffffff',
      '0000000c' + '00000000' + '00000000' + '000002bd', // ndim 0
      'ffffffff', // NULL
      TRAILER,
    ].join('');
    assert.equal(hex(encodeBinaryCopy([row], columns)), expected);
  });

  it('encodes no rows as header and trailer, and several rows one after the other', () => {
    const columns = [column('n', 'int8')];
    assert.equal(hex(encodeBinaryCopy([], columns)), HEADER + TRAILER);
    assert.equal(
      hex(encodeBinaryCopy([{ n: 1 }, { n: 2 ** 40 }], columns, 1)),
      `${HEADER}0001000000080000000000000001` + `0001000000080000010000000000${TRAILER}`,
    );
  });

  it('grows past its first capacity, and writes long and non-ASCII text in UTF-8', () => {
    const long = `${'x'.repeat(3_000)}€`;
    const data = encodeBinaryCopy([{ t: long }], [column('t', 'text')], 16);
    const bytes = Buffer.from(long, 'utf8');
    assert.equal(data.readInt32BE(HEADER.length / 2 + 2), bytes.length);
    assert.deepEqual(data.subarray(HEADER.length / 2 + 6, -2), bytes);
  });

  it('refuses what the column type cannot hold, with the SQLSTATE PostgreSQL gives', () => {
    const refused = (value: number, type: 'int8' | 'timestamptz') => {
      try {
        encodeBinaryCopy([{ v: value }], [column('v', type)]);
      } catch (error) {
        assert.ok(error instanceof ValueOutOfRangeError);
        return error.code;
      }
      return undefined;
    };
    assert.equal(refused(2 ** 63, 'int8'), '22003');
    assert.equal(refused(1.5, 'int8'), '22003');
    assert.equal(refused(Number.MAX_VALUE, 'timestamptz'), '22008');
    assert.equal(refused(Date.UTC(9999, 11, 31), 'timestamptz'), undefined);
  });
});
