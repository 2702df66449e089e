// FeatureActor instances sharing the symbol partitions (design §8): each partition is leased to one
// instance at a time (streams/partition-leases.ts) and runs as a FeatureActor of its own, so its
// indicator state, buffers and lifecycle belong to the partition and move with it. A new owner
// rebuilds the partition's state from the history its predecessors acknowledged and resumes right
// after it (the consumer runner's rebuild), so a takeover adds no gap and, the outputs having
// deterministic ids, no duplicate row or vector.

import type { KV } from '@nats-io/kv';
import { OwnedWorkBus, PartitionLeases } from '../../streams/partition-leases.ts';
import type { Actor } from '../actor.ts';
import { FeatureActor, type FeatureActorOptions, type FeatureActorStatus } from './actor.ts';
import { emptyFeatureCounters, type FeatureCounters, type FeatureRejections } from './core.ts';
import type { FeatureLifecycleState } from './machine.ts';

export interface LeasedFeatureActorsOptions extends Omit<FeatureActorOptions, 'partitions'> {
  /** The lease bucket (openLeaseBucket with a TTL of leaseMs). */
  kv: KV;
  /** This instance, as shown in the lease keys. */
  holder: string;
  leaseMs: number;
  /** Partitions campaigned for at once (default all); the others after standbyDelayMs. */
  preferred?: readonly number[];
  standbyDelayMs?: number;
}

export interface LeasedFeatureActorsStatus extends FeatureActorStatus {
  /** Owned partition → lease term. */
  terms: Record<number, number>;
}

export class LeasedFeatureActors implements Actor<LeasedFeatureActorsStatus> {
  private constructor(
    private readonly leases: PartitionLeases<FeatureActor>,
    private readonly set: FeatureActorOptions['set'],
  ) {}

  static async start(options: LeasedFeatureActorsOptions): Promise<LeasedFeatureActors> {
    const { kv, holder, leaseMs, preferred, standbyDelayMs, ...actorOptions } = options;
    const leases = await PartitionLeases.start<FeatureActor>({
      kv,
      role: `feature.${options.set.name}`,
      holder,
      leaseMs,
      partitions: options.bus.subjects.partitions,
      ...(preferred ? { preferred } : {}),
      ...(standbyDelayMs !== undefined ? { standbyDelayMs } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
      start: (partition, term, election) =>
        FeatureActor.start({
          ...actorOptions,
          bus: new OwnedWorkBus(options.bus, term, election),
          partitions: [partition],
        }),
    });
    return new LeasedFeatureActors(leases, options.set);
  }

  /** The partition actors of this instance, summed; `partitions` are those owned now. */
  status(): LeasedFeatureActorsStatus {
    const owned = [...this.leases.partitions.entries()].sort(([a], [b]) => a - b);
    const statuses = owned.map(([, { work }]) => work.status());
    const counters = emptyFeatureCounters();
    for (const status of statuses)
      for (const name of Object.keys(counters) as (keyof FeatureCounters)[])
        counters[name] += status.counters[name];
    const states = new Set<FeatureLifecycleState>(statuses.map((status) => status.state));
    const state: FeatureLifecycleState =
      states.size === 1 ? [...states][0]! : states.has('stale') ? 'stale' : 'warming';
    return {
      state,
      featureSet: this.set.name,
      featureSetVersion: this.set.version,
      partitions: owned.map(([partition]) => partition),
      terms: Object.fromEntries(owned.map(([partition, { term }]) => [partition, term])),
      published: statuses.reduce((sum, status) => sum + status.published, 0),
      counters,
      buffered: {
        bars: statuses.reduce((sum, status) => sum + status.buffered.bars, 0),
        features: statuses.reduce((sum, status) => sum + status.buffered.features, 0),
        ticks: statuses.reduce((sum, status) => sum + status.buffered.ticks, 0),
      },
    };
  }

  /** Rejections by symbol and reason in the partitions owned now (each symbol is in one partition). */
  rejections(): FeatureRejections[] {
    return [...this.leases.partitions.values()].flatMap(({ work }) => work.rejections());
  }

  /** Stops every partition actor (drain, flush) and hands the leases over at once. */
  stop(): Promise<void> {
    return this.leases.stop();
  }
}
