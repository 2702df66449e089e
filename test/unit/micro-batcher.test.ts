import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Batch, MicroBatcher, type PendingRow } from '../../actors/inference/core.ts';
import { SeededRandom } from '../../core/random.ts';

const row = (id: number, eventTime: number, symbol = 'AAPL'): PendingRow => ({
  id: `r${id}`,
  symbol,
  eventTime,
  features: [id, id + 0.5],
});

describe('MicroBatcher', () => {
  it('closes a batch at max size and keeps row order and features', () => {
    const batcher = new MicroBatcher({ width: 2, maxBatchSize: 3, maxWaitMs: 1_000 });
    assert.equal(batcher.push(row(1, 0)), undefined);
    assert.equal(batcher.push(row(2, 1, 'MSFT')), undefined);
    const batch = batcher.push(row(3, 2));
    assert.equal(batch?.reason, 'size');
    assert.deepEqual(
      batch?.rows.map((r) => r.id),
      ['r1', 'r2', 'r3'],
    );
    assert.deepEqual(Array.from(batch!.features), [1, 1.5, 2, 2.5, 3, 3.5]);
    assert.equal(batcher.pending, 0);
  });

  it('closes on event time: a row more than maxWait after the first starts a new batch', () => {
    const batcher = new MicroBatcher({ width: 2, maxBatchSize: 100, maxWaitMs: 10 });
    batcher.push(row(1, 100));
    assert.equal(batcher.push(row(2, 110)), undefined, 'exactly maxWait later still joins');
    const closed = batcher.push(row(3, 111));
    assert.equal(closed?.reason, 'wait');
    assert.equal(closed?.openedAt, 100);
    assert.deepEqual(
      closed?.rows.map((r) => r.id),
      ['r1', 'r2'],
    );
    assert.equal(batcher.pending, 1);
    assert.equal(batcher.advanceTo(121), undefined);
    assert.equal(batcher.advanceTo(122)?.rows[0]?.id, 'r3');
    assert.equal(batcher.flush(), undefined);
  });

  it('a late row joins the open batch and cannot move time back', () => {
    const batcher = new MicroBatcher({ width: 2, maxBatchSize: 100, maxWaitMs: 5 });
    batcher.push(row(1, 50));
    batcher.push(row(2, 40)); // late: watermark stays 50
    assert.equal(batcher.advanceTo(55), undefined);
    assert.deepEqual(
      batcher.flush()?.rows.map((r) => r.id),
      ['r1', 'r2'],
    );
  });

  it('with maxWait 0, rows of one event time share a batch', () => {
    const batcher = new MicroBatcher({ width: 2, maxBatchSize: 8, maxWaitMs: 0 });
    batcher.push(row(1, 5, 'AAPL'));
    batcher.push(row(2, 5, 'MSFT'));
    assert.deepEqual(
      batcher.push(row(3, 6))?.rows.map((r) => r.symbol),
      ['AAPL', 'MSFT'],
    );
    const single = new MicroBatcher({ width: 2, maxBatchSize: 1, maxWaitMs: 0 });
    assert.equal(single.push(row(1, 0))?.reason, 'size');
    assert.equal(single.pending, 0);
  });

  it('forms identical batches in every replay of the same stream', () => {
    const random = new SeededRandom(9);
    const stream: PendingRow[] = [];
    let t = 0;
    for (let i = 0; i < 5_000; i++) {
      t += Math.floor(random.next() * 4);
      stream.push(row(i, t, ['AAPL', 'MSFT', 'XOM'][i % 3]));
    }
    const replay = (): Batch<PendingRow>[] => {
      const batcher = new MicroBatcher({ width: 2, maxBatchSize: 5, maxWaitMs: 7 });
      const batches = [...stream.map((r) => batcher.push(r)), batcher.flush()];
      return batches.filter((b) => b !== undefined);
    };
    const first = replay();
    assert.deepEqual(replay(), first);
    assert.equal(
      first.reduce((n, b) => n + b.rows.length, 0),
      stream.length,
      'every row in exactly one batch',
    );
    for (const b of first) {
      assert.ok(b.rows.length <= 5);
      for (const r of b.rows) assert.ok(r.eventTime - b.openedAt <= 7);
    }
    assert.ok(first.some((b) => b.reason === 'size') && first.some((b) => b.reason === 'wait'));
  });

  it('rejects rows of the wrong width', () => {
    const batcher = new MicroBatcher({ width: 3, maxBatchSize: 4, maxWaitMs: 1 });
    assert.throws(() => batcher.push(row(1, 0)), /expected 3/);
  });
});
