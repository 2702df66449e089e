// RecentIds (duplicate signal / fill detection) against the obvious model: two generations of Sets,
// the older forgotten when the newer holds `capacity` ids.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RecentIds } from '../../actors/risk/recent-ids.ts';

class ModelIds {
  private current = new Set<string>();
  private previous = new Set<string>();
  constructor(private readonly capacity: number) {}
  has(id: string): boolean {
    return this.current.has(id) || this.previous.has(id);
  }
  add(id: string): boolean {
    if (this.has(id)) return false;
    if (this.current.size >= this.capacity) {
      this.previous = this.current;
      this.current = new Set();
    }
    this.current.add(id);
    return true;
  }
  toArray(): string[] {
    return [...this.previous, ...this.current];
  }
}

describe('RecentIds', () => {
  it('rejects an id seen before and remembers at least the last `capacity` ids', () => {
    const ids = new RecentIds(3);
    assert.equal(ids.add('a'), true);
    assert.equal(ids.add('a'), false);
    for (const id of ['b', 'c', 'd', 'e']) assert.equal(ids.add(id), true);
    for (const id of ['c', 'd', 'e']) assert.equal(ids.has(id), true, id);
    assert.deepEqual(ids.toArray(), ['a', 'b', 'c', 'd', 'e']);
    for (const id of ['f', 'g']) ids.add(id);
    // The generation holding a, b and c is forgotten once the next one is full.
    assert.equal(ids.has('a'), false);
    assert.equal(ids.add('a'), true);
    assert.deepEqual(ids.toArray(), ['d', 'e', 'f', 'g', 'a']);
  });

  it('grows its tables and tells apart ids that differ anywhere, non-ASCII included', () => {
    const ids = new RecentIds(50_000);
    const all = Array.from({ length: 20_000 }, (_, i) => `sig:${i}:ü€${i % 7}`);
    for (const id of all) assert.equal(ids.add(id), true, id);
    for (const id of all) assert.equal(ids.add(id), false, id);
    assert.equal(ids.has('sig:1:ü€2'), false);
    assert.equal(ids.has(''), false);
    assert.equal(ids.add(''), true);
    assert.equal(ids.has(''), true);
  });

  it('answers exactly as two generations of Sets, for any sequence of adds and lookups', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 120 })), { maxLength: 600 }),
        (capacity, steps) => {
          const ids = new RecentIds(capacity);
          const model = new ModelIds(capacity);
          for (const [isAdd, n] of steps) {
            const id = `id-${n}`;
            if (isAdd) assert.equal(ids.add(id), model.add(id));
            else assert.equal(ids.has(id), model.has(id));
          }
          assert.deepEqual(ids.toArray(), model.toArray());
        },
      ),
      { numRuns: 300 },
    );
  });
});
