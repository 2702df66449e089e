// Every actor has the one shape of actors/actor.ts: started by a static `start(options)` (never built
// and then started), with `status()` and `stop()`. The typed list fails to compile when an actor
// loses that shape; the scan fails when an actor class in actors/<name>/actor.ts is not in the list.
// Inside, each actors/<name>/ has a machine (machine.ts) and a pure core that reaches no I/O.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { Actor, ActorType, StatefulActor, StatefulActorType } from '../../actors/actor.ts';
import { AlertActor } from '../../actors/alerts/actor.ts';
import { DeadLetterRateMonitor } from '../../actors/alerts/dead-letter-rate.ts';
import { ExecutionActor } from '../../actors/execution/actor.ts';
import { FeatureActor } from '../../actors/feature/actor.ts';
import { LeasedFeatureActors } from '../../actors/feature/leased-partitions.ts';
import { FeedActor } from '../../actors/feed/actor.ts';
import { InferenceActor } from '../../actors/inference/actor.ts';
import { NewsActor } from '../../actors/news/actor.ts';
import { PortfolioActor } from '../../actors/portfolio/actor.ts';
import { RiskGateActor } from '../../actors/risk/actor.ts';

const ACTORS: readonly ActorType<never, Actor<unknown>>[] = [
  FeatureActor,
  LeasedFeatureActors,
  InferenceActor,
  NewsActor,
  RiskGateActor,
  ExecutionActor,
  PortfolioActor,
  AlertActor,
  DeadLetterRateMonitor,
  FeedActor,
];

/** Those whose state outlives the process: each saves under a versioned contract. */
const STATEFUL: readonly StatefulActorType<never, unknown, StatefulActor<unknown, unknown>>[] = [
  RiskGateActor,
  ExecutionActor,
  PortfolioActor,
];

const actorsDir = join(import.meta.dirname, '..', '..', 'actors');
const root = resolve(actorsDir, '..');

/** Where an actor's pure core is not its core.ts: the files that are. */
const CORE_FILES: Readonly<Record<string, readonly string[]>> = {
  execution: ['simulated-venue.ts', 'intent-guard.ts'],
};

/** Packages a core may use: computation only (hashing, a value's text). */
const PURE_PACKAGES = new Set(['node:crypto', 'node:util']);

/** Folders holding I/O, and the binding's file name: a core reaches none of them. */
const IO_FOLDERS = ['streams/', 'timescale/', 'bin/', 'simulations/'];

function actorFolders(): string[] {
  return readdirSync(actorsDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(actorsDir, entry.name, 'actor.ts')))
    .map((entry) => entry.name);
}

/** I/O and wall-clock reads that need no import. */
const IO_GLOBALS =
  /\b(?:fetch|setTimeout|setInterval|setImmediate)\s*\(|\bperformance\.now\b|\bDate\.now\b|\bprocess\.[a-z]/;

/** Modules a file loads at run time (type-only imports load nothing). */
function runtimeImports(text: string): string[] {
  const specifiers: string[] = [];
  for (const match of text.matchAll(
    /^\s*(?:import|export)\s+(type\s+)?(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]/gm,
  ))
    if (match[1] === undefined && match[2] !== undefined) specifiers.push(match[2]);
  return specifiers;
}

/** What `file` reaches at run time that a pure core must not: I/O folders, bindings, packages. */
function impurities(file: string): string[] {
  const found: string[] = [];
  const seen = new Set<string>();
  const visit = (path: string, via: string): void => {
    if (seen.has(path)) return;
    seen.add(path);
    const name = relative(root, path);
    if (IO_FOLDERS.some((folder) => name.startsWith(folder)) || name.endsWith('/actor.ts')) {
      found.push(`${via} -> ${name}`);
      return;
    }
    const text = readFileSync(path, 'utf8');
    const io = IO_GLOBALS.exec(text);
    if (io) found.push(`${via} -> ${name} uses ${io[0]}`);
    for (const specifier of runtimeImports(text)) {
      if (specifier.startsWith('.')) visit(resolve(dirname(path), specifier), `${via} -> ${name}`);
      else if (!PURE_PACKAGES.has(specifier)) found.push(`${via} -> ${name} -> ${specifier}`);
    }
  };
  visit(file, 'core');
  return found;
}

describe('actor contract', () => {
  it('every actor class of actors/<name>/actor.ts is in the typed list', async () => {
    const found: string[] = [];
    for (const folder of actorFolders()) {
      const file = join(actorsDir, folder, 'actor.ts');
      const module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
      for (const [name, value] of Object.entries(module)) {
        if (typeof value === 'function' && /Actor$/.test(name)) found.push(name);
      }
    }
    assert.ok(found.length >= 7, `found ${found.join(', ')}`);
    const listed = new Set(ACTORS.map((type) => (type as unknown as { name: string }).name));
    for (const name of found) assert.ok(listed.has(name), `${name} is not held to the actor contract`);
  });

  it('each is started by a static start and has status and stop', () => {
    for (const type of ACTORS) {
      const { name, prototype } = type as unknown as { name: string; prototype: Record<string, unknown> };
      assert.equal(typeof type.start, 'function', `${name}.start`);
      assert.equal(typeof prototype.status, 'function', `${name}.prototype.status`);
      assert.equal(typeof prototype.stop, 'function', `${name}.prototype.stop`);
      assert.equal(typeof prototype.start, 'undefined', `${name} has no second way to start`);
    }
  });

  it('each stateful actor holds the versioned contract of what it saves', () => {
    for (const type of STATEFUL) {
      assert.match(type.snapshotContract.schema, /^[a-z_]+\.v\d+$/);
      assert.equal(
        typeof (type as unknown as { prototype: { saveState: unknown } }).prototype.saveState,
        'function',
      );
    }
  });

  it('each actor folder has a machine and a pure core', () => {
    const folders = actorFolders();
    assert.ok(folders.length >= 7, `found ${folders.join(', ')}`);
    for (const folder of folders) {
      assert.ok(existsSync(join(actorsDir, folder, 'machine.ts')), `actors/${folder} has no machine.ts`);
      for (const core of CORE_FILES[folder] ?? ['core.ts']) {
        const file = join(actorsDir, folder, core);
        assert.ok(existsSync(file), `actors/${folder} has no ${core}`);
        assert.deepEqual(impurities(file), [], `actors/${folder}/${core} is not pure`);
      }
    }
  });

  it('the purity scan follows run-time imports to a package, an I/O folder and a binding', () => {
    const execution = runtimeImports(readFileSync(join(actorsDir, 'execution', 'actor.ts'), 'utf8'));
    assert.ok(execution.includes('../../streams/bus.ts'), 'a value import over several lines');
    assert.ok(!execution.includes('../../schemas/messages.ts'), 'a type-only import loads nothing');
    assert.match(impurities(join(actorsDir, 'inference', 'onnx-runner.ts')).join('\n'), /onnxruntime-node$/m);
    assert.match(impurities(join(actorsDir, 'market-data.ts')).join('\n'), /-> streams\/bus\.ts$/m);
    assert.match(impurities(join(actorsDir, 'alerts', 'sinks.ts')).join('\n'), /sinks\.ts uses setTimeout\(/);
    assert.match(impurities(join(actorsDir, 'pipeline.ts')).join('\n'), /-> actors\/alerts\/actor\.ts$/m);
  });
});
