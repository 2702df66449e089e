// The FeedActor: live market data from one provider onto the market-data subjects. It drives a
// FeedAdapter (actors/feed/adapter.ts) through its lifecycle (machine.ts) and owns what every
// provider needs the same way: reconnecting with capped, jittered backoff; reading the gap over REST
// after a reconnect or a silence, so the stream holds every event once (ids from the provider's own
// ids, dropped as duplicates by the stream's window); recording raw frames; dead-lettering what cannot
// be mapped; and keeping memory bounded when JetStream is slow.
//
// Order: frames are handled one at a time in the order received, so what the stream holds, and what a
// recording replays, is one sequence. After a reconnect live frames are held until the gap before them
// is published. When more than `maxQueuedFrames` wait (JetStream slower than the provider), the feed
// stops reading: it drops the connection and the frames still arriving (all later than anything
// published), drains what it holds, then reconnects and backfills from where it got to. Nothing is lost
// and nothing is held without bound.
import type { JetStreamClient } from '@nats-io/jetstream';
import type { Clock } from '../../core/clock.ts';
import type { Logger } from '../../core/logger.ts';
import type { RandomSource } from '../../core/random.ts';
import type { Alert, FeedFrame } from '../../schemas/messages.ts';
import type { Subjects } from '../../schemas/subjects.ts';
import { sendToDeadLetter } from '../../streams/dead-letter.ts';
import { EventPublisher, InvalidMessageError } from '../../streams/publisher.ts';
import type { Actor } from '../actor.ts';
import {
  type FeedAdapter,
  FeedAuthError,
  type FeedChannel,
  type FeedEvent,
  FeedSubscriptionError,
  type RawFrame,
} from './adapter.ts';
import {
  channelOf,
  DEFAULT_RECONNECT,
  FeedCursors,
  FifoQueue,
  feedFrameId,
  reconnectDelayMs,
} from './core.ts';
import { createFeedLifecycle, type FeedLifecycleActor, type FeedLifecycleState } from './machine.ts';
import { feedSubject, publishFeedEvent } from './publish.ts';

/** What the FeedActor asks of an integrity check (actors/feed/integrity.ts) for each published event. */
export interface FeedEventCheck {
  /** A reason to alert on (the event is still published), or undefined. */
  observe(event: FeedEvent): string | undefined;
}

export interface FeedActorOptions {
  adapter: FeedAdapter;
  jetstream: JetStreamClient;
  subjects: Subjects;
  symbols: readonly string[];
  channels: readonly FeedChannel[];
  /** The receiving clock (WallClock live): ts_init of every event, the time of silences. */
  clock: Clock;
  /** Jitter of the reconnect backoff. */
  random: RandomSource;
  /** Every frame to the RAW stream (raw.<provider>.<channel>) before what it maps to is published. */
  record?: boolean;
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  /** No frame for this long while streaming: alert.warning.feed_stale, then a catch-up backfill. */
  staleAfterMs?: number;
  /** Frames held in memory at most; see the header. */
  maxQueuedFrames?: number;
  /** Checks each published event (price jumps); a finding raises alert.warning.feed_price_jump. */
  integrity?: FeedEventCheck;
  /** Called with each published event's lag, from its ts_event to its publish (ms): /metrics. */
  onPublished?: (lagMs: number) => void;
  /** Whether silence at this time is news (a session is open); always, when not given (24/7 markets). */
  isTradingTime?: (epochMillis: number) => boolean;
  logger?: Logger;
}

export interface FeedStatus {
  state: FeedLifecycleState;
  provider: string;
  /** Frames received (live and backfill). */
  framesIn: number;
  /** Events stored by the stream as new. */
  published: number;
  /** Events the stream dropped as already held (reconnect and backfill overlap). */
  duplicates: number;
  /** Frames or events dead-lettered, by reason class. */
  rejected: Record<string, number>;
  reconnects: number;
  /** Frames read over REST. */
  backfilled: number;
  /** Frames not read because the feed was shedding load; each is read again by the backfill. */
  shed: number;
  /** Frames held in memory now (queued or held during a backfill), and the most ever held. */
  queued: number;
  queuedPeak: number;
  priceJumps: number;
  staleAlerts: number;
  recorded: number;
  /** From ts_event to the publish of the last event, and the largest seen, ms. */
  lagMs: { last: number; max: number };
  lastError?: string;
}

const DEFAULT_MAX_QUEUED_FRAMES = 50_000;

export class FeedActor implements Actor<FeedStatus> {
  private readonly adapter: FeedAdapter;
  private readonly lifecycle: FeedLifecycleActor;
  private readonly events: EventPublisher;
  /** Dead letters, alerts and recorded frames: they do not count as published events. */
  private readonly sidecar: EventPublisher;
  private readonly cursors = new FeedCursors();
  private readonly session: string;
  private readonly maxQueued: number;
  private readonly counters = {
    framesIn: 0,
    backfilled: 0,
    shed: 0,
    reconnects: 0,
    priceJumps: 0,
    staleAlerts: 0,
    recorded: 0,
    alerts: 0,
  };
  private readonly rejected: Record<string, number> = {};
  private readonly lag = { last: 0, max: 0 };
  private sequence = 0;
  private queuedPeak = 0;
  /** Frames waiting to be handled, oldest first. */
  private readonly queue = new FifoQueue<RawFrame>();
  /** Live frames that arrived while the gap before them is backfilled. */
  private held: RawFrame[] | undefined;
  private shedding = false;
  private pumping: Promise<void> | undefined;
  private lastFrameAt: number;
  private stopping = false;
  /** Ends the wait between reconnects early (stop). */
  private wake: (() => void) | undefined;
  /** Ends the current connection from inside (stop, shedding load, a failed publish). */
  private interrupt: ((reason: string) => void) | undefined;
  /** Asks the session loop for a catch-up backfill (after a silence); it runs between frames. */
  private requestCatchUp: (() => void) | undefined;
  /** A catch-up after a silence found the feed still silent: the next silence reconnects. */
  private silentSinceCatchUp = false;
  /**
   * A catch-up found nothing: when frames resume on the same connection, what the provider sent between
   * the catch-up and the first of them is read before they are published.
   */
  private gapBeforeNextFrame = false;
  private sessions: Promise<void> | undefined;
  private staleTimer: NodeJS.Timeout | undefined;

  static async start(options: FeedActorOptions): Promise<FeedActor> {
    const actor = new FeedActor(options);
    await actor.begin();
    return actor;
  }

  private constructor(private readonly options: FeedActorOptions) {
    this.adapter = options.adapter;
    this.lifecycle = createFeedLifecycle();
    this.events = new EventPublisher(options.jetstream);
    this.sidecar = new EventPublisher(options.jetstream);
    this.maxQueued = options.maxQueuedFrames ?? DEFAULT_MAX_QUEUED_FRAMES;
    this.lastFrameAt = options.clock.now();
    this.session = `${this.lastFrameAt}`;
  }

  status(): FeedStatus {
    const { published, duplicates } = this.events.stats;
    const { lastError } = this.lifecycle.getSnapshot().context;
    return {
      state: this.state,
      provider: this.adapter.provider,
      framesIn: this.counters.framesIn,
      published,
      duplicates,
      rejected: { ...this.rejected },
      reconnects: this.counters.reconnects,
      backfilled: this.counters.backfilled,
      shed: this.counters.shed,
      queued: this.queue.size + (this.held?.length ?? 0),
      queuedPeak: this.queuedPeak,
      priceJumps: this.counters.priceJumps,
      staleAlerts: this.counters.staleAlerts,
      recorded: this.counters.recorded,
      lagMs: { ...this.lag },
      ...(lastError !== undefined ? { lastError } : {}),
    };
  }

  private get state(): FeedLifecycleState {
    return this.lifecycle.getSnapshot().value as FeedLifecycleState;
  }

  /**
   * Resolves once everything received so far is handled and acknowledged by the stream while the
   * feed streams (tests, the benchmark, a clean stop).
   */
  async caughtUp(): Promise<void> {
    for (;;) {
      await this.pumping;
      await this.events.flush();
      await this.sidecar.flush();
      if (this.queue.size === 0 && this.pumping === undefined && this.state === 'streaming') return;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.staleTimer);
    this.wake?.();
    this.interrupt?.('stopped');
    await this.adapter.close();
    await this.sessions;
    await this.settle();
    await this.events.flush();
    await this.sidecar.flush();
    this.lifecycle.send({ type: 'STOP' });
  }

  /**
   * Starts the session loop. Resolves once it first streams, or once a first attempt failed for a
   * reason that retrying may cure (it goes on retrying); rejects when the provider refuses it.
   */
  private begin(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.sessions = this.runSessions(resolve, reject);
      const staleAfterMs = this.options.staleAfterMs;
      if (staleAfterMs !== undefined) {
        this.staleTimer = setInterval(() => this.checkSilence(staleAfterMs), Math.max(10, staleAfterMs / 4));
        this.staleTimer.unref();
      }
    });
  }

  private async runSessions(started: () => void, refused: (error: Error) => void): Promise<void> {
    const policy = { ...DEFAULT_RECONNECT, ...this.options.reconnect };
    let attempt = 0;
    while (!this.stopping) {
      try {
        await this.adapter.connect();
        this.lifecycle.send({ type: 'CONNECTED' });
        await this.adapter.authenticate();
        this.lifecycle.send({ type: 'AUTHENTICATED' });
        const interrupted = new Promise<string>((resolve) => {
          this.interrupt = resolve;
        });
        const gap = this.cursors.size > 0;
        this.gapBeforeNextFrame = false;
        // Frames of the new connection wait until the gap before them is read.
        if (gap) this.held = [];
        this.shedding = false;
        this.lastFrameAt = this.options.clock.now();
        await this.adapter.subscribe({
          symbols: this.options.symbols,
          channels: this.options.channels,
          onFrame: (frame) => this.receive(frame),
        });
        this.lifecycle.send({ type: 'SUBSCRIBED', gap });
        if (gap) {
          await this.backfillGap();
          this.lifecycle.send({ type: 'BACKFILLED' });
        }
        attempt = 0;
        started();
        const reason = await this.streamUntilLost(Promise.race([this.adapter.disconnected(), interrupted]));
        if (this.stopping) return;
        this.lifecycle.send({ type: 'CONNECTION_LOST', reason });
        this.options.logger?.warn({ provider: this.adapter.provider, reason }, 'feed connection lost');
      } catch (error) {
        if (error instanceof FeedAuthError || error instanceof FeedSubscriptionError) {
          this.lifecycle.send({ type: 'REFUSED', reason: error.message });
          await this.adapter.close();
          refused(error);
          return;
        }
        if (this.stopping) return;
        const reason = (error as Error).message;
        this.lifecycle.send({ type: 'CONNECTION_LOST', reason });
        this.options.logger?.warn({ provider: this.adapter.provider, reason }, 'feed connection failed');
        // A provider that is down is retried in the background: the process serves its other actors
        // (and /health) meanwhile, and its status says the feed is reconnecting.
        started();
      }
      this.interrupt = undefined;
      this.requestCatchUp = undefined;
      this.held = undefined;
      this.shedding = true;
      await this.adapter.close();
      // What was received before the loss is published before the gap after it is read.
      await this.settle();
      this.counters.reconnects++;
      await this.sleep(reconnectDelayMs(attempt++, policy, this.options.random));
      this.lifecycle.send({ type: 'RETRY' });
    }
  }

  /** Streams until `lost` resolves, running each catch-up asked for meanwhile; returns why it ended. */
  private async streamUntilLost(lost: Promise<string>): Promise<string> {
    for (;;) {
      const catchUp = new Promise<undefined>((resolve) => {
        this.requestCatchUp = () => resolve(undefined);
      });
      const reason = await Promise.race([lost, catchUp]);
      this.requestCatchUp = undefined;
      if (reason !== undefined) return reason;
      this.lifecycle.send({ type: 'CATCH_UP' });
      this.held ??= [];
      const released = await this.backfillGap();
      this.lifecycle.send({ type: 'BACKFILLED' });
      this.silentSinceCatchUp = released === 0;
      this.gapBeforeNextFrame = released === 0;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private receive(frame: RawFrame): void {
    if (this.stopping) return;
    if (this.shedding) {
      this.counters.shed++;
      return;
    }
    this.counters.framesIn++;
    this.lastFrameAt = frame.receivedAt;
    this.silentSinceCatchUp = false;
    if (this.state === 'stale') this.lifecycle.send({ type: 'FRAME' });
    if (this.gapBeforeNextFrame && this.held === undefined && this.requestCatchUp !== undefined) {
      this.gapBeforeNextFrame = false;
      this.held = [];
      this.requestCatchUp();
    }
    if (this.held) this.held.push(frame);
    else this.queue.push(frame);
    const queued = this.queue.size + (this.held?.length ?? 0);
    if (queued > this.queuedPeak) this.queuedPeak = queued;
    if (queued > this.maxQueued) {
      // JetStream is behind: stop reading; the backfill after the reconnect reads what is missed.
      this.shedding = true;
      this.interrupt?.('shedding load: JetStream is behind');
      return;
    }
    if (this.held === undefined) this.pump();
  }

  /** Handles queued frames in order, one drain at a time. */
  private pump(): void {
    this.pumping ??= this.drainQueue()
      .catch((error: unknown) => {
        // The stream stayed unreachable past the publisher's retries: drop what is queued (all of it
        // after the cursors) and reconnect; the backfill reads it again.
        const reason = `publish failed: ${(error as Error).message}`;
        this.options.logger?.error({ provider: this.adapter.provider, reason }, 'feed publish failed');
        this.queue.clear();
        this.shedding = true;
        this.interrupt?.(reason);
      })
      .finally(() => {
        this.pumping = undefined;
      });
  }

  /** Until nothing is queued or being handled. */
  private async settle(): Promise<void> {
    while (this.queue.size > 0 || this.pumping !== undefined) {
      this.pump();
      await this.pumping;
    }
  }

  private async drainQueue(): Promise<void> {
    for (let frame = this.queue.shift(); frame !== undefined; frame = this.queue.shift()) {
      await this.handle(frame);
    }
  }

  /** Reads each symbol's gap over REST, publishes it, then the live frames held meanwhile. */
  /** Returns how many held live frames it released. */
  private async backfillGap(): Promise<number> {
    await this.pumping;
    // Each round reads every cursor up to the first held frame of its symbol and channel, or up to
    // now where none is held yet. A frame that comes for one of those while it is read ends a span the
    // round left open: another round reads up to it.
    for (;;) {
      const firstHeld = this.firstHeldEventTimes();
      const now = this.options.clock.now();
      // Inclusive of the first live event (the duplicate window drops the overlap).
      const requests = this.cursors.backfillRequests(
        (symbol, channel) => (firstHeld.get(`${channel}\u0000${symbol}`) ?? now) + 1,
      );
      for (const request of requests) {
        for await (const frame of this.adapter.backfill(request)) {
          if (this.stopping) return 0;
          this.counters.backfilled++;
          await this.handle(frame);
        }
      }
      const leftOpen = [...this.firstHeldEventTimes().keys()].some((key) => !firstHeld.has(key));
      if (!leftOpen) break;
    }
    const held = this.held ?? [];
    this.held = undefined;
    this.queue.unshiftAll(held);
    this.pump();
    return held.length;
  }

  /** ts_event of the first held live event of each channel and symbol. */
  private firstHeldEventTimes(): Map<string, number> {
    const firstHeld = new Map<string, number>();
    for (const frame of this.held ?? []) {
      const decoded = this.adapter.decode(frame);
      if (!decoded.ok) continue;
      for (const event of decoded.events) {
        const key = `${channelOf(event)}\u0000${event.symbol}`;
        if (!firstHeld.has(key)) firstHeld.set(key, event.ts_event);
      }
    }
    return firstHeld;
  }

  private rawSubjectOf(frame: RawFrame): string {
    return this.options.subjects.rawFrame(this.adapter.provider, frame.channel);
  }

  /** Records, maps, checks and publishes one frame; a frame that cannot be mapped is dead-lettered. */
  private async handle(frame: RawFrame): Promise<void> {
    const sequence = this.sequence++;
    if (this.options.record) await this.record(frame, sequence, this.rawSubjectOf(frame));
    const decoded = this.adapter.decode(frame);
    if (!decoded.ok) {
      await this.deadLetter(this.rawSubjectOf(frame), 'unmappable', decoded.reason, frame, sequence);
      return;
    }
    for (const event of decoded.events) {
      const subject = feedSubject(this.options.subjects, event);
      try {
        await publishFeedEvent(this.events, subject, event);
      } catch (error) {
        if (!(error instanceof InvalidMessageError)) throw error;
        await this.deadLetter(subject, 'contract', error.reason, frame, sequence);
        continue;
      }
      this.cursors.advance(event);
      const lag = this.options.clock.now() - event.ts_event;
      this.lag.last = lag;
      if (lag > this.lag.max) this.lag.max = lag;
      this.options.onPublished?.(lag);
      const jump = this.options.integrity?.observe(event);
      if (jump !== undefined) {
        this.counters.priceJumps++;
        await this.alert('warning', 'feed_price_jump', `${event.symbol}: ${jump}`, event.ts_init);
      }
    }
  }

  private async record(frame: RawFrame, sequence: number, subject: string): Promise<void> {
    const recorded: FeedFrame = {
      schema: 'feed_frame.v1',
      id: feedFrameId(this.adapter.provider, this.session, sequence),
      ts_event: frame.receivedAt,
      ts_init: frame.receivedAt,
      provider: this.adapter.provider,
      session: this.session,
      sequence,
      channel: frame.channel,
      origin: frame.origin,
      payload: frame.payload,
    };
    try {
      await this.sidecar.publish('feed_frame', subject, recorded);
      this.counters.recorded++;
    } catch (error) {
      if (!(error instanceof InvalidMessageError)) throw error;
      await this.deadLetter(subject, 'unrecordable', error.reason, frame, sequence);
    }
  }

  private async deadLetter(
    originalSubject: string,
    reasonClass: string,
    reason: string,
    frame: RawFrame,
    sequence: number,
  ): Promise<void> {
    this.rejected[reasonClass] = (this.rejected[reasonClass] ?? 0) + 1;
    await sendToDeadLetter(this.sidecar, this.options.subjects, {
      originalSubject,
      reason: `${frame.origin} frame ${sequence}: ${reason}`,
      consumer: `feed:${this.adapter.provider}:${this.session}`,
      payload: JSON.stringify(frame.payload) ?? 'undefined',
      receivedAt: frame.receivedAt,
      sourceRow: sequence,
    });
  }

  private async alert(severity: Alert['severity'], code: string, message: string, at: number): Promise<void> {
    const provider = this.adapter.provider;
    const key = `feed:${provider}:${code}`;
    const alert: Alert = {
      schema: 'alert.v1',
      // Counted: a second alert of the same kind in the same millisecond is a new message.
      id: `${key}:${this.session}:${this.counters.alerts++}`,
      ts_event: at,
      ts_init: at,
      severity,
      code,
      message,
      source: `feed:${provider}`,
      dedupe_key: key,
      labels: { provider },
    };
    await this.sidecar.publish('alert', this.options.subjects.alert(severity, code), alert);
  }

  /**
   * Silence while streaming: alert and read what may have been missed over REST. Silence again right
   * after a catch-up (a connection that is open but dead) drops the connection, so it is made anew.
   */
  private checkSilence(staleAfterMs: number): void {
    const now = this.options.clock.now();
    if (now - this.lastFrameAt < staleAfterMs || this.stopping || this.state !== 'streaming') return;
    if (this.options.isTradingTime && !this.options.isTradingTime(now)) return;
    this.lastFrameAt = now;
    if (this.silentSinceCatchUp) {
      this.silentSinceCatchUp = false;
      this.interrupt?.(`silent for ${staleAfterMs} ms after a catch-up`);
      return;
    }
    this.lifecycle.send({ type: 'SILENT' });
    this.counters.staleAlerts++;
    // Frames that resume before the catch-up runs wait for it: published first, they would move the
    // cursors past the silence and the catch-up would not read it.
    this.held ??= [];
    const provider = this.adapter.provider;
    const asked = this.requestCatchUp;
    void this.alert(
      'warning',
      'feed_stale',
      `${provider}: no frame for ${staleAfterMs} ms; catching up over REST`,
      now,
    )
      // With nothing published yet there is no gap to read: make the connection anew instead.
      .then(() => (this.cursors.size > 0 ? asked?.() : this.interrupt?.('silent before any event')))
      .catch((error: unknown) => this.interrupt?.(`stale alert failed: ${(error as Error).message}`));
  }
}
