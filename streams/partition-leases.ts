// Symbol partitions shared by the instances of one actor kind: each partition is owned by one
// instance at a time through a lease (streams/leader-election.ts: one key per partition in a NATS KV bucket
// whose TTL is the lease), so a partition's messages are handled in stream order by one instance,
// and when that instance dies another takes the partition over once the lease has expired.
//
// An instance campaigns at once for its preferred partitions and, after `standbyDelayMs`, for all
// the others as a standby; so with every instance up each gets its preferred share, and the
// partitions of an instance that is gone move to one that is still running. Ownership does not move
// back by itself when the preferred owner returns (a rolling restart of the holder rebalances).
//
// The work of a won partition runs behind OwnedWorkBus: its durable consumers are named for the
// lease term and take over from earlier terms' consumers, and stop pulling once the lease is lost
// (streams/consumer-runner.ts, `epoch` and `active`). An owner that is paused or cut off past its
// lease therefore cannot take a single message of the partition away from its successor.
import type { KV } from '@nats-io/kv';
import type { Logger } from '../core/logger.ts';
import type { MessageName, MessageOf } from '../schemas/messages.ts';
import type { ActorBus, SubscribeOptions, Subscription } from './bus.ts';
import { type Election, elect } from './leader-election.ts';

export interface PartitionWork {
  /** Drains the work's consumers and flushes its outputs. */
  stop(): Promise<void>;
}

export interface PartitionLeaseOptions<W extends PartitionWork> {
  /** A bucket whose TTL is the lease (openLeaseBucket). */
  kv: KV;
  /** Partition p is leased under the key `<role>.p<p>`, e.g. `feature.default.p3`. */
  role: string;
  /** This instance, for operators reading the keys. */
  holder: string;
  leaseMs: number;
  /** Partitions in all (SLUICE_PARTITIONS). */
  partitions: number;
  /** Campaigned for at once; default all. */
  preferred?: readonly number[];
  /** Wait before campaigning for the other partitions as a standby; default 2 leases. */
  standbyDelayMs?: number;
  /** Starts the work of a won partition. `term` grows with every new owner of the partition. */
  start(partition: number, term: number, election: Election): Promise<W>;
  /** Pause between attempts when start() fails while the lease is still held; default 1 s. */
  retryStartMs?: number;
  logger?: Logger;
}

export interface OwnedPartition<W> {
  term: number;
  work: W;
}

export class PartitionLeases<W extends PartitionWork> {
  private readonly elections = new Map<number, Election>();
  private readonly owned = new Map<number, OwnedPartition<W>>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly campaigns: Promise<void>[] = [];
  private stopped = false;

  private constructor(private readonly options: PartitionLeaseOptions<W>) {}

  /** Campaigns for the preferred partitions (resolving once each has been tried) and schedules the rest. */
  static async start<W extends PartitionWork>(
    options: PartitionLeaseOptions<W>,
  ): Promise<PartitionLeases<W>> {
    const leases = new PartitionLeases(options);
    const all = Array.from({ length: options.partitions }, (_, partition) => partition);
    const preferred = new Set(options.preferred ?? all);
    for (const partition of all) {
      if (preferred.has(partition)) await leases.campaign(partition);
      else {
        const timer = setTimeout(
          () => {
            leases.campaigns.push(
              leases.campaign(partition).catch((error: unknown) => {
                options.logger?.error({ err: error, partition }, 'partition campaign failed to start');
              }),
            );
          },
          options.standbyDelayMs ?? 2 * options.leaseMs,
        );
        leases.timers.push(timer);
      }
    }
    return leases;
  }

  /** The partitions this instance owns now, with their term and work. */
  get partitions(): ReadonlyMap<number, OwnedPartition<W>> {
    return this.owned;
  }

  /** Stops campaigning, stops the work of every owned partition, then gives the leases up at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    await Promise.all(this.campaigns);
    await Promise.all([...this.elections.values()].map((election) => election.resign()));
  }

  private async campaign(partition: number): Promise<void> {
    if (this.stopped) return;
    const { options } = this;
    const election = await elect({
      kv: options.kv,
      key: `${options.role}.p${partition}`,
      holder: options.holder,
      leaseMs: options.leaseMs,
      ...(options.logger ? { logger: options.logger.child({ partition }) } : {}),
      onLeader: (term, won) => this.begin(partition, term, won),
      onLost: async () => {
        const owned = this.owned.get(partition);
        this.owned.delete(partition);
        await owned?.work.stop();
      },
    });
    this.elections.set(partition, election);
    if (this.stopped) await election.resign();
  }

  /** Starts the partition's work, again after a pause while it fails and the lease is still ours. */
  private async begin(partition: number, term: number, election: Election): Promise<void> {
    while (election.isLeader && !this.stopped) {
      try {
        const work = await this.options.start(partition, term, election);
        this.owned.set(partition, { term, work });
        this.options.logger?.info({ partition, term }, 'partition taken');
        return;
      } catch (error) {
        this.options.logger?.error(
          { err: error, partition, term },
          'partition work failed to start; retrying',
        );
        await new Promise((resolve) => setTimeout(resolve, this.options.retryStartMs ?? 1_000));
      }
    }
  }
}

/**
 * The bus of one lease term's work: every subscription is a consumer of that term (named for it,
 * taking over from earlier terms' consumers) that takes messages only while the lease is held.
 * Publishes pass through: the work's outputs carry deterministic ids, so a message handled again
 * by the next owner repeats them harmlessly.
 */
export class OwnedWorkBus implements ActorBus {
  constructor(
    private readonly bus: ActorBus,
    private readonly term: number,
    private readonly election: Pick<Election, 'isLeader'>,
  ) {}

  get subjects() {
    return this.bus.subjects;
  }

  publish<N extends MessageName>(name: N, subject: string, event: MessageOf<N>): Promise<void> {
    return this.bus.publish(name, subject, event);
  }

  subscribe<N extends MessageName>(options: SubscribeOptions<N>): Promise<Subscription> {
    return this.bus.subscribe({ ...options, epoch: this.term, active: () => this.election.isLeader });
  }

  flush(): Promise<void> {
    return this.bus.flush();
  }
}
