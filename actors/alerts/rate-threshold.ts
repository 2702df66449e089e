// The burst rule of Sluice's rate alerts (dead letters, rejected feature input): fire when
// `threshold` events fall within `windowMs` of event time, then at most once more per window while
// the burst lasts. Event time, so a replay fires at the same events as the live run did. Memory is
// the last `threshold` timestamps.
import type { AlertSeverity } from './sinks.ts';

/** The config of a rate alert (`alerts.deadLetterRate`, `alerts.featureRejectionRate`). */
export interface RateAlertOptions {
  /** Events within windowMs that raise the alert; default 100. */
  threshold?: number;
  /** Default 60 s. */
  windowMs?: number;
  /** Default `warning`. */
  severity?: AlertSeverity;
}

export class RateThreshold {
  readonly threshold: number;
  readonly windowMs: number;
  /** Ring of the last `threshold` events' times. */
  private readonly times: number[] = [];
  private next = 0;
  private latest = Number.NEGATIVE_INFINITY;
  private quietUntil = Number.NEGATIVE_INFINITY;

  constructor(options: Pick<RateAlertOptions, 'threshold' | 'windowMs'> = {}) {
    this.threshold = options.threshold ?? 100;
    this.windowMs = options.windowMs ?? 60_000;
    if (!(Number.isInteger(this.threshold) && this.threshold >= 1))
      throw new RangeError(`threshold must be a positive integer, got ${this.threshold}`);
    if (!(this.windowMs > 0)) throw new RangeError(`windowMs must be > 0, got ${this.windowMs}`);
  }

  /**
   * Records one event at `ts`. When it makes a burst: the span in ms from the oldest of the last
   * `threshold` events to the latest time seen (the rule then stays quiet for a window); else undefined.
   */
  observe(ts: number): number | undefined {
    if (this.times.length < this.threshold) this.times.push(ts);
    else this.times[this.next] = ts;
    this.next = (this.next + 1) % this.threshold;
    if (ts > this.latest) this.latest = ts;
    if (this.times.length < this.threshold || this.latest < this.quietUntil) return undefined;
    // Events of different consumers interleave slightly out of event order: the window is measured
    // from the oldest of the last `threshold` events to the latest time seen.
    const span = this.latest - Math.min(...this.times);
    if (span >= this.windowMs) return undefined;
    this.quietUntil = this.latest + this.windowMs;
    return span;
  }
}
