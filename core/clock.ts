// Actors take time only from a Clock. A backtest moves a ReplayClock with event time; live mode uses
// the wall clock. Nothing else in Sluice reads Date.now().

/** Epoch milliseconds. */
export interface Clock {
  now(): number;
}

/** Time advances only when events say so, and never backwards. */
export class ReplayClock implements Clock {
  private current: number;

  constructor(start = 0) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  /** Moves to `timestamp` if it is later; events stamped earlier leave the clock where it is. */
  advanceTo(timestamp: number): void {
    if (timestamp > this.current) this.current = timestamp;
  }
}

export class WallClock implements Clock {
  now(): number {
    return Date.now();
  }
}
