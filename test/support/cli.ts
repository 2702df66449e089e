// Runs the real `sluice` CLI as a child process, as an operator or a script would.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstream } from '@nats-io/jetstream';
import { readRunConfig } from '../../actors/runtime/config.ts';
import { bootstrapNats } from '../../bin/commands/bootstrap.ts';
import { connectNats } from '../../streams/connection.ts';
import { killOnExit } from './cleanup.ts';
import { freePort } from './ports.ts';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const sharedDataDir = join(repoRoot, '..', 'shared', 'data');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 120_000,
): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'sluice.js'), ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? -1, stdout, stderr });
    });
  });
}

export async function fetchText(url: string): Promise<{ status: number; text: string } | undefined> {
  try {
    const response = await fetch(url);
    return { status: response.status, text: await response.text() };
  } catch {
    return undefined;
  }
}

/** The risk gate's seal key of every `sluice run` a test starts, unless its `env` names another. */
export const TEST_GATE_KEY = '5e'.repeat(32);

/** A `sluice run` child process, as an operator starts it. */
export interface SluiceRun {
  child: ChildProcess;
  /** `http://127.0.0.1:<port>` of its operator HTTP server. */
  base: string;
  /** What it has written on stderr so far. */
  stderr(): string;
  /** Its exit code, once it exits. */
  exited: Promise<number | null>;
  /** Polls /ready until it answers 200 (asserting the process lives meanwhile), within 30 s; its body. */
  ready(): Promise<string>;
}

/**
 * Does what `sluice bootstrap --config FILE` does, in this process (quicker than a CLI start), on the
 * server `env.NATS_URL` names: as on a deployment, `sluice run` only opens the streams and buckets.
 */
export async function bootstrap(env: Record<string, string>, configFile?: string): Promise<void> {
  const connection = await connectNats({ url: env.NATS_URL ?? '', name: 'test-bootstrap' });
  try {
    await bootstrapNats(jetstream(connection), {
      replicas: 1,
      ...(configFile ? { config: readRunConfig(configFile) } : {}),
    });
  } finally {
    await connection.close();
  }
}

/**
 * Writes a run config into `dir` (the sample backtest's trading section on account `paper`, daily bars,
 * `extra` on top), bootstraps the server for it (see bootstrap; not when `bootstrap` is false: the
 * test made it so) and starts `sluice run --config … --actors …` with `env`; killed when the test
 * process exits.
 */
export async function startSluiceRun(options: {
  dir: string;
  name: string;
  actors: string;
  env: Record<string, string>;
  extra?: Record<string, unknown>;
  bootstrap?: boolean;
}): Promise<SluiceRun> {
  const port = await freePort();
  const sample = JSON.parse(readFileSync(join(repoRoot, 'simulations/configs/sample-daily.json'), 'utf8'));
  const configFile = join(options.dir, `${options.name}.json`);
  writeFileSync(
    configFile,
    JSON.stringify({
      name: options.name,
      featureSet: 'default',
      barInterval: '1d',
      strategy: 'daily-lr',
      trading: { ...sample.trading, account: 'paper' },
      http: { port, host: '127.0.0.1' },
      metrics: { pollIntervalMs: 200 },
      seed: 1,
      ...options.extra,
    }),
  );
  if (options.bootstrap !== false) await bootstrap(options.env, configFile);
  const child = spawn(
    process.execPath,
    [join(repoRoot, 'bin', 'sluice.js'), 'run', '--config', configFile, '--actors', options.actors],
    {
      cwd: repoRoot,
      env: { ...process.env, SLUICE_GATE_KEY: TEST_GATE_KEY, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  killOnExit(child);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const base = `http://127.0.0.1:${port}`;
  return {
    child,
    base,
    stderr: () => stderr,
    exited,
    ready: async () => {
      const deadline = performance.now() + 30_000;
      for (;;) {
        const ready = await fetchText(`${base}/ready`);
        if (ready?.status === 200) return ready.text;
        assert.equal(child.exitCode, null, `sluice run exited early:\n${stderr}`);
        assert.ok(performance.now() < deadline, `not ready in 30 s: ${ready?.text}\n${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    },
  };
}
