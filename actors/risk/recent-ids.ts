// A set of the most recent ids: enough to reject a redelivered signal or fill (JetStream redelivers
// recent messages) without growing for the life of the process. Two generations instead of a FIFO
// eviction per insert: deleting from a large Set on every add cost more than the rest of a risk
// decision, while swapping generations is free and forgets ids in bulk.
//
// Each generation is a small open-addressing table over a 32-bit hash of the id (FNV-1a), not a
// Set: a Set of strings grows by rehashing, and each probe reads scattered entries and string
// headers, which made the duplicate check the largest single cost of a risk decision. Here a probe
// reads one packed Int32Array of (hash, index) pairs, the string is compared only when the hashes
// match, and the retired generation's table is cleared and reused instead of regrown.

/** FNV-1a over the UTF-16 code units, as an int32 (what the Int32Array table stores). */
function hashOf(id: string): number {
  let hash = 0x811c9dc5 | 0;
  for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193);
  return hash;
}

const INITIAL_SLOTS = 256;

/** One generation: ids in insertion order and a linear-probing table of (hash, index + 1) pairs. */
class Generation {
  ids: string[] = [];
  /** Pairs [hash, index into ids + 1]; an index of 0 marks an empty slot. */
  private slots = new Int32Array(INITIAL_SLOTS * 2);
  private mask = INITIAL_SLOTS - 1;

  get size(): number {
    return this.ids.length;
  }

  has(id: string, hash: number): boolean {
    return this.slotOf(id, hash) < 0;
  }

  /** Adds `id`; returns false when it was already there. */
  add(id: string, hash: number): boolean {
    const slot = this.slotOf(id, hash);
    if (slot < 0) return false;
    const ids = this.ids;
    ids.push(id);
    this.slots[slot] = hash;
    this.slots[slot + 1] = ids.length;
    // At most half full, so probe runs stay short.
    if (ids.length * 2 > this.mask + 1) this.resize((this.mask + 1) * 2);
    return true;
  }

  /** Forgets every id, keeping the table for the next generation. */
  clear(): void {
    this.ids = [];
    this.slots.fill(0);
  }

  /** The pair offset where `id` would go, or −1 when it is there already. */
  private slotOf(id: string, hash: number): number {
    const slots = this.slots;
    const mask = this.mask;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const offset = i * 2;
      const ref = slots[offset + 1]!;
      if (ref === 0) return offset;
      if (slots[offset] === hash && this.ids[ref - 1] === id) return -1;
    }
  }

  private resize(slotCount: number): void {
    const old = this.slots;
    const slots = new Int32Array(slotCount * 2);
    const mask = slotCount - 1;
    for (let offset = 0; offset < old.length; offset += 2) {
      const ref = old[offset + 1]!;
      if (ref === 0) continue;
      const hash = old[offset]!;
      let i = hash & mask;
      while (slots[i * 2 + 1] !== 0) i = (i + 1) & mask;
      slots[i * 2] = hash;
      slots[i * 2 + 1] = ref;
    }
    this.slots = slots;
    this.mask = mask;
  }
}

export class RecentIds {
  private current = new Generation();
  private previous = new Generation();

  /** At least the last `capacity` ids are remembered (at most 2 × capacity). */
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('RecentIds capacity must be >= 1');
  }

  has(id: string): boolean {
    const hash = hashOf(id);
    return this.current.has(id, hash) || this.previous.has(id, hash);
  }

  /** Adds `id`; returns false when it was already there. */
  add(id: string): boolean {
    const hash = hashOf(id);
    if (this.previous.has(id, hash)) return false;
    let current = this.current;
    if (current.size >= this.capacity) {
      if (current.has(id, hash)) return false;
      // The oldest generation is forgotten; its table, already grown to size, takes the new ids.
      const recycled = this.previous;
      recycled.clear();
      this.previous = current;
      this.current = recycled;
      current = recycled;
    }
    return current.add(id, hash);
  }

  /** Oldest first, for snapshots. */
  toArray(): string[] {
    return [...this.previous.ids, ...this.current.ids];
  }
}
