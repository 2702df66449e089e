// Where the CLI finds NATS and PostgreSQL: NATS_URL / DATABASE_URL, else the standard local ports.
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { readEnvironment, type SluiceEnvironment } from '../core/config.ts';
import { Subjects } from '../schemas/subjects.ts';
import { connectNats, type NatsConnection } from '../streams/connection.ts';
import { applyStreams } from '../streams/topology.ts';

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export interface Bus {
  connection: NatsConnection;
  jetstream: JetStreamClient;
  manager: JetStreamManager;
  subjects: Subjects;
  environment: SluiceEnvironment;
}

export function natsUrl(environment: SluiceEnvironment): string {
  return environment.natsUrl ?? DEFAULT_NATS_URL;
}

export function databaseUrl(environment: SluiceEnvironment): string {
  return environment.databaseUrl ?? DEFAULT_DATABASE_URL;
}

/** Connects, and applies the streams when `applyTopology` (commands that publish). */
export async function connectBus(name: string, applyTopology: boolean): Promise<Bus> {
  const environment = readEnvironment();
  const connection = await connectNats({ ...environment, url: natsUrl(environment), name });
  const manager = await jetstreamManager(connection);
  if (applyTopology) await applyStreams(manager, { replicas: environment.streamReplicas });
  return {
    connection,
    jetstream: jetstream(connection),
    manager,
    subjects: new Subjects(environment.partitions),
    environment,
  };
}

/** A URL without its password, for output. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}
