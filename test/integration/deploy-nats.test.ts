// The deploy NATS configuration (deploy/nats/*.conf, unmodified) on a real 3-node cluster, used as a
// deployment uses it: before `sluice bootstrap` a role user's command stops naming what is missing;
// bootstrap is refused to role users and idempotent under admin; then each role's own code path runs
// under its user with no permissions violation on any server: `sluice ingest` as feed (dead letters
// included), `sluice run` with the feature and inference actors as strategy (and the model registry
// read as strategy), the risk gate, execution, portfolio and alerts each as their user (a bar, a
// signal, an order, a fill), `sluice halt` as operator, and the feed actor recording a loopback
// provider's session as feed, which `sluice feed replay` and `sluice feed check` read as replay. (The
// news actor needs an active sentiment model to start; it reads the same registry as inference.)
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { ModelRegistry } from '../../actors/inference/registry.ts';
import type { Bar, Position, Signal } from '../../schemas/messages.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { EventPublisher } from '../../streams/publisher.ts';
import { fetchText, repoRoot, runCli, type SluiceRun, startSluiceRun } from '../support/cli.ts';
import { type DeployCluster, type Role, startDeployCluster } from '../support/deploy-nats.ts';
import { alpacaBar, readSpyBars, startAlpacaLoopback } from '../support/loopback/alpaca.ts';
import { postgresForTests } from '../support/postgres.ts';

let cluster: DeployCluster;
let postgres: Awaited<ReturnType<typeof postgresForTests>>;
let dir: string;
let dataDir: string;
/** The run config every process of this test uses (its lease is what bootstrap gives the lease bucket). */
let runConfig: string;
const LEASE_MS = 2_000;

before(async () => {
  [cluster, postgres] = await Promise.all([startDeployCluster(), postgresForTests()]);
  dir = mkdtempSync(join(tmpdir(), 'sluice-deploy-'));
  // A stocknet-like folder with one price file: a good row, an unparseable one, a contract breach.
  dataDir = join(dir, 'data');
  mkdirSync(join(dataDir, 'stocknet', 'price_raw'), { recursive: true });
  writeFileSync(
    join(dataDir, 'stocknet', 'price_raw', 'BADCO.csv'),
    [
      'Date,Open,High,Low,Close,Adj Close,Volume',
      '2015-01-02,10,11,9,10.5,10.5,1000',
      '2015-01-05,ten,11,9,10.5,10.5,1000',
      '2015-01-06,10,11,12,10.5,10.5,1000',
    ].join('\n'),
  );
  runConfig = join(dir, 'bootstrap.json');
  writeFileSync(
    runConfig,
    JSON.stringify({
      ...JSON.parse(readFileSync(join(repoRoot, 'deploy', 'sluice.json'), 'utf8')),
      featureLeases: { leaseMs: LEASE_MS },
    }),
  );
  // JetStream on a fresh cluster answers once its meta leader is elected.
  const admin = await cluster.connectAs('admin');
  const deadline = performance.now() + 30_000;
  for (;;) {
    try {
      await (await jetstreamManager(admin, { timeout: 1_000 })).getAccountInfo();
      break;
    } catch (error) {
      assert.ok(performance.now() < deadline, `JetStream not ready: ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  await admin.close();
});

after(async () => {
  await cluster?.close();
  await postgres?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function asAdmin<T>(read: (manager: JetStreamManager) => Promise<T>): Promise<T> {
  const admin = await cluster.connectAs('admin');
  try {
    return await read(await jetstreamManager(admin));
  } finally {
    await admin.close();
  }
}

const streamNamesNow = () =>
  asAdmin(async (manager) => {
    const names: string[] = [];
    for await (const name of manager.streams.names()) names.push(name);
    return names.sort();
  });

const ingestAsFeed = () =>
  runCli(
    ['ingest', 'stocknet-prices', '--data-dir', dataDir, '--symbols', 'BADCO', '--json'],
    cluster.envFor('feed'),
  );

test('before bootstrap a role user stops naming the missing stream; bootstrap is admin-only, idempotent', async () => {
  const early = await ingestAsFeed();
  assert.equal(early.code, 2, early.stderr);
  assert.equal(
    early.stderr.trim(),
    'sluice: configuration error: stream MARKET: does not exist. Run `sluice bootstrap` as the admin user',
  );

  const asFeed = await runCli(['bootstrap', '--config', runConfig], cluster.envFor('feed'));
  assert.equal(asFeed.code, 2, asFeed.stderr);
  assert.match(
    asFeed.stderr,
    /NATS_USER: feed may not set up streams and buckets .*Run `sluice bootstrap` as the admin user/,
  );
  assert.deepEqual(await streamNamesNow(), []);

  const adminEnv = { ...cluster.envFor('admin'), SLUICE_STREAM_REPLICAS: '3' };
  const summaries = [];
  for (let run = 0; run < 2; run++) {
    const result = await runCli(['bootstrap', '--config', runConfig, '--json'], adminEnv);
    assert.equal(result.code, 0, result.stderr);
    summaries.push(JSON.parse(result.stdout));
  }
  assert.deepEqual(summaries[1], summaries[0]);
  assert.deepEqual(summaries[0], {
    streams: ['MARKET', 'FEATURES', 'SIGNALS', 'ORDERS', 'ALERTS', 'DEADLETTER', 'RAW'],
    buckets: ['sluice_snapshots', 'sluice_partitions', 'sluice-model-active'],
    objectStores: ['sluice-models'],
  });
  assert.deepEqual(await streamNamesNow(), [
    'ALERTS',
    'DEADLETTER',
    'FEATURES',
    'KV_sluice-model-active',
    'KV_sluice_partitions',
    'KV_sluice_snapshots',
    'MARKET',
    'OBJ_sluice-models',
    'ORDERS',
    'RAW',
    'SIGNALS',
  ]);
  const leases = await asAdmin((manager) => manager.streams.info('KV_sluice_partitions'));
  assert.equal(leases.config.max_age, nanos(LEASE_MS), 'lease TTL from the run config');
  assert.equal(leases.config.num_replicas, 3);
});

const HOUR = 3_600_000;
const GATE_KEY = 'ab'.repeat(32);

function bar(n: number, ts: number, close: number): Bar {
  return {
    schema: 'bar.v1',
    id: `deploy:bar:1h:AAPL:${n}`,
    ts_event: ts,
    ts_init: ts,
    symbol: 'AAPL',
    interval: '1h',
    open: close,
    high: close + 0.5,
    low: close - 0.5,
    close,
    volume: 100_000,
  };
}

/** Waits until the durable consumers on `streams` have nothing pending or unacknowledged, twice in a row. */
async function settle(manager: JetStreamManager, streams: readonly string[]): Promise<void> {
  let quiet = 0;
  for (const deadline = Date.now() + 30_000; quiet < 2 && Date.now() < deadline; ) {
    let busy = false;
    for (const stream of streams) {
      for await (const info of manager.consumers.list(stream)) {
        if (info.config.durable_name && info.num_pending + info.num_ack_pending > 0) busy = true;
      }
    }
    quiet = busy ? 0 : quiet + 1;
    if (quiet < 2) await new Promise((resolve) => setTimeout(resolve, busy ? 50 : 100));
  }
  assert.equal(quiet, 2, 'consumers did not settle');
}

test('each role runs its own code path under its user, with no permissions violation', async (t) => {
  const violationsBefore = cluster.violations().length;

  const ingest = await ingestAsFeed();
  assert.equal(ingest.code, 0, ingest.stderr);
  const [summary] = JSON.parse(ingest.stdout);
  assert.deepEqual(
    { published: summary.published, rejected: summary.rejected },
    { published: 1, rejected: 2 },
  );
  const deadLetters = await asAdmin(
    async (manager) =>
      (await manager.streams.info('DEADLETTER', { subjects_filter: '>' })).state.subjects ?? {},
  );
  const subjects = new Subjects(4);
  assert.deepEqual(Object.keys(deadLetters).sort(), [
    `dlq.ingest.stocknet-prices`,
    `dlq.${subjects.bar('BADCO')}`,
  ]);

  const database = { DATABASE_URL: postgres.url, SLUICE_LOG_LEVEL: 'warn', SLUICE_PARTITIONS: '4' };
  const roles: [Role, string][] = [
    ['strategy', 'feature,inference'],
    ['risk', 'risk'],
    ['execution', 'execution'],
    ['portfolio', 'portfolio'],
    ['alerts', 'alerts'],
  ];
  const runs: SluiceRun[] = [];
  t.after(() => {
    for (const run of runs) if (run.child.exitCode === null) run.child.kill('SIGKILL');
  });
  for (const [role, actors] of roles) {
    runs.push(
      await startSluiceRun({
        dir,
        name: `deploy-${role}`,
        actors,
        env: { ...cluster.envFor(role), ...database, SLUICE_GATE_KEY: GATE_KEY },
        extra: { featureLeases: { leaseMs: LEASE_MS }, alerts: { sinks: [] } },
        bootstrap: false,
      }),
    );
  }
  for (const run of runs) await run.ready();

  // A bar from the feed, a signal from a strategy: the gate passes it, execution fills it at the
  // next bar, the portfolio holds the position.
  const feed = await cluster.connectAs('feed');
  const strategy = await cluster.connectAs('strategy');
  const admin = await cluster.connectAs('admin');
  const manager = await jetstreamManager(admin);
  const feedEvents = new EventPublisher(jetstream(feed));
  const start = Date.now() - 2 * HOUR;
  await feedEvents.publish('bar', subjects.bar('AAPL'), bar(1, start, 100));
  await feedEvents.flush();
  await settle(manager, ['MARKET']);
  const signal: Signal = {
    schema: 'signal.v1',
    id: 'deploy:sig:AAPL:1',
    ts_event: start,
    ts_init: start,
    strategy: 'daily-lr',
    symbol: 'AAPL',
    model_version: 'test-1',
    direction: 1,
    probability: 0.9,
    feature_id: 'deploy:feat:AAPL:1',
  };
  const strategyEvents = new EventPublisher(jetstream(strategy));
  await strategyEvents.publish('signal', subjects.signal('daily-lr', 'AAPL'), signal);
  await strategyEvents.flush();
  await settle(manager, ['SIGNALS', 'ORDERS']);
  await feedEvents.publish('bar', subjects.bar('AAPL'), bar(2, start + HOUR, 98));
  await feedEvents.flush();
  await settle(manager, ['MARKET', 'ORDERS']);

  const operator = cluster.envFor('operator');
  const positions = await runCli(['positions', '--json'], operator);
  assert.equal(positions.code, 0, positions.stderr);
  const held: Position[] = JSON.parse(positions.stdout).data.positions;
  assert.equal(held.find((p) => p.symbol === 'AAPL')?.quantity, 500, positions.stdout);

  // The feature actor (strategy user, partitions by lease) took the bars in.
  const [featureRun] = runs;
  const metrics = (await fetchText(`${featureRun!.base}/metrics`))?.text ?? '';
  assert.match(metrics, /^sluice_actor_events_total\{actor="feature",direction="in"\} [1-9]/m);

  // What the inference actor does once a model is activated: read the registry as strategy.
  const registry = await ModelRegistry.open(jetstream(strategy));
  assert.deepEqual(await registry.list(), []);
  assert.equal(await registry.active('daily-lr'), undefined);

  const halt = await runCli(['halt', '--json', '--reason', 'deploy test', '--operator', 'tester'], operator);
  assert.equal(halt.code, 0, halt.stderr);
  assert.equal(JSON.parse(halt.stdout).state, 'halted');

  for (const connection of [feed, strategy, admin]) await connection.close();
  for (const run of runs) run.child.kill('SIGTERM');
  for (const run of runs) assert.equal(await run.exited, 0, run.stderr());
  assert.deepEqual(cluster.violations().slice(violationsBefore), []);
});

test('the feed runs as feed (recording, metrics) and its session replays as replay, with no permissions violation', async (t) => {
  const violationsBefore = cluster.violations().length;
  const bars = 60;
  const market = await startAlpacaLoopback({
    keyId: 'deploy-key',
    secretKey: 'deploy-secret',
    bars: { SPY: (await readSpyBars(bars)).map(alpacaBar) },
    tickMs: 5,
  });
  t.after(() => market.close());
  const provider = {
    ALPACA_API_KEY_ID: 'deploy-key',
    ALPACA_API_SECRET_KEY: 'deploy-secret',
    SLUICE_FEED_REST_URL: market.dataUrl,
    SLUICE_FEED_WS_URL: market.streamUrl,
    SLUICE_LOG_LEVEL: 'warn',
    SLUICE_PARTITIONS: '4',
  };
  const run = await startSluiceRun({
    dir,
    name: 'deploy-feed',
    actors: 'feed',
    env: { ...cluster.envFor('feed'), ...provider },
    extra: { feed: { provider: 'alpaca', symbols: ['SPY'], channels: ['bars'], record: true } },
    bootstrap: false,
  });
  t.after(() => {
    if (run.child.exitCode === null) run.child.kill('SIGKILL');
  });
  await run.ready();
  await market.played('bars');
  const recorded = () =>
    asAdmin(
      async (manager) =>
        (await manager.streams.info('RAW', { subjects_filter: 'raw.alpaca.bars' })).state.messages,
    );
  for (const deadline = Date.now() + 30_000; (await recorded()) < bars - 1 && Date.now() < deadline; ) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // The lag histogram and the consumer-lag poll ran under the feed user too.
  const metrics = (await fetchText(`${run.base}/metrics`))?.text ?? '';
  assert.match(metrics, /^sluice_feed_lag_seconds_count\{provider="alpaca"\} [1-9]/m);
  run.child.kill('SIGTERM');
  assert.equal(await run.exited, 0, run.stderr());
  const frames = await recorded();
  assert.ok(frames >= bars - 1, `${frames} frames recorded`);

  const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
  const asReplay = { ...cluster.envFor('replay'), SLUICE_LOG_LEVEL: 'warn', SLUICE_PARTITIONS: '4' };
  const replayArgs = ['feed', 'replay', '--provider', 'alpaca', '--from', day(-1), '--to', day(1)];
  // Scored by the registry's active models by default: the registry is read as replay, and has none.
  const unscored = await runCli([...replayArgs, '--report-dir', dir], asReplay);
  assert.equal(unscored.code, 2, unscored.stderr);
  assert.match(unscored.stderr, /--config: no model is active for daily-lr in the registry/);
  const replay = await runCli([...replayArgs, '--trained', '--report-dir', dir, '--json'], asReplay);
  assert.equal(replay.code, 0, replay.stderr);
  assert.equal(JSON.parse(replay.stdout).recording.frames, frames);
  const check = await runCli(
    [
      'feed',
      'check',
      '--provider',
      'alpaca',
      '--symbols',
      'SPY',
      '--from',
      '2011-01-01',
      '--to',
      '2011-02-01',
      '--json',
    ],
    asReplay,
  );
  assert.equal(check.code, 0, check.stderr);
  assert.equal(JSON.parse(check.stdout).totals.events, frames, 'every published bar seen by the check');
  assert.deepEqual(cluster.violations().slice(violationsBefore), []);
});
