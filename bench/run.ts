// `npm run bench`: runs every bench/*.bench.ts (or those named on the command line) one after the
// other and writes their named figures to bench-results.json. Each module's default export returns
// a flat record of figures; names carry their unit (…_per_s, …_us, …_mb).
import { readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

type BenchModule = { default: () => Promise<Record<string, number | string>> };

const benchDir = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const benchFiles = readdirSync(benchDir)
  .filter((name) => name.endsWith('.bench.ts'))
  .filter((name) => only.length === 0 || only.some((wanted) => name.startsWith(wanted)))
  .sort();

const results: Record<string, number | string> = {};
for (const file of benchFiles) {
  const module = (await import(join(benchDir, file))) as BenchModule;
  const started = performance.now();
  const figures = await module.default();
  Object.assign(results, figures);
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
