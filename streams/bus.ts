// The one interface actors talk to: publish an event on a subject, subscribe a handler to a subject
// filter. NatsActorBus runs it on JetStream (live, and backtests via NATS on `bt.<run>.` subjects);
// InProcessBus runs the same actors at full speed in one process. Actor code cannot tell them apart.
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from '../core/logger.ts';
import type { MessageName, MessageOf } from '../schemas/messages.ts';
import type { StreamName, Subjects } from '../schemas/subjects.ts';
import {
  type BlockedConsumer,
  ConsumerRunner,
  type ConsumerRunnerOptions,
  type Delivery,
  type MessageHandler,
} from './consumer-runner.ts';
import { buildDeadLetter } from './dead-letter.ts';
import { EventPublisher } from './publisher.ts';
import { streamName } from './topology.ts';

export type { Delivery, MessageHandler } from './consumer-runner.ts';

export interface SubscribeOptions<N extends MessageName> {
  /** Durable consumer name: a restarted actor resumes where this name stopped. */
  durable: string;
  stream: StreamName;
  filterSubject: string;
  messages: readonly N[];
  handler: MessageHandler<N>;
  /** Unacknowledged messages in flight before the server waits (backpressure). */
  maxAckPending?: number;
  /** See DurableConsumerSpec.exclusive: one reader at a time, cumulative acknowledgements. */
  exclusive?: boolean;
  /** See ConsumerRunnerOptions.rebuild: replays already-handled history after a restart. */
  rebuild?: MessageHandler<N>;
  /** See ConsumerRunnerOptions.checkpoint: acknowledge only after outputs are durable. */
  checkpoint?: () => Promise<void>;
  /** See ConsumerRunnerOptions.epoch: this turn of work owned by one instance at a time. */
  epoch?: number;
  /** See ConsumerRunnerOptions.active: whether this instance still owns the work. */
  active?: () => boolean;
}

export interface Subscription {
  /** Stops taking messages; the one being handled finishes first. */
  drain(): Promise<void>;
}

export interface ActorBus {
  readonly subjects: Subjects;
  publish<N extends MessageName>(name: N, subject: string, event: MessageOf<N>): Promise<void>;
  subscribe<N extends MessageName>(options: SubscribeOptions<N>): Promise<Subscription>;
  /** Resolves when everything published so far is stored (NATS) or delivered (in-process). */
  flush(): Promise<void>;
}

/**
 * Copies a message an actor decoded and handled but refuses (a forged intent, a vector of the wrong
 * shape) to the dead-letter stream with the reason, as the consumer does with undecodable input.
 */
export function publishRefused(
  bus: ActorBus,
  delivery: Delivery,
  refusal: { reason: string; consumer: string; payload: unknown; receivedAt: number },
): Promise<void> {
  return bus.publish(
    'dead_letter',
    bus.subjects.deadLetter(delivery.subject),
    buildDeadLetter({
      originalSubject: delivery.subject,
      reason: refusal.reason,
      consumer: refusal.consumer,
      payload: JSON.stringify(refusal.payload),
      receivedAt: refusal.receivedAt,
      streamSequence: delivery.streamSequence,
      deliveryCount: delivery.deliveryCount,
    }),
  );
}

/**
 * The subscribe option that acknowledges input only after `storeRows` has made the rows it caused
 * durable and the bus has confirmed what the handler published; none (acknowledge when handled)
 * when there are no rows to store.
 */
export function checkpointAfterStoring(
  bus: ActorBus,
  storeRows: (() => Promise<void>) | undefined,
): { checkpoint?: () => Promise<void> } {
  if (storeRows === undefined) return {};
  return {
    checkpoint: async () => {
      await storeRows();
      await bus.flush();
    },
  };
}

export interface NatsBusTuning {
  /** See ConsumerRunnerOptions.idleCheckpointMs. */
  idleCheckpointMs?: number;
  /** How long a delivered message may stay unacknowledged before redelivery (an ack lost in a crash). */
  ackWaitMs?: number;
  /** See ConsumerRunnerOptions.admission. */
  admission?: ConsumerRunnerOptions<MessageName>['admission'];
}

export class NatsActorBus implements ActorBus {
  private readonly publisher: EventPublisher;
  private readonly runners: ConsumerRunner<MessageName>[] = [];

  constructor(
    private readonly jetstream: JetStreamClient,
    private readonly manager: JetStreamManager,
    readonly subjects: Subjects,
    private readonly logger?: Logger,
    private readonly tuning: NatsBusTuning = {},
  ) {
    this.publisher = new EventPublisher(jetstream);
  }

  publish<N extends MessageName>(name: N, subject: string, event: MessageOf<N>): Promise<void> {
    return this.publisher.publish(name, subject, event);
  }

  async subscribe<N extends MessageName>(options: SubscribeOptions<N>): Promise<Subscription> {
    const runner = new ConsumerRunner<N>({
      consumer: {
        stream: streamName(options.stream, this.subjects.namespace),
        durable: options.durable,
        filterSubject: options.filterSubject,
        ...(options.maxAckPending !== undefined ? { maxAckPending: options.maxAckPending } : {}),
        ...(options.exclusive ? { exclusive: true } : {}),
        ...(this.tuning.ackWaitMs !== undefined ? { ackWaitMs: this.tuning.ackWaitMs } : {}),
      },
      messages: options.messages,
      handler: options.handler,
      ...(options.rebuild ? { rebuild: options.rebuild } : {}),
      ...(options.checkpoint ? { checkpoint: options.checkpoint } : {}),
      ...(options.epoch !== undefined ? { epoch: options.epoch } : {}),
      ...(options.active ? { active: options.active } : {}),
      ...(this.tuning.admission ? { admission: this.tuning.admission } : {}),
      ...(this.tuning.idleCheckpointMs !== undefined
        ? { idleCheckpointMs: this.tuning.idleCheckpointMs }
        : {}),
      publisher: this.publisher,
      subjects: this.subjects,
      ...(this.logger ? { logger: this.logger } : {}),
    });
    await runner.start(this.jetstream, this.manager);
    this.runners.push(runner as unknown as ConsumerRunner<MessageName>);
    return runner;
  }

  async flush(): Promise<void> {
    await this.publisher.flush();
  }

  /** The consumers held up by one message at `now` (see ConsumerRunner.blocked). */
  blockedConsumers(now: number): BlockedConsumer[] {
    const blocked: BlockedConsumer[] = [];
    for (const runner of this.runners) {
      const held = runner.blocked(now);
      if (held) blocked.push(held);
    }
    return blocked;
  }

  /** Drains every subscription, then waits for outstanding publishes. */
  async close(): Promise<void> {
    for (const runner of this.runners) await runner.drain();
    await this.publisher.flush();
  }
}
