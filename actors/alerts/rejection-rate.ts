// Rejected feature input (late, out-of-order, duplicate or invalid ticks, bars and news) is fine one
// at a time but an operator's business in bulk: a feed re-sending history, a venue clock gone wrong.
// FeatureRejectionRate raises one `feature_rejection_rate` alert when `threshold` messages of one
// partition are rejected within `windowMs`, then at most one more per window while it lasts
// (rate-threshold.ts, the dead-letter alert's rule).
//
// Time is the rejected message's ts_init (when Sluice received it; its ts_event is what may be
// wrong). One window per partition: a partition's messages arrive in stream order whichever process
// owns it, so the same input raises the same alerts, with the same ids, in one process, with the
// partitions leased to several, after a restart and in a replay.
import { alertIdFor } from '../../core/lineage-ids.ts';
import type { Alert } from '../../schemas/messages.ts';
import type { RejectionReason } from '../feature/core.ts';
import { type RateAlertOptions, RateThreshold } from './rate-threshold.ts';
import type { AlertSeverity } from './sinks.ts';

export const FEATURE_REJECTION_RATE_CODE = 'feature_rejection_rate';

/** A message the feature core rejected. */
export interface RejectedInput {
  readonly partition: number;
  readonly symbol: string;
  readonly reason: RejectionReason;
  /** The message's id and contract tag. */
  readonly id: string;
  readonly schema: string;
  readonly ts_init: number;
}

export class FeatureRejectionRate {
  readonly severity: AlertSeverity;
  private readonly windows = new Map<number, RateThreshold>();

  constructor(private readonly options: RateAlertOptions = {}) {
    this.severity = options.severity ?? 'warning';
    // Refuse a bad threshold or window now, not at the first rejection.
    new RateThreshold(options);
  }

  observe(input: RejectedInput): Alert | undefined {
    let window = this.windows.get(input.partition);
    if (!window) {
      window = new RateThreshold(this.options);
      this.windows.set(input.partition, window);
    }
    const span = window.observe(input.ts_init);
    if (span === undefined) return undefined;
    const { threshold, windowMs } = window;
    return {
      schema: 'alert.v1',
      // Cut so the id stays within the contract's 256 characters.
      id: alertIdFor(input.id.slice(0, 200), `${FEATURE_REJECTION_RATE_CODE}:p${input.partition}`),
      ts_event: input.ts_init,
      ts_init: input.ts_init,
      severity: this.severity,
      code: FEATURE_REJECTION_RATE_CODE,
      message: (
        `${threshold} market messages of partition ${input.partition} rejected by the feature actor ` +
        `within ${span} ms (threshold ${threshold} per ${windowMs} ms); latest: ${input.schema} ` +
        `${input.id} for ${input.symbol}, ${input.reason}`
      ).slice(0, 1_000),
      source: 'feature',
      dedupe_key: `${FEATURE_REJECTION_RATE_CODE}:p${input.partition}`,
      labels: {
        threshold: String(threshold),
        window_ms: String(windowMs),
        partition: String(input.partition),
        latest_symbol: input.symbol,
        latest_reason: input.reason,
      },
    };
  }
}
