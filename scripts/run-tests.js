// Runs node's test runner over test/**/*.test.ts (Node 20 has no glob support for .ts files).
// `node scripts/run-tests.js unit` runs only test/unit, which needs no services.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const scope = process.argv[2];
const root = scope ? join('test', scope) : 'test';

function collectTestFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return collectTestFiles(path);
    return entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

const files = collectTestFiles(root).sort();
const concurrency = process.env.TEST_CONCURRENCY ?? '2';
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
