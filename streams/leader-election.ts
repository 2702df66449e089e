// Leader election for single-writer actors (risk gate, portfolio) through one key in a NATS KV bucket
// whose TTL is the lease: a candidate wins by creating the key (fails while it exists), the leader
// renews it with compare-and-swap on its last revision, and a standby takes over once the key is
// gone: expired (the leader died or was cut off) or deleted (it resigned).
//
// Clocks: this is wall-clock liveness, not event time, so it uses no injected actor clock. The key's
// expiry runs on the server's clock (bucket max_age, counted from when the server stored the last
// renewal); the leader trusts its lease on its own monotonic clock (performance.now) for 3/4 of
// leaseMs after it *sent* that renewal. The server stored it no earlier than that, so the leader
// stops trusting its lease a quarter lease before any standby can win, whatever the wall clocks say
// (it assumes only that clocks tick at about the same rate). `isLeader` is computed from that
// deadline at each read, so a stalled event loop cannot leave a stale `true` behind.
import { randomUUID } from 'node:crypto';
import type { JetStreamClient } from '@nats-io/jetstream';
import { type KV, KvWatchInclude } from '@nats-io/kv';
import type { Logger } from '../core/logger.ts';
import type { MessageName, MessageOf } from '../schemas/messages.ts';
import type { ActorBus, SubscribeOptions, Subscription } from './bus.ts';
import { isWrongLastSequence } from './nats-errors.ts';
import type { SnapshotStore } from './snapshot-store.ts';
import { applyBucket, MissingTopologyError, openBucket } from './topology.ts';

/** Why a leader stopped leading. */
export type LossReason =
  /** Another candidate holds the key (a renewal's compare-and-swap failed). */
  | 'taken'
  /** The key expired before the renewal reached it: nobody holds it now. */
  | 'expired'
  /** Renewals failed (server unreachable) until the lease ran out. */
  | 'lapsed'
  | 'resigned';

export interface ElectionOptions {
  /** A bucket whose TTL is at least leaseMs, e.g. from openLeaseBucket. */
  kv: KV;
  /** One key per single-writer role, e.g. `trading.paper`. */
  key: string;
  /** Who is campaigning (process / instance name), for operators reading the key. */
  holder: string;
  leaseMs: number;
  /**
   * Called (never concurrently with onLost) each time this candidate wins, with its term and the
   * handle, which the first call may need before elect() has resolved (e.g. for LeaderOnlyBus).
   */
  onLeader?: (term: number, election: Election) => void | Promise<void>;
  /** Called after isLeader went false; a leader's outputs are fenced from then on. */
  onLost?: (reason: LossReason) => void | Promise<void>;
  logger?: Logger;
}

export interface Election {
  /** True only while this candidate holds an unexpired lease (see the clock note above). */
  readonly isLeader: boolean;
  /** The key's revision when this candidate last won: increases with every new leader. */
  readonly term: number | undefined;
  /** Stops campaigning; a leader runs onLost('resigned'), then deletes the key for a fast handover. */
  resign(): Promise<void>;
}

interface LeaseValue {
  holder: string;
  /** Tells this candidate's own writes apart from anyone else's, across restarts too. */
  token: string;
}

/** The partition-lease bucket of the feature actors, unless the run config names another. */
export const LEASE_BUCKET = 'sluice_partitions';

/** Creates or updates a bucket of leases that expire `leaseMs` after their last renewal (`sluice bootstrap`). */
export async function applyLeaseBucket(
  jetstream: JetStreamClient,
  bucket: string,
  leaseMs: number,
  replicas = 1,
): Promise<KV> {
  return applyBucket(jetstream, {
    bucket,
    history: 1,
    ttlMs: leaseMs,
    replicas,
    description: 'Sluice leases: one key per single-writer role or partition',
  });
}

/**
 * Opens a lease bucket `sluice bootstrap` made; MissingTopologyError when it is not there, and a
 * one-line error when its TTL is not the lease (bootstrapped from another run config).
 */
export async function openLeaseBucket(
  jetstream: JetStreamClient,
  bucket: string,
  leaseMs: number,
): Promise<KV> {
  const kv = await openBucket(jetstream, bucket);
  const { ttl } = await kv.status();
  if (ttl !== leaseMs) {
    // A shorter TTL lets a standby win while the leader still trusts its lease; a longer one delays
    // every takeover past the configured lease.
    throw new MissingTopologyError(
      `KV bucket ${bucket}`,
      `keeps leases for ${ttl} ms, not the run config's ${leaseMs} ms`,
      'Run `sluice bootstrap --config RUN.json` with this run config as the admin user',
    );
  }
  return kv;
}

export async function elect(options: ElectionOptions): Promise<Election> {
  const { ttl } = await options.kv.status();
  // A key that outlives the lease would let a standby win while the old leader still trusts its
  // lease; one that never expires would keep a dead leader's key forever.
  if (ttl < options.leaseMs) {
    throw new RangeError(`lease bucket TTL ${ttl} ms must be at least leaseMs ${options.leaseMs}`);
  }
  const election = new LeaderElection(options);
  await election.start();
  return election;
}

class LeaderElection implements Election {
  private state: 'standby' | 'leader' | 'resigned' = 'standby';
  private revision = 0;
  private validUntil = 0;
  private currentTerm: number | undefined;
  private readonly value: string;
  private readonly token = randomUUID();
  private loop: Promise<void> = Promise.resolve();
  private resigning = false;
  private wake: (() => void) | undefined;
  /** Set by a nudge that came while a campaign or renewal was in flight: the next wait is skipped. */
  private woken = false;
  private stopWatch: (() => void) | undefined;
  /** onLeader/onLost run in order on this chain, off the renewal loop so a slow start cannot stall renewals. */
  private callbacks: Promise<void> = Promise.resolve();

  constructor(private readonly options: ElectionOptions) {
    this.value = JSON.stringify({ holder: options.holder, token: this.token } satisfies LeaseValue);
  }

  get isLeader(): boolean {
    return this.state === 'leader' && performance.now() < this.validUntil;
  }

  get term(): number | undefined {
    return this.currentTerm;
  }

  async start(): Promise<void> {
    // A resignation deletes the key: the watch lets a standby take over at once instead of at its next try.
    const watch = await this.options.kv.watch({ key: this.options.key, include: KvWatchInclude.UpdatesOnly });
    this.stopWatch = () => watch.stop();
    void (async () => {
      for await (const entry of watch) if (entry.operation !== 'PUT') this.nudge();
    })();
    await this.campaign();
    this.loop = this.run();
  }

  async resign(): Promise<void> {
    this.resigning = true;
    this.nudge();
    await this.loop;
    this.stopWatch?.();
    const wasLeader = this.state === 'leader';
    this.state = 'resigned';
    if (wasLeader) {
      this.enqueue(() => this.options.onLost?.('resigned'));
      await this.callbacks;
      // Only after our actors stopped, and only our own key (compare-and-swap on our revision).
      await this.options.kv
        .delete(this.options.key, { previousSeq: this.revision })
        .catch((error: unknown) => {
          this.options.logger?.warn(
            { err: error, key: this.options.key },
            'lease not deleted; it will expire',
          );
        });
    }
    await this.callbacks;
  }

  private nudge(): void {
    this.woken = true;
    this.wake?.();
  }

  private async run(): Promise<void> {
    // A quarter lease apart: two renewals can fail before the lease (trusted for 3/4) lapses.
    const interval = this.options.leaseMs / 4;
    while (!this.resigning) {
      if (!this.woken) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, interval);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      this.woken = false;
      if (this.resigning) return;
      if (this.state === 'leader') await this.renew();
      else await this.campaign();
    }
  }

  private async campaign(): Promise<void> {
    const sentAt = performance.now();
    try {
      const revision = await this.options.kv.create(this.options.key, this.value);
      this.state = 'leader';
      this.revision = revision;
      this.currentTerm = revision;
      this.validUntil = sentAt + (this.options.leaseMs * 3) / 4;
      this.options.logger?.info(
        { key: this.options.key, holder: this.options.holder, term: revision },
        'leader',
      );
      this.enqueue(() => this.options.onLeader?.(revision, this));
    } catch (error) {
      // Someone holds the key: stay standby. Anything else (server away) is retried the same way.
      if (!isWrongLastSequence(error)) this.options.logger?.warn({ err: error }, 'campaign failed');
    }
  }

  private async renew(): Promise<void> {
    const sentAt = performance.now();
    try {
      this.revision = await this.options.kv.update(this.options.key, this.value, this.revision);
      this.validUntil = sentAt + (this.options.leaseMs * 3) / 4;
      return;
    } catch (error) {
      if (isWrongLastSequence(error)) {
        const found = await this.options.kv.get(this.options.key).catch(() => null);
        if (found?.operation === 'PUT' && found.json<LeaseValue>().token === this.token) {
          // An earlier renewal timed out on our side but was stored: the key is still ours. Its
          // send time is unknown, so the lease deadline is not extended.
          this.revision = found.revision;
          return;
        }
        this.lose(found?.operation === 'PUT' ? 'taken' : 'expired');
        return;
      }
      this.options.logger?.warn({ err: error, key: this.options.key }, 'lease renewal failed');
      if (performance.now() >= this.validUntil) this.lose('lapsed');
    }
  }

  private lose(reason: LossReason): void {
    if (this.state !== 'leader') return;
    this.state = 'standby';
    this.validUntil = 0;
    this.options.logger?.warn(
      { key: this.options.key, holder: this.options.holder, reason },
      'leadership lost',
    );
    this.enqueue(() => this.options.onLost?.(reason));
  }

  private enqueue(callback: () => void | Promise<void>): void {
    this.callbacks = this.callbacks.then(callback).catch((error: unknown) => {
      this.options.logger?.error({ err: error, key: this.options.key }, 'election callback failed');
    });
  }
}

export class NotLeaderError extends Error {
  constructor(what: string) {
    super(`${what} refused: not the leader (lease lost or never held)`);
    this.name = 'NotLeaderError';
  }
}

/**
 * Fences a single writer's outputs: publishes fail with NotLeaderError unless `election` holds its
 * lease at that moment, so a leader that lost its lease (paused, cut off) cannot emit while a new
 * leader runs. The failing handler is retried by its consumer, by then on the new leader.
 */
export class LeaderOnlyBus implements ActorBus {
  constructor(
    private readonly bus: ActorBus,
    private readonly election: Pick<Election, 'isLeader'>,
  ) {}

  get subjects() {
    return this.bus.subjects;
  }

  publish<N extends MessageName>(name: N, subject: string, event: MessageOf<N>): Promise<void> {
    if (!this.election.isLeader) return Promise.reject(new NotLeaderError(`publish on ${subject}`));
    return this.bus.publish(name, subject, event);
  }

  subscribe<N extends MessageName>(options: SubscribeOptions<N>): Promise<Subscription> {
    return this.bus.subscribe(options);
  }

  flush(): Promise<void> {
    return this.bus.flush();
  }
}

/** The same fence for snapshots: a demoted leader must not overwrite its successor's state. */
export class LeaderOnlySnapshotStore implements SnapshotStore {
  constructor(
    private readonly store: SnapshotStore,
    private readonly election: Pick<Election, 'isLeader'>,
  ) {}

  get(key: string): Promise<string | undefined> {
    return this.store.get(key);
  }

  put(key: string, text: string): Promise<void> {
    if (!this.election.isLeader) return Promise.reject(new NotLeaderError(`snapshot ${key}`));
    return this.store.put(key, text);
  }
}
