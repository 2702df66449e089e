// One NATS connection per process: reconnects forever with jittered waits (a restarted server or a
// cluster failover must not kill an actor), and takes credentials and TLS from configuration.
import { readFileSync } from 'node:fs';
import type { JetStreamClient } from '@nats-io/jetstream';
import { JetStreamClientImpl } from '@nats-io/jetstream/internal';
import {
  connect,
  credsAuthenticator,
  type NatsConnection,
  type NodeConnectionOptions,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
} from '@nats-io/transport-node';
import type { SluiceEnvironment } from '../core/config.ts';

export type { NatsConnection };

export type NatsAuthOptions = Pick<
  SluiceEnvironment,
  'natsUser' | 'natsPassword' | 'natsToken' | 'natsCredsFile' | 'natsTlsCaFile'
>;

export interface ConnectOptions extends Partial<NatsAuthOptions> {
  url: string;
  /** Shown in the server's connection list, e.g. `sluice-feature-0`. */
  name?: string;
}

export function connectionOptions(options: ConnectOptions): NodeConnectionOptions {
  const authenticators = [];
  if (options.natsUser) {
    authenticators.push(usernamePasswordAuthenticator(options.natsUser, options.natsPassword ?? ''));
  }
  if (options.natsToken) authenticators.push(tokenAuthenticator(options.natsToken));
  if (options.natsCredsFile) authenticators.push(credsAuthenticator(readFileSync(options.natsCredsFile)));
  return {
    servers: options.url.split(',').map((server) => server.trim()),
    name: options.name ?? 'sluice',
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 100,
    pingInterval: 10_000,
    // Every JetStream publish and pull is a request; capturing a stack trace for each (the default)
    // cost more than the message's own parsing on the hot paths. Errors keep their messages.
    noAsyncTraces: true,
    ...(authenticators.length > 0 ? { authenticator: authenticators } : {}),
    ...(options.natsTlsCaFile ? { tls: { caFile: options.natsTlsCaFile } } : {}),
  };
}

export function connectNats(options: ConnectOptions): Promise<NatsConnection> {
  return connect(connectionOptions(options));
}

/** `2.9.10` -> [2, 9, 10]; used to avoid features a 2.9 server refuses. */
export function serverVersion(connection: NatsConnection): [number, number, number] {
  const [major = 0, minor = 0, patch = 0] = (connection.info?.version ?? '0.0.0')
    .split('.')
    .map((part) => Number.parseInt(part, 10));
  return [major, minor, patch];
}

/** The connection a JetStream client runs on, to read what its server announced (version, max_payload). */
export function connectionOf(jetstream: JetStreamClient): NatsConnection | undefined {
  return jetstream instanceof JetStreamClientImpl ? jetstream.nc : undefined;
}

/**
 * Whether the server reads a reason after `+TERM` (2.10.4 and later). An older one (2.9.10 here) takes
 * `+TERM <reason>` for no acknowledgement at all and redelivers the message; a plain `+TERM` works on every
 * version.
 */
export function termTakesReason(connection: NatsConnection): boolean {
  const [major, minor, patch] = serverVersion(connection);
  return major > 2 || (major === 2 && (minor > 10 || (minor === 10 && patch >= 4)));
}

/** The server's default max_payload, for a connection that has not told its own yet. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** The largest message (headers and body) the server takes, as its INFO announced. */
export function maxPayload(connection: NatsConnection | undefined): number {
  return connection?.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
}
