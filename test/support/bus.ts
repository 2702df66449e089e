// A connected NATS client on a bootstrapped server (streams, KV buckets, model store, as `sluice
// bootstrap` makes them), for integration tests.
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { bootstrapNats } from '../../bin/commands/bootstrap.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { connectNats, type NatsConnection } from '../../streams/connection.ts';
import { type NatsServerHandle, natsForTests } from './nats-server.ts';

export interface TestBus {
  url: string;
  server: NatsServerHandle | undefined;
  connection: NatsConnection;
  jetstream: JetStreamClient;
  manager: JetStreamManager;
  subjects: Subjects;
  close(): Promise<void>;
}

export async function startTestBus(partitions = 4): Promise<TestBus> {
  const nats = await natsForTests();
  const connection = await connectNats({ url: nats.url, name: 'sluice-test' });
  const manager = await jetstreamManager(connection);
  const client = jetstream(connection);
  await bootstrapNats(client, { replicas: 1 });
  return {
    url: nats.url,
    server: nats.server,
    connection,
    jetstream: client,
    manager,
    subjects: new Subjects(partitions),
    close: async () => {
      await connection.close();
      await nats.close();
    },
  };
}
