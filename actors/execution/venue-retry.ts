// How the execution actor retries a broker: capped exponential backoff, the venue's Retry-After when it
// gives one, and which faults are worth another try. Faults stay typed: anything an adapter throws that
// is not a VenueFault (a bug, a network error it did not map) counts as an unknown outcome, the one
// reading that never places a second order (the order is looked up before any retry).
import { VenueFault, type VenueFaultKind } from './broker-adapter.ts';

export interface RetryPolicy {
  /** The first wait; each next one doubles, up to maxDelayMs. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** Tries in all, the first included, before giving up. */
  maxAttempts: number;
}

export const DEFAULT_RETRY: RetryPolicy = { initialDelayMs: 200, maxDelayMs: 5_000, maxAttempts: 8 };

export type Sleep = (ms: number) => Promise<void>;

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function asVenueFault(error: unknown): VenueFault {
  if (error instanceof VenueFault) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new VenueFault('unknown_outcome', `adapter error: ${message}`);
}

/** The wait before try `attempt + 1` (attempt counts from 1). */
export function backoffMs(policy: RetryPolicy, attempt: number, fault: VenueFault): number {
  const exponential = Math.min(policy.initialDelayMs * 2 ** (attempt - 1), policy.maxDelayMs);
  const asked = fault.details.retryAfterMs;
  return asked !== undefined && Number.isFinite(asked) && asked >= 0
    ? Math.min(Math.max(asked, exponential), policy.maxDelayMs)
    : exponential;
}

/** Faults after which the same request may be sent again without doing anything twice. */
const RETRYABLE: ReadonlySet<VenueFaultKind> = new Set(['rate_limited', 'unavailable', 'unknown_outcome']);

/**
 * Runs an idempotent request (a read, a cancel) until it answers, retrying the faults above; throws
 * the last fault when the policy gives up, and any other fault at once.
 */
export async function retrying<T>(
  policy: RetryPolicy,
  sleep: Sleep,
  request: () => Promise<T>,
  onRetry: (fault: VenueFault) => void = () => {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await request();
    } catch (error) {
      const fault = asVenueFault(error);
      if (!RETRYABLE.has(fault.kind) || attempt >= policy.maxAttempts) throw fault;
      onRetry(fault);
      await sleep(backoffMs(policy, attempt, fault));
    }
  }
}
