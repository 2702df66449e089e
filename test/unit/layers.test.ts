// Layers point one way: schemas <- core <- streams, timescale <- actors <- simulations <- bin. A lower
// layer importing a higher one (live code reaching into research, a stream helper into the actors)
// fails here, naming the file and the import. streams and timescale share a rank but must not import
// each other: the bus and the database stay independent.
import assert from 'node:assert/strict';
import {
  type Dirent,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const rank: Readonly<Record<string, number>> = {
  schemas: 0,
  core: 1,
  streams: 2,
  timescale: 2,
  actors: 3,
  simulations: 4,
  bin: 5,
};

function tsFiles(dir: string): string[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : tsFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

const layerOf = (path: string): string => path.split(sep)[0] ?? '';

/** Every `file -> import` (paths relative to `root`) where a layer imports a higher or a sibling one. */
export function layerViolations(root: string): string[] {
  const violations: string[] = [];
  for (const layer of Object.keys(rank)) {
    for (const file of tsFiles(join(root, layer))) {
      const from = relative(root, file);
      // TypeScript's own scan: static, type-only, re-exports and dynamic import() alike, comments skipped.
      const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
      for (const { fileName } of importedFiles) {
        if (!fileName.startsWith('.')) continue;
        const target = relative(root, resolve(dirname(file), fileName));
        const to = layerOf(target);
        const [own, other] = [rank[layer], rank[to]];
        if (own === undefined || other === undefined || to === layer) continue;
        if (other >= own) violations.push(`${from} -> ${target}`);
      }
    }
  }
  return violations;
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('layers', () => {
  it('no lower layer imports a higher one, and streams and timescale do not import each other', () => {
    assert.deepEqual(layerViolations(repoRoot), []);
  });

  it('names each upward or sideways import, and lets downward ones pass', () => {
    const root = mkdtempSync(join(tmpdir(), 'sluice-layers-'));
    try {
      const write = (path: string, text: string) => {
        mkdirSync(dirname(join(root, path)), { recursive: true });
        writeFileSync(join(root, path), text);
      };
      write('schemas/a.ts', 'export const a = 1;\n');
      write('core/b.ts', "import { a } from '../schemas/a.ts';\nexport const b = a;\n");
      write('streams/c.ts', "import type { T } from '../timescale/d.ts';\nexport type C = T;\n");
      write('timescale/d.ts', 'export type T = number;\n');
      write(
        'actors/e/f.ts',
        "export { b } from '../../core/b.ts';\nconst lazy = () => import('../../simulations/g.ts');\n",
      );
      write(
        'simulations/g.ts',
        "import { b } from '../core/b.ts';\n// from '../bin/h.ts'\nexport const g = b;\n",
      );
      write('bin/h.ts', "import { g } from '../simulations/g.ts';\nexport const h = g;\n");
      assert.deepEqual(layerViolations(root).sort(), [
        `actors${sep}e${sep}f.ts -> simulations${sep}g.ts`,
        `streams${sep}c.ts -> timescale${sep}d.ts`,
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
