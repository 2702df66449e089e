// The role users of deploy/nats/accounts.conf (unmodified) on a real 3-node cluster: each role tries
// every JetStream API call and subject it must not use, and each is refused (the feed also the
// subjects next to its grants: other alert codes, other dead letters; the replay user all messages); the hostile scenario of
// issue #14 (a feed narrowing MARKET, adding a stream that republishes into ord.intent.>, cutting
// ORDERS to one message) is refused and leaves the streams as bootstrapped. Each role's own code
// paths under its user are in deploy-nats.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { type StreamName, streamNames, streamSubjects } from '../../schemas/subjects.ts';
import {
  bootstrapAsAdmin,
  type DeployCluster,
  type Role,
  refusedPublishes,
  startDeployCluster,
} from '../support/deploy-nats.ts';

const ACTOR_ROLES = [
  'feed',
  'replay',
  'strategy',
  'risk',
  'execution',
  'portfolio',
  'alerts',
  'operator',
] as const;
type ActorRole = (typeof ACTOR_ROLES)[number];

/** The streams each role reads (consumer rights); everything else must refuse it a consumer. */
const READS: Record<ActorRole, readonly string[]> = {
  feed: [],
  replay: ['RAW', 'MARKET', 'DEADLETTER', 'KV_sluice-model-active', 'OBJ_sluice-models'],
  strategy: ['MARKET', 'FEATURES', 'KV_sluice_partitions', 'KV_sluice-model-active', 'OBJ_sluice-models'],
  risk: ['SIGNALS', 'ORDERS', 'MARKET'],
  execution: ['ORDERS', 'MARKET'],
  portfolio: ['ORDERS', 'MARKET'],
  alerts: ['ALERTS', 'DEADLETTER'],
  operator: [],
};

const ALL_STREAMS = [
  ...streamNames,
  'KV_sluice_snapshots',
  'KV_sluice_partitions',
  'KV_sluice-model-active',
  'OBJ_sluice-models',
];

/** Subjects only one role (or none) may publish, with that role. */
const OWNED_SUBJECTS: readonly [string, ActorRole | undefined][] = [
  ['ord.intent.AAPL', 'risk'],
  ['ord.cancel.AAPL', 'risk'],
  ['risk.decision.AAPL', 'risk'],
  ['sig.flatten.AAPL', 'risk'],
  ['exec.fill.AAPL', 'execution'],
  ['exec.order.AAPL', 'execution'],
  ['pf.snapshot.paper', 'portfolio'],
  ['feat.AAPL', 'strategy'],
  ['sig.daily-lr.AAPL', 'strategy'],
  ['md.bar.0.AAPL', 'feed'],
  ['md.tick.0.AAPL', 'feed'],
  ['md.news.0.AAPL', 'feed'],
  ['raw.alpaca.trades', 'feed'],
  ['raw.ccxt:binance.quotes', 'feed'],
  ['dlq.raw.alpaca.bars', 'feed'],
  ['ctl.risk.halt', 'operator'],
  ['ctl.execution.orders', 'operator'],
  ['md.evil.AAPL', undefined],
  ['$KV.sluice_snapshots.risk.paper', 'risk'],
  ['$KV.sluice_snapshots.execution.simulated', 'execution'],
  ['$KV.sluice_snapshots.portfolio.paper', 'portfolio'],
  ['$KV.sluice_partitions.feature.default.p0', 'strategy'],
  ['$KV.sluice-model-active.daily-lr', undefined],
  ['$O.sluice-models.M.bW9kZWw', undefined],
  ['$O.sluice-models.C.abc', undefined],
];

/**
 * What the feed must not publish although its grants come near: alerts other than its own two codes
 * (NATS matches whole tokens), other roles' dead letters, the audit subjects.
 */
const FEED_NEAR_MISSES = [
  'alert.critical.feed_stale',
  'alert.warning.feed_stale_evil',
  'alert.warning.consumer_stuck',
  'alert.critical.risk_halted',
  'dlq.ord.intent.AAPL',
  'dlq.sig.daily-lr.AAPL',
  'risk.decision.AAPL',
  'sig.anything.AAPL',
  'feat.anything',
];

/** Every publish `role` must be refused. */
function forbiddenFor(role: ActorRole): string[] {
  const forbidden = [
    '$JS.API.STREAM.CREATE.EVIL',
    '$JS.API.STREAM.CREATE.MARKET',
    '$JS.API.STREAM.UPDATE.MARKET',
    '$JS.API.STREAM.UPDATE.ORDERS',
    '$JS.API.STREAM.UPDATE.KV_sluice_snapshots',
    '$JS.API.STREAM.DELETE.ORDERS',
    '$JS.API.STREAM.DELETE.KV_sluice_partitions',
    '$JS.API.STREAM.PURGE.ORDERS',
    '$JS.API.STREAM.PURGE.DEADLETTER',
    '$JS.API.STREAM.MSG.DELETE.ORDERS',
    '$JS.API.STREAM.MSG.DELETE.KV_sluice_snapshots',
  ];
  for (const stream of ALL_STREAMS) {
    if (READS[role].includes(stream)) continue;
    forbidden.push(
      `$JS.API.CONSUMER.CREATE.${stream}`,
      `$JS.API.CONSUMER.CREATE.${stream}.evil`,
      `$JS.API.CONSUMER.CREATE.${stream}.evil.ord.>`,
      `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.evil`,
      `$JS.API.CONSUMER.DELETE.${stream}.evil`,
      `$JS.API.CONSUMER.MSG.NEXT.${stream}.evil`,
      `$JS.ACK.${stream}.evil.1.1.1.1.0`,
    );
  }
  for (const [subject, owner] of OWNED_SUBJECTS) if (owner !== role) forbidden.push(subject);
  if (role === 'feed') forbidden.push(...FEED_NEAR_MISSES);
  // The replay user publishes no message at all: only its RAW consumer's API calls.
  if (role === 'replay')
    forbidden.push('alert.warning.feed_stale', 'md.sentiment.0.AAPL', 'dlq.md.tick.0.AAPL');
  return forbidden;
}

let cluster: DeployCluster;

before(async () => {
  cluster = await startDeployCluster();
  await bootstrapAsAdmin(cluster, { config: { featureLeases: { leaseMs: 2_000 } } });
});
after(async () => {
  await cluster?.close();
});

/** The streams as an admin sees them: name -> the configuration fields a hostile change would touch. */
async function streamState(): Promise<Record<string, unknown>> {
  const admin = await cluster.connectAs('admin');
  const manager = await jetstreamManager(admin);
  const state: Record<string, unknown> = {};
  for await (const info of manager.streams.list()) {
    const { name, subjects, max_msgs, max_age, republish } = info.config;
    state[name] = { subjects, max_msgs, max_age, republish, messages: info.state.messages };
  }
  await admin.close();
  return state;
}

describe('deploy NATS permissions', () => {
  for (const role of ACTOR_ROLES) {
    it(`${role}: every stream change, foreign consumer and foreign subject is refused`, async () => {
      const before = await streamState();
      const connection = await cluster.connectAs(role as Role);
      const refused = refusedPublishes(connection);
      const forbidden = forbiddenFor(role);
      for (const subject of forbidden) connection.publish(subject, '{}');
      await connection.flush();
      const deadline = performance.now() + 10_000;
      while (forbidden.some((subject) => !refused.subjects.has(subject)) && performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      refused.stop();
      assert.deepEqual(
        forbidden.filter((subject) => !refused.subjects.has(subject)),
        [],
        `${role} was allowed these`,
      );
      // Only the owners of ctl.<actor>.> may listen there (a fake actor could answer operators).
      if (role !== 'risk' && role !== 'operator') {
        const denied = new Promise<string>((resolve) => {
          void (async () => {
            for await (const status of connection.status()) {
              if (status.type === 'error' && /subscription/i.test(String(status.error))) {
                resolve(String(status.error));
              }
            }
          })();
        });
        connection.subscribe('ctl.risk.>');
        await connection.flush();
        assert.match(await denied, /permissions violation for subscription to "ctl\.risk\.>"/i);
      }
      await connection.close();
      assert.deepEqual(await streamState(), before, `${role} changed a stream`);
    });
  }

  it('the hostile feed of issue #14 is refused: MARKET, an md.evil republish stream, ORDERS max_msgs', async () => {
    const before = await streamState();
    const feed = await cluster.connectAs('feed');
    const refused = refusedPublishes(feed);
    const manager = await jetstreamManager(feed, { timeout: 2_000 });
    const attempts: [string, () => Promise<unknown>][] = [
      [
        'narrow MARKET to ticks',
        async () => {
          const { config } = await manager.streams.info('MARKET');
          return manager.streams.update('MARKET', { ...config, subjects: ['md.tick.>'] });
        },
      ],
      [
        'add a stream on md.evil.> republishing to ord.intent.>',
        () =>
          manager.streams.add({
            name: 'EVIL',
            subjects: ['md.evil.>'],
            retention: RetentionPolicy.Limits,
            storage: StorageType.File,
            republish: { src: 'md.evil.>', dest: 'ord.intent.{{wildcard(1)}}' },
          }),
      ],
      [
        'cut ORDERS to one message',
        async () => {
          const { config } = await manager.streams.info('ORDERS');
          return manager.streams.update('ORDERS', { ...config, max_msgs: 1 });
        },
      ],
      ['delete ORDERS', () => manager.streams.delete('ORDERS')],
    ];
    for (const [what, attempt] of attempts) {
      await assert.rejects(attempt(), `${what} went through`);
    }
    // What the execution actor filled in the finding: an order intent no risk gate decided.
    const intent = {
      schema: 'order_intent.v2',
      id: 'evil:intent:AAPL:1',
      ts_event: Date.now(),
      ts_init: Date.now(),
      signal_id: 'evil',
      strategy: 'evil',
      symbol: 'AAPL',
      side: 'buy',
      order_type: 'market',
      quantity: 1_000,
      time_in_force: 'day',
      reduce_only: false,
    };
    feed.publish('md.evil.AAPL', JSON.stringify(intent));
    feed.publish('ord.intent.AAPL', JSON.stringify(intent));
    await feed.flush();
    const deadline = performance.now() + 5_000;
    while (refused.subjects.size < 6 && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    refused.stop();
    assert.ok(refused.subjects.has('$JS.API.STREAM.UPDATE.MARKET'), [...refused.subjects].join(', '));
    assert.ok(refused.subjects.has('$JS.API.STREAM.CREATE.EVIL'));
    assert.ok(refused.subjects.has('$JS.API.STREAM.UPDATE.ORDERS'));
    assert.ok(refused.subjects.has('$JS.API.STREAM.DELETE.ORDERS'));
    assert.ok(refused.subjects.has('md.evil.AAPL'));
    assert.ok(refused.subjects.has('ord.intent.AAPL'));
    await feed.close();

    const after = await streamState();
    assert.deepEqual(after, before);
    for (const stream of streamNames) {
      const state = after[stream] as { subjects: string[] };
      assert.deepEqual(state.subjects, streamSubjects(stream as StreamName), `${stream} subjects`);
    }
    assert.equal(after.EVIL, undefined);
    assert.equal((after.ORDERS as { max_msgs: number }).max_msgs, -1);
  });
});
