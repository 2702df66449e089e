// Streams, KV buckets and durable consumers as code. Streams and buckets are applied (created or
// updated to the declared configuration) only by `sluice bootstrap` under the admin role, by
// backtests on their own `bt.<run>.` streams and by the demo on its own server: a role user may not
// create or change a stream (one with `republish` into `ord.intent.>` would route around the risk
// gate). Every other process checks that they exist (requireStreams, openBucket) and stops with a
// one-line fix when one is missing.
import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerInfo,
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamClient,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { nanos } from '@nats-io/transport-node';
import { ConfigError } from '../core/errors.ts';
import { type StreamName, streamNames, streamSubjects } from '../schemas/subjects.ts';
import { isNotFound, isTransientPlacement } from './nats-errors.ts';

export interface TopologyOptions {
  replicas: number;
  /** Prefix for namespaced runs (`bt.<run>.`); stream names get a matching suffix. */
  namespace?: string;
  /** Window in which a re-published event id is dropped as a duplicate. */
  duplicateWindowMs?: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** How long each stream keeps data; market data is the replay source, so it keeps the longest. */
const retentionByStream: Record<StreamName, number> = {
  MARKET: 365 * DAY_MS,
  FEATURES: 30 * DAY_MS,
  SIGNALS: 90 * DAY_MS,
  ORDERS: 5 * 365 * DAY_MS,
  ALERTS: 30 * DAY_MS,
  DEADLETTER: 30 * DAY_MS,
  // Recorded feed sessions: kept as long as the market data they replay into.
  RAW: 365 * DAY_MS,
};

export function streamName(stream: StreamName, namespace = ''): string {
  if (!namespace) return stream;
  // `bt.run42.` -> MARKET_bt_run42: stream names may not contain dots.
  return `${stream}_${namespace.replace(/\.$/, '').replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

export function streamConfig(
  stream: StreamName,
  options: TopologyOptions,
): Partial<StreamConfig> & { name: string } {
  return {
    name: streamName(stream, options.namespace),
    subjects: streamSubjects(stream, options.namespace),
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    num_replicas: options.replicas,
    max_age: nanos(retentionByStream[stream]),
    // Ingest re-runs and crash re-publishes rely on this window to drop duplicates by Nats-Msg-Id.
    duplicate_window: nanos(options.duplicateWindowMs ?? DAY_MS),
  };
}

/**
 * A cluster that is re-forming (a node just restarted, a meta leader being elected) refuses stream
 * placement for a few seconds (isTransientPlacement); an actor starting then waits instead of failing.
 */
async function untilPlaced<T>(operation: () => Promise<T>, retryForMs = 30_000): Promise<T> {
  const giveUpAt = performance.now() + retryForMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (!isTransientPlacement(error) || performance.now() >= giveUpAt) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 100 * 2 ** attempt)));
    }
  }
}

/** Creates or updates every stream; returns the names applied. */
export async function applyStreams(manager: JetStreamManager, options: TopologyOptions): Promise<string[]> {
  const applied: string[] = [];
  for (const stream of streamNames) {
    const config = streamConfig(stream, options);
    await untilPlaced(async () => {
      try {
        await manager.streams.info(config.name);
        await manager.streams.update(config.name, config);
      } catch (error) {
        if (!isNotFound(error)) throw error;
        await manager.streams.add(config);
      }
    });
    applied.push(config.name);
  }
  return applied;
}

/**
 * A stream or bucket that `sluice bootstrap` has not made (yet), or made for another run config: a
 * configuration error of the deployment (exit 2), whose fix is to run the bootstrap.
 */
export class MissingTopologyError extends ConfigError {
  constructor(what: string, problem = 'does not exist', fix = 'Run `sluice bootstrap` as the admin user') {
    super(what, problem, fix);
    this.name = 'MissingTopologyError';
  }
}

/** Throws MissingTopologyError naming the first stream of the topology that does not exist. */
export async function requireStreams(manager: JetStreamManager): Promise<void> {
  for (const name of streamNames) {
    try {
      await manager.streams.info(name);
    } catch (error) {
      if (isNotFound(error)) throw new MissingTopologyError(`stream ${name}`);
      throw error;
    }
  }
}

export interface BucketSpec {
  bucket: string;
  /** Values kept per key. */
  history: number;
  /** How long a value lives after its last write (leases); none: forever. */
  ttlMs?: number;
  replicas: number;
  description?: string;
}

/**
 * Creates the KV bucket, or brings an existing one to the spec (a lease TTL changed in the run
 * config, a replica count raised for a cluster): the bootstrap's half of openBucket.
 */
export async function applyBucket(jetstream: JetStreamClient, spec: BucketSpec): Promise<KV> {
  const kv = await untilPlaced(() =>
    new Kvm(jetstream).create(spec.bucket, {
      history: spec.history,
      replicas: spec.replicas,
      ...(spec.ttlMs !== undefined ? { ttl: spec.ttlMs } : {}),
      ...(spec.description !== undefined ? { description: spec.description } : {}),
    }),
  );
  const manager = await jetstream.jetstreamManager();
  const stream = `KV_${spec.bucket}`;
  const { config } = await manager.streams.info(stream);
  const wanted = {
    max_msgs_per_subject: spec.history,
    max_age: nanos(spec.ttlMs ?? 0),
    num_replicas: spec.replicas,
  };
  if (
    config.max_msgs_per_subject !== wanted.max_msgs_per_subject ||
    config.max_age !== wanted.max_age ||
    config.num_replicas !== wanted.num_replicas
  ) {
    await untilPlaced(() => manager.streams.update(stream, { ...config, ...wanted }));
  }
  return kv;
}

/** Opens an existing KV bucket; MissingTopologyError when there is none. */
export async function openBucket(jetstream: JetStreamClient, bucket: string): Promise<KV> {
  const kv = await new Kvm(jetstream).open(bucket);
  try {
    // Opening binds without a request; status() asks the server whether the bucket is there.
    await kv.status();
  } catch (error) {
    if (isNotFound(error)) throw new MissingTopologyError(`KV bucket ${bucket}`);
    throw error;
  }
  return kv;
}

/** How long a delivered message may stay unacknowledged before redelivery, unless a spec says. */
export const DEFAULT_ACK_WAIT_MS = 30_000;

export interface DurableConsumerSpec {
  stream: string;
  durable: string;
  /** One subject filter (works on nats-server 2.9, which refuses `filter_subjects` arrays). */
  filterSubject: string;
  /** Upper bound on unacknowledged messages handed to this consumer: the backpressure limit. */
  maxAckPending?: number;
  /** Deliveries before a failing message is dead-lettered by the consumer runner. */
  maxDeliver?: number;
  ackWaitMs?: number;
  /**
   * One reader at a time (a partition's owner, a single-writer actor): acknowledgements are
   * cumulative (AckPolicy.All), one per checkpoint instead of one per message. Never for a consumer
   * that instances share message by message.
   */
  exclusive?: boolean;
  deliverPolicy?: DeliverPolicy;
  optStartSeq?: number;
}

export function consumerConfig(spec: DurableConsumerSpec): Partial<ConsumerConfig> {
  return {
    durable_name: spec.durable,
    ack_policy: spec.exclusive ? AckPolicy.All : AckPolicy.Explicit,
    filter_subject: spec.filterSubject,
    max_ack_pending: spec.maxAckPending ?? 1024,
    // The runner dead-letters at maxDeliver itself; the server bound is one more so the runner gets
    // to see the last delivery and copy it out before the server would give up silently.
    max_deliver: (spec.maxDeliver ?? 5) + 1,
    ack_wait: nanos(spec.ackWaitMs ?? DEFAULT_ACK_WAIT_MS),
    deliver_policy: spec.deliverPolicy ?? DeliverPolicy.All,
    ...(spec.optStartSeq !== undefined ? { opt_start_seq: spec.optStartSeq } : {}),
  };
}

/**
 * Creates the durable consumer, or updates the fields a durable consumer may change. A consumer
 * whose ack policy differs (made by an earlier version) cannot be updated: it is made again to resume
 * right after what it had acknowledged.
 */
export async function applyConsumer(manager: JetStreamManager, spec: DurableConsumerSpec): Promise<void> {
  const config = consumerConfig(spec);
  try {
    const existing = await manager.consumers.info(spec.stream, spec.durable);
    if (existing.config.ack_policy !== config.ack_policy) {
      await manager.consumers.delete(spec.stream, spec.durable);
      await manager.consumers.add(spec.stream, {
        ...config,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: acknowledgedFloor(existing) + 1,
      });
      return;
    }
    await manager.consumers.update(spec.stream, spec.durable, {
      max_ack_pending: config.max_ack_pending,
      max_deliver: config.max_deliver,
      ack_wait: config.ack_wait,
    });
  } catch (error) {
    if (!isNotFound(error)) throw error;
    await manager.consumers.add(spec.stream, config);
  }
}

/**
 * The last stream sequence a durable consumer has had handled. A consumer created to resume at
 * sequence S reports an ack floor of 0 until its first acknowledgement, yet everything before S was
 * handled by the consumer it replaced: without this, a second restart before any acknowledgement
 * would replay nothing and start again from the first message.
 */
export function acknowledgedFloor(info: ConsumerInfo): number {
  const resumedAfter =
    info.config.deliver_policy === DeliverPolicy.StartSequence ? (info.config.opt_start_seq ?? 1) - 1 : 0;
  return Math.max(info.ack_floor.stream_seq, resumedAfter);
}
