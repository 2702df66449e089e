// The FeatureActor's log of rejected input. The first rejection of each symbol and reason is logged
// at warn with the message that caused it; later ones are counted and summarised in at most one line
// per symbol and reason per `intervalMs` (written when the next rejection after the interval comes,
// and at stop for what is still held back). Memory: one entry per symbol and reason seen.
//
// The interval is wall time from the injected clock (live mode) because the limit protects the log
// pipeline and the operator reading it, whose capacity is in real time: in a replay event time runs
// thousands of times faster, so an event-time interval would let a bad file write a line per event.
// Logs are not outputs (vectors, rows, alerts and metrics are), so replay determinism is not at stake.
import type { Logger } from '../../core/logger.ts';
import type { RejectedInput } from '../alerts/rejection-rate.ts';

interface Held {
  symbol: string;
  reason: RejectedInput['reason'];
  /** When the last line for this symbol and reason was written. */
  lineAt: number;
  /** Rejections since that line, the latest one's message id, and since start. */
  held: number;
  latestId: string;
  total: number;
}

export class RejectionLog {
  private readonly bySymbolAndReason = new Map<string, Held>();

  constructor(
    private readonly logger: Logger,
    readonly intervalMs: number,
  ) {
    if (!(intervalMs >= 0)) throw new RangeError(`intervalMs must be >= 0, got ${intervalMs}`);
  }

  record(input: RejectedInput, now: number): void {
    const key = `${input.reason}\u0000${input.symbol}`;
    const entry = this.bySymbolAndReason.get(key);
    if (!entry) {
      this.bySymbolAndReason.set(key, {
        symbol: input.symbol,
        reason: input.reason,
        lineAt: now,
        held: 0,
        latestId: input.id,
        total: 1,
      });
      this.logger.warn(
        {
          symbol: input.symbol,
          reason: input.reason,
          id: input.id,
          schema: input.schema,
          partition: input.partition,
        },
        `rejected ${input.schema} ${input.id} of ${input.symbol}: ${input.reason} (the first for this symbol ` +
          `and reason; more are summarised at most every ${this.intervalMs / 1_000} s)`,
      );
      return;
    }
    entry.held++;
    entry.total++;
    entry.latestId = input.id;
    if (now - entry.lineAt < this.intervalMs) return;
    this.summarise(entry);
    entry.lineAt = now;
  }

  /** A summary line for each symbol and reason with rejections not yet logged (at stop). */
  flush(): void {
    for (const entry of this.bySymbolAndReason.values()) if (entry.held > 0) this.summarise(entry);
  }

  private summarise(entry: Held): void {
    this.logger.warn(
      {
        symbol: entry.symbol,
        reason: entry.reason,
        rejected: entry.held,
        total: entry.total,
        latest: entry.latestId,
      },
      `${entry.held} more ${entry.reason} rejections of ${entry.symbol} (${entry.total} since start)`,
    );
    entry.held = 0;
  }
}
