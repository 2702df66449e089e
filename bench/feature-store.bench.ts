// Feature rows into PostgreSQL: the actors' batched writer (unnest multi-row INSERT … ON CONFLICT DO
// NOTHING, 2,000 rows a statement) against a naive one-INSERT-per-row baseline, same server, same rows
// (real features: the default set over the bundled stocknet prices, re-stamped to make them unique).
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { featureVectorId } from '../actors/feature/actor.ts';
import { FeatureCore, type FeatureRow } from '../actors/feature/core.ts';
import { DEFAULT_FEATURE_SET } from '../actors/feature/feature-set.ts';
import { bundledSampleDatasets, readDatasetFile } from '../simulations/sources/datasets.ts';
import { startPostgres } from '../test/support/postgres.ts';
import { BatchWriter } from '../timescale/batch-writer.ts';
import { createDatabase, json, toTimestamp } from '../timescale/database.ts';
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
    const writer = new BatchWriter<FeatureRow>(db, {
      table: 'features',
      columns: [
        { name: 'id', type: 'text', value: (row) => featureVectorId(row) },
        { name: 'symbol', type: 'text', value: (row) => row.symbol },
        { name: 'feature_set', type: 'text', value: (row) => row.feature_set },
        { name: 'feature_set_version', type: 'text', value: (row) => row.feature_set_version },
        { name: 'ts', type: 'timestamptz', value: (row) => row.ts_event },
        { name: 'ts_init', type: 'timestamptz', value: (row) => row.ts_event },
        { name: 'values', type: 'jsonb', value: (row) => JSON.stringify(row.values) },
        { name: 'bar_id', type: 'text', value: (row) => row.bar_id },
      ],
    });
    let startedAt = performance.now();
    for (let index = 0; index < BATCHED_ROWS; index++) {
      const waiting = writer.add(rows[index]!);
      if (waiting) await waiting;
    }
    await writer.flush();
    const batched = Math.round(BATCHED_ROWS / ((performance.now() - startedAt) / 1000));

    startedAt = performance.now();
    for (let index = BATCHED_ROWS; index < BATCHED_ROWS + NAIVE_ROWS; index++) {
      const row = rows[index]!;
      await db
        .insertInto('features')
        .values({
          id: featureVectorId(row),
          symbol: row.symbol,
          feature_set: row.feature_set,
          feature_set_version: row.feature_set_version,
          ts: toTimestamp(row.ts_event),
          ts_init: toTimestamp(row.ts_event),
          values: json(row.values),
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
