// Every actor has the one shape of actors/actor.ts: started by a static `start(options)` (never built
// and then started), with `status()` and `stop()`. The typed list fails to compile when an actor
// loses that shape; the scan fails when an actor class in actors/<name>/actor.ts is not in the list.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { Actor, ActorType, StatefulActor, StatefulActorType } from '../../actors/actor.ts';
import { AlertActor } from '../../actors/alerts/actor.ts';
import { DeadLetterRateMonitor } from '../../actors/alerts/dead-letter-rate.ts';
import { ExecutionActor } from '../../actors/execution/actor.ts';
import { FeatureActor } from '../../actors/feature/actor.ts';
import { SharedFeatureActors } from '../../actors/feature/shared.ts';
import { InferenceActor } from '../../actors/inference/actor.ts';
import { NewsActor } from '../../actors/news/actor.ts';
import { PortfolioActor } from '../../actors/portfolio/actor.ts';
import { RiskGateActor } from '../../actors/risk/actor.ts';

const ACTORS: readonly ActorType<never, Actor<unknown>>[] = [
  FeatureActor,
  SharedFeatureActors,
  InferenceActor,
  NewsActor,
  RiskGateActor,
  ExecutionActor,
  PortfolioActor,
  AlertActor,
  DeadLetterRateMonitor,
];

/** Those whose state outlives the process: each saves under a versioned contract. */
const STATEFUL: readonly StatefulActorType<never, unknown, StatefulActor<unknown, unknown>>[] = [
  RiskGateActor,
  ExecutionActor,
  PortfolioActor,
];

const actorsDir = join(import.meta.dirname, '..', '..', 'actors');

describe('actor contract', () => {
  it('every actor class of actors/<name>/actor.ts is in the typed list', async () => {
    const folders = readdirSync(actorsDir, { withFileTypes: true }).filter((entry) => entry.isDirectory());
    const found: string[] = [];
    for (const folder of folders) {
      const file = join(actorsDir, folder.name, 'actor.ts');
      if (!readdirSync(join(actorsDir, folder.name)).includes('actor.ts')) continue;
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
});
