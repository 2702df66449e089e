// Alert sinks against local HTTP servers on real NATS: a sink that answers 500 for a while and then
// recovers gets every alert exactly once after dedupe; Slack sinks get Slack-shaped bodies; a sink's
// rate limit delays deliveries instead of dropping them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AlertActor } from '../../actors/alerts/actor.ts';
import { WebhookSink } from '../../actors/alerts/sinks.ts';
import type { Alert } from '../../schemas/messages.ts';
import { NatsActorBus } from '../../streams/bus.ts';
import { startTestBus, type TestBus } from '../support/bus.ts';
import { webhookServer } from '../support/webhook.ts';

function alert(id: string, severity: Alert['severity'], dedupeKey: string, tsEvent: number): Alert {
  return {
    schema: 'alert.v1',
    id,
    ts_event: tsEvent,
    ts_init: tsEvent,
    severity,
    code: 'TEST_CODE',
    message: `alert ${id}`,
    source: 'test',
    dedupe_key: dedupeKey,
    labels: { account: 'paper' },
  };
}

async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

let nats: TestBus;
before(async () => {
  nats = await startTestBus();
});
after(async () => {
  await nats.close();
});

test('a sink that fails and recovers gets every alert exactly once after dedupe', async () => {
  const recoverAt = performance.now() + 1_500;
  const flaky = await webhookServer(() => performance.now() < recoverAt);
  const slack = await webhookServer(() => false);
  const bus = new NatsActorBus(nats.jetstream, nats.manager, nats.subjects);
  const actor = await AlertActor.start({
    bus,
    dedupeWindowMs: 60_000,
    sinks: [
      {
        name: 'flaky',
        url: `${flaky.url}/hook`,
        format: 'json',
        severities: ['info', 'warning', 'critical'],
        initialBackoffMs: 50,
        retryBudgetMs: 200,
      },
      { name: 'slack', url: `${slack.url}/slack`, format: 'slack', severities: ['critical'] },
    ],
  });
  const alerts = [
    alert('a1', 'critical', 'risk:HALTED', 1_000),
    alert('a2', 'critical', 'risk:HALTED', 2_000), // same key inside the window: suppressed
    alert('a3', 'warning', 'risk:REDUCING', 3_000),
    alert('a4', 'info', 'feed:LAG', 4_000),
    alert('a5', 'critical', 'risk:HALTED', 100_000), // window over: sent again
  ];
  for (const a of alerts) await bus.publish('alert', bus.subjects.alert(a.severity, a.code), a);

  await until('flaky deliveries', () => flaky.received.length >= 4);
  await until('slack deliveries', () => slack.received.length >= 2);
  // Let any stray redelivery arrive before counting.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const recovered = actor.status();
  await actor.stop();
  await bus.close();
  // Degraded while the flaky sink was down past its retry budget, running again once it took them.
  assert.equal(recovered.state, 'running');
  assert.match(recovered.lastError ?? '', /^flaky unavailable for alert a\d/);
  assert.equal(actor.status().state, 'stopped');

  assert.ok(flaky.refused > 0, 'the flaky sink refused some requests');
  assert.deepEqual(flaky.received.map((r) => r.body.id).sort(), ['a1', 'a3', 'a4', 'a5']);
  assert.equal(flaky.received[0]?.body.schema, 'alert.v1');
  assert.deepEqual(
    slack.received.map((r) => (r.body.attachments as { footer: string }[])[0]?.footer).sort(),
    ['a1', 'a5'],
  );
  assert.match(String(slack.received[0]?.body.text), /^\[CRITICAL\] TEST_CODE from test: alert a/);
  const status = actor.status();
  assert.equal(status.suppressed, 1);
  const flakyStats = status.sinks.find((s) => s.name === 'flaky');
  assert.equal(flakyStats?.delivered, 4);
  flaky.server.close();
  slack.server.close();
});

test('a rate-limited sink delays deliveries instead of dropping them', async () => {
  const hook = await webhookServer(() => false);
  // 120 a minute: a burst of 2, then one every 500 ms.
  const sink = new WebhookSink({
    name: 'slow',
    url: hook.url,
    format: 'json',
    severities: ['info'],
    maxPerMinute: 120,
  });
  const started = performance.now();
  for (const id of ['r1', 'r2', 'r3', 'r4']) await sink.deliver(alert(id, 'info', id, 0));
  const elapsed = performance.now() - started;
  assert.equal(hook.received.length, 4);
  assert.ok(elapsed >= 900, `4 deliveries at 2/s with a burst of 2 took ${elapsed} ms`);
  hook.server.close();
});
