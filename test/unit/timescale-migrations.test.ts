// Released migrations are frozen (timescale/migrations/README.md): each file's content is pinned here,
// so editing one fails this test instead of leaving databases migrated before the edit different from
// those migrated after. A new migration is pinned when it is released.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildMigrations } from '../../timescale/migrations.ts';

const DIR = join(import.meta.dirname, '../../timescale/migrations');

/** SHA-256 of each released file: the migrations, and shared.ts, which they run. */
const RELEASED: Readonly<Record<string, string>> = {
  '0001_core_tables.ts': 'df65cd508725a2a6d62a72060c38d11b5b568407c6e186c750e6a0fd0b7a4ec1',
  '0002_time_layout.ts': '40141c061c4c0b60a9b9b9c5ed0c18ef660ffc15bb5034f77f0e6106433f4e1f',
  '0003_feature_values_float8.ts': '67d4a170c6185b64f80a8c1ffa1112813f8a9fdbae87779c411318bd9c0a0f6f',
  '0004_drop_redundant_time_btrees.ts': '0fb57f636c0a4007aee89e3135809f9c9986159b968987877837d2a259b97be7',
  '0005_compression_keys_no_default_retention.ts':
    'd5ad799fcdc85e413a85ffe5f00bc5c8c829befea77731cad108a9f65c7308f1',
  '0006_drop_signals.ts': 'a6d76234906df930f515469696c6fe5de17426ae2316e12c93fce6fb213ec12f',
  '0007_order_venue_fields.ts': '4af8fff7d657e76da60eebaec898d2568b3a4535859387e1441412b819a4f8e9',
  'shared.ts': '0a5d2ce238d3c704dbb6667e4f32ed64b466b841cc35dfbcd2905f3ef78010e0',
};

const sourceFiles = () => readdirSync(DIR).filter((name) => name.endsWith('.ts'));

describe('timescale migrations', () => {
  it('no released migration has been edited', () => {
    for (const [file, pinned] of Object.entries(RELEASED)) {
      const actual = createHash('sha256')
        .update(readFileSync(join(DIR, file)))
        .digest('hex');
      assert.equal(
        actual,
        pinned,
        `${file} is released and frozen: add a new migration instead of editing it`,
      );
    }
  });

  it('every migration file is pinned once released, and listed in order under its file name', () => {
    assert.deepEqual(sourceFiles().sort(), Object.keys(RELEASED).sort(), 'pin a new migration here');
    const names = sourceFiles()
      .filter((file) => /^\d{4}_/.test(file))
      .sort()
      .map((file) => file.replace(/\.ts$/, ''));
    for (const flavour of ['timescaledb', 'postgresql'] as const)
      assert.deepEqual(Object.keys(buildMigrations(flavour)), names);
  });
});
