// Runs one durable pull consumer: decode + validate each message, hand it to the actor's handler
// one at a time (so per-symbol order holds), then ack. Bad input never stops the loop:
//  - undecodable / schema-invalid messages, and those admission refuses (streams/admission.ts: a
//    schema its subject does not carry, a body not of its subject's symbol or partition, a time too
//    far ahead), are dead-lettered with the reason and terminated;
//  - a handler error naks with backoff, and after maxDeliver attempts the message is dead-lettered.
// In-flight work is bounded by the consumer's max_ack_pending (server side) and the pull batch.
//
// An exclusive consumer (one reader at a time) acknowledges cumulatively: one ack for everything
// handled up to a checkpoint, which costs the server and the client far less than an ack per
// message. A later ack would cover an earlier message waiting for redelivery, so there a failing
// handler is retried in place with the same backoff (the messages behind it wait, in order), and a
// dead letter, once stored, counts as handled.
//
// Terminating a dead-lettered message (shared consumers): `+TERM <reason>` only from nats-server
// 2.10.4 on; an older server (2.9.10 here) reads it as no acknowledgement and redelivers the message
// after ack_wait, so there the runner sends a plain `+TERM` (the reason is in the dead letter anyway).
//
// Being stuck is visible: `blocked()` tells how long the runner has been held up by one message
// (handling or retrying it, or the checkpoint after it), so the process can alert and turn unready,
// and drain() stops a retry in place at once, leaving the message for redelivery.
//
// One at a time (see `oneAtATime`): a work queue of long jobs (sweeps) pulls the next message only
// once the last is handled, and keeps the one in hand alive with "working" while its handler runs, so
// no job waits in one worker's buffer while another worker is idle, or is redelivered mid-run.
//
// Owned work (see `epoch`): when instances take turns on the same work (a partition leased to one
// instance at a time), each turn gets a durable consumer of its own, `<durable>-e<epoch>`, which
// resumes after the acknowledged floor of the earlier turns' consumers and deletes them. An instance
// that lost the work can then no longer pull any of it: its pull requests name a consumer that is
// gone. (Re-creating the same name instead would hand the new consumer's messages to whichever
// instance pulls first, splitting a partition's stream and its per-symbol order.)
import {
  AckPolicy,
  type Consumer,
  type ConsumerInfo,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import type { MessageName, MessageOf } from '../schemas/messages.ts';
import type { Subjects } from '../schemas/subjects.ts';
import { type Decoded, decodeMessage, decodeOneOf } from '../schemas/validate.ts';
import { type AdmissionContext, admissionFailure, DEFAULT_MAX_FUTURE_SKEW_MS } from './admission.ts';
import { connectionOf, termTakesReason } from './connection.ts';
import { type DeadLetterInput, sendToDeadLetter } from './dead-letter.ts';
import { isConnectionClosed } from './nats-errors.ts';
import type { EventPublisher } from './publisher.ts';
import {
  acknowledgedFloor,
  applyConsumer,
  DEFAULT_ACK_WAIT_MS,
  type DurableConsumerSpec,
} from './topology.ts';

export interface Delivery {
  subject: string;
  streamSequence: number;
  deliveryCount: number;
  /**
   * Copies this message, already handled, to the dead-letter stream with the reason, when an output
   * it caused is refused for good (a row the database cannot store). Once per message, however often
   * it is called; the message still counts as handled. Absent where no dead-letter stream is kept.
   */
  deadLetter?: (reason: string) => Promise<void>;
}

/** A consumer held up by one message, as `ConsumerRunner.blocked` reports it. */
export interface BlockedConsumer {
  consumer: string;
  subject: string;
  streamSequence: number;
  /** How long it has been held up, at least. */
  forMs: number;
}

/** The Delivery a runner hands its handler; deadLetter reaches back to the runner and the message. */
class RunnerDelivery implements Delivery {
  constructor(
    readonly subject: string,
    readonly streamSequence: number,
    readonly deliveryCount: number,
    private readonly message: JsMsg,
    private readonly deadLetterHandled: (message: JsMsg, reason: string) => Promise<void>,
  ) {}

  deadLetter(reason: string): Promise<void> {
    return this.deadLetterHandled(this.message, reason);
  }
}

export type Handler<M> = (message: M, delivery: Delivery) => void | Promise<void>;
export type MessageHandler<N extends MessageName> = Handler<MessageOf<N>>;

/** A message's bytes as the handler takes them, or why they cannot be handled (dead-lettered). */
export type Decoder<M> = (subject: string, data: Uint8Array) => Decoded<M>;

/** What a runner of messages of type M needs; ConsumerRunnerOptions fills `decode` from contracts. */
export interface PullRunnerOptions<M> {
  consumer: DurableConsumerSpec;
  decode: Decoder<M>;
  handler: Handler<M>;
  /** Used to publish dead letters. */
  publisher: EventPublisher;
  subjects: Subjects;
  /**
   * Pull the next message only once the last one is handled (and acknowledged), and send "working"
   * every ack_wait / 3 while its handler runs: for long jobs shared by several workers (see the top).
   */
  oneAtATime?: boolean;
  /** Nak delay per delivery attempt (the last value repeats). */
  backoffMs?: readonly number[];
  /** Messages pulled per request. */
  batch?: number;
  /**
   * Rebuilds in-memory state after a restart: every message this durable consumer had already
   * acknowledged is replayed here (decoded, in stream order) before live delivery resumes, so an
   * actor whose state is cheap to recompute needs no snapshot. Outputs must be suppressed by the
   * caller while rebuilding.
   */
  rebuild?: Handler<M>;
  /**
   * Makes the handler's outputs durable (flush buffered DB rows and publishes). When given, messages
   * are acknowledged only after a checkpoint — every `checkpointEvery` messages, and whenever no
   * more messages are waiting — so a crash can lose no output whose input was acknowledged.
   */
  checkpoint?: () => Promise<void>;
  checkpointEvery?: number;
  /** Quiet time before handled messages are checkpointed and acknowledged; default 20 ms. */
  idleCheckpointMs?: number;
  /**
   * This turn of owned work (e.g. the lease term of a partition): the durable consumer is named
   * `<durable>-e<epoch>` and takes over from `<durable>` and every `<durable>-e<n>` over the same
   * filter (see the note at the top). Dead letters keep the plain durable name, so their ids do not
   * change between turns.
   */
  epoch?: number;
  /**
   * Whether this instance still owns the work (e.g. `election.isLeader`). Checked before each
   * message: once false, the message is left unacknowledged for the new owner and the runner stops
   * pulling for good (what it handled before is still checkpointed and acknowledged).
   */
  active?: () => boolean;
  logger?: Logger;
}

export interface ConsumerRunnerOptions<N extends MessageName>
  extends Omit<PullRunnerOptions<MessageOf<N>>, 'decode' | 'handler' | 'rebuild'> {
  /** Contracts accepted on the filtered subjects; several are told apart by their schema tag. */
  messages: readonly N[];
  handler: MessageHandler<N>;
  rebuild?: MessageHandler<N>;
  /** See AdmissionContext: live mode gives its receiving clock; skew defaults to a day. */
  admission?: { maxFutureSkewMs?: number; receivingClock?: Clock };
}

export interface ConsumerStats {
  processed: number;
  deadLettered: number;
  retried: number;
}

const DEFAULT_BACKOFF_MS = [100, 500, 2_000, 5_000] as const;

/**
 * Decodes a message against the contracts `messages` and admits it (streams/admission.ts): what a
 * consumer of pipeline events hands its handler.
 */
function contractDecoder<N extends MessageName>(
  messages: readonly N[],
  admission: ConsumerRunnerOptions<N>['admission'],
  subjects: Subjects,
): Decoder<MessageOf<N>> {
  const [only] = messages;
  const decode =
    messages.length === 1 && only !== undefined
      ? (bytes: Uint8Array) => decodeMessage(only, bytes)
      : (bytes: Uint8Array) => decodeOneOf(messages, bytes);
  const receivingClock = admission?.receivingClock;
  const context: AdmissionContext = {
    subjects,
    maxFutureSkewMs: admission?.maxFutureSkewMs ?? DEFAULT_MAX_FUTURE_SKEW_MS,
    ...(receivingClock ? { receivingClock } : {}),
  };
  return (subject, data) => {
    const decoded = decode(data);
    if (!decoded.ok) return decoded;
    const refused = admissionFailure(subject, decoded.value, context);
    return refused === undefined ? decoded : { ok: false, reason: refused };
  };
}

/** Runs one durable pull consumer of messages of type M (see the top). */
export class PullRunner<M> {
  readonly stats: ConsumerStats = { processed: 0, deadLettered: 0, retried: 0 };
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private readonly maxDeliver: number;
  private readonly cumulative: boolean;
  /** The consumer as applied: the durable name carries the epoch, if any. */
  private readonly consumer: DurableConsumerSpec;
  /** Whether the server takes `+TERM <reason>` (see the note at the top). */
  private termWithReason = false;
  /** The message being handled (or checkpointed after), undefined while waiting for messages. */
  private current: JsMsg | undefined;
  /** The last message of a checkpoint under way (an idle checkpoint runs beside the loop). */
  private checkpointing: JsMsg | undefined;
  /** The message `blocked()` saw last, and when it first saw it. */
  private watched: { message: JsMsg; since: number } | undefined;
  /** Handled messages already copied to the dead-letter stream by Delivery.deadLetter. */
  private readonly lettered = new WeakSet<JsMsg>();
  /** Resolves when drain() is called: retries waiting in place stop waiting. */
  private readonly drained: Promise<void>;
  private resolveDrained: () => void = () => {};

  constructor(private readonly options: PullRunnerOptions<M>) {
    this.maxDeliver = options.consumer.maxDeliver ?? 5;
    this.cumulative = options.consumer.exclusive ?? false;
    this.consumer =
      options.epoch === undefined
        ? options.consumer
        : { ...options.consumer, durable: `${options.consumer.durable}-e${options.epoch}` };
    this.drained = new Promise((resolve) => {
      this.resolveDrained = resolve;
    });
  }

  get name(): string {
    return this.consumer.durable;
  }

  /** Applies the durable consumer, rebuilds state if asked, and starts pulling. */
  async start(jetstream: JetStreamClient, manager: JetStreamManager): Promise<void> {
    const connection = connectionOf(jetstream);
    this.termWithReason = connection !== undefined && termTakesReason(connection);
    const resumeAfter = await this.resume(jetstream, manager);
    await applyConsumer(
      manager,
      resumeAfter === undefined
        ? this.consumer
        : {
            ...this.consumer,
            deliverPolicy: DeliverPolicy.StartSequence,
            optStartSeq: resumeAfter + 1,
          },
    );
    this.loop = this.consumeUntilDrained(jetstream);
    await this.consuming;
  }

  private consuming: Promise<void> | undefined;

  /**
   * Pulls until drained or the connection closes. If the pull loop fails (the consumer deleted under
   * us, a server gone for a while) it starts again after a pause instead of taking the actor down;
   * unacknowledged messages are redelivered to the new loop.
   */
  private async consumeUntilDrained(jetstream: JetStreamClient): Promise<void> {
    const { stream, durable } = this.consumer;
    let started: () => void = () => {};
    this.consuming = new Promise((resolve) => {
      started = resolve;
    });
    for (;;) {
      try {
        const consumer = await jetstream.consumers.get(stream, durable);
        if (this.options.oneAtATime) {
          this.pulling = true;
          started();
          await this.pullOneAtATime(consumer);
          return;
        }
        this.messages = await consumer.consume({ max_messages: this.options.batch ?? 256 });
        started();
        await this.run(this.messages);
        return;
      } catch (error) {
        started();
        if (this.draining || !this.owned() || isConnectionClosed(error)) return;
        this.options.logger?.error({ err: error, durable }, 'pull loop failed; starting again in 1 s');
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    }
  }

  /**
   * Graceful stop: no new pulls, the message being handled finishes and is acked, and messages
   * pulled but not yet handled are nak'ed at once so another instance (or a restart) gets them.
   */
  async drain(): Promise<void> {
    if (!this.messages && !this.pulling) return;
    this.draining = true;
    this.resolveDrained();
    this.messages?.stop();
    await this.loop;
  }

  /** Resolves once the runner pulls no more: drained, no longer `active`, or its connection closed. */
  async stopped(): Promise<void> {
    await this.loop;
  }

  /**
   * The message this runner is held up by, if the last call saw the same one: handling it, retrying
   * it in place or checkpointing after it. `now` is any monotonic clock in ms (the caller's watchdog
   * polls); the time counts from the first call that saw the message, so it is at least one poll short.
   */
  blocked(now: number): BlockedConsumer | undefined {
    const message = this.current ?? this.checkpointing;
    if (message === undefined) {
      this.watched = undefined;
      return undefined;
    }
    if (this.watched?.message !== message) this.watched = { message, since: now };
    return {
      consumer: this.consumer.durable,
      subject: message.subject,
      streamSequence: message.seq,
      forMs: now - this.watched.since,
    };
  }

  /** Waits `ms`, or less when drain() is called meanwhile. */
  private async pause(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise((resolve) => {
        timer = setTimeout(resolve, ms);
      }),
      this.drained,
    ]);
    clearTimeout(timer);
  }

  private draining = false;
  /** Pulling one at a time (oneAtATime), rather than through `messages`. */
  private pulling = false;

  private owned(): boolean {
    return this.options.active?.() ?? true;
  }

  /** Handled messages waiting for the next checkpoint before they are acknowledged. */
  private unacknowledged: JsMsg[] = [];

  private idleCheckpoint: NodeJS.Timeout | undefined;
  /** When the last message was handled (performance.now()), for the idle checkpoint. */
  private lastHandledAt = 0;

  /**
   * Checkpoints once no message has been handled for idleCheckpointMs. One timer serves a whole
   * stream of messages: when it fires early it re-arms for the rest of the quiet span, rather than
   * being cleared and set again for every message.
   */
  private armIdleCheckpoint(): void {
    if (this.idleCheckpoint !== undefined) return;
    const idleMs = this.options.idleCheckpointMs ?? 20;
    const fire = () => {
      this.idleCheckpoint = undefined;
      const quietFor = performance.now() - this.lastHandledAt;
      if (quietFor < idleMs) {
        this.idleCheckpoint = setTimeout(fire, idleMs - quietFor);
        return;
      }
      this.checkpointAndAck().catch((error) =>
        this.options.logger?.error({ err: error }, 'checkpoint failed'),
      );
    };
    this.idleCheckpoint = setTimeout(fire, idleMs);
  }

  /** Acks what was handled before the call, once the checkpoint has made its outputs durable. */
  private async checkpointAndAck(): Promise<void> {
    clearTimeout(this.idleCheckpoint);
    this.idleCheckpoint = undefined;
    if (this.unacknowledged.length === 0) return;
    const handled = this.unacknowledged;
    this.unacknowledged = [];
    this.checkpointing = handled[handled.length - 1];
    try {
      await this.options.checkpoint?.();
    } finally {
      this.checkpointing = undefined;
    }
    if (this.cumulative) handled[handled.length - 1]?.ack();
    else for (const message of handled) message.ack();
  }

  /**
   * Where to resume: after the acknowledged floor of this consumer (rebuild) or of the earlier turns'
   * consumers it replaces (epoch); undefined to create or keep the consumer as it is. With rebuild,
   * the acknowledged history is replayed to it first.
   */
  private async resume(jetstream: JetStreamClient, manager: JetStreamManager): Promise<number | undefined> {
    const { rebuild, epoch } = this.options;
    if (!rebuild && epoch === undefined) return undefined;
    const { stream, durable, filterSubject } = this.consumer;
    const existing = await manager.consumers.info(stream, durable).catch(() => undefined);
    const predecessors = epoch === undefined ? [] : await this.predecessors(manager);
    const previous = existing ? [existing, ...predecessors] : predecessors;
    if (previous.length === 0) return undefined;
    // The lowest floor: an earlier owner may have acknowledged more since we read its floor, and
    // handling a message twice only repeats outputs with the same ids.
    const acknowledgedUpTo = Math.min(...previous.map(acknowledgedFloor));
    // With a rebuild the consumer is made again to start right after the replayed history.
    if (existing && rebuild) await manager.consumers.delete(stream, durable);
    if (predecessors.length > 0) {
      // Ours first, then theirs gone: a crash in between leaves a consumer to resume from.
      if (!existing || rebuild)
        await applyConsumer(manager, {
          ...this.consumer,
          deliverPolicy: DeliverPolicy.StartSequence,
          optStartSeq: acknowledgedUpTo + 1,
        });
      for (const predecessor of predecessors)
        await manager.consumers.delete(stream, predecessor.name).catch(() => false);
      this.options.logger?.info(
        { durable, replaced: predecessors.map((p) => p.name), acknowledgedUpTo },
        'took over the work of earlier consumers',
      );
    }
    if (!rebuild) return existing ? undefined : acknowledgedUpTo;
    if (acknowledgedUpTo === 0) return 0;
    // An ephemeral, unacknowledged consumer over the same filter reads the history once.
    const replay = await manager.consumers.add(stream, {
      filter_subject: filterSubject,
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.All,
      inactive_threshold: nanos(60_000),
    });
    try {
      // The floor need not be a message of this filter: once a consumer has caught up, the server
      // moves its floor over the other subjects' messages up to the stream's last. So the replay ends
      // at the floor or at the last matching message there is, whichever comes first.
      if (replay.num_pending > 0) {
        const consumer = await jetstream.consumers.get(stream, replay.name);
        const messages = await consumer.consume({ max_messages: 1_000 });
        for await (const message of messages) {
          if (message.seq > acknowledgedUpTo) break;
          const decoded = this.options.decode(message.subject, message.data);
          // What was dead-lettered then is left out now, so the state rebuilt is the state it had.
          if (decoded.ok) {
            const pending = rebuild(decoded.value, {
              subject: message.subject,
              streamSequence: message.seq,
              deliveryCount: 1,
            });
            if (pending) await pending;
          }
          if (message.seq === acknowledgedUpTo || message.info.pending === 0) break;
        }
        messages.stop();
      }
    } finally {
      await manager.consumers.delete(stream, replay.name).catch(() => false);
    }
    this.options.logger?.info({ durable, acknowledgedUpTo }, 'state rebuilt from acknowledged history');
    return acknowledgedUpTo;
  }

  /** Earlier turns' consumers of this work: `<durable>` or `<durable>-e<n>` over the same filter. */
  private async predecessors(manager: JetStreamManager): Promise<ConsumerInfo[]> {
    const base = this.options.consumer.durable;
    const { stream, durable, filterSubject } = this.consumer;
    const found: ConsumerInfo[] = [];
    for await (const info of manager.consumers.list(stream)) {
      const name = info.name;
      const sameWork =
        name === base || (name.startsWith(`${base}-e`) && /^\d+$/.test(name.slice(base.length + 2)));
      if (sameWork && name !== durable && info.config.filter_subject === filterSubject) found.push(info);
    }
    return found;
  }

  private async run(messages: ConsumerMessages): Promise<void> {
    const checkpointEvery = this.options.checkpointEvery ?? 256;
    for await (const message of messages) {
      if (this.draining) {
        message.nak();
        continue;
      }
      if (!this.owned()) {
        // Another instance owns the work now: leave this message to it, and pull no more.
        this.options.logger?.warn(
          { durable: this.consumer.durable },
          'work no longer owned; stopped pulling',
        );
        messages.stop();
        break;
      }
      this.current = message;
      try {
        const handling = this.handle(message);
        if (handling) await handling;
        if (this.unacknowledged.length >= checkpointEvery) await this.checkpointAndAck();
        else if (this.unacknowledged.length > 0) {
          // A quiet moment: acknowledge what is handled rather than wait for a full batch.
          this.lastHandledAt = performance.now();
          this.armIdleCheckpoint();
        }
      } finally {
        // Also when a checkpoint throws out of the loop: a stopped runner is held up by nothing.
        this.current = undefined;
      }
    }
    await this.checkpointAndAck();
  }

  /** See oneAtATime: one short pull at a time, its message handled before the next pull. */
  private async pullOneAtATime(consumer: Consumer): Promise<void> {
    const workingEveryMs = Math.max(100, (this.consumer.ackWaitMs ?? DEFAULT_ACK_WAIT_MS) / 3);
    while (!this.draining && this.owned()) {
      let message: JsMsg | null;
      try {
        // Short pulls keep drain() and `active` responsive.
        message = await consumer.next({ expires: 1_000 });
      } catch (error) {
        if (isConnectionClosed(error)) return;
        // A pull that fails (heartbeats missed while the machine is busy, a reconnect) is only a
        // pull: the message stays in the stream.
        this.options.logger?.warn(
          { err: error, durable: this.consumer.durable },
          'pull failed; pulling again',
        );
        await this.pause(1_000);
        continue;
      }
      if (message === null) continue;
      this.current = message;
      const working = setInterval(() => message.working(), workingEveryMs);
      try {
        const handling = this.handle(message);
        if (handling) await handling;
      } finally {
        clearInterval(working);
        this.current = undefined;
      }
    }
  }

  /**
   * Decodes and hands over one message; a promise only when the handler (or a dead letter) is async.
   * `attempt` counts in-place retries of an exclusive consumer on top of the server's deliveries.
   */
  private handle(message: JsMsg, attempt?: number): Promise<void> | undefined {
    const decoded = this.options.decode(message.subject, message.data);
    if (!decoded.ok) return this.deadLetter(message, decoded.reason);
    const info = message.info;
    const delivery = new RunnerDelivery(
      message.subject,
      info.streamSequence,
      attempt ?? info.deliveryCount,
      message,
      this.deadLetterHandled,
    );
    // As one try block around handler and acknowledgement: whatever throws takes the failure path.
    let pending: void | Promise<void>;
    try {
      pending = this.options.handler(decoded.value, delivery);
      if (!pending) return this.handled(message);
    } catch (error) {
      return this.handlerFailed(message, delivery, error);
    }
    return pending
      .then(() => this.handled(message))
      .catch((error: unknown) => this.handlerFailed(message, delivery, error));
  }

  private handled(message: JsMsg): Promise<void> | undefined {
    this.stats.processed++;
    if (this.options.checkpoint || this.cumulative) this.unacknowledged.push(message);
    // One at a time: the process may stop right after (a worker's last job), so wait for the server.
    else if (this.options.oneAtATime) return message.ackAck().then(() => undefined);
    else message.ack();
    return undefined;
  }

  /** Retries with backoff, or dead-letters on the last delivery. */
  private async handlerFailed(message: JsMsg, delivery: Delivery, error: unknown): Promise<void> {
    const reason = `handler failed: ${(error as Error).message ?? String(error)}`;
    if (delivery.deliveryCount >= this.maxDeliver) {
      await this.deadLetter(message, `${reason} (after ${delivery.deliveryCount} deliveries)`);
      return;
    }
    const backoff = this.options.backoffMs ?? DEFAULT_BACKOFF_MS;
    const delay = backoff[Math.min(delivery.deliveryCount - 1, backoff.length - 1)] ?? 1_000;
    this.stats.retried++;
    this.options.logger?.warn({ subject: message.subject, delay, err: error }, 'handler failed; will retry');
    if (!this.cumulative) {
      message.nak(delay);
      return;
    }
    await this.pause(delay);
    // Stopping: leave it unacknowledged (nothing after it is handled), so it comes again.
    if (this.draining) return;
    const retry = this.handle(message, delivery.deliveryCount + 1);
    if (retry) await retry;
  }

  /** What the dead letter of `message` holds besides the reason. */
  private letterOf(message: JsMsg, reason: string): DeadLetterInput {
    return {
      originalSubject: message.subject,
      reason,
      // The plain durable name, not the epoch's: a dead letter's id stays the same in every turn.
      consumer: this.options.consumer.durable,
      payload: message.data,
      receivedAt: Math.floor(message.info.timestampNanos / 1_000_000),
      streamSequence: message.info.streamSequence,
      deliveryCount: message.info.deliveryCount,
    };
  }

  /** See Delivery.deadLetter: throws when the copy did not land, so the caller can try again. */
  private readonly deadLetterHandled = async (message: JsMsg, reason: string): Promise<void> => {
    if (this.lettered.has(message)) return;
    await sendToDeadLetter(this.options.publisher, this.options.subjects, this.letterOf(message, reason));
    this.lettered.add(message);
    this.stats.deadLettered++;
    this.options.logger?.warn({ subject: message.subject, reason }, 'handled message dead-lettered');
  };

  private async deadLetter(message: JsMsg, reason: string): Promise<void> {
    try {
      await sendToDeadLetter(this.options.publisher, this.options.subjects, this.letterOf(message, reason));
    } catch (error) {
      // The copy did not land: keep the message in the stream and try again later.
      this.options.logger?.error({ err: error, subject: message.subject }, 'dead-letter publish failed');
      if (!this.cumulative) {
        message.nak(1_000);
        return;
      }
      // Nothing after it may be acknowledged before it: try again in place (until stopped).
      await this.pause(1_000);
      if (!this.draining) await this.deadLetter(message, reason);
      return;
    }
    if (this.cumulative) {
      this.unacknowledged.push(message);
    } else if (this.termWithReason) message.term(reason.slice(0, 200));
    else message.term();
    this.stats.deadLettered++;
    this.options.logger?.warn({ subject: message.subject, reason }, 'message dead-lettered');
  }
}

/** A runner of pipeline events: each message decoded against its contracts and admitted. */
export class ConsumerRunner<N extends MessageName> extends PullRunner<MessageOf<N>> {
  constructor(options: ConsumerRunnerOptions<N>) {
    const { messages, admission, ...rest } = options;
    super({ ...rest, decode: contractDecoder(messages, admission, options.subjects) });
  }
}
