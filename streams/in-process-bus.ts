// The in-process bus: the same publish/subscribe contract as JetStream, delivered synchronously in
// publish order (FIFO, breadth first), so a backtest is deterministic and runs at full speed.
// Subject filters use NATS wildcards (`*` one token, `>` the rest). A handler that throws has its
// message dead-lettered on `dlq.<subject>` with the reason, as the NATS consumer runner does; so has
// a message that admission (streams/admission.ts) refuses, for every subscriber it would have reached.
import type { Clock } from '../core/clock.ts';
import type { MessageName, MessageOf } from '../schemas/messages.ts';
import type { Subjects } from '../schemas/subjects.ts';
import { contractViolation } from '../schemas/validate.ts';
import { type AdmissionContext, admissionFailure, DEFAULT_MAX_FUTURE_SKEW_MS } from './admission.ts';
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
  target: SubjectState;
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
 * What the bus keeps per subject, found with one lookup per publish: its subscribers, and the ids
 * published on it at its latest instant (a short list, a set once a burst is long).
 *
 * The ids drop an event whose id was already published on the same subject with the same `ts_init`,
 * as JetStream's duplicate window drops a repeated Nats-Msg-Id, so both buses treat a re-publish
 * alike. A re-publish (a duplicate row in a data file, an actor repeating an output) carries the same
 * id, subject and event time, and a replay is time-ordered, so each subject's ids of its latest
 * instant are enough: memory is bounded by the subjects, not by a window of a replay's ids. Ids are
 * compared only within a subject's instant, not hashed: hashing every freshly built id cost a tenth
 * of a tick replay.
 */
class SubjectState {
  private static readonly LIST_LIMIT = 32;
  /** The subscriptions matching this subject, as of `routeVersion`. */
  subscribers: LocalSubscription[] = [];
  routeVersion = -1;
  private instant = Number.NaN;
  /** The first `count` entries are this instant's; the rest are left over from earlier ones. */
  private readonly ids: string[] = [];
  private count = 0;
  private burst: Set<string> | undefined;

  constructor(readonly subject: string) {}

  /** True when `id` was already published here at `ts`; records it otherwise. */
  repeats(id: string, ts: number): boolean {
    if (ts !== this.instant) {
      this.instant = ts;
      this.count = 0;
      this.burst = undefined;
    } else if (this.burst) {
      return this.burst.size === this.burst.add(id).size;
    } else {
      for (let index = 0; index < this.count; index++) if (this.ids[index] === id) return true;
    }
    this.ids[this.count++] = id;
    if (this.count === SubjectState.LIST_LIMIT) this.burst = new Set(this.ids);
    return false;
  }
}

export interface InProcessBusOptions {
  /** Check every published event against its contract (on by default, as the NATS publisher does). */
  validate?: boolean;
  /** Called for every event published, in order (ledgers, recorders). */
  onPublish?: (subject: string, name: MessageName, event: MessageOf<MessageName>) => void;
  /** See AdmissionContext; a replay gives no receiving clock (its event clock is ts_init). */
  admission?: { maxFutureSkewMs?: number; receivingClock?: Clock };
}

export class InProcessBus implements ActorBus {
  readonly deadLetters: ReturnType<typeof buildDeadLetter>[] = [];
  private readonly subscriptions: LocalSubscription[] = [];
  private readonly subjectStates = new Map<string, SubjectState>();
  /** Bumped when subscriptions change; a subject's subscribers are matched again on its next event. */
  private routeVersion = 0;
  /** Events not yet delivered are `queue[head..tail)`; delivered slots are cleared at once. */
  private queue: (Envelope | undefined)[] = [];
  private head = 0;
  private tail = 0;
  private dispatching = false;
  private sequence = 0;
  private readonly validate: boolean;
  private readonly admission: AdmissionContext;
  /** Publishes dropped as duplicates. */
  duplicateCount = 0;

  constructor(
    readonly subjects: Subjects,
    private readonly options: InProcessBusOptions = {},
  ) {
    this.validate = options.validate ?? true;
    const receivingClock = options.admission?.receivingClock;
    this.admission = {
      subjects,
      maxFutureSkewMs: options.admission?.maxFutureSkewMs ?? DEFAULT_MAX_FUTURE_SKEW_MS,
      ...(receivingClock ? { receivingClock } : {}),
    };
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
    let target = this.subjectStates.get(subject);
    if (target === undefined) {
      target = new SubjectState(subject);
      this.subjectStates.set(subject, target);
    }
    if (target.repeats(event.id, event.ts_init)) {
      this.duplicateCount++;
      return undefined;
    }
    this.options.onPublish?.(subject, name, event as MessageOf<MessageName>);
    this.queue[this.tail++] = {
      subject,
      name,
      event: event as MessageOf<MessageName>,
      target,
      streamSequence: 0,
      deliveryCount: 1,
    };
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
    this.routeVersion++;
    return {
      drain: async () => {
        subscription.active = false;
        this.routeVersion++;
      },
    };
  }

  async flush(): Promise<void> {
    if (!this.dispatching) await this.dispatch();
  }

  private subscribersOf(target: SubjectState): LocalSubscription[] {
    if (target.routeVersion !== this.routeVersion) {
      target.subscribers = this.subscriptions.filter(
        (sub) => sub.active && subjectMatches(sub.filterTokens, target.subject),
      );
      target.routeVersion = this.routeVersion;
    }
    return target.subscribers;
  }

  /** Delivers the queue synchronously until a handler returns a promise, then goes on async. */
  private dispatch(): Promise<void> | undefined {
    this.dispatching = true;
    let continuesAsync = false;
    try {
      while (this.head < this.tail) {
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
      while (this.head < this.tail) {
        const next = this.deliverNext();
        if (next) await next;
      }
    } finally {
      this.dispatching = false;
    }
  }

  /** Hands the next queued event to its subscribers in order; a promise if one of them is async. */
  private deliverNext(): Promise<void> | undefined {
    const envelope = this.queue[this.head]!;
    // Cleared at once: a delivered envelope left in the queue would outlive its cascade and be copied
    // and promoted by the GC.
    this.queue[this.head++] = undefined;
    if (this.head === this.tail) {
      this.head = 0;
      this.tail = 0;
    } else if (this.head > 65_536) {
      // A queue that never drains (handlers that keep going async) is compacted now and then.
      this.queue = this.queue.slice(this.head, this.tail);
      this.tail -= this.head;
      this.head = 0;
    }
    const subscribers = this.subscribersOf(envelope.target);
    envelope.streamSequence = ++this.sequence;
    // Checked once per event where JetStream's consumers each check their copy: the same verdict.
    const refused = admissionFailure(envelope.subject, envelope.event, this.admission);
    if (refused !== undefined) {
      this.refuse(refused, subscribers, envelope);
      return undefined;
    }
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

  /** Dead-letters a refused event once for every subscriber it would have been handed to. */
  private refuse(reason: string, subscribers: readonly LocalSubscription[], envelope: Envelope) {
    const receivedAt = this.admission.receivingClock?.now() ?? envelope.event.ts_init;
    for (const subscription of subscribers) {
      if (!subscription.messages.has(envelope.name)) continue;
      this.deadLetter(
        envelope.subject,
        reason,
        subscription.durable,
        JSON.stringify(envelope.event),
        receivedAt,
        envelope.streamSequence,
      );
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
