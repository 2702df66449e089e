// The ExecutionActor lifecycle: restoring -> running -> draining -> stopped, a refused snapshot kept
// as lastError; and the binding drives it (status() shows the state).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createActor } from 'xstate';
import { executionLifecycleMachine } from '../../actors/execution/machine.ts';
import { startTrading } from '../../actors/pipeline.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { InProcessBus } from '../../streams/in-process-bus.ts';
import type { SnapshotStore } from '../../streams/snapshot-store.ts';
import { tradingConfig } from './trading-fixture.ts';

test('machine: every transition, driven by raw events', () => {
  const actor = createActor(executionLifecycleMachine).start();
  const state = () => actor.getSnapshot().value;
  actor.send({ type: 'STOP' });
  assert.equal(state(), 'restoring', 'nothing to drain before it runs');
  actor.send({ type: 'SNAPSHOT_REFUSED', reason: 'malformed JSON' });
  assert.equal(state(), 'restoring');
  actor.send({ type: 'RESTORED', resubmitted: 2 });
  assert.equal(state(), 'running');
  assert.deepEqual(actor.getSnapshot().context, { resubmitted: 2, lastError: 'malformed JSON' });
  actor.send({ type: 'DRAINED' });
  assert.equal(state(), 'running', 'drained only after a stop');
  actor.send({ type: 'STOP' });
  assert.equal(state(), 'draining');
  actor.send({ type: 'DRAINED' });
  assert.equal(state(), 'stopped');
  assert.equal(actor.getSnapshot().status, 'done');
});

test('binding: status shows the state and why its snapshot was refused', async () => {
  const texts = new Map([['execution.SIM', '{"value":']]);
  const store: SnapshotStore = {
    get: async (key) => texts.get(key),
    put: async (key, text) => void texts.set(key, text),
  };
  const trading = await startTrading(tradingConfig(), { bus: new InProcessBus(new Subjects(4)), store });
  const running = trading.status().execution;
  await trading.stop();
  assert.equal(running?.state, 'running');
  assert.match(running?.lastError ?? '', /^snapshot execution\.SIM: malformed JSON/);
  assert.equal(running?.resubmitted, 0, 'a refused snapshot leaves no open intents');
  assert.equal(trading.status().execution?.state, 'stopped');
});
