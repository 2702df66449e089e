// Starts real `nats-server -js` processes on free loopback ports in temp dirs, for tests, benches
// and the demo. A handle can stop, kill (SIGKILL, for fault tests) and restart its server on the same
// port and store, so durable state survives like it would in production.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killOnExit, removeOnExit } from './cleanup.ts';
import { dockerAnswers, startNatsContainer } from './containers.ts';
import { freePort } from './ports.ts';

export interface NatsServerHandle {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** Graceful stop (SIGTERM); the store stays for restart(). */
  stop(): Promise<void>;
  /** Abrupt SIGKILL, as a crash would. */
  kill(): Promise<void>;
  /** Starts the server again on the same port and store. */
  restart(): Promise<void>;
  /** Freezes the server (SIGSTOP): connections stay open, nothing is answered; resume() thaws it. */
  pause(): void;
  resume(): void;
  /** Stops the server and removes its temp dir. */
  dispose(): Promise<void>;
}

export interface NatsServerOptions {
  /** Extra configuration text appended to the generated config file (accounts, cluster...). */
  extraConfig?: string;
  port?: number;
}

export function natsServerBinary(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nats-server exited with code ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => {
        socket.end();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`nats-server did not listen on ${port} within ${timeoutMs} ms`);
}

export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const binary = natsServerBinary();
  if (!binary) {
    throw new Error(
      'nats-server is not on PATH: install it (Debian: apt-get install nats-server) or set NATS_URL',
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'sluice-nats-'));
  const unregister = removeOnExit(dir);
  const storeDir = join(dir, 'jetstream');
  const port = options.port ?? (await freePort());
  const configFile = join(dir, 'nats.conf');
  writeFileSync(
    configFile,
    [
      'host: 127.0.0.1',
      `port: ${port}`,
      `jetstream { store_dir: "${storeDir}" }`,
      // Tests publish bursts; a roomy pending buffer keeps slow-consumer cut-offs out of results.
      'max_pending: 256MB',
      options.extraConfig ?? '',
    ].join('\n'),
  );

  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn(binary, ['-c', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    killOnExit(child);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    try {
      await waitForPort(port, child, 10_000);
    } catch (error) {
      child.kill('SIGKILL');
      throw new Error(`${(error as Error).message}\n${stderr}`);
    }
  };
  const terminate = async (signal: NodeJS.Signals) => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill(signal);
    await exited;
  };

  await launch();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    stop: () => terminate('SIGTERM'),
    kill: () => terminate('SIGKILL'),
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    restart: async () => {
      await terminate('SIGTERM');
      await launch();
    },
    dispose: async () => {
      await terminate('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      unregister();
    },
  };
}

/** NATS_URL when set; else a container when a Docker engine answers; else a fresh nats-server of our own. */
export async function natsForTests(): Promise<{
  url: string;
  server?: NatsServerHandle;
  close(): Promise<void>;
}> {
  if (process.env.NATS_URL) return { url: process.env.NATS_URL, close: async () => {} };
  // A container has no server handle here: fault tests that stop or kill the server skip there.
  if (await dockerAnswers()) return startNatsContainer();
  const server = await startNatsServer();
  return { url: server.url, server, close: () => server.dispose() };
}
