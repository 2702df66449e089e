// Helpers for tests that run FeatureActors in processes of their own (feature-actor-process.ts) over
// real NATS and PostgreSQL: the process handle, an environment with the bundled sample published,
// and readers of what the actors stored and published.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { AckPolicy, DeliverPolicy } from '@nats-io/jetstream';
import { sql } from 'kysely';
import { toFeatureVector } from '../../actors/feature/actor.ts';
import { FeatureCore } from '../../actors/feature/core.ts';
import { DEFAULT_FEATURE_SET } from '../../actors/feature/feature-set.ts';
import { readDatasetFile } from '../../core/dataset-files.ts';
import type { Bar, FeatureVector } from '../../schemas/messages.ts';
import { bundledSampleDatasets } from '../../simulations/sources/datasets.ts';
import { ingestDataset } from '../../streams/ingest.ts';
import { EventPublisher } from '../../streams/publisher.ts';
import { createDatabase } from '../../timescale/database.ts';
import { migrateToLatest } from '../../timescale/migrate.ts';
import { startTestBus, type TestBus } from './bus.ts';
import { repoRoot } from './cli.ts';
import { type PostgresInstance, postgresForTests } from './postgres.ts';

export const sampleDatasets = bundledSampleDatasets(join(repoRoot, 'simulations', 'data', 'sample'));
/** Daily bars in the bundled sample (ten symbols, 2012–2017). */
export const SAMPLE_BARS = 12_580;

/** The sample's bars in the order `sluice ingest` publishes them (file by file). */
export async function sampleBars(): Promise<Bar[]> {
  const bars: Bar[] = [];
  for (const file of sampleDatasets['sample-prices']!.files)
    for await (const row of readDatasetFile(file)) if (row.kind === 'bar') bars.push(row.event);
  assert.equal(bars.length, SAMPLE_BARS);
  return bars;
}

/**
 * The vectors a live FeatureActor publishes for `bars`, by id: one per warm row (every indicator has
 * a value), computed by the core alone. Publishing is a function of the input only, so any run over
 * these bars (restarts and partition order included) publishes exactly these.
 */
export function warmVectors(bars: readonly Bar[]): FeatureVector[] {
  const core = new FeatureCore({ set: DEFAULT_FEATURE_SET });
  const vectors: FeatureVector[] = [];
  for (const bar of bars) {
    const row = core.onBar(bar);
    if (row?.warm) vectors.push(toFeatureVector(row, bar.ts_init));
  }
  return vectors.sort(byId);
}

export function warmVectorIds(bars: readonly Bar[]): string[] {
  return warmVectors(bars).map((vector) => vector.id);
}

function byId(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export interface ActorStatusLine {
  bars: number;
  published: number;
  state: string;
  buffered: { bars: number; features: number; ticks: number };
  /** Partitions owned (with leases: those held now). */
  partitions: number[];
  heapUsed: number;
}

/** A line per market message handled, when started with FEATURE_TRACE=1. */
export interface HandledLine {
  event: 'handled';
  partition: number;
  seq: number;
  at: number;
}

export class FeatureActorProcess {
  latest: ActorStatusLine = {
    bars: 0,
    published: 0,
    state: 'warming',
    buffered: { bars: 0, features: 0, ticks: 0 },
    partitions: [],
    heapUsed: 0,
  };
  /** Every status line, for peaks over a run. */
  readonly statuses: ActorStatusLine[] = [];
  readonly handled: HandledLine[] = [];
  /** Exit code or signal once the process has exited. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;

  /** `env` adds to the test's environment (NATS_URL, DATABASE_URL, FEATURE_* of feature-actor-process.ts). */
  constructor(env: Record<string, string>) {
    this.child = spawn(
      process.execPath,
      ['--import', 'tsx', join(repoRoot, 'test', 'support', 'feature-actor-process.ts')],
      {
        cwd: repoRoot,
        env: { ...process.env, SLUICE_LOG_LEVEL: 'warn', ...env },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let partial = '';
    this.child.stdout?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const text of lines) {
        if (!text) continue;
        const line = JSON.parse(text) as ActorStatusLine | HandledLine;
        if ('event' in line) this.handled.push(line);
        else {
          this.latest = line;
          this.statuses.push(line);
        }
      }
    });
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve();
      }),
    );
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  async waitFor(condition: (status: ActorStatusLine) => boolean, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition(this.latest)) {
      if (this.exit) throw new Error(`the actor process exited: ${JSON.stringify(this.exit)}`);
      if (Date.now() > deadline) throw new Error(`timed out; last status ${JSON.stringify(this.latest)}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async kill(): Promise<void> {
    if (!this.exit) this.child.kill('SIGCONT');
    if (!this.exit) this.child.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    if (!this.exit) this.child.kill('SIGTERM');
    await this.exited;
  }

  /** SIGSTOP: frozen as by a long GC pause or a suspended VM, until resume(). */
  pause(): void {
    this.child.kill('SIGSTOP');
  }

  resume(): void {
    this.child.kill('SIGCONT');
  }
}

export interface FeatureEnvironment {
  bus: TestBus;
  databaseUrl: string;
  /** The PostgreSQL cluster when this process started it (fault tests stop and start it). */
  postgres: PostgresInstance | undefined;
  /** Env for FeatureActorProcess. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * NATS and a migrated database; with `ingest`, the bundled sample's daily bars published first: file
 * by file as `sluice ingest` does, or with `interleaved` in time order across the symbols, as a live
 * feed sends them (every symbol's n-th bar before any symbol's n+1-th).
 */
export async function featureEnvironment(options: {
  ingest: boolean;
  interleaved?: boolean;
}): Promise<FeatureEnvironment> {
  const [bus, database] = await Promise.all([startTestBus(), postgresForTests()]);
  const db = createDatabase(database.url);
  await migrateToLatest(db);
  await db.destroy();
  if (options.ingest) {
    const target = {
      events: new EventPublisher(bus.jetstream),
      deadLetters: new EventPublisher(bus.jetstream),
      subjects: bus.subjects,
    };
    if (options.interleaved) {
      const bars = (await sampleBars()).sort((a, b) => a.ts_event - b.ts_event || byId(a, b));
      for (const bar of bars) await target.events.publish('bar', bus.subjects.bar(bar.symbol), bar);
      assert.equal((await target.events.flush()).published, SAMPLE_BARS);
    } else {
      const summary = await ingestDataset(sampleDatasets['sample-prices']!, target, { receivedAt: 0 });
      assert.equal(summary.published, SAMPLE_BARS);
    }
  }
  return {
    bus,
    databaseUrl: database.url,
    postgres: database.server,
    env: { NATS_URL: bus.url, DATABASE_URL: database.url },
    close: async () => {
      await bus.close();
      await database.close();
    },
  };
}

export interface StoredRows {
  /** `id values` per row, ordered by id (values as PostgreSQL prints them). */
  rows: string[];
  total: number;
  distinct: number;
}

/** The features table (or bars with `table: 'bars'`), format-independent: compare two databases. */
export async function storedRows(
  databaseUrl: string,
  table: 'features' | 'bars' = 'features',
): Promise<StoredRows> {
  const db = createDatabase(databaseUrl);
  try {
    const values =
      table === 'features'
        ? sql<string>`"values"::text`
        : sql<string>`concat_ws(' ', open, high, low, close, volume)`;
    const rows = await db
      .selectFrom(table)
      .select(['id', values.as('values')])
      .orderBy('id')
      .execute();
    const counts = await sql<{
      total: number;
      distinct: number;
    }>`SELECT count(*)::int AS total, count(DISTINCT id)::int AS distinct FROM ${sql.table(table)}`.execute(
      db,
    );
    return {
      rows: rows.map((row) => `${row.id} ${row.values}`),
      total: counts.rows[0]!.total,
      distinct: counts.rows[0]!.distinct,
    };
  } finally {
    await db.destroy();
  }
}

/** Rows stored so far in a table (for waiting on an actor). */
export async function countRows(databaseUrl: string, table: 'features' | 'bars'): Promise<number> {
  const db = createDatabase(databaseUrl, { maxConnections: 1 });
  try {
    const result = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.table(table)}`.execute(db);
    return result.rows[0]!.n;
  } finally {
    await db.destroy();
  }
}

/** Every message body in a stream, in stream order. */
export async function streamBodies<T>(bus: TestBus, stream: string): Promise<T[]> {
  const info = await bus.manager.streams.info(stream);
  if (info.state.messages === 0) return [];
  const consumer = await bus.manager.consumers.add(stream, {
    ack_policy: AckPolicy.None,
    deliver_policy: DeliverPolicy.All,
  });
  const bodies: T[] = [];
  const messages = await (await bus.jetstream.consumers.get(stream, consumer.name)).consume();
  for await (const message of messages) {
    bodies.push(message.json<T>());
    if (message.seq >= info.state.last_seq) break;
  }
  await bus.manager.consumers.delete(stream, consumer.name).catch(() => false);
  return bodies;
}

/** Every feature vector in the FEATURES stream, in stream order. */
export function publishedVectors(bus: TestBus): Promise<FeatureVector[]> {
  return streamBodies<FeatureVector>(bus, 'FEATURES');
}

/** Ids of every feature vector in the FEATURES stream, in stream order. */
export async function publishedVectorIds(bus: TestBus): Promise<string[]> {
  return (await publishedVectors(bus)).map((vector) => vector.id);
}

/** The published vectors ordered by id (stream order differs between runs across partitions). */
export async function publishedVectorsById(bus: TestBus): Promise<FeatureVector[]> {
  return (await publishedVectors(bus)).sort(byId);
}

/** What a single, uninterrupted FeatureActor process stores and publishes for the bundled sample. */
export interface ReferenceRun {
  features: StoredRows;
  bars: StoredRows;
  vectors: string[];
}

export async function referenceRun(): Promise<ReferenceRun> {
  const environment = await featureEnvironment({ ingest: true });
  try {
    const actor = new FeatureActorProcess(environment.env);
    await actor.waitFor((status) => status.bars === SAMPLE_BARS);
    await actor.stop();
    return {
      features: await storedRows(environment.databaseUrl),
      bars: await storedRows(environment.databaseUrl, 'bars'),
      vectors: await publishedVectorIds(environment.bus),
    };
  } finally {
    await environment.close();
  }
}
