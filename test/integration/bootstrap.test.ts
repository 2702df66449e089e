// `sluice bootstrap` on a plain nats-server: nothing but the bootstrap makes streams or buckets, so
// commands started before it stop with exit 2 naming what is missing; the bootstrap is idempotent and
// brings a lease bucket to the run config's TTL, and an actor whose run config's lease differs from
// the bucket's refuses to start. (The same on the deploy configuration with role users:
// deploy-nats.test.ts.)
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { connectNats, type NatsConnection } from '../../streams/connection.ts';
import { openLeaseBucket } from '../../streams/leader-election.ts';
import { KvSnapshotStore } from '../../streams/snapshot-store.ts';
import { repoRoot, runCli } from '../support/cli.ts';
import { natsForTests } from '../support/nats-server.ts';

let nats: Awaited<ReturnType<typeof natsForTests>>;
let connection: NatsConnection;
let dir: string;

before(async () => {
  nats = await natsForTests();
  connection = await connectNats({ url: nats.url, name: 'test-bootstrap' });
  dir = mkdtempSync(join(tmpdir(), 'sluice-bootstrap-'));
});
after(async () => {
  await connection?.close();
  await nats?.close();
  rmSync(dir, { recursive: true, force: true });
});

function runConfig(leaseMs: number): string {
  const file = join(dir, `run-${leaseMs}.json`);
  const deployed = JSON.parse(readFileSync(join(repoRoot, 'deploy', 'sluice.json'), 'utf8'));
  writeFileSync(file, JSON.stringify({ ...deployed, featureLeases: { leaseMs } }));
  return file;
}

test('before bootstrap: commands stop with exit 2 naming what is missing; nothing is created', async () => {
  const env = { NATS_URL: nats.url, SLUICE_LOG_LEVEL: 'warn' };
  const run = await runCli(['run', '--config', runConfig(1_000), '--actors', 'alerts'], env);
  assert.equal(run.code, 2, run.stderr);
  assert.equal(
    run.stderr.trim(),
    'sluice: configuration error: stream MARKET: does not exist. Run `sluice bootstrap` as the admin user',
  );
  const models = await runCli(['models', 'list'], env);
  assert.equal(models.code, 2, models.stderr);
  assert.match(models.stderr, /object store sluice-models: does not exist\. Run `sluice bootstrap`/);
  await assert.rejects(
    KvSnapshotStore.open(jetstream(connection)),
    /KV bucket sluice_snapshots: does not exist\. Run `sluice bootstrap` as the admin user/,
  );
  const names: string[] = [];
  for await (const name of (await jetstreamManager(connection)).streams.names()) names.push(name);
  assert.deepEqual(names, []);
});

test('bootstrap is idempotent, follows the lease of the run config, and an actor checks it', async () => {
  const env = { NATS_URL: nats.url };
  const first = await runCli(['bootstrap', '--config', runConfig(1_000), '--json'], env);
  assert.equal(first.code, 0, first.stderr);
  const again = await runCli(['bootstrap', '--config', runConfig(1_000), '--json'], env);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(JSON.parse(again.stdout), JSON.parse(first.stdout));

  const js = jetstream(connection);
  const manager = await jetstreamManager(connection);
  await openLeaseBucket(js, 'sluice_partitions', 1_000);
  await assert.rejects(
    openLeaseBucket(js, 'sluice_partitions', 2_000),
    /KV bucket sluice_partitions: keeps leases for 1000 ms, not the run config's 2000 ms\. Run `sluice bootstrap --config RUN\.json`/,
  );
  const longer = await runCli(['bootstrap', '--config', runConfig(2_000)], env);
  assert.equal(longer.code, 0, longer.stderr);
  assert.match(longer.stdout, /^KV buckets: +sluice_snapshots, sluice_partitions, sluice-model-active$/m);
  assert.equal((await manager.streams.info('KV_sluice_partitions')).config.max_age, nanos(2_000));
  await openLeaseBucket(js, 'sluice_partitions', 2_000);
});
