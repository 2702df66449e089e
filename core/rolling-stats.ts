// Rolling window sums for the incremental indicators (actors/feature/indicators.ts) and the money-flow
// computations they share with the factor library (core/money-flow.ts).

/**
 * Sum and sum of squares over the last `size` values. Sums are kept relative to a shift (the
 * window mean at the last resync) so the variance does not cancel catastrophically, and are
 * recomputed exactly each time the ring wraps, which bounds floating-point drift over millions of
 * updates at an amortised cost of one addition per update.
 */
export class RollingStats {
  private readonly ring: Float64Array;
  private index = 0;
  private filled = 0;
  private shift = 0;
  private s1 = 0;
  private s2 = 0;

  constructor(readonly size: number) {
    this.ring = new Float64Array(size);
  }

  get full(): boolean {
    return this.filled === this.size;
  }

  push(x: number): void {
    if (this.filled === 0) this.shift = x;
    const d = x - this.shift;
    if (this.filled < this.size) {
      this.filled++;
      this.s1 += d;
      this.s2 += d * d;
    } else {
      const old = this.ring[this.index]! - this.shift;
      this.s1 += d - old;
      this.s2 += d * d - old * old;
    }
    this.ring[this.index] = x;
    if (++this.index === this.size) {
      this.index = 0;
      this.resync();
    }
  }

  sum(): number {
    return this.shift * this.filled + this.s1;
  }

  mean(): number {
    return this.shift + this.s1 / this.filled;
  }

  /** Variance with `ddof` (0 population, 1 sample); never negative. */
  variance(ddof: number): number {
    return Math.max(0, (this.s2 - (this.s1 * this.s1) / this.filled) / (this.filled - ddof));
  }

  private resync(): void {
    const ring = this.ring;
    let total = 0;
    for (let i = 0; i < this.filled; i++) total += ring[i]!;
    this.shift = total / this.filled;
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < this.filled; i++) {
      const d = ring[i]! - this.shift;
      s1 += d;
      s2 += d * d;
    }
    this.s1 = s1;
    this.s2 = s2;
  }
}
