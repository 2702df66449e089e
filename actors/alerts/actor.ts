// AlertActor: consumes alert.> from the ALERTS stream and posts each alert to the webhook sinks
// configured for its severity. An alert is acknowledged only after every sink that should get it has
// it: when a sink stays down past its retry budget the handler throws, the consumer naks with backoff
// and the alert comes back later (sinks that already have it are skipped, so nobody gets it twice).
// Alerts sharing a dedupe_key within `dedupeWindowMs` of event time are sent once. Those rules (dedupe,
// routing) are the pure core (core.ts); the lifecycle, degraded while an alert waits for a sink, is
// machine.ts.

import type { Logger } from '../../core/logger.ts';
import type { Alert } from '../../schemas/messages.ts';
import type { ActorBus, Subscription } from '../../streams/bus.ts';
import type { Actor } from '../actor.ts';
import { AlertRouting } from './core.ts';
import { type AlertLifecycleState, createAlertLifecycle } from './machine.ts';
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
  state: AlertLifecycleState;
  /** Why the last delivery failed (a sink down past its retry budget). */
  lastError: string | undefined;
  received: number;
  suppressed: number;
  sinks: ({ name: string } & SinkStats)[];
}

export class AlertActor implements Actor<AlertActorStatus> {
  private readonly sinks: WebhookSink[];
  private readonly routing: AlertRouting;
  private readonly lifecycle = createAlertLifecycle();
  private readonly stopping = new AbortController();
  private subscription: Subscription | undefined;
  private readonly counts = { received: 0, suppressed: 0 };

  private constructor(private readonly options: AlertActorOptions) {
    this.sinks = options.sinks.map((config) => new WebhookSink(config));
    this.routing = new AlertRouting(options.sinks, options.dedupeWindowMs ?? 300_000);
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
    this.lifecycle.send({ type: 'SUBSCRIBED' });
  }

  status(): AlertActorStatus {
    const { value, context } = this.lifecycle.getSnapshot();
    return {
      state: value as AlertLifecycleState,
      lastError: context.lastError,
      ...this.counts,
      sinks: this.sinks.map((sink) => ({ name: sink.config.name, ...sink.stats })),
    };
  }

  /** Cuts retries short (the alert in hand stays unacknowledged) and stops consuming. */
  async stop(): Promise<void> {
    this.lifecycle.send({ type: 'STOP' });
    this.stopping.abort();
    await this.subscription?.drain();
    this.lifecycle.send({ type: 'DRAINED' });
  }

  private async onAlert(alert: Alert): Promise<void> {
    this.counts.received++;
    if (this.routing.isDuplicate(alert)) {
      this.counts.suppressed++;
      return;
    }
    const due = this.routing.due(alert);
    const results = await Promise.allSettled(
      due.map(async (index) => {
        await this.sinks[index]?.deliver(alert, this.stopping.signal);
        this.routing.markTaken(index, alert.id);
      }),
    );
    let retry: Error | undefined;
    for (const [index, result] of results.entries()) {
      if (result.status === 'fulfilled') continue;
      const error = result.reason as Error;
      if (error instanceof SinkRejected) {
        // Marked as taken: a body the sink refuses must not block the alerts behind it.
        const sink = due[index];
        if (sink !== undefined) this.routing.markTaken(sink, alert.id);
        this.options.logger?.error({ err: error, alert: alert.id }, 'alert sink refused the alert');
      } else retry = error;
    }
    if (retry) {
      this.options.logger?.warn({ err: retry, alert: alert.id }, 'alert not delivered; will retry');
      this.lifecycle.send({ type: 'DELIVERY_FAILED', reason: retry.message });
      throw retry;
    }
    if (this.lifecycle.getSnapshot().value === 'degraded') this.lifecycle.send({ type: 'DELIVERED' });
  }
}
