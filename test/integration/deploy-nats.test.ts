// The deploy NATS configuration (deploy/nats/*.conf, unmodified) on a real 3-node cluster: ports,
// store dirs and passwords come from the environment, as in docker compose. A feed user cannot
// publish an order intent, the risk-gate user can, and an operator halts a running risk gate that is
// connected as its role user.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { RiskGateActor } from '../../actors/risk/actor.ts';
import { parseRiskLimits } from '../../actors/risk/limits.ts';
import { FixedNotionalSizer } from '../../actors/risk/sizing.ts';
import { GateKey } from '../../core/gate-seal.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { NatsActorBus } from '../../streams/bus.ts';
import { connectNats, type NatsConnection } from '../../streams/connection.ts';
import { sendControl } from '../../streams/control.ts';
import { applyStreams } from '../../streams/topology.ts';
import { killOnExit, removeOnExit } from '../support/cleanup.ts';
import { repoRoot } from '../support/cli.ts';
import { natsServerBinary } from '../support/nats-server.ts';
import { freePort } from '../support/ports.ts';

const ROLES = ['sys', 'feed', 'strategy', 'risk', 'execution', 'portfolio', 'alerts', 'operator', 'admin'];
const password = (role: string) => `${role}-pw-for-tests`;
const servers: ChildProcess[] = [];
const urls: string[] = [];
let dir: string;

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

before(async () => {
  const binary = natsServerBinary();
  assert.ok(binary, 'nats-server must be on PATH');
  dir = mkdtempSync(join(tmpdir(), 'sluice-deploy-nats-'));
  removeOnExit(dir);
  const nodes = [];
  for (let index = 1; index <= 3; index++) {
    nodes.push({ index, port: await freePort(), cluster: await freePort(), monitor: await freePort() });
  }
  const routes = Object.fromEntries(
    nodes.map((node) => [`NATS_ROUTE_${node.index}`, `nats-route://127.0.0.1:${node.cluster}`]),
  );
  const passwords = Object.fromEntries(
    ROLES.map((role) => [`SLUICE_${role.toUpperCase()}_PASSWORD`, password(role)]),
  );
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
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    child.once('exit', (code) => {
      if (code !== null && code !== 0) console.error(`nats-${node.index} exited ${code}: ${stderr}`);
    });
    servers.push(child);
    urls.push(`nats://127.0.0.1:${node.port}`);
  }
  for (const node of nodes) {
    const deadline = performance.now() + 15_000;
    while (!(await listening(node.port))) {
      assert.ok(performance.now() < deadline, `nats-${node.index} did not listen`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
});

after(async () => {
  for (const child of servers) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function connectAs(role: string, url = urls.join(',')): Promise<NatsConnection> {
  return connectNats({ url, natsUser: role, natsPassword: password(role), name: `test-${role}` });
}

/** Resolves with the first permission error the server reports on this connection. */
async function permissionError(connection: NatsConnection, timeoutMs: number): Promise<string | undefined> {
  const timeout = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), timeoutMs));
  const watch = (async () => {
    for await (const status of connection.status()) {
      if (status.type === 'error' && /permission/i.test(String(status.error))) return String(status.error);
    }
    return undefined;
  })();
  return Promise.race([watch, timeout]);
}

test('feeds cannot publish order intents, the risk gate can, an operator halts the gate', async () => {
  const admin = await connectAs('admin');
  // JetStream on a fresh cluster answers once its meta leader is elected.
  const deadline = performance.now() + 20_000;
  for (;;) {
    try {
      await applyStreams(await jetstreamManager(admin, { timeout: 1_000 }), { replicas: 3 });
      break;
    } catch (error) {
      assert.ok(performance.now() < deadline, `JetStream not ready: ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  const intents: string[] = [];
  const watch = admin.subscribe('ord.intent.>', {
    callback: (_error, message) => {
      intents.push(new TextDecoder().decode(message.data));
    },
  });
  await admin.flush();

  const feed = await connectAs('feed');
  const denied = permissionError(feed, 3_000);
  feed.publish('ord.intent.AAPL', 'from-feed');
  await feed.flush();
  assert.match((await denied) ?? 'no error', /permissions violation for publish to "ord\.intent\.AAPL"/i);
  // ...while its own market data goes through.
  await jetstream(feed).publish('md.bar.0.AAPL', 'not-validated-here');

  const risk = await connectAs('risk');
  risk.publish('ord.intent.AAPL', 'from-risk');
  await risk.flush();

  // The risk gate, as its role user, serves ctl.risk.*; an operator halts it.
  const subjects = new Subjects(4);
  const gate = await RiskGateActor.start({
    bus: new NatsActorBus(jetstream(risk), await jetstreamManager(risk), subjects),
    account: 'paper',
    core: { limits: parseRiskLimits({}), sizer: new FixedNotionalSizer(1_000) },
    startState: 'reducing',
    gateKey: GateKey.forRun('deploy-nats'),
    control: risk,
  });
  const operator = await connectAs('operator');
  const reply = await sendControl(operator, subjects, 'risk', 'halt', {
    operator: 'alice',
    reason: 'deploy test',
    now: Date.now(),
  });
  assert.equal(reply.ok, true, reply.error);
  assert.equal(reply.state, 'halted');
  assert.equal(gate.status().state, 'halted');

  // An operator cannot publish intents either.
  const operatorDenied = permissionError(operator, 3_000);
  operator.publish('ord.intent.MSFT', 'from-operator');
  await operator.flush();
  assert.match((await operatorDenied) ?? 'no error', /permissions violation/i);

  await admin.flush();
  assert.deepEqual(intents, ['from-risk']);
  await gate.stop();
  watch.unsubscribe();
  for (const connection of [feed, risk, operator, admin]) await connection.close();
});
