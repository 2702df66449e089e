// Publishes contract-checked events to JetStream. Each event's deterministic id becomes its
// Nats-Msg-Id, so a re-publish (ingest re-run, crash recovery) is dropped by the server as a
// duplicate. Acks are pipelined: up to `window` publishes are in flight, awaited in order.
import type { JetStreamClient, PubAck } from '@nats-io/jetstream';
import type { MessageName, MessageOf } from '../schemas/messages.ts';
import { validateMessage } from '../schemas/validate.ts';

export class InvalidMessageError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'InvalidMessageError';
  }
}

export interface PublishStats {
  /** Stored by the stream as new messages. */
  published: number;
  /** Dropped by the stream because the same id was published inside the duplicate window. */
  duplicates: number;
}

export interface PublisherOptions {
  /** Publishes awaiting their ack before the next publish waits. */
  window?: number;
  /** Retries of one publish that timed out (e.g. across a reconnect); safe because of Nats-Msg-Id. */
  retries?: number;
}

export class EventPublisher {
  readonly stats: PublishStats = { published: 0, duplicates: 0 };
  private readonly window: number;
  private readonly retries: number;
  private inFlight: Promise<PubAck>[] = [];
  private head = 0;

  constructor(
    private readonly jetstream: JetStreamClient,
    options: PublisherOptions = {},
  ) {
    this.window = options.window ?? 512;
    this.retries = options.retries ?? 5;
  }

  /**
   * Validates and publishes; resolves once the event is queued (not yet acknowledged). Throws
   * InvalidMessageError for an event that breaks its contract, before anything is sent.
   */
  async publish<N extends MessageName>(name: N, subject: string, event: MessageOf<N>): Promise<void> {
    const checked = validateMessage(name, event);
    if (!checked.ok) throw new InvalidMessageError(checked.reason);
    await this.publishChecked(subject, event.id, JSON.stringify(event));
  }

  /** For payloads already validated by the caller (e.g. forwarding), and for dead letters. */
  async publishChecked(subject: string, id: string, payload: string): Promise<void> {
    if (this.inFlight.length - this.head >= this.window) await this.settleOldest();
    this.inFlight.push(this.publishWithRetry(subject, id, payload));
  }

  /** Waits for every queued publish to be acknowledged. */
  async flush(): Promise<PublishStats> {
    while (this.head < this.inFlight.length) await this.settleOldest();
    return { ...this.stats };
  }

  private async settleOldest(): Promise<void> {
    const oldest = this.inFlight[this.head];
    this.head++;
    if (this.head > 4096) {
      this.inFlight = this.inFlight.slice(this.head);
      this.head = 0;
    }
    const ack = await oldest;
    if (ack?.duplicate) this.stats.duplicates++;
    else this.stats.published++;
  }

  private async publishWithRetry(subject: string, id: string, payload: string): Promise<PubAck> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.jetstream.publish(subject, payload, { msgID: id });
      } catch (error) {
        if (attempt >= this.retries) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
      }
    }
  }
}
