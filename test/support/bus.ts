// A connected NATS client with Sluice's streams applied, for integration tests.
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Subjects } from '../../schemas/subjects.ts';
import { connectNats, type NatsConnection } from '../../streams/connection.ts';
import { applyStreams } from '../../streams/topology.ts';
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
  await applyStreams(manager, { replicas: 1 });
  return {
    url: nats.url,
    server: nats.server,
    connection,
    jetstream: jetstream(connection),
    manager,
    subjects: new Subjects(partitions),
    close: async () => {
      await connection.close();
      await nats.close();
    },
  };
}
