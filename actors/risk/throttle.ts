// The order-rate throttle: passed orders in a sliding window of event time. The gate keeps one for
// every order (orderRate) and one per symbol and side (repeatedExecution).

/**
 * The pass times still inside the window (at most `maxOrders` of them), oldest first in a ring that
 * grows only as far as orders actually come, so a generous limit costs no memory up front. Event
 * time never goes back, so times leave from the front.
 */
export class Throttle {
  private times = new Float64Array(16);
  private head = 0;
  private size = 0;

  constructor(
    readonly maxOrders: number,
    readonly windowMs: number,
  ) {}

  /** Whether `maxOrders` orders are already in the window (now − windowMs, now]. */
  isFull(now: number): boolean {
    return this.inWindow(now) >= this.maxOrders;
  }

  /** Orders in the window; those that fell out of it are forgotten. */
  inWindow(now: number): number {
    const since = now - this.windowMs;
    const mask = this.times.length - 1;
    while (this.size > 0 && !(this.times[this.head]! > since)) {
      this.head = (this.head + 1) & mask;
      this.size--;
    }
    return this.size;
  }

  record(now: number): void {
    if (this.size === this.maxOrders) {
      // Only the newest maxOrders can matter.
      this.head = (this.head + 1) & (this.times.length - 1);
      this.size--;
    }
    if (this.size === this.times.length) this.grow();
    this.times[(this.head + this.size) & (this.times.length - 1)] = now;
    this.size++;
  }

  private grow(): void {
    const grown = new Float64Array(this.times.length * 2);
    for (let n = 0; n < this.size; n++) grown[n] = this.times[(this.head + n) & (this.times.length - 1)]!;
    this.times = grown;
    this.head = 0;
  }
}
