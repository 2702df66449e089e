// A FeatureActor in a process of its own, so a test can SIGKILL it mid-stream and start it again.
// Prints one JSON status line per 20 ms on stdout; SIGTERM stops it gracefully.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { FeatureActor } from '../../actors/feature/actor.ts';
import { DEFAULT_FEATURE_SET } from '../../actors/feature/feature-set.ts';
import { createLogger } from '../../core/logger.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { NatsActorBus } from '../../streams/bus.ts';
import { connectNats } from '../../streams/connection.ts';
import { createDatabase } from '../../timescale/database.ts';

const connection = await connectNats({ url: process.env.NATS_URL ?? '', name: 'feature-actor-test' });
const logger = createLogger({ actor: 'feature' });
const bus = new NatsActorBus(
  jetstream(connection),
  await jetstreamManager(connection),
  new Subjects(4),
  logger,
);
const db = createDatabase(process.env.DATABASE_URL ?? '');
const actor = new FeatureActor({
  bus,
  set: DEFAULT_FEATURE_SET,
  partitions: [0, 1, 2, 3],
  db,
  durablePrefix: 'feat',
  logger,
});
await actor.start();
const report = setInterval(() => {
  const status = actor.status();
  process.stdout.write(
    `${JSON.stringify({ bars: status.counters.bars, published: status.published, state: status.state })}\n`,
  );
}, 20);
process.once('SIGTERM', async () => {
  clearInterval(report);
  await actor.stop();
  await bus.close();
  await connection.close();
  await db.destroy();
  process.exit(0);
});
