// AlertActor: consumes alert.> from the ALERTS stream and posts each alert to the webhook sinks
// configured for its severity. An alert is acknowledged only after every sink that should get it has
// it: when a sink stays down past its retry budget the handler throws, the consumer naks with backoff
// and the alert comes back later (sinks that already have it are skipped, so nobody gets it twice).
// Alerts sharing a dedupe_key within `dedupeWindowMs` of event time are sent once.

import type { Logger } from '../../core/logger.ts';
import type { Alert } from '../../schemas/messages.ts';
import type { ActorBus, Subscription } from '../../streams/bus.ts';
import type { Actor } from '../actor.ts';
import { RecentIds } from '../risk/recent-ids.ts';
import { SinkRejected, type SinkStats, WebhookSink, type WebhookSinkConfig } from './sinks.ts';

export interface AlertActorOptions {
  bus: ActorBus;
  sinks: readonly WebhookSinkConfig[];
  /** Event-time window in which alerts with the same dedupe_key are sent once; default 5 min. */
  dedupeWindowMs?: number;
  durable?: string;
  logger?: Logger;
}

export interface AlertActorStatus {
  received: number;
  suppressed: number;
  sinks: ({ name: string } & SinkStats)[];
}

interface FirstSeen {
  tsEvent: number;
}

export class AlertActor implements Actor<AlertActorStatus> {
  private readonly sinks: WebhookSink[];
  private readonly dedupeWindowMs: number;
  /** dedupe_key → when the alert that opened its window happened. */
  private readonly firstSeen = new Map<string, FirstSeen>();
  /** Ids of alerts that passed dedupe. */
  private readonly passed = new RecentIds(10_000);
  /** Per sink, alert ids it has taken. */
  private readonly delivered: Map<WebhookSink, RecentIds>;
  private readonly stopping = new AbortController();
  private subscription: Subscription | undefined;
  private readonly counts = { received: 0, suppressed: 0 };

  private constructor(private readonly options: AlertActorOptions) {
    this.sinks = options.sinks.map((config) => new WebhookSink(config));
    this.delivered = new Map(this.sinks.map((sink) => [sink, new RecentIds(10_000)]));
    this.dedupeWindowMs = options.dedupeWindowMs ?? 300_000;
  }

  static async start(options: AlertActorOptions): Promise<AlertActor> {
    const actor = new AlertActor(options);
    await actor.begin();
    return actor;
  }

  private async begin(): Promise<void> {
    const { bus } = this.options;
    this.subscription = await bus.subscribe({
      durable: this.options.durable ?? 'alerts',
      stream: 'ALERTS',
      filterSubject: `${bus.subjects.namespace}alert.>`,
      messages: ['alert'],
      handler: (alert) => this.onAlert(alert),
    });
  }

  status(): AlertActorStatus {
    return {
      ...this.counts,
      sinks: this.sinks.map((sink) => ({ name: sink.config.name, ...sink.stats })),
    };
  }

  /** Cuts retries short (the alert in hand stays unacknowledged) and stops consuming. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.subscription?.drain();
  }

  /**
   * Decided once per alert id: a redelivered alert that was let through is let through again even
   * when a later alert with its key has opened a new window meanwhile.
   */
  private isDuplicate(alert: Alert): boolean {
    if (this.passed.has(alert.id)) return false;
    const first = this.firstSeen.get(alert.dedupe_key);
    if (first && Math.abs(alert.ts_event - first.tsEvent) < this.dedupeWindowMs) return true;
    this.passed.add(alert.id);
    this.firstSeen.delete(alert.dedupe_key);
    this.firstSeen.set(alert.dedupe_key, { tsEvent: alert.ts_event });
    this.forgetExpired(alert.ts_event);
    return false;
  }

  /** Entries are in insertion order, which is close to event order: drop expired ones from the front. */
  private forgetExpired(now: number): void {
    for (const [key, first] of this.firstSeen) {
      if (now - first.tsEvent < this.dedupeWindowMs) break;
      this.firstSeen.delete(key);
    }
  }

  private async onAlert(alert: Alert): Promise<void> {
    this.counts.received++;
    if (this.isDuplicate(alert)) {
      this.counts.suppressed++;
      return;
    }
    const due = this.sinks.filter(
      (sink) => sink.accepts(alert.severity) && !this.delivered.get(sink)?.has(alert.id),
    );
    const results = await Promise.allSettled(
      due.map(async (sink) => {
        await sink.deliver(alert, this.stopping.signal);
        this.delivered.get(sink)?.add(alert.id);
      }),
    );
    let retry: Error | undefined;
    for (const [index, result] of results.entries()) {
      if (result.status === 'fulfilled') continue;
      const error = result.reason as Error;
      if (error instanceof SinkRejected) {
        // Marked as taken: a body the sink refuses must not block the alerts behind it.
        const sink = due[index];
        if (sink) this.delivered.get(sink)?.add(alert.id);
        this.options.logger?.error({ err: error, alert: alert.id }, 'alert sink refused the alert');
      } else retry = error;
    }
    if (retry) {
      this.options.logger?.warn({ err: retry, alert: alert.id }, 'alert not delivered; will retry');
      throw retry;
    }
  }
}
