// Where the CLI finds NATS and PostgreSQL: NATS_URL / DATABASE_URL, else the standard local ports.
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import pg from 'pg';
import { readEnvironment, redactUrl, type SluiceEnvironment } from '../core/config.ts';
import { UnreachableError } from '../core/errors.ts';
import { Subjects } from '../schemas/subjects.ts';
import { connectNats, type NatsConnection } from '../streams/connection.ts';
import { applyStreams, requireStreams } from '../streams/topology.ts';

export { redactUrl };

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

/**
 * What a command does about the streams at start: `require` them (stop with the bootstrap fix when one
 * is missing), `apply` them (the demo, on a server of its own), or `none` (it needs none, or only
 * its own: the model registry, a backtest's `bt.<run>.` streams).
 */
export type TopologyAtStart = 'require' | 'apply' | 'none';

/** Connects with the environment's credentials: an UnreachableError (exit 3) when it cannot. */
export function connectToNats(environment: SluiceEnvironment, name: string): Promise<NatsConnection> {
  const url = natsUrl(environment);
  return connectNats({ ...environment, url, name }).catch((error: Error) => {
    throw new UnreachableError('NATS', 'NATS_URL', redactUrl(url), error.message);
  });
}

export async function connectBus(name: string, topology: TopologyAtStart): Promise<Bus> {
  const environment = readEnvironment();
  const connection = await connectToNats(environment, name);
  const manager = await jetstreamManager(connection);
  if (topology === 'apply') await applyStreams(manager, { replicas: environment.streamReplicas });
  if (topology === 'require') await requireStreams(manager);
  return {
    connection,
    jetstream: jetstream(connection),
    manager,
    subjects: new Subjects(environment.partitions),
    environment,
  };
}

/** Opens one connection to the database and closes it: an UnreachableError (exit 3) when it cannot. */
export async function reachDatabase(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  // A server that drops the connection later must not crash the process with an unhandled 'error'.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    throw new UnreachableError('PostgreSQL', 'DATABASE_URL', redactUrl(url), (error as Error).message);
  } finally {
    await client.end().catch(() => {});
  }
}
