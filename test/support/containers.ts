// The harness's second choice after NATS_URL / DATABASE_URL: when a Docker engine answers, tests run
// against containers (a NATS JetStream server, and TimescaleDB so the hypertable path is exercised)
// started through testcontainers; otherwise local binaries. SLUICE_TESTCONTAINERS=0 turns it off.
import { existsSync } from 'node:fs';
import { request } from 'node:http';

const DOCKER_SOCKET = '/var/run/docker.sock';

/** True when a Docker engine answers GET /_ping on DOCKER_HOST (unix or tcp) or the default socket. */
export async function dockerAnswers(timeoutMs = 1_000): Promise<boolean> {
  if (process.env.SLUICE_TESTCONTAINERS === '0') return false;
  const host = process.env.DOCKER_HOST;
  let target: { socketPath: string } | { host: string; port: number };
  if (host?.startsWith('unix://')) target = { socketPath: host.slice('unix://'.length) };
  else if (host?.startsWith('tcp://')) {
    const url = new URL(host.replace('tcp://', 'http://'));
    target = { host: url.hostname, port: Number(url.port || 2375) };
  } else if (existsSync(DOCKER_SOCKET)) target = { socketPath: DOCKER_SOCKET };
  else return false;
  return new Promise((resolve) => {
    const ping = request({ ...target, path: '/_ping', method: 'GET', timeout: timeoutMs }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    ping.on('error', () => resolve(false));
    ping.on('timeout', () => {
      ping.destroy();
      resolve(false);
    });
    ping.end();
  });
}

export interface ContainerService {
  url: string;
  close(): Promise<void>;
}

export async function startNatsContainer(): Promise<ContainerService> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer('nats:2.10-alpine')
    .withCommand(['-js'])
    .withExposedPorts(4222)
    .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
    .start();
  return {
    url: `nats://${container.getHost()}:${container.getMappedPort(4222)}`,
    close: async () => {
      await container.stop();
    },
  };
}

export async function startTimescaleContainer(): Promise<ContainerService> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer('timescale/timescaledb:latest-pg15')
    .withEnvironment({ POSTGRES_PASSWORD: 'sluice', POSTGRES_USER: 'postgres' })
    .withExposedPorts(5432)
    // The image restarts the server once after initdb; the second "ready" line is the real one.
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .start();
  return {
    url: `postgres://postgres:sluice@${container.getHost()}:${container.getMappedPort(5432)}/postgres`,
    close: async () => {
      await container.stop();
    },
  };
}
