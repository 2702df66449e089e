// The watchdog of a `sluice run` process over its consumers: one held up by the same message (a handler
// retried in place, a dead letter that cannot be stored, a checkpoint waiting on the database) for
// longer than `stuckAfterMs` raises alert.critical.consumer_stuck once for that message, turns /ready
// false while it lasts, and shows in /metrics as sluice_consumer_blocked_seconds. Bad input is meant
// to be dead-lettered, never to block; this is how an operator learns when something still does.
import { Gauge, type Registry } from 'prom-client';
import type { Clock } from '../../core/clock.ts';
import type { Logger } from '../../core/logger.ts';
import type { Alert } from '../../schemas/messages.ts';
import type { BlockedConsumer } from '../../streams/consumer-runner.ts';

export const CONSUMER_STUCK_CODE = 'consumer_stuck';

export interface StuckConsumerWatchOptions {
  /** The consumers held up by a message now (NatsActorBus.blockedConsumers). */
  blocked: (now: number) => BlockedConsumer[];
  stuckAfterMs: number;
  /** How often to look; default a quarter of stuckAfterMs, at most 5 s. */
  checkEveryMs?: number;
  publishAlert: (alert: Alert) => Promise<void>;
  /** Wall clock: how long a consumer has waited, and the alert's time. */
  clock: Clock;
  registry: Registry;
  logger?: Logger;
}

export class StuckConsumerWatch {
  private stuck: BlockedConsumer[] = [];
  private latest: BlockedConsumer[] = [];
  /** `consumer:sequence` of each stuck message alerted on, while it stays stuck. */
  private alerted = new Set<string>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly options: StuckConsumerWatchOptions) {
    const every = options.checkEveryMs ?? Math.min(5_000, Math.max(100, options.stuckAfterMs / 4));
    this.timer = setInterval(() => this.check(), every);
    this.timer.unref();
    const gauge: Gauge = new Gauge({
      name: 'sluice_consumer_blocked_seconds',
      help: 'How long a consumer has been held up by the same message (0 when it is not)',
      labelNames: ['consumer'],
      registers: [options.registry],
      collect: () => {
        gauge.reset();
        for (const blocked of this.latest) gauge.set({ consumer: blocked.consumer }, blocked.forMs / 1000);
      },
    });
  }

  /** Why /ready is false: one line per stuck consumer. */
  reasons(): string[] {
    return this.stuck.map(describe);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private check(): void {
    const now = this.options.clock.now();
    this.latest = this.options.blocked(now);
    this.stuck = this.latest.filter((blocked) => blocked.forMs >= this.options.stuckAfterMs);
    const stillStuck = new Set<string>();
    for (const blocked of this.stuck) {
      const key = `${blocked.consumer}:${blocked.streamSequence}`;
      stillStuck.add(key);
      if (this.alerted.has(key)) continue;
      const alert = this.alertFor(blocked, now);
      this.options.logger?.error({ code: alert.code, labels: alert.labels }, alert.message);
      this.options
        .publishAlert(alert)
        .catch((error: unknown) =>
          this.options.logger?.error({ err: error }, 'could not publish the consumer_stuck alert'),
        );
    }
    this.alerted = stillStuck;
  }

  private alertFor(blocked: BlockedConsumer, now: number): Alert {
    return {
      schema: 'alert.v1',
      id: `${CONSUMER_STUCK_CODE}:${blocked.consumer}:${blocked.streamSequence}`,
      ts_event: now,
      ts_init: now,
      severity: 'critical',
      code: CONSUMER_STUCK_CODE,
      message: `${describe(blocked)}; the messages behind it wait (threshold ${this.options.stuckAfterMs} ms)`,
      source: blocked.consumer,
      dedupe_key: `${CONSUMER_STUCK_CODE}:${blocked.consumer}`,
      labels: {
        consumer: blocked.consumer,
        subject: blocked.subject,
        stream_sequence: String(blocked.streamSequence),
        stuck_ms: String(Math.round(blocked.forMs)),
      },
    };
  }
}

function describe(blocked: BlockedConsumer): string {
  return `consumer ${blocked.consumer} stuck on ${blocked.subject} (stream sequence ${blocked.streamSequence}) for ${Math.round(blocked.forMs / 1000)} s`;
}
