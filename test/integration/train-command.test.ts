// `sluice train --config` end to end: the real CLI trains a small model on the live feature set,
// writes ONNX + manifest, records the run in PostgreSQL; a bad config exits 2 naming the field.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_FEATURE_SET } from '../../actors/feature/feature-set.ts';
import { OnnxModelRunner } from '../../actors/inference/onnx-runner.ts';
import { sha256Hex } from '../../core/hash.ts';
import type { ModelManifest } from '../../schemas/model-manifest.ts';
import { decodeModelManifest } from '../../schemas/validate.ts';
import { createDatabase } from '../../timescale/database.ts';
import { migrateToLatest } from '../../timescale/migrate.ts';
import { runCli } from '../support/cli.ts';
import { postgresForTests } from '../support/postgres.ts';

describe('sluice train', () => {
  let dir: string;
  let database: { url: string; close(): Promise<void> };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-train-'));
    database = await postgresForTests();
    const db = createDatabase(database.url);
    await migrateToLatest(db);
    await db.destroy();
  });
  after(async () => {
    await database?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('trains on a small config, writes model + manifest, records the run', async () => {
    const configPath = join(dir, 'train.json');
    await writeFile(
      configPath,
      JSON.stringify({
        model: 'logistic',
        symbols: ['AAPL', 'XOM'],
        folds: 2,
        outputDir: join(dir, 'out'),
        modelId: 'small',
      }),
    );
    const result = await runCli(['train', '--config', configPath], { DATABASE_URL: database.url });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /train \[/, 'a progress bar on stderr');
    assert.match(result.stderr, /run train:small recorded/);

    // What `sluice train` writes keeps the manifest contract the registry reads it with.
    const decoded = decodeModelManifest(readFileSync(join(dir, 'out', 'small.manifest.json')));
    assert.ok(decoded.ok, decoded.ok ? '' : decoded.reason);
    const manifest = decoded.value;
    const onnx = readFileSync(join(dir, 'out', 'small.onnx'));
    assert.equal(manifest.onnx.sha256, sha256Hex(onnx));
    assert.equal(manifest.featureSet.version, DEFAULT_FEATURE_SET.version);
    assert.deepEqual(manifest.featureSet.names, DEFAULT_FEATURE_SET.columns);
    assert.equal(manifest.metrics.folds.length, 2);
    assert.equal(manifest.referenceDistributions.length, DEFAULT_FEATURE_SET.columns.length);
    const runner = await OnnxModelRunner.load(onnx, { executionProviders: ['cpu'] });
    assert.equal(runner.inputWidth, DEFAULT_FEATURE_SET.columns.length);
    await runner.release();

    const db = createDatabase(database.url);
    try {
      const run = await db
        .selectFrom('runs')
        .selectAll()
        .where('id', '=', 'train:small')
        .executeTakeFirstOrThrow();
      assert.equal(run.status, 'finished');
      assert.equal((run.config as unknown as { command: string }).command, 'train');
      const metrics = run.metrics as unknown as ModelManifest['metrics'];
      assert.deepEqual(metrics.outOfSample, manifest.metrics.outOfSample);
    } finally {
      await db.destroy();
    }
  });

  it('a bad config stops with exit 2 and names the field', async () => {
    const configPath = join(dir, 'bad.json');
    await writeFile(configPath, JSON.stringify({ model: 'forest', symbols: ['AAPL'] }));
    const bad = await runCli(['train', '--config', configPath, '--no-record']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /configuration error: \/model: expected one of "logistic", "mlp", got "forest"/);
    await writeFile(
      configPath,
      JSON.stringify({ model: 'mlp', symbols: ['AAPL'], labels: { verticalBars: 0 } }),
    );
    const badLabel = await runCli(['train', '--config', configPath, '--no-record']);
    assert.equal(badLabel.code, 2);
    assert.match(badLabel.stderr, /\/labels\/verticalBars: expected integer/);
  });
});
