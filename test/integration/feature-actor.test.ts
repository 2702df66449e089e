import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { sql } from 'kysely';
import { FeatureActor } from '../../actors/feature/actor.ts';
import { DEFAULT_FEATURE_SET } from '../../actors/feature/feature-set.ts';
import type { TradeTick } from '../../schemas/messages.ts';
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

  it('a trade published twice without Nats-Msg-Id (and without trade_id) counts once in its bar', async () => {
    const environment = await featureEnvironment({ ingest: false });
    environments.push(environment);
    const { bus: nats } = environment;
    const db = createDatabase(environment.databaseUrl);
    const actor = new FeatureActor({
      bus: new NatsActorBus(nats.jetstream, nats.manager, nats.subjects),
      set: DEFAULT_FEATURE_SET,
      partitions: [0, 1, 2, 3],
      durablePrefix: 'dup-trade',
      db,
    });
    await actor.start();
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
