// 0003: features."values" as float8[] in the column order its feature set registered once in feature_sets
// (version → column names), instead of jsonb that repeats every name in every row and costs the server
// a JSON parse per row. A NULL element is a value still warming up (jsonb stored null). Rows already
// stored are converted with the names their own jsonb holds, sorted; the writer follows whatever order
// feature_sets holds for a version, so old and new rows of one version line up.
// Released: never edited (timescale/migrations/README.md); a change to the schema is a new migration.
import { type Kysely, type Migration, sql } from 'kysely';
import type { Flavour } from '../migrations.ts';
import { enableCompression } from './shared.ts';

const FEATURE_SETS_TABLE = sql`
  CREATE TABLE IF NOT EXISTS feature_sets (
    version text PRIMARY KEY,
    name text NOT NULL,
    column_names text[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
  )
`;

/**
 * Runs `alter` on features with TimescaleDB compression out of the way: a column's type cannot change
 * while compression is enabled, so compressed chunks are decompressed, compression (and its policy) is
 * turned off, and both are restored afterwards with the settings 0002 set and the policy's own
 * compress_after. Plain PostgreSQL (or compression never enabled) just runs `alter`.
 */
async function withFeaturesUncompressed(
  db: Kysely<unknown>,
  flavour: Flavour,
  alter: () => Promise<void>,
): Promise<void> {
  if (flavour !== 'timescaledb') return alter();
  const enabled = await sql<{ compression_enabled: boolean }>`
    SELECT compression_enabled FROM timescaledb_information.hypertables
    WHERE hypertable_schema = current_schema() AND hypertable_name = 'features'
  `.execute(db);
  if (!enabled.rows[0]?.compression_enabled) return alter();
  const policy = await sql<{ compress_after: string | null }>`
    SELECT config->>'compress_after' AS compress_after FROM timescaledb_information.jobs
    WHERE proc_name = 'policy_compression' AND hypertable_schema = current_schema()
      AND hypertable_name = 'features'
  `.execute(db);
  const compressAfter = policy.rows[0]?.compress_after ?? null;
  await sql`SELECT remove_compression_policy('features', if_exists => true)`.execute(db);
  await sql`SELECT decompress_chunk(c, if_compressed => true) FROM show_chunks('features') c`.execute(db);
  await sql`ALTER TABLE features SET (timescaledb.compress = false)`.execute(db);
  await alter();
  await enableCompression(db, 'features');
  if (compressAfter !== null) {
    // Chunks older than compress_after are compressed again by the policy's next run.
    await sql`
      SELECT add_compression_policy('features', ${compressAfter}::interval, if_not_exists => true)
    `.execute(db);
  }
}

export function featureValuesAsFloat8Array(flavour: Flavour): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await FEATURE_SETS_TABLE.execute(db);
      await sql`
        INSERT INTO feature_sets (version, name, column_names)
        SELECT feature_set_version, min(feature_set), array_agg(DISTINCT k ORDER BY k)
        FROM features, jsonb_object_keys("values") AS k
        GROUP BY feature_set_version
        ON CONFLICT (version) DO NOTHING
      `.execute(db);
      // A function because ALTER … USING cannot hold a subquery; dropped again below.
      await sql`
        CREATE FUNCTION sluice_feature_values_0003(v jsonb, set_version text) RETURNS float8[]
        LANGUAGE sql STABLE AS $$
          SELECT coalesce(array_agg((v ->> u.name)::float8 ORDER BY u.i), '{}')
          FROM feature_sets fs, unnest(fs.column_names) WITH ORDINALITY AS u(name, i)
          WHERE fs.version = set_version
        $$
      `.execute(db);
      await withFeaturesUncompressed(db, flavour, async () => {
        await sql`
          ALTER TABLE features ALTER COLUMN "values" TYPE float8[]
            USING sluice_feature_values_0003("values", feature_set_version)
        `.execute(db);
      });
      await sql`DROP FUNCTION sluice_feature_values_0003(jsonb, text)`.execute(db);
    },
    async down(db: Kysely<unknown>) {
      await sql`
        CREATE FUNCTION sluice_feature_values_0003(v float8[], set_version text) RETURNS jsonb
        LANGUAGE sql STABLE AS $$
          SELECT coalesce(jsonb_object_agg(u.name, to_jsonb(u.value)), '{}')
          FROM feature_sets fs, unnest(fs.column_names, v) AS u(name, value)
          WHERE fs.version = set_version AND u.name IS NOT NULL
        $$
      `.execute(db);
      await withFeaturesUncompressed(db, flavour, async () => {
        await sql`
          ALTER TABLE features ALTER COLUMN "values" TYPE jsonb
            USING sluice_feature_values_0003("values", feature_set_version)
        `.execute(db);
      });
      await sql`DROP FUNCTION sluice_feature_values_0003(float8[], text)`.execute(db);
      await sql`DROP TABLE IF EXISTS feature_sets`.execute(db);
    },
  };
}
