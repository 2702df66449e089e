// A burst of dead letters is an operator's business even when every one of them was handled
// correctly: a feed sending garbage, a schema change upstream, a handler failing on every message.
// DeadLetterRateMonitor reads the dead-letter stream (every dead letter lands there: consumers,
// ingest, actors) and raises one `dead_letter_rate` alert when `threshold` letters arrive within
// `windowMs`, then at most one more per window while the burst lasts.
//
// Time is the letters' event time (ts_event: when the bad message reached Sluice), so a replay of
// the stream raises the same alerts, with the same ids, as the live run did (rate-threshold.ts).
import { alertIdFor } from '../../core/lineage-ids.ts';
import type { Logger } from '../../core/logger.ts';
import type { Alert, DeadLetter } from '../../schemas/messages.ts';
import type { ActorBus, Subscription } from '../../streams/bus.ts';
import type { Actor } from '../actor.ts';
import { type RateAlertOptions, RateThreshold } from './rate-threshold.ts';
import type { AlertSeverity } from './sinks.ts';

export type DeadLetterRateOptions = RateAlertOptions;

export const DEAD_LETTER_RATE_CODE = 'dead_letter_rate';

/** The synchronous core: letters in, an alert out when the rate crosses the threshold. */
export class DeadLetterRate {
  readonly severity: AlertSeverity;
  private readonly rate: RateThreshold;
  readonly counts = { letters: 0, alerts: 0 };

  constructor(options: DeadLetterRateOptions = {}) {
    this.rate = new RateThreshold(options);
    this.severity = options.severity ?? 'warning';
  }

  observe(letter: DeadLetter): Alert | undefined {
    this.counts.letters++;
    const span = this.rate.observe(letter.ts_event);
    if (span === undefined) return undefined;
    const { threshold, windowMs } = this.rate;
    this.counts.alerts++;
    return {
      schema: 'alert.v1',
      id: alertIdFor(letter.id, DEAD_LETTER_RATE_CODE),
      ts_event: letter.ts_event,
      ts_init: letter.ts_init,
      severity: this.severity,
      code: DEAD_LETTER_RATE_CODE,
      message: (
        `${threshold} messages dead-lettered within ${span} ms ` +
        `(threshold ${threshold} per ${windowMs} ms); latest from ${letter.consumer} on ` +
        `${letter.original_subject}: ${letter.reason}`
      ).slice(0, 1_000),
      source: 'dead-letters',
      dedupe_key: DEAD_LETTER_RATE_CODE,
      labels: {
        threshold: String(threshold),
        window_ms: String(windowMs),
        latest_subject: letter.original_subject,
        latest_consumer: letter.consumer,
      },
    };
  }
}

export interface DeadLetterRateStatus {
  letters: number;
  alerts: number;
}

export interface DeadLetterRateMonitorOptions extends DeadLetterRateOptions {
  bus: ActorBus;
  durable?: string;
  logger?: Logger;
}

/** The binding: the DEADLETTER stream in, alerts out on alert.<severity>.dead_letter_rate. */
export class DeadLetterRateMonitor implements Actor<DeadLetterRateStatus> {
  readonly rate: DeadLetterRate;
  private subscription: Subscription | undefined;
  /** The last letter observed and what it raised: a redelivery (alert publish failed) is not counted twice. */
  private last: { id: string; alert: Alert | undefined } | undefined;

  private constructor(private readonly options: DeadLetterRateMonitorOptions) {
    this.rate = new DeadLetterRate(options);
  }

  static async start(options: DeadLetterRateMonitorOptions): Promise<DeadLetterRateMonitor> {
    const actor = new DeadLetterRateMonitor(options);
    await actor.begin();
    return actor;
  }

  private async begin(): Promise<void> {
    const { bus } = this.options;
    this.subscription = await bus.subscribe({
      durable: this.options.durable ?? 'dead-letter-rate',
      stream: 'DEADLETTER',
      filterSubject: `${bus.subjects.namespace}dlq.>`,
      messages: ['dead_letter'],
      handler: async (letter) => {
        if (this.last?.id !== letter.id) this.last = { id: letter.id, alert: this.rate.observe(letter) };
        const { alert } = this.last;
        if (!alert) return;
        this.options.logger?.warn({ code: alert.code, labels: alert.labels }, alert.message);
        await bus.publish('alert', bus.subjects.alert(alert.severity, alert.code), alert);
      },
    });
  }

  status(): DeadLetterRateStatus {
    return { ...this.rate.counts };
  }

  async stop(): Promise<void> {
    await this.subscription?.drain();
  }
}
