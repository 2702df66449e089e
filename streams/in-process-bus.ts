// The in-process bus: the same publish/subscribe contract as JetStream, delivered synchronously in
// publish order (FIFO, breadth first), so a backtest is deterministic and runs at full speed.
// Subject filters use NATS wildcards (`*` one token, `>` the rest). A handler that throws has its
// message dead-lettered on `dlq.<subject>` with the reason, as the NATS consumer runner does.
import type { MessageName, MessageOf } from '../schemas/messages.ts';
import type { Subjects } from '../schemas/subjects.ts';
import { validateMessage } from '../schemas/validate.ts';
import type { ActorBus, MessageHandler, SubscribeOptions, Subscription } from './bus.ts';
import { buildDeadLetter } from './dead-letter.ts';

interface LocalSubscription {
  readonly filterTokens: string[];
  readonly messages: ReadonlySet<string>;
  readonly handler: MessageHandler<MessageName>;
  readonly durable: string;
  active: boolean;
}

interface Envelope {
  subject: string;
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
 * Drops an event id published again within `windowMs` of event time, as JetStream's duplicate window
 * does with Nats-Msg-Id, so both buses treat a re-publish alike. Two generations of ids, rotated each
 * window, bound the memory.
 */
class DuplicateWindow {
  private current = new Set<string>();
  private previous = new Set<string>();
  private rotateAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly windowMs: number) {}

  /** True when `id` was seen within the window; records it otherwise. */
  seen(id: string, ts: number): boolean {
    if (ts >= this.rotateAt) {
      this.previous = this.current;
      this.current = new Set();
      this.rotateAt = ts + this.windowMs;
    }
    if (this.current.has(id) || this.previous.has(id)) return true;
    this.current.add(id);
    return false;
  }
}

export interface InProcessBusOptions {
  /** Event-time span in which a re-published id is dropped; default 24 h, as the streams. */
  duplicateWindowMs?: number;
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
  private readonly duplicates: DuplicateWindow;
  /** Publishes dropped as duplicates. */
  duplicateCount = 0;

  constructor(
    readonly subjects: Subjects,
    private readonly options: InProcessBusOptions = {},
  ) {
    this.validate = options.validate ?? true;
    this.duplicates = new DuplicateWindow(options.duplicateWindowMs ?? 86_400_000);
  }

  async publish<N extends MessageName>(name: N, subject: string, event: MessageOf<N>): Promise<void> {
    if (this.validate) {
      const checked = validateMessage(name, event);
      if (!checked.ok) throw new Error(`refused to publish on ${subject}: ${checked.reason}`);
    }
    if (this.duplicates.seen(event.id, event.ts_init)) {
      this.duplicateCount++;
      return;
    }
    this.options.onPublish?.(subject, name, event as MessageOf<MessageName>);
    this.queue.push({ subject, name, event: event as MessageOf<MessageName> });
    // A handler publishing from inside dispatch just queues; the outer loop delivers it in order.
    if (!this.dispatching) await this.dispatch();
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

  private async dispatch(): Promise<void> {
    this.dispatching = true;
    try {
      while (this.head < this.queue.length) {
        const envelope = this.queue[this.head++]!;
        if (this.head > 65_536) {
          this.queue = this.queue.slice(this.head);
          this.head = 0;
        }
        const sequence = ++this.sequence;
        for (const subscription of this.route(envelope.subject)) {
          if (!subscription.messages.has(envelope.name)) continue;
          try {
            const pending = subscription.handler(envelope.event, {
              subject: envelope.subject,
              streamSequence: sequence,
              deliveryCount: 1,
            });
            if (pending) await pending;
          } catch (error) {
            this.deadLetter(
              envelope.subject,
              `handler failed: ${(error as Error).message}`,
              subscription.durable,
              JSON.stringify(envelope.event),
              envelope.event.ts_init,
              sequence,
            );
          }
        }
      }
    } finally {
      this.dispatching = false;
    }
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
