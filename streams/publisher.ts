// Publishes contract-checked events to JetStream. Each event's deterministic id becomes its
// Nats-Msg-Id, so a re-publish (ingest re-run, crash recovery) is dropped by the server as a
// duplicate. Acks are pipelined: up to `window` publishes are in flight, awaited in order.
import type { JetStreamClient, PubAck } from '@nats-io/jetstream';
import type { MessageName, MessageOf } from '../schemas/messages.ts';
import { validateMessage } from '../schemas/validate.ts';
import { connectionOf, maxPayload } from './connection.ts';

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
  /**
   * How long one publish keeps being retried (timeouts across a reconnect or a stream leader
   * election, which takes seconds on a cluster); safe because of Nats-Msg-Id. Default 30 s.
   */
  retryForMs?: number;
}

export class EventPublisher {
  readonly stats: PublishStats = { published: 0, duplicates: 0 };
  private readonly window: number;
  private readonly retryForMs: number;
  /** Whether the previous publish got through, once it settles: a retry waits for it (publish order). */
  private previous: Promise<boolean> = Promise.resolve(true);
  private inFlight: Promise<PubAck>[] = [];
  private head = 0;

  constructor(
    private readonly jetstream: JetStreamClient,
    options: PublisherOptions = {},
  ) {
    this.window = options.window ?? 512;
    this.retryForMs = options.retryForMs ?? 30_000;
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
    const publishing = this.publishWithRetry(subject, id, payload, this.previous);
    this.previous = publishing.then(
      () => true,
      () => false,
    );
    this.inFlight.push(publishing);
  }

  /** The largest message the server takes (its max_payload), for callers that must fit under it. */
  get maxPayload(): number {
    return maxPayload(connectionOf(this.jetstream));
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

  private async publishWithRetry(
    subject: string,
    id: string,
    payload: string,
    previous: Promise<boolean>,
  ): Promise<PubAck> {
    const giveUpAt = performance.now() + this.retryForMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.jetstream.publish(subject, payload, { msgID: id });
      } catch (error) {
        if (performance.now() >= giveUpAt) throw error;
        // Let the earlier publish settle first: its retry goes out before ours, so the stream keeps
        // publish order even when a failover fails a whole window of publishes. Once it got through,
        // the stream is back: retry at once rather than back off behind every publish of the window.
        const previousGotThrough = await previous;
        if (!(previousGotThrough && attempt === 0)) {
          await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 100 * 2 ** attempt)));
        }
      }
    }
  }
}
