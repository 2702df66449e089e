// The deploy NATS configuration (deploy/nats/*.conf, unmodified) on a real 3-node cluster: ports,
// store dirs and passwords come from the environment, as in docker compose. For the tests of the
// role users' permissions.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { bootstrapNats } from '../../bin/commands/bootstrap.ts';
import { connectNats, type NatsConnection } from '../../streams/connection.ts';
import { killOnExit, removeOnExit } from './cleanup.ts';
import { repoRoot } from './cli.ts';
import { natsServerBinary } from './nats-server.ts';
import { freePort } from './ports.ts';

/** The users of deploy/nats/accounts.conf. */
export const ROLES = [
  'sys',
  'feed',
  'replay',
  'strategy',
  'risk',
  'execution',
  'portfolio',
  'alerts',
  'operator',
  'admin',
] as const;
export type Role = (typeof ROLES)[number];

export const rolePassword = (role: Role): string => `${role}-pw-for-tests`;

export interface DeployCluster {
  /** The three client URLs, comma-separated, as NATS_URL takes them. */
  url: string;
  connectAs(role: Role): Promise<NatsConnection>;
  /** NATS_URL, NATS_USER and NATS_PASSWORD for a CLI child process running as `role`. */
  envFor(role: Role): Record<string, string>;
  /** The servers' log lines reporting a permissions violation so far (`Publish Violation - User "feed", ...`). */
  violations(): string[];
  close(): Promise<void>;
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

export async function startDeployCluster(): Promise<DeployCluster> {
  const binary = natsServerBinary();
  assert.ok(binary, 'nats-server must be on PATH');
  const dir = mkdtempSync(join(tmpdir(), 'sluice-deploy-nats-'));
  const unregister = removeOnExit(dir);
  const nodes = [];
  for (let index = 1; index <= 3; index++) {
    nodes.push({ index, port: await freePort(), cluster: await freePort(), monitor: await freePort() });
  }
  const routes = Object.fromEntries(
    nodes.map((node) => [`NATS_ROUTE_${node.index}`, `nats-route://127.0.0.1:${node.cluster}`]),
  );
  const passwords = Object.fromEntries(
    ROLES.map((role) => [`SLUICE_${role.toUpperCase()}_PASSWORD`, rolePassword(role)]),
  );
  const servers: ChildProcess[] = [];
  const violations: string[] = [];
  for (const node of nodes) {
    const child = spawn(binary, ['-c', join(repoRoot, 'deploy', 'nats', 'nats.conf')], {
      env: {
        ...process.env,
        ...routes,
        ...passwords,
        NATS_SERVER_NAME: `nats-${node.index}`,
        NATS_HOST: '127.0.0.1',
        NATS_PORT: String(node.port),
        NATS_MONITOR_PORT: String(node.monitor),
        NATS_CLUSTER_PORT: String(node.cluster),
        NATS_STORE_DIR: join(dir, `node-${node.index}`),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    killOnExit(child);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      stderr = (stderr + text).slice(-4000);
      for (const line of text.split('\n')) if (/Violation/.test(line)) violations.push(line);
    });
    child.once('exit', (code) => {
      if (code !== null && code !== 0) console.error(`nats-${node.index} exited ${code}: ${stderr}`);
    });
    servers.push(child);
  }
  for (const node of nodes) {
    const deadline = performance.now() + 15_000;
    while (!(await listening(node.port))) {
      assert.ok(performance.now() < deadline, `nats-${node.index} did not listen`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  const url = nodes.map((node) => `nats://127.0.0.1:${node.port}`).join(',');
  return {
    url,
    connectAs: (role) =>
      connectNats({ url, natsUser: role, natsPassword: rolePassword(role), name: `test-${role}` }),
    envFor: (role) => ({ NATS_URL: url, NATS_USER: role, NATS_PASSWORD: rolePassword(role) }),
    violations: () => [...violations],
    close: async () => {
      for (const child of servers) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      unregister();
    },
  };
}

/**
 * `sluice bootstrap` as admin, with R3 streams, retried while the fresh cluster elects its JetStream
 * meta leader (it answers nothing until then).
 */
export async function bootstrapAsAdmin(
  cluster: DeployCluster,
  options: Omit<Parameters<typeof bootstrapNats>[1], 'replicas'> = {},
): Promise<void> {
  const admin = await cluster.connectAs('admin');
  try {
    const deadline = performance.now() + 30_000;
    for (;;) {
      try {
        await bootstrapNats(jetstream(admin, { timeout: 2_000 }), { replicas: 3, ...options });
        return;
      } catch (error) {
        assert.ok(performance.now() < deadline, `JetStream not ready: ${(error as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  } finally {
    await admin.close();
  }
}

/**
 * Collects the subjects the server refused this connection to publish to (it reports each as a
 * permissions violation and keeps the connection), so a test can send many and check them together.
 */
export function refusedPublishes(connection: NatsConnection): { subjects: Set<string>; stop(): void } {
  const subjects = new Set<string>();
  let stopped = false;
  void (async () => {
    for await (const status of connection.status()) {
      if (stopped) return;
      if (status.type !== 'error') continue;
      const match = /permissions violation for publish to "([^"]+)"/i.exec(String(status.error));
      if (match?.[1]) subjects.add(match[1]);
    }
  })();
  return {
    subjects,
    stop: () => {
      stopped = true;
    },
  };
}
