// The FeatureActor lifecycle on event time: warming -> live <-> stale -> stopped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createActor } from 'xstate';
import { FeatureLifecycle, featureLifecycleMachine } from '../../actors/feature/machine.ts';

test('machine: every transition, driven by raw events', () => {
  const actor = createActor(featureLifecycleMachine, { input: { staleAfterMs: 5_000 } }).start();
  const state = () => actor.getSnapshot().value;
  actor.send({ type: 'DATA', ts: 1_000 });
  actor.send({ type: 'TICK_TIME', ts: 100_000 });
  assert.equal(state(), 'warming'); // silence while warming is not staleness
  actor.send({ type: 'WARMED' });
  assert.equal(state(), 'live');
  actor.send({ type: 'DATA', ts: 100_000 });
  actor.send({ type: 'TICK_TIME', ts: 104_999 });
  assert.equal(state(), 'live');
  actor.send({ type: 'TICK_TIME', ts: 105_000 });
  assert.equal(state(), 'stale');
  actor.send({ type: 'DATA', ts: 106_000 });
  assert.equal(state(), 'live');
  actor.send({ type: 'STOP' });
  assert.equal(state(), 'stopped');
  assert.equal(actor.getSnapshot().status, 'done');
});

test('driver: sends the machine only the events that change its state', () => {
  const lifecycle = new FeatureLifecycle({ staleAfterMs: 5_000 });
  let snapshots = 0;
  lifecycle.actor.subscribe(() => snapshots++);
  for (let ts = 1_000; ts <= 30_000; ts += 1_000) lifecycle.data(ts, false);
  assert.equal(lifecycle.state, 'warming');
  assert.equal(snapshots, 0);
  lifecycle.data(31_000, true);
  assert.equal(lifecycle.state, 'live');
  const afterWarm = snapshots;
  for (let ts = 32_000; ts <= 60_000; ts += 1_000) {
    lifecycle.data(ts, true);
    lifecycle.tick(ts + 500);
  }
  assert.equal(snapshots, afterWarm, 'no sends while live and fed');
  lifecycle.tick(64_999);
  assert.equal(lifecycle.state, 'live');
  lifecycle.tick(65_000);
  assert.equal(lifecycle.state, 'stale');
  lifecycle.data(70_000, true);
  assert.equal(lifecycle.state, 'live');
  lifecycle.stop();
  lifecycle.data(71_000, true);
  assert.equal(lifecycle.state, 'stopped');
});
