// A set of the most recent ids: enough to reject a redelivered signal or fill (JetStream redelivers
// recent messages) without growing for the life of the process. Two generations instead of a FIFO
// eviction per insert: deleting from a large Set on every add cost more than the rest of a risk
// decision, while swapping generations is free and forgets ids in bulk.

export class RecentIds {
  private current = new Set<string>();
  private previous = new Set<string>();

  /** At least the last `capacity` ids are remembered (at most 2 × capacity). */
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('RecentIds capacity must be >= 1');
  }

  has(id: string): boolean {
    return this.current.has(id) || this.previous.has(id);
  }

  /** Adds `id`; returns false when it was already there. */
  add(id: string): boolean {
    if (this.has(id)) return false;
    if (this.current.size >= this.capacity) {
      this.previous = this.current;
      this.current = new Set<string>();
    }
    this.current.add(id);
    return true;
  }

  /** Oldest first, for snapshots. */
  toArray(): string[] {
    return [...this.previous, ...this.current];
  }
}
