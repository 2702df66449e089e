// Chunk lengths from the bar interval, and the --retention syntax.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chunkDaysForBars, parseRetention } from '../../timescale/policies.ts';

describe('chunkDaysForBars', () => {
  it('holds about 1,000 bars a symbol per chunk, within 1 to 1,000 days', () => {
    assert.equal(chunkDaysForBars(60_000), 1);
    assert.equal(chunkDaysForBars(300_000), 4);
    assert.equal(chunkDaysForBars(3_600_000), 42);
    assert.equal(chunkDaysForBars(86_400_000), 1_000);
    assert.equal(chunkDaysForBars(7 * 86_400_000), 1_000);
    assert.throws(() => chunkDaysForBars(0), /positive/);
  });
});

describe('parseRetention', () => {
  it('reads table=interval and table=off', () => {
    assert.deepEqual(parseRetention('ticks=90 days, bars=off'), { ticks: '90 days', bars: null });
  });
  it('names the bad part', () => {
    assert.throws(
      () => parseRetention('orders=90 days'),
      /"orders=90 days": the table must be one of ticks, bars, features/,
    );
    assert.throws(() => parseRetention('ticks=soon'), /not an interval: "soon"/);
  });
});
