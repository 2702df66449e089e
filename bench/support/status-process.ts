// A bench's system under test in a process of its own (as `sluice run` runs it), so the bench's load
// generator and measurements share neither its heap nor its event loop. The child prints one JSON
// status line at a time on stdout; SIGTERM stops it gracefully. BENCH_CPU_PROF_DIR=DIR makes each child
// write a V8 CPU profile there (node refuses --cpu-prof in NODE_OPTIONS).
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const supportDir = dirname(fileURLToPath(import.meta.url));

export class StatusProcess<Status extends { rss: number }> {
  status: Status;
  peakRss = 0;
  private readonly child: ChildProcess;
  private readonly firstStatus: Promise<void>;

  /** Runs bench/support/`script` with `args`, NATS_URL set to `natsUrl`. */
  constructor(script: string, args: readonly string[], natsUrl: string, initial: Status) {
    this.status = initial;
    const profile = process.env.BENCH_CPU_PROF_DIR;
    const nodeArgs = profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : [];
    this.child = spawn(
      process.execPath,
      [...nodeArgs, '--import', 'tsx', join(supportDir, script), ...args],
      {
        env: { ...process.env, NATS_URL: natsUrl, SLUICE_LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const lines = createInterface({ input: this.child.stdout! });
    this.firstStatus = new Promise((resolve) => lines.once('line', () => resolve()));
    lines.on('line', (line) => {
      this.status = JSON.parse(line) as Status;
      this.peakRss = Math.max(this.peakRss, this.status.rss);
    });
  }

  /** Resolves once the child has started and reported. */
  ready(): Promise<void> {
    return this.firstStatus;
  }

  async stop(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}

/**
 * The child's side: prints `status()` with the process's RSS as one JSON line every 100 ms, and on
 * SIGTERM runs `stop` and exits.
 */
export function reportStatus(status: () => Record<string, number>, stop: () => Promise<void>): void {
  const report = setInterval(() => {
    process.stdout.write(`${JSON.stringify({ ...status(), rss: process.memoryUsage.rss() })}\n`);
  }, 100);
  process.once('SIGTERM', async () => {
    clearInterval(report);
    await stop();
    process.exit(0);
  });
}
