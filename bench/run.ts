// `npm run bench`: runs every bench/*.bench.ts (or those named on the command line), each in a
// process of its own so one bench's heap and JIT state cannot skew the next, and writes their named
// figures to bench-results.json. Each module's default export returns a flat record of figures; names
// carry their unit (…_per_s, …_us, …_mb).
import { spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

type BenchModule = { default: () => Promise<Record<string, number | string>> };

const benchDir = dirname(fileURLToPath(import.meta.url));
const RESULT_MARKER = 'BENCH-RESULT ';

if (process.argv[2] === '--one') {
  // Child mode: run one bench file and hand its figures back on stdout.
  const module = (await import(join(benchDir, process.argv[3] ?? ''))) as BenchModule;
  const figures = await module.default();
  process.stdout.write(`${RESULT_MARKER}${JSON.stringify(figures)}\n`);
  process.exit(0);
}

const only = process.argv.slice(2);
const benchFiles = readdirSync(benchDir)
  .filter((name) => name.endsWith('.bench.ts'))
  .filter((name) => only.length === 0 || only.some((wanted) => name.startsWith(wanted)))
  .sort();

const results: Record<string, number | string> = {};
for (const file of benchFiles) {
  const started = performance.now();
  const child = spawnSync(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), '--one', file],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  const line = child.stdout.split('\n').find((candidate) => candidate.startsWith(RESULT_MARKER));
  if (child.status !== 0 || !line) {
    console.error(`${file}: failed (exit ${child.status})`);
    process.exitCode = 1;
    continue;
  }
  Object.assign(results, JSON.parse(line.slice(RESULT_MARKER.length)) as Record<string, number | string>);
  console.error(`${file}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

const output = {
  generated_by: 'npm run bench',
  node: process.version,
  platform: `${process.platform}-${process.arch}`,
  figures: results,
};
writeFileSync('bench-results.json', `${JSON.stringify(output, null, 2)}\n`);
console.log(JSON.stringify(output, null, 2));
