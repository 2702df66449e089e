import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  FeatureActorProcess,
  type FeatureEnvironment,
  featureEnvironment,
  publishedVectorIds,
  SAMPLE_BARS,
  storedRows,
} from '../support/feature-actors.ts';

describe('FeatureActor over real NATS and PostgreSQL', () => {
  const environments: FeatureEnvironment[] = [];
  after(async () => {
    for (const environment of environments) await environment.close();
  });

  it('a run killed mid-stream and restarted stores the same feature rows as an uninterrupted run, without duplicates', async () => {
    const [uninterrupted, interrupted] = await Promise.all([
      featureEnvironment({ ingest: true }),
      featureEnvironment({ ingest: true }),
    ]);
    environments.push(uninterrupted, interrupted);

    const reference = new FeatureActorProcess(uninterrupted.env);
    await reference.waitFor((status) => status.bars === SAMPLE_BARS);
    await reference.stop();

    const first = new FeatureActorProcess(interrupted.env);
    await first.waitFor((status) => status.bars >= 3_000);
    await first.kill();
    assert.ok(first.latest.bars < SAMPLE_BARS, 'the kill landed mid-stream');
    const restarted = new FeatureActorProcess(interrupted.env);
    await restarted.waitFor((status) => status.bars === SAMPLE_BARS);
    await restarted.stop();

    const expected = await storedRows(uninterrupted.databaseUrl);
    const actual = await storedRows(interrupted.databaseUrl);
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
