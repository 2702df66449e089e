// A FeatureActor in a process of its own, so a test can SIGKILL it mid-stream and start it again.
// Prints one JSON status line per 20 ms on stdout; SIGTERM stops it gracefully. Driven by
// test/support/feature-actors.ts (FeatureActorProcess). Environment:
//   NATS_URL, DATABASE_URL
//   FEATURE_PARTITIONS        e.g. `0,1`: the partitions it owns (default all four); with
//                             FEATURE_LEASE_MS, the ones it prefers
//   FEATURE_LEASE_MS          share the partitions with other processes through leases
//                             (actors/feature/leased-partitions.ts); FEATURE_HOLDER names this one,
//                             FEATURE_STANDBY_DELAY_MS is its wait before standing by for the rest
//   FEATURE_MAX_BUFFERED_ROWS the writers' buffer bound
//   FEATURE_TRACE=1           also prints a line per market message handled (partition, subject, at)
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { FeatureActor } from '../../actors/feature/actor.ts';
import { DEFAULT_FEATURE_SET } from '../../actors/feature/feature-set.ts';
import { LeasedFeatureActors } from '../../actors/feature/leased-partitions.ts';
import { createLogger } from '../../core/logger.ts';
import type { MessageName } from '../../schemas/messages.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { type ActorBus, NatsActorBus, type SubscribeOptions } from '../../streams/bus.ts';
import { connectNats } from '../../streams/connection.ts';
import { applyLeaseBucket } from '../../streams/leader-election.ts';
import { createDatabase } from '../../timescale/database.ts';

const env = process.env;
const connection = await connectNats({ url: env.NATS_URL ?? '', name: 'feature-actor-test' });
const logger = createLogger({ actor: 'feature' });
const subjects = new Subjects(4);
const natsBus = new NatsActorBus(jetstream(connection), await jetstreamManager(connection), subjects, logger);
const write = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);

/** Prints each handled market message, with the partition of its subject and the wall clock. */
const bus: ActorBus =
  env.FEATURE_TRACE === '1'
    ? {
        subjects,
        publish: (name, subject, event) => natsBus.publish(name, subject, event),
        flush: () => natsBus.flush(),
        subscribe: <N extends MessageName>(options: SubscribeOptions<N>) =>
          natsBus.subscribe({
            ...options,
            handler: (message, delivery) => {
              const partition = Number(delivery.subject.split('.')[2]);
              write({ event: 'handled', partition, seq: delivery.streamSequence, at: Date.now() });
              return options.handler(message, delivery);
            },
          }),
      }
    : natsBus;

const db = createDatabase(env.DATABASE_URL ?? '');
const partitions = (env.FEATURE_PARTITIONS ?? '0,1,2,3').split(',').map(Number);
const common = {
  bus,
  set: DEFAULT_FEATURE_SET,
  db,
  durablePrefix: 'feat',
  logger,
  ...(env.FEATURE_MAX_BUFFERED_ROWS ? { maxBufferedRows: Number(env.FEATURE_MAX_BUFFERED_ROWS) } : {}),
};
let actor: FeatureActor | LeasedFeatureActors;
if (env.FEATURE_LEASE_MS) {
  const leaseMs = Number(env.FEATURE_LEASE_MS);
  actor = await LeasedFeatureActors.start({
    ...common,
    kv: await applyLeaseBucket(jetstream(connection), 'feature_leases', leaseMs),
    holder: env.FEATURE_HOLDER ?? `pid-${process.pid}`,
    leaseMs,
    preferred: partitions,
    ...(env.FEATURE_STANDBY_DELAY_MS ? { standbyDelayMs: Number(env.FEATURE_STANDBY_DELAY_MS) } : {}),
  });
} else {
  actor = await FeatureActor.start({ ...common, partitions });
}

const report = setInterval(() => {
  const status = actor.status();
  write({
    bars: status.counters.bars,
    published: status.published,
    state: status.state,
    buffered: status.buffered,
    partitions: status.partitions,
    heapUsed: process.memoryUsage().heapUsed,
  });
}, 20);
process.once('SIGTERM', async () => {
  clearInterval(report);
  await actor.stop();
  await natsBus.close();
  await connection.close();
  await db.destroy();
  process.exit(0);
});
