// The AlertActor's rules, with no I/O: dedupe (alerts sharing a dedupe_key within a window of event
// time are sent once) and routing (which sinks should get an alert and do not have it yet). The
// binding (actor.ts) posts to the sinks and reports back which took it.
import type { Alert } from '../../schemas/messages.ts';
import { RecentIds } from '../risk/recent-ids.ts';

/** What routing needs of a sink: the severities it takes. */
export interface SinkRoute {
  readonly severities: readonly Alert['severity'][];
}

/** Alert ids remembered per sink and for dedupe: enough for redeliveries, bounded for a long run. */
const MEMORY = 10_000;

export class AlertRouting {
  /** dedupe_key → event time of the alert that opened its window, in insertion order. */
  private readonly firstSeen = new Map<string, number>();
  /** Ids of alerts that passed dedupe. */
  private readonly passed = new RecentIds(MEMORY);
  /** Per sink (by index), ids of the alerts it has taken. */
  private readonly taken: RecentIds[];

  constructor(
    private readonly routes: readonly SinkRoute[],
    private readonly dedupeWindowMs: number,
  ) {
    this.taken = routes.map(() => new RecentIds(MEMORY));
  }

  /**
   * Decided once per alert id: a redelivered alert that was let through is let through again even
   * when a later alert with its key has opened a new window meanwhile.
   */
  isDuplicate(alert: Alert): boolean {
    if (this.passed.has(alert.id)) return false;
    const first = this.firstSeen.get(alert.dedupe_key);
    if (first !== undefined && Math.abs(alert.ts_event - first) < this.dedupeWindowMs) return true;
    this.passed.add(alert.id);
    this.firstSeen.delete(alert.dedupe_key);
    this.firstSeen.set(alert.dedupe_key, alert.ts_event);
    this.forgetExpired(alert.ts_event);
    return false;
  }

  /** Indices of the sinks routed `alert`'s severity that have not taken it yet. */
  due(alert: Alert): number[] {
    const due: number[] = [];
    for (const [index, route] of this.routes.entries())
      if (route.severities.includes(alert.severity) && !this.taken[index]?.has(alert.id)) due.push(index);
    return due;
  }

  /** The sink has the alert, or refused it for good: it is not due again on a redelivery. */
  markTaken(sink: number, alertId: string): void {
    this.taken[sink]?.add(alertId);
  }

  /** Entries are in insertion order, which is close to event order: drop expired ones from the front. */
  private forgetExpired(now: number): void {
    for (const [key, first] of this.firstSeen) {
      if (now - first < this.dedupeWindowMs) break;
      this.firstSeen.delete(key);
    }
  }
}
