import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AckPolicy, DeliverPolicy } from '@nats-io/jetstream';
import { sql } from 'kysely';
import { bundledSampleDatasets } from '../../simulations/sources/datasets.ts';
import { ingestDataset } from '../../streams/ingest.ts';
import { EventPublisher } from '../../streams/publisher.ts';
import { createDatabase } from '../../timescale/database.ts';
import { migrateToLatest } from '../../timescale/migrate.ts';
import { startTestBus, type TestBus } from '../support/bus.ts';
import { repoRoot } from '../support/cli.ts';
import { postgresForTests } from '../support/postgres.ts';

const sample = bundledSampleDatasets(join(repoRoot, 'simulations', 'data', 'sample'));
const SAMPLE_BARS = 12_580;

interface ActorStatusLine {
  bars: number;
  published: number;
  state: string;
}

class ActorProcess {
  latest: ActorStatusLine = { bars: 0, published: 0, state: 'warming' };
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;

  constructor(env: Record<string, string>) {
    this.child = spawn(
      process.execPath,
      ['--import', 'tsx', join(repoRoot, 'test', 'support', 'feature-actor-process.ts')],
      {
        cwd: repoRoot,
        env: { ...process.env, ...env, SLUICE_LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let partial = '';
    this.child.stdout?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      const last = lines.at(-1);
      if (last) this.latest = JSON.parse(last) as ActorStatusLine;
    });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
  }

  async waitFor(condition: (status: ActorStatusLine) => boolean, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition(this.latest)) {
      if (Date.now() > deadline) throw new Error(`timed out; last status ${JSON.stringify(this.latest)}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    this.child.kill('SIGTERM');
    await this.exited;
  }
}

interface Environment {
  bus: TestBus;
  databaseUrl: string;
  close(): Promise<void>;
}

async function environmentWithSample(): Promise<Environment> {
  const [bus, database] = await Promise.all([startTestBus(), postgresForTests()]);
  const db = createDatabase(database.url);
  await migrateToLatest(db);
  await db.destroy();
  const target = {
    events: new EventPublisher(bus.jetstream),
    deadLetters: new EventPublisher(bus.jetstream),
    subjects: bus.subjects,
  };
  const summary = await ingestDataset(sample['sample-prices']!, target, { receivedAt: 0 });
  assert.equal(summary.published, SAMPLE_BARS);
  return {
    bus,
    databaseUrl: database.url,
    close: async () => {
      await bus.close();
      await database.close();
    },
  };
}

async function storedFeatures(
  databaseUrl: string,
): Promise<{ rows: string[]; total: number; distinct: number }> {
  const db = createDatabase(databaseUrl);
  try {
    const rows = await db
      .selectFrom('features')
      .select(['id', sql<string>`"values"::text`.as('values')])
      .orderBy('id')
      .execute();
    const counts = await sql<{
      total: number;
      distinct: number;
    }>`SELECT count(*)::int AS total, count(DISTINCT id)::int AS distinct FROM features`.execute(db);
    return {
      rows: rows.map((row) => `${row.id} ${row.values}`),
      total: counts.rows[0]!.total,
      distinct: counts.rows[0]!.distinct,
    };
  } finally {
    await db.destroy();
  }
}

async function publishedVectorIds(bus: TestBus): Promise<string[]> {
  const info = await bus.manager.streams.info('FEATURES');
  const consumer = await bus.manager.consumers.add('FEATURES', {
    ack_policy: AckPolicy.None,
    deliver_policy: DeliverPolicy.All,
  });
  const ids: string[] = [];
  const messages = await (await bus.jetstream.consumers.get('FEATURES', consumer.name)).consume();
  for await (const message of messages) {
    ids.push(message.json<{ id: string }>().id);
    if (message.seq >= info.state.last_seq) break;
  }
  return ids;
}

describe('FeatureActor over real NATS and PostgreSQL', () => {
  const environments: Environment[] = [];
  after(async () => {
    for (const environment of environments) await environment.close();
  });

  it('a run killed mid-stream and restarted stores the same feature rows as an uninterrupted run, without duplicates', async () => {
    const [uninterrupted, interrupted] = await Promise.all([
      environmentWithSample(),
      environmentWithSample(),
    ]);
    environments.push(uninterrupted, interrupted);

    const reference = new ActorProcess({
      NATS_URL: uninterrupted.bus.url,
      DATABASE_URL: uninterrupted.databaseUrl,
    });
    await reference.waitFor((status) => status.bars === SAMPLE_BARS);
    await reference.stop();

    const first = new ActorProcess({ NATS_URL: interrupted.bus.url, DATABASE_URL: interrupted.databaseUrl });
    await first.waitFor((status) => status.bars >= 3_000);
    await first.kill();
    assert.ok(first.latest.bars < SAMPLE_BARS, 'the kill landed mid-stream');
    const restarted = new ActorProcess({
      NATS_URL: interrupted.bus.url,
      DATABASE_URL: interrupted.databaseUrl,
    });
    await restarted.waitFor((status) => status.bars === SAMPLE_BARS);
    await restarted.stop();

    const expected = await storedFeatures(uninterrupted.databaseUrl);
    const actual = await storedFeatures(interrupted.databaseUrl);
    assert.equal(expected.total, SAMPLE_BARS);
    assert.equal(actual.total, actual.distinct, 'no duplicate feature rows');
    assert.deepEqual(actual.rows, expected.rows);

    const expectedVectors = await publishedVectorIds(uninterrupted.bus);
    const actualVectors = await publishedVectorIds(interrupted.bus);
    assert.ok(expectedVectors.length > 10_000, `published ${expectedVectors.length} vectors`);
    assert.equal(
      new Set(actualVectors).size,
      actualVectors.length,
      'no duplicate feature vectors in the stream',
    );
    assert.deepEqual([...actualVectors].sort(), [...expectedVectors].sort());
  });
});
