import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { sql } from 'kysely';
import { pino } from 'pino';
import { FeatureActor } from '../../actors/feature/actor.ts';
import { DEFAULT_FEATURE_SET } from '../../actors/feature/feature-set.ts';
import { startMetrics } from '../../actors/runtime/metrics.ts';
import { ReplayClock } from '../../core/clock.ts';
import type { Alert, Bar, TradeTick } from '../../schemas/messages.ts';
import { partitionOf } from '../../schemas/subjects.ts';
import { NatsActorBus } from '../../streams/bus.ts';
import { createDatabase } from '../../timescale/database.ts';
import {
  FeatureActorProcess,
  type FeatureEnvironment,
  featureEnvironment,
  publishedVectorsById,
  SAMPLE_BARS,
  sampleBars,
  storedRows,
  streamBodies,
  warmVectors,
} from '../support/feature-actors.ts';

describe('FeatureActor over real NATS and PostgreSQL', () => {
  const environments: FeatureEnvironment[] = [];
  after(async () => {
    for (const environment of environments) await environment.close();
  });

  it('the same input, run twice and through crashes, stores the same rows and publishes the same vectors: one per warm row', async () => {
    // Bars in time order across the symbols, as a live feed sends them: a symbol warms up while the
    // others (in its partition and in the others) are still warming.
    const [first, second, crashed] = await Promise.all([
      featureEnvironment({ ingest: true, interleaved: true }),
      featureEnvironment({ ingest: true, interleaved: true }),
      featureEnvironment({ ingest: true, interleaved: true }),
    ]);
    environments.push(first, second, crashed);

    const uninterrupted = async (environment: FeatureEnvironment) => {
      const actor = new FeatureActorProcess(environment.env);
      await actor.waitFor((status) => status.bars === SAMPLE_BARS);
      await actor.stop();
    };
    // Killed twice: near the warm-up boundary (34 bars a symbol, ten symbols), then well into the stream.
    const interrupted = async (environment: FeatureEnvironment) => {
      for (const killAt of [300, 3_000]) {
        const actor = new FeatureActorProcess(environment.env);
        await actor.waitFor((status) => status.bars >= killAt);
        await actor.kill();
        assert.ok(actor.latest.bars < SAMPLE_BARS, 'the kill landed mid-stream');
      }
      const actor = new FeatureActorProcess(environment.env);
      await actor.waitFor((status) => status.bars === SAMPLE_BARS);
      await actor.stop();
    };
    // All three at once, so the partitions' consumers interleave differently in each.
    await Promise.all([uninterrupted(first), uninterrupted(second), interrupted(crashed)]);

    const expectedRows = await storedRows(first.databaseUrl);
    assert.equal(expectedRows.total, SAMPLE_BARS);
    for (const environment of [second, crashed]) {
      const rows = await storedRows(environment.databaseUrl);
      assert.equal(rows.total, rows.distinct, 'no duplicate feature rows');
      assert.deepEqual(rows.rows, expectedRows.rows);
    }

    // Publishing is a function of the input: exactly the warm rows' vectors, the same in every run.
    const expected = warmVectors(await sampleBars());
    for (const [name, environment] of Object.entries({ first, second, crashed })) {
      const vectors = await publishedVectorsById(environment.bus);
      assert.equal(
        vectors.length,
        expected.length,
        `${name} run: ${vectors.length} vectors published, ${expected.length} warm rows`,
      );
      assert.deepEqual(vectors, expected, `${name} run: the published vectors`);
    }
  });

  it('every rejection is visible: /metrics by reason and symbol, a rate-limited warn log, a rate alert', async () => {
    const environment = await featureEnvironment({ ingest: false });
    environments.push(environment);
    const { bus: nats } = environment;
    const lines: { msg: string; symbol?: string; reason?: string; rejected?: number; code?: string }[] = [];
    const logger = pino(
      { level: 'warn' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
          done();
        },
      }),
    );
    // The log's interval runs on the injected clock, moved by the test.
    const clock = new ReplayClock(0);
    const actor = await FeatureActor.start({
      bus: new NatsActorBus(nats.jetstream, nats.manager, nats.subjects),
      set: DEFAULT_FEATURE_SET,
      partitions: [0, 1, 2, 3],
      durablePrefix: 'rejections',
      rejectionRate: { threshold: 5, windowMs: 60_000 },
      rejectionLogIntervalMs: 60_000,
      clock,
      logger,
    });
    const DAY = 86_400_000;
    const start = 1_700_006_400_000;
    const bar = (day: number, id: string, receivedAt: number): Bar => ({
      schema: 'bar.v1',
      id,
      ts_event: start + day * DAY,
      ts_init: receivedAt,
      symbol: 'REJ',
      interval: '1d',
      open: 10,
      high: 11,
      low: 9,
      close: 10,
      volume: 100,
    });
    const counters = () => actor.status().counters;
    const handled = async (count: number) => {
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const c = counters();
        if (c.bars + c.rejected_duplicate + c.rejected_out_of_order >= count) return;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.fail(`only ${JSON.stringify(counters())} of ${count} handled`);
    };
    const send = async (bars: Bar[], total: number) => {
      for (const b of bars) await nats.jetstream.publish(nats.subjects.bar(b.symbol), JSON.stringify(b));
      await handled(total);
    };
    const receivedAt = start + 3 * DAY;
    // Three bars, then three copies of the last (duplicates) and two of the first (out of order).
    await send(
      [
        bar(1, 'rej:1', receivedAt),
        bar(2, 'rej:2', receivedAt + 1),
        bar(3, 'rej:3', receivedAt + 2),
        bar(3, 'rej:3:again:1', receivedAt + 1_000),
        bar(3, 'rej:3:again:2', receivedAt + 2_000),
        bar(3, 'rej:3:again:3', receivedAt + 3_000),
        bar(1, 'rej:1:again:1', receivedAt + 4_000),
        bar(1, 'rej:1:again:2', receivedAt + 5_000),
      ],
      8,
    );
    clock.advanceTo(60_000);
    await send([bar(3, 'rej:3:again:4', receivedAt + 6_000)], 9);

    const metrics = startMetrics({
      connection: nats.connection,
      manager: nats.manager,
      subjects: nats.subjects,
      flows: () => ({}),
      featureRejections: () => actor.rejections(),
      watchDecisions: false,
      watchInference: false,
      pollIntervalMs: 60_000,
    });
    const scraped = await metrics.registry.metrics();
    await metrics.stop();
    assert.match(scraped, /^sluice_feature_rejected_total\{reason="duplicate",symbol="REJ"\} 4$/m);
    assert.match(scraped, /^sluice_feature_rejected_total\{reason="out_of_order",symbol="REJ"\} 2$/m);

    await actor.stop();
    const rejectionLines = lines.filter((line) => line.symbol === 'REJ');
    assert.deepEqual(
      rejectionLines.map((line) => [line.reason, line.rejected]),
      [
        ['duplicate', undefined], // the first duplicate
        ['out_of_order', undefined], // the first out of order
        ['duplicate', 3], // the interval passed: the two held back and this one
        ['out_of_order', 1], // at stop, what was still held back
      ],
    );
    assert.match(rejectionLines[0]!.msg, /rejected bar\.v1 rej:3:again:1 of REJ: duplicate \(the first/);

    // The fifth rejection within a minute of ts_init raised the alert, once.
    const alerts = await streamBodies<Alert>(nats, 'ALERTS');
    assert.equal(alerts.length, 1);
    const [alert] = alerts;
    assert.equal(alert?.code, 'feature_rejection_rate');
    assert.equal(alert?.severity, 'warning');
    assert.equal(alert?.ts_event, receivedAt + 5_000);
    assert.deepEqual(alert?.labels, {
      threshold: '5',
      window_ms: '60000',
      partition: String(partitionOf('REJ', nats.subjects.partitions)),
      latest_symbol: 'REJ',
      latest_reason: 'out_of_order',
    });
    assert.ok(lines.some((line) => line.code === 'feature_rejection_rate'));
  });

  it('a trade published twice without Nats-Msg-Id (and without trade_id) counts once in its bar', async () => {
    const environment = await featureEnvironment({ ingest: false });
    environments.push(environment);
    const { bus: nats } = environment;
    const db = createDatabase(environment.databaseUrl);
    const actor = await FeatureActor.start({
      bus: new NatsActorBus(nats.jetstream, nats.manager, nats.subjects),
      set: DEFAULT_FEATURE_SET,
      partitions: [0, 1, 2, 3],
      durablePrefix: 'dup-trade',
      db,
    });
    const trade = (second: number, size: number): TradeTick => ({
      schema: 'trade_tick.v1',
      id: `venue:DUPE:${second}`,
      ts_event: 1_700_000_000_000 + second * 1_000,
      ts_init: 1_700_000_000_000 + second * 1_000,
      symbol: 'DUPE',
      price: 100 + second,
      size,
      aggressor: 'buy',
    });
    // Two trades in the first minute, the first of them twice; the third trade closes the bar.
    const sent = [trade(1, 2), trade(1, 2), trade(2, 3), trade(61, 1)];
    for (const tick of sent)
      await nats.jetstream.publish(nats.subjects.tick(tick.symbol), JSON.stringify(tick));
    const deadline = Date.now() + 30_000;
    const seen = () => actor.status().counters.ticks + actor.status().counters.rejected_duplicate;
    while (seen() < sent.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await actor.stop();
    try {
      const bars = await sql<{ volume: number }>`SELECT volume FROM bars WHERE symbol = 'DUPE'`.execute(db);
      assert.deepEqual(
        bars.rows.map((row) => row.volume),
        [5],
        'the bar holds each trade once',
      );
      assert.equal(actor.status().counters.rejected_duplicate, 1);
      assert.deepEqual(actor.rejections(), [{ symbol: 'DUPE', reason: 'duplicate', count: 1 }]);
    } finally {
      await db.destroy();
    }
  });
});
