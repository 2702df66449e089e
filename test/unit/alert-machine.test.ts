// The AlertActor lifecycle (starting -> running <-> degraded -> draining -> stopped) and its pure
// core: dedupe by dedupe_key within a window of event time, routing by severity, once per sink.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createActor } from 'xstate';
import { AlertRouting } from '../../actors/alerts/core.ts';
import { alertLifecycleMachine } from '../../actors/alerts/machine.ts';
import type { Alert } from '../../schemas/messages.ts';

test('machine: every transition, driven by raw events', () => {
  const actor = createActor(alertLifecycleMachine).start();
  const state = () => actor.getSnapshot().value;
  assert.equal(state(), 'starting');
  actor.send({ type: 'SUBSCRIBED' });
  actor.send({ type: 'DELIVERED' });
  assert.equal(state(), 'running');
  actor.send({ type: 'DELIVERY_FAILED', reason: 'ops unavailable' });
  assert.equal(state(), 'degraded');
  actor.send({ type: 'DELIVERY_FAILED', reason: 'ops still unavailable' });
  assert.deepEqual(actor.getSnapshot().context, { lastError: 'ops still unavailable', outages: 1 });
  actor.send({ type: 'DELIVERED' });
  assert.equal(state(), 'running');
  actor.send({ type: 'DELIVERY_FAILED', reason: 'again' });
  actor.send({ type: 'STOP' });
  assert.equal(state(), 'draining');
  actor.send({ type: 'DELIVERY_FAILED', reason: 'retries cut short' });
  assert.equal(actor.getSnapshot().context.outages, 2, 'a failure while draining is no outage');
  actor.send({ type: 'DRAINED' });
  assert.equal(state(), 'stopped');
  assert.equal(actor.getSnapshot().status, 'done');
});

function alert(id: string, severity: Alert['severity'], dedupeKey: string, tsEvent: number): Alert {
  return {
    schema: 'alert.v1',
    id,
    ts_event: tsEvent,
    ts_init: tsEvent,
    severity,
    code: 'TEST_CODE',
    message: id,
    source: 'test',
    dedupe_key: dedupeKey,
  };
}

test('core: one alert per dedupe_key and window, decided once per alert id', () => {
  const routing = new AlertRouting([], 60_000);
  assert.equal(routing.isDuplicate(alert('a1', 'info', 'k', 0)), false);
  assert.equal(routing.isDuplicate(alert('a2', 'info', 'k', 59_999)), true);
  assert.equal(routing.isDuplicate(alert('b1', 'info', 'other', 10)), false);
  assert.equal(routing.isDuplicate(alert('a3', 'info', 'k', 60_000)), false, 'a new window');
  assert.equal(routing.isDuplicate(alert('a1', 'info', 'k', 0)), false, 'a redelivery of a1 passes again');
});

test('core: routes by severity, and not again to a sink that took the alert', () => {
  const routing = new AlertRouting(
    [{ severities: ['critical'] }, { severities: ['info', 'critical'] }],
    60_000,
  );
  const critical = alert('c1', 'critical', 'c', 0);
  assert.deepEqual(routing.due(alert('i1', 'info', 'i', 0)), [1]);
  assert.deepEqual(routing.due(critical), [0, 1]);
  routing.markTaken(1, 'c1');
  assert.deepEqual(routing.due(critical), [0], 'the redelivery goes only to the sink that missed it');
  routing.markTaken(0, 'c1');
  assert.deepEqual(routing.due(critical), []);
});
