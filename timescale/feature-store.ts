// Feature rows in the database: `features.values` is a float8[] whose order is given once per
// feature-set version by `feature_sets.column_names` (migration 0003), so a row carries numbers only
// and the names travel once. Writers register their set before the first batch (registerFeatureSet)
// and encode values in the stored order; readers get values back by name (readFeatureRows). A row is
// written (featureRowWriter) and read back in the same shape, StoredFeatureRow.
import type { Kysely } from 'kysely';
import { BatchWriter, type WriterTuning } from './batch-writer.ts';
import { type Database, fromTimestamp, toTimestamp } from './database.ts';

export interface FeatureSetColumns {
  readonly name: string;
  readonly version: string;
  /** Column names in the set's declaration order. */
  readonly columns: readonly string[];
}

/**
 * Records the set's column names for its version (once; later calls change nothing) and returns the
 * names the table holds for it: the order `features.values` must follow. Rows converted from jsonb by
 * migration 0003 registered their names sorted, so the stored order can differ from the declaration;
 * the stored one wins. A stored entry with other names than the set's is refused.
 */
export async function registerFeatureSet(
  db: Kysely<Database>,
  set: FeatureSetColumns,
): Promise<readonly string[]> {
  await db
    .insertInto('feature_sets')
    .values({ version: set.version, name: set.name, column_names: [...set.columns] })
    .onConflict((conflict) => conflict.column('version').doNothing())
    .execute();
  const stored = await db
    .selectFrom('feature_sets')
    .select(['name', 'column_names'])
    .where('version', '=', set.version)
    .executeTakeFirstOrThrow();
  const expected = [...set.columns].sort().join(',');
  if (stored.name !== set.name || [...stored.column_names].sort().join(',') !== expected) {
    throw new Error(
      `feature_sets holds version ${set.version} as '${stored.name}' (${stored.column_names.join(', ')}), ` +
        `not as '${set.name}' (${set.columns.join(', ')})`,
    );
  }
  return stored.column_names;
}

/**
 * A row's values as stored: in `names` order, null where the value is missing or not finite (still
 * warming up: NaN; jsonb stored every non-finite number as null, and so does this).
 */
export function featureValuesArray(
  names: readonly string[],
  values: Readonly<Record<string, number | null>>,
): Array<number | null> {
  const out = new Array<number | null>(names.length);
  for (let i = 0; i < names.length; i++) {
    const v = values[names[i]!];
    out[i] = typeof v === 'number' && Number.isFinite(v) ? v : null;
  }
  return out;
}

/** A row of `features`: the feature_vector message's fields, with values that may still warm up. */
export interface StoredFeatureRow {
  id: string;
  symbol: string;
  feature_set: string;
  feature_set_version: string;
  /** Epoch milliseconds. */
  ts_event: number;
  ts_init: number;
  bar_id: string;
  /** By column name; null while warming up. */
  values: Readonly<Record<string, number | null>>;
}

/**
 * The stored row of a feature row as the feature core gives it, with its id and the ts_init of the
 * input that produced it. Field by field: a spread of the core's row cost several times the encoding.
 */
export function storedFeatureRow(
  row: Omit<StoredFeatureRow, 'id' | 'ts_init'>,
  id: string,
  tsInit: number,
): StoredFeatureRow {
  return {
    id,
    symbol: row.symbol,
    feature_set: row.feature_set,
    feature_set_version: row.feature_set_version,
    ts_event: row.ts_event,
    ts_init: tsInit,
    bar_id: row.bar_id,
    values: row.values,
  };
}

/**
 * A writer of feature rows: binary COPY, values as float8[] in the order feature_sets holds for the
 * set's version (registered before the first batch, retried like a batch while the database is down).
 * Every row given to it must come from `set`.
 */
export function featureRowWriter(
  db: Kysely<Database>,
  set: FeatureSetColumns,
  options: WriterTuning<StoredFeatureRow> = {},
): BatchWriter<StoredFeatureRow> {
  let names: readonly string[] | undefined;
  return new BatchWriter<StoredFeatureRow>(db, {
    ...options,
    table: 'features',
    prepare: async () => {
      names ??= await registerFeatureSet(db, set);
    },
    columns: [
      { name: 'id', type: 'text', value: (row) => row.id },
      { name: 'symbol', type: 'text', value: (row) => row.symbol },
      { name: 'feature_set', type: 'text', value: (row) => row.feature_set },
      { name: 'feature_set_version', type: 'text', value: (row) => row.feature_set_version },
      { name: 'ts', type: 'timestamptz', value: (row) => row.ts_event },
      { name: 'ts_init', type: 'timestamptz', value: (row) => row.ts_init },
      {
        name: 'values',
        type: 'float8[]',
        value: (row) => {
          if (!names) throw new Error(`feature set ${set.name} is not registered yet`);
          return featureValuesArray(names, row.values);
        },
      },
      { name: 'bar_id', type: 'text', value: (row) => row.bar_id },
    ],
  });
}

export interface FeatureRowFilter {
  symbol?: string;
  featureSet?: string;
  featureSetVersion?: string;
  /** Epoch milliseconds, inclusive. */
  from?: number;
  /** Epoch milliseconds, exclusive. */
  to?: number;
}

/** Stored feature rows in (symbol, ts) order, values by name. */
export async function readFeatureRows(
  db: Kysely<Database>,
  filter: FeatureRowFilter = {},
): Promise<StoredFeatureRow[]> {
  let query = db
    .selectFrom('features as f')
    .innerJoin('feature_sets as s', 's.version', 'f.feature_set_version')
    .select([
      'f.id',
      'f.symbol',
      'f.feature_set',
      'f.feature_set_version',
      'f.ts',
      'f.ts_init',
      'f.bar_id',
      'f.values',
      's.column_names',
    ]);
  if (filter.symbol !== undefined) query = query.where('f.symbol', '=', filter.symbol);
  if (filter.featureSet !== undefined) query = query.where('f.feature_set', '=', filter.featureSet);
  if (filter.featureSetVersion !== undefined) {
    query = query.where('f.feature_set_version', '=', filter.featureSetVersion);
  }
  if (filter.from !== undefined) query = query.where('f.ts', '>=', toTimestamp(filter.from));
  if (filter.to !== undefined) query = query.where('f.ts', '<', toTimestamp(filter.to));
  const rows = await query.orderBy('f.symbol').orderBy('f.ts').orderBy('f.feature_set').execute();
  return rows.map((row) => {
    const values: Record<string, number | null> = {};
    row.column_names.forEach((name, i) => {
      values[name] = row.values[i] ?? null;
    });
    return {
      id: row.id,
      symbol: row.symbol,
      feature_set: row.feature_set,
      feature_set_version: row.feature_set_version,
      ts_event: fromTimestamp(row.ts),
      ts_init: fromTimestamp(row.ts_init),
      bar_id: row.bar_id,
      values,
    };
  });
}
