// Feature rows into PostgreSQL: the FeatureActor's writer (binary COPY of float8[] value rows, 2,000
// rows a batch, two batches in flight) against a naive one-INSERT-per-row baseline, same server, same
// rows (real features: the default set over the bundled stocknet prices, re-stamped to make them unique).
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FeatureCore, type FeatureRow } from '../actors/feature/core.ts';
import { DEFAULT_FEATURE_SET } from '../actors/feature/feature-set.ts';
import { readDatasetFile } from '../core/dataset-files.ts';
import { featureVectorIdFor } from '../core/lineage-ids.ts';
import { bundledSampleDatasets } from '../simulations/sources/datasets.ts';
import { startPostgres } from '../test/support/postgres.ts';
import { createDatabase, toTimestamp } from '../timescale/database.ts';
import {
  featureRowWriter,
  featureValuesArray,
  registerFeatureSet,
  storedFeatureRow,
} from '../timescale/feature-store.ts';
import { migrateToLatest } from '../timescale/migrate.ts';

const BATCHED_ROWS = Number(process.env.BENCH_FEATURE_ROWS ?? 200_000);
const NAIVE_ROWS = 5_000;
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

async function realRows(count: number): Promise<FeatureRow[]> {
  const core = new FeatureCore({ set: DEFAULT_FEATURE_SET });
  const base: FeatureRow[] = [];
  const sample = bundledSampleDatasets(join(repoRoot, 'simulations', 'data', 'sample'));
  for (const file of sample['sample-prices']!.files) {
    for await (const row of readDatasetFile(file)) {
      if (row.kind !== 'bar') continue;
      const features = core.onBar(row.event);
      if (features) base.push(features);
    }
  }
  return Array.from({ length: count }, (_, index) => {
    const row = base[index % base.length]!;
    const cycle = Math.floor(index / base.length);
    return { ...row, bar_id: `${row.bar_id}:${cycle}`, ts_event: row.ts_event + cycle * 1000 };
  });
}

export default async function featureStoreBench(): Promise<Record<string, number>> {
  const postgres = await startPostgres();
  const db = createDatabase(postgres.url);
  try {
    await migrateToLatest(db);
    const rows = await realRows(BATCHED_ROWS + NAIVE_ROWS);
    const writer = featureRowWriter(db, DEFAULT_FEATURE_SET);
    let startedAt = performance.now();
    for (let index = 0; index < BATCHED_ROWS; index++) {
      const row = rows[index]!;
      const waiting = writer.add(
        storedFeatureRow(row, featureVectorIdFor(row.bar_id, row.feature_set), row.ts_event),
      );
      if (waiting) await waiting;
    }
    await writer.flush();
    const batched = Math.round(BATCHED_ROWS / ((performance.now() - startedAt) / 1000));

    const names = await registerFeatureSet(db, DEFAULT_FEATURE_SET);
    startedAt = performance.now();
    for (let index = BATCHED_ROWS; index < BATCHED_ROWS + NAIVE_ROWS; index++) {
      const row = rows[index]!;
      await db
        .insertInto('features')
        .values({
          id: featureVectorIdFor(row.bar_id, row.feature_set),
          symbol: row.symbol,
          feature_set: row.feature_set,
          feature_set_version: row.feature_set_version,
          ts: toTimestamp(row.ts_event),
          ts_init: toTimestamp(row.ts_event),
          values: featureValuesArray(names, row.values),
          bar_id: row.bar_id,
        })
        .onConflict((conflict) => conflict.doNothing())
        .execute();
    }
    const naive = Math.round(NAIVE_ROWS / ((performance.now() - startedAt) / 1000));
    return { feature_rows_written_per_s: batched, feature_rows_naive_insert_per_s: naive };
  } finally {
    await db.destroy();
    await postgres.stop();
  }
}
