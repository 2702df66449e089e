// The in-process bus: the same publish/subscribe contract as JetStream, delivered synchronously in
// publish order (FIFO, breadth first), so a backtest is deterministic and runs at full speed.
// Subject filters use NATS wildcards (`*` one token, `>` the rest). A handler that throws has its
// message dead-lettered on `dlq.<subject>` with the reason, as the NATS consumer runner does.
import type { MessageName, MessageOf } from '../schemas/messages.ts';
import type { Subjects } from '../schemas/subjects.ts';
import { contractViolation } from '../schemas/validate.ts';
import type { ActorBus, Delivery, MessageHandler, SubscribeOptions, Subscription } from './bus.ts';
import { buildDeadLetter } from './dead-letter.ts';

interface LocalSubscription {
  readonly filterTokens: string[];
  readonly messages: ReadonlySet<string>;
  readonly handler: MessageHandler<MessageName>;
  readonly durable: string;
  active: boolean;
}

const DELIVERED: Promise<void> = Promise.resolve();

/** A queued event; once delivered it is also the Delivery its subscribers read (one object per event). */
interface Envelope extends Delivery {
  name: MessageName;
  event: MessageOf<MessageName>;
}

export function subjectMatches(filterTokens: readonly string[], subject: string): boolean {
  const tokens = subject.split('.');
  for (let index = 0; index < filterTokens.length; index++) {
    const filter = filterTokens[index];
    if (filter === '>') return tokens.length > index;
    if (index >= tokens.length) return false;
    if (filter !== '*' && filter !== tokens[index]) return false;
  }
  return tokens.length === filterTokens.length;
}

/**
 * Drops an event whose id was already published with the same `ts_init`, as JetStream's duplicate
 * window drops a repeated Nats-Msg-Id, so both buses treat a re-publish alike. A re-publish (a
 * duplicate row in a data file, an actor repeating an output) carries the same id and the same event
 * time, and a replay is time-ordered, so remembering the ids of the current instant is enough: memory
 * is bounded by one instant's events instead of a window of a tick replay's ids.
 */
class DuplicateFilter {
  private readonly ids = new Set<string>();
  private instant = Number.NaN;

  /** True when `id` was already published at `ts`; records it otherwise. */
  seen(id: string, ts: number): boolean {
    if (ts !== this.instant) {
      this.ids.clear();
      this.instant = ts;
    } else if (this.ids.has(id)) {
      return true;
    }
    this.ids.add(id);
    return false;
  }
}

export interface InProcessBusOptions {
  /** Check every published event against its contract (on by default, as the NATS publisher does). */
  validate?: boolean;
  /** Called for every event published, in order (ledgers, recorders). */
  onPublish?: (subject: string, name: MessageName, event: MessageOf<MessageName>) => void;
}

export class InProcessBus implements ActorBus {
  readonly deadLetters: ReturnType<typeof buildDeadLetter>[] = [];
  private readonly subscriptions: LocalSubscription[] = [];
  private readonly routes = new Map<string, LocalSubscription[]>();
  private queue: Envelope[] = [];
  private head = 0;
  private dispatching = false;
  private sequence = 0;
  private readonly validate: boolean;
  private readonly duplicates = new DuplicateFilter();
  /** Publishes dropped as duplicates. */
  duplicateCount = 0;

  constructor(
    readonly subjects: Subjects,
    private readonly options: InProcessBusOptions = {},
  ) {
    this.validate = options.validate ?? true;
  }

  publish<N extends MessageName>(name: N, subject: string, event: MessageOf<N>): Promise<void> {
    try {
      return this.publishNow(name, subject, event) ?? DELIVERED;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Publishes and delivers the event's whole cascade. Returns a promise only when some handler
   * returned one, so a replay driver pays nothing async for the (common) synchronous cascade.
   * Throws synchronously on a contract violation.
   */
  publishNow<N extends MessageName>(
    name: N,
    subject: string,
    event: MessageOf<N>,
  ): Promise<void> | undefined {
    if (this.validate) {
      const violation = contractViolation(name, event);
      if (violation !== undefined) throw new Error(`refused to publish on ${subject}: ${violation}`);
    }
    if (this.duplicates.seen(event.id, event.ts_init)) {
      this.duplicateCount++;
      return undefined;
    }
    this.options.onPublish?.(subject, name, event as MessageOf<MessageName>);
    this.queue.push({
      subject,
      name,
      event: event as MessageOf<MessageName>,
      streamSequence: 0,
      deliveryCount: 1,
    });
    // A handler publishing from inside dispatch just queues; the outer loop delivers it in order.
    return this.dispatching ? undefined : this.dispatch();
  }

  async subscribe<N extends MessageName>(options: SubscribeOptions<N>): Promise<Subscription> {
    const subscription: LocalSubscription = {
      filterTokens: options.filterSubject.split('.'),
      messages: new Set(options.messages),
      handler: options.handler as unknown as MessageHandler<MessageName>,
      durable: options.durable,
      active: true,
    };
    this.subscriptions.push(subscription);
    this.routes.clear();
    return {
      drain: async () => {
        subscription.active = false;
        this.routes.clear();
      },
    };
  }

  async flush(): Promise<void> {
    if (!this.dispatching) await this.dispatch();
  }

  private route(subject: string): LocalSubscription[] {
    let matched = this.routes.get(subject);
    if (!matched) {
      matched = this.subscriptions.filter((sub) => sub.active && subjectMatches(sub.filterTokens, subject));
      this.routes.set(subject, matched);
    }
    return matched;
  }

  /** Delivers the queue synchronously until a handler returns a promise, then goes on async. */
  private dispatch(): Promise<void> | undefined {
    this.dispatching = true;
    let continuesAsync = false;
    try {
      while (this.head < this.queue.length) {
        const pending = this.deliverNext();
        if (pending) {
          continuesAsync = true;
          return this.dispatchAfter(pending);
        }
      }
      return undefined;
    } finally {
      if (!continuesAsync) this.dispatching = false;
    }
  }

  private async dispatchAfter(pending: Promise<void>): Promise<void> {
    try {
      await pending;
      while (this.head < this.queue.length) {
        const next = this.deliverNext();
        if (next) await next;
      }
    } finally {
      this.dispatching = false;
    }
  }

  /** Hands the next queued event to its subscribers in order; a promise if one of them is async. */
  private deliverNext(): Promise<void> | undefined {
    const envelope = this.queue[this.head++]!;
    if (this.head > 65_536) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    const subscribers = this.route(envelope.subject);
    envelope.streamSequence = ++this.sequence;
    for (let index = 0; index < subscribers.length; index++) {
      const pending = this.deliverTo(subscribers[index]!, envelope);
      if (pending) return this.deliverRest(pending, subscribers, index + 1, envelope);
    }
    return undefined;
  }

  private async deliverRest(
    pending: Promise<void>,
    subscribers: readonly LocalSubscription[],
    from: number,
    envelope: Envelope,
  ): Promise<void> {
    await pending;
    for (let index = from; index < subscribers.length; index++) {
      const next = this.deliverTo(subscribers[index]!, envelope);
      if (next) await next;
    }
  }

  /** Runs one handler; a failure (thrown or rejected) dead-letters the event for that subscriber. */
  private deliverTo(subscription: LocalSubscription, envelope: Envelope): Promise<void> | undefined {
    if (!subscription.messages.has(envelope.name)) return undefined;
    try {
      const pending = subscription.handler(envelope.event, envelope);
      return pending
        ? pending.catch((error) => this.handlerFailed(error, subscription, envelope))
        : undefined;
    } catch (error) {
      this.handlerFailed(error, subscription, envelope);
      return undefined;
    }
  }

  private handlerFailed(error: unknown, subscription: LocalSubscription, envelope: Envelope) {
    this.deadLetter(
      envelope.subject,
      `handler failed: ${(error as Error).message}`,
      subscription.durable,
      JSON.stringify(envelope.event),
      envelope.event.ts_init,
      envelope.streamSequence,
    );
  }

  private deadLetter(
    subject: string,
    reason: string,
    consumer: string,
    payload: string,
    at: number,
    sequence?: number,
  ) {
    this.deadLetters.push(
      buildDeadLetter({
        originalSubject: subject,
        reason,
        consumer,
        payload,
        receivedAt: at,
        ...(sequence !== undefined ? { streamSequence: sequence } : {}),
      }),
    );
  }
}
