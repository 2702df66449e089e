// One FeatureActor instance of the live bench in a process of its own: it owns the partitions given
// on the command line (comma-separated) and reads NATS_URL. Prints one JSON status line every 100 ms
// (ticks handled, vectors published, RSS); SIGTERM stops it gracefully.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { FeatureActor } from '../../actors/feature/actor.ts';
import { DEFAULT_FEATURE_SET } from '../../actors/feature/feature-set.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { NatsActorBus } from '../../streams/bus.ts';
import { connectNats } from '../../streams/connection.ts';
import { reportStatus } from './status-process.ts';

const partitions = (process.argv[2] ?? '').split(',').map(Number);
const connection = await connectNats({ url: process.env.NATS_URL ?? '', name: 'bench-feature' });
const bus = new NatsActorBus(jetstream(connection), await jetstreamManager(connection), new Subjects(4));
const actor = await FeatureActor.start({
  bus,
  set: DEFAULT_FEATURE_SET,
  partitions,
  barInterval: '1s',
  staleAfterMs: 60_000,
  durablePrefix: 'bench-feature',
});
reportStatus(
  () => {
    const status = actor.status();
    return { ticks: status.counters.ticks, published: status.published };
  },
  async () => {
    await actor.stop();
    await bus.close();
    await connection.close();
  },
);
