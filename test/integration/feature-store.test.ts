// Feature rows in a real PostgreSQL: values stored as float8[] in the order feature_sets holds for the
// row's version, read back by name; warm-up nulls stay null; a replay adds no rows; migration 0003
// converts rows stored as jsonb (on TimescaleDB too, with compressed chunks, where the extension exists).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Kysely, Migrator, sql } from 'kysely';
import { FeatureCore, type FeatureRow } from '../../actors/feature/core.ts';
import { DEFAULT_FEATURE_SET, type FeatureSet } from '../../actors/feature/feature-set.ts';
import { readDatasetFile } from '../../core/dataset-files.ts';
import { featureVectorIdFor } from '../../core/lineage-ids.ts';
import { bundledSampleDatasets } from '../../simulations/sources/datasets.ts';
import { createDatabase, type Database, toTimestamp } from '../../timescale/database.ts';
import {
  featureRowWriter,
  readFeatureRows,
  registerFeatureSet,
  storedFeatureRow,
} from '../../timescale/feature-store.ts';
import { migrateToLatest, probeTimescale } from '../../timescale/migrate.ts';
import {
  buildMigrations,
  type Flavour,
  InCodeMigrationProvider,
  MIGRATION_LOCK_TABLE,
  MIGRATION_TABLE,
  untyped,
} from '../../timescale/migrations.ts';
import { repoRoot } from '../support/cli.ts';
import { postgresForTests, useMigratedDatabase } from '../support/postgres.ts';

async function sampleRows(symbol: string, count: number): Promise<FeatureRow[]> {
  const core = new FeatureCore({ set: DEFAULT_FEATURE_SET });
  const sample = bundledSampleDatasets(join(repoRoot, 'simulations', 'data', 'sample'));
  const rows: FeatureRow[] = [];
  for (const file of sample['sample-prices']!.files) {
    for await (const row of readDatasetFile(file)) {
      if (row.kind !== 'bar' || row.event.symbol !== symbol) continue;
      const features = core.onBar(row.event);
      if (features) rows.push(features);
      if (rows.length === count) return rows;
    }
  }
  return rows;
}

async function write(db: Kysely<Database>, set: FeatureSet, rows: readonly FeatureRow[]): Promise<void> {
  const writer = featureRowWriter(db, set, { batchRows: 40 });
  for (const row of rows)
    await writer.add(
      storedFeatureRow(row, featureVectorIdFor(row.bar_id, row.feature_set), row.ts_event + 1),
    );
  await writer.flush();
}

describe('feature store on a real PostgreSQL', () => {
  let db: Kysely<Database>;
  useMigratedDatabase((opened) => {
    db = opened;
  });

  it('stores values as float8[] and reads them back by name; warm-up nulls stay null; a replay adds nothing', async () => {
    const rows = await sampleRows('AAPL', 120);
    assert.equal(rows.length, 120);
    assert.ok(!rows[0]!.warm && rows.at(-1)!.warm, 'the sample covers warm-up and warm rows');
    await write(db, DEFAULT_FEATURE_SET, rows.slice(0, 80));
    // A replay after a restart: rows 40..79 are stored already (COPY fails, the fallback INSERT skips them).
    await write(db, DEFAULT_FEATURE_SET, rows.slice(40));

    const stored = await readFeatureRows(db, { symbol: 'AAPL', featureSet: 'default' });
    assert.equal(stored.length, 120);
    assert.equal(new Set(stored.map((row) => row.id)).size, 120, 'no duplicate rows');
    stored.forEach((row, i) => {
      const expected = rows[i]!;
      assert.equal(row.ts_event, expected.ts_event);
      assert.equal(row.ts_init, expected.ts_event + 1);
      assert.equal(row.bar_id, expected.bar_id);
      assert.equal(row.feature_set_version, DEFAULT_FEATURE_SET.version);
      assert.deepEqual(row.values, expected.values);
    });
    assert.ok(Object.values(stored[0]!.values).includes(null), 'warming values are null');

    const raw = await sql<{ type: string; length: number; names: string[] }>`
      SELECT pg_typeof(f."values")::text AS type, cardinality(f."values") AS length, s.column_names AS names
      FROM features f JOIN feature_sets s ON s.version = f.feature_set_version
      WHERE f.id = ${stored.at(-1)!.id}
    `.execute(db);
    assert.deepEqual(raw.rows, [
      {
        type: 'double precision[]',
        length: DEFAULT_FEATURE_SET.columns.length,
        names: [...DEFAULT_FEATURE_SET.columns],
      },
    ]);
  });

  it('registers a feature set once and refuses a version registered with other names', async () => {
    const names = await registerFeatureSet(db, DEFAULT_FEATURE_SET);
    assert.deepEqual(names, DEFAULT_FEATURE_SET.columns);
    assert.deepEqual(await registerFeatureSet(db, DEFAULT_FEATURE_SET), names);
    await assert.rejects(
      registerFeatureSet(db, { ...DEFAULT_FEATURE_SET, columns: ['SMA_20', 'OTHER'] }),
      /feature_sets holds version/,
    );
  });
});

describe('migration 0003 on rows stored as jsonb', () => {
  let database: { url: string; close(): Promise<void> };
  let db: Kysely<Database>;
  before(async () => {
    database = await postgresForTests();
    db = createDatabase(database.url);
  });
  after(async () => {
    await db?.destroy();
    await database?.close();
  });

  it('turns jsonb values into float8[] by the names of their version, keeping nulls, and writers follow the stored order', async () => {
    // Installed but not preloaded, CREATE EXTENSION would end the connection (FATAL).
    const probe = await probeTimescale(db);
    let flavour: Flavour = 'postgresql';
    if (probe.available && probe.preloaded) {
      await sql`CREATE EXTENSION IF NOT EXISTS timescaledb`.execute(db);
      flavour = 'timescaledb';
    }
    const migrator = new Migrator({
      db: untyped(db),
      provider: new InCodeMigrationProvider(buildMigrations(flavour)),
      migrationTableName: MIGRATION_TABLE,
      migrationLockTableName: MIGRATION_LOCK_TABLE,
    });
    const { error } = await migrator.migrateTo('0002_time_layout');
    assert.equal(error, undefined);

    // Rows as the jsonb schema held them: names in no particular order, null while warming.
    const T0 = Date.UTC(2020, 0, 1);
    const old = [
      { ts: T0, values: { zeta: null, alpha: 1.5, mid: null } },
      { ts: T0 + 86_400_000, values: { alpha: 2.25, mid: -3, zeta: 1e-300 } },
    ];
    for (const [i, row] of old.entries()) {
      await sql`
        INSERT INTO features (id, symbol, feature_set, feature_set_version, ts, ts_init, "values", bar_id)
        VALUES (${`old:${i}`}, 'OLD', 'legacy', 'v-legacy', ${toTimestamp(row.ts)}, ${toTimestamp(row.ts)},
          ${JSON.stringify(row.values)}::jsonb, ${`bar:${i}`})
      `.execute(db);
    }
    if (flavour === 'timescaledb') {
      await sql`SELECT compress_chunk(c) FROM show_chunks('features') c`.execute(db);
    }

    const result = await migrateToLatest(db);
    assert.deepEqual(result.applied, [
      '0003_feature_values_float8',
      '0004_drop_redundant_time_btrees',
      '0005_compression_keys_no_default_retention',
      '0006_drop_signals',
      '0007_order_venue_fields',
    ]);
    const sets = await db.selectFrom('feature_sets').select(['version', 'name', 'column_names']).execute();
    assert.deepEqual(sets, [{ version: 'v-legacy', name: 'legacy', column_names: ['alpha', 'mid', 'zeta'] }]);
    const stored = await readFeatureRows(db, { symbol: 'OLD' });
    assert.deepEqual(
      stored.map((row) => row.values),
      old.map((row) => row.values),
    );

    // A writer whose set declares the names in another order follows the stored order.
    const legacy = {
      ...DEFAULT_FEATURE_SET,
      name: 'legacy',
      version: 'v-legacy',
      columns: ['zeta', 'alpha', 'mid'],
    };
    const newRow: FeatureRow = {
      symbol: 'OLD',
      ts_event: T0 + 2 * 86_400_000,
      bar_id: 'bar:2',
      feature_set: 'legacy',
      feature_set_version: 'v-legacy',
      warm: true,
      values: { zeta: 3, alpha: 4, mid: 5 },
    };
    await write(db, legacy, [newRow]);
    const added = await readFeatureRows(db, { symbol: 'OLD', from: newRow.ts_event });
    assert.deepEqual(
      added.map((row) => row.values),
      [newRow.values],
    );
    const raw = await sql<{ values: number[] }>`SELECT "values" FROM features WHERE bar_id = 'bar:2'`.execute(
      db,
    );
    assert.deepEqual(raw.rows[0]!.values, [4, 5, 3]);

    if (flavour === 'timescaledb') {
      const compression = await sql<{ compression_enabled: boolean }>`
        SELECT compression_enabled FROM timescaledb_information.hypertables WHERE hypertable_name = 'features'
      `.execute(db);
      assert.equal(compression.rows[0]?.compression_enabled, true, 'compression is enabled again');
      const policies = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM timescaledb_information.jobs
        WHERE proc_name = 'policy_compression' AND hypertable_name = 'features'
      `.execute(db);
      assert.equal(policies.rows[0]?.n, 1, 'the compression policy is back');
    }
  });
});
