// Sweeps over a real nats-server: jobs on the SWEEP_JOBS work queue, run by separate worker processes.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { maCrossoverRunner } from '../../simulations/sweep-jobs.ts';
import {
  aggregateSweep,
  applySweepTopology,
  gridJobs,
  readSweepResults,
  SWEEP_JOB_STREAM,
  type SweepJob,
  submitSweep,
  type WorkerSummary,
} from '../../simulations/sweep-queue.ts';
import { startTestBus, type TestBus } from '../support/bus.ts';
import { repoRoot } from '../support/cli.ts';

const ACK_WAIT_MS = 1_500;

// A worker process as `sluice worker` runs it (workerMain), plus a test-only kind that sleeps before
// delegating to the real ma-crossover job, so a test can catch a worker in the middle of a job.
const workerScript = `
const { workerMain } = await import(${JSON.stringify(pathToFileURL(join(repoRoot, 'bin/commands/worker.ts')).href)});
const { maCrossoverRunner } = await import(${JSON.stringify(pathToFileURL(join(repoRoot, 'simulations/sweep-jobs.ts')).href)});
const slow = {
  kind: 'slow-ma-crossover',
  async run(params) {
    await new Promise((resolve) => setTimeout(resolve, Number(process.env.SLOW_MS)));
    return maCrossoverRunner.run(params);
  },
};
const summary = await workerMain({ idleExitMs: Number(process.env.IDLE_MS), ackWaitMs: ${ACK_WAIT_MS}, runners: [slow] });
console.log(JSON.stringify(summary));
`;

interface WorkerProcess {
  child: ChildProcess;
  /** Resolves when a stderr log line contains `text`. */
  logged(text: string): Promise<void>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; summary: WorkerSummary | null }>;
}

function startWorker(url: string, env: { SLOW_MS: number; IDLE_MS: number }): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', workerScript], {
    cwd: repoRoot,
    env: { ...process.env, NATS_URL: url, SLOW_MS: String(env.SLOW_MS), IDLE_MS: String(env.IDLE_MS) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    for (const waiter of waiters) if (stderr.includes(waiter.text)) waiter.resolve();
  });
  const exit = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    summary: WorkerSummary | null;
  }>((resolve) =>
    child.on('close', (code, signal) => {
      const line = stdout.trim().split('\n').pop();
      if (code !== 0 && signal === null) console.error(stderr);
      resolve({ code, signal, summary: line ? (JSON.parse(line) as WorkerSummary) : null });
    }),
  );
  return {
    child,
    exit,
    logged: (text) =>
      new Promise<void>((resolve, reject) => {
        if (stderr.includes(text)) return resolve();
        waiters.push({ text, resolve });
        const timer = setTimeout(
          () => reject(new Error(`worker never logged "${text}":\n${stderr}`)),
          20_000,
        );
        child.on('close', () => {
          clearTimeout(timer);
          if (!stderr.includes(text)) reject(new Error(`worker exited before logging "${text}":\n${stderr}`));
        });
      }),
  };
}

function countByJob(results: { jobId: string }[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const result of results) counts.set(result.jobId, (counts.get(result.jobId) ?? 0) + 1);
  return counts;
}

describe('sweeps on a JetStream work queue', () => {
  let bus: TestBus;
  const workers: WorkerProcess[] = [];
  before(async () => {
    bus = await startTestBus();
    await applySweepTopology(bus.manager, { ackWaitMs: ACK_WAIT_MS });
  });
  after(async () => {
    for (const worker of workers) if (worker.child.exitCode === null) worker.child.kill('SIGKILL');
    await bus?.close();
  });

  it('runs 12 jobs on 2 worker processes, each job exactly once', async () => {
    const jobs = gridJobs('grid', 'ma-crossover', {
      symbol: ['AAPL', 'XOM'],
      fast: [5, 10, 20],
      slow: [50, 100],
    });
    assert.equal(jobs.length, 12);
    assert.equal(new Set(jobs.map((job) => job.id)).size, 12);
    const pair = [
      startWorker(bus.url, { SLOW_MS: 0, IDLE_MS: 2_500 }),
      startWorker(bus.url, { SLOW_MS: 0, IDLE_MS: 2_500 }),
    ];
    workers.push(...pair);
    await Promise.all(pair.map((worker) => worker.logged('worker ready')));

    assert.deepEqual(await submitSweep(bus.jetstream, jobs), { published: 12, duplicates: 0 });
    // Re-submitting is idempotent: Nats-Msg-Id is the job id.
    assert.deepEqual(await submitSweep(bus.jetstream, jobs), { published: 0, duplicates: 12 });

    const exits = await Promise.all(pair.map((worker) => worker.exit));
    for (const exit of exits) assert.equal(exit.code, 0);
    const summaries = exits.map((exit) => exit.summary!);
    // Executions, not just stored results: the two workers ran 12 jobs between them, both took part.
    assert.equal(summaries[0]!.processed + summaries[1]!.processed, 12);
    for (const summary of summaries) {
      assert.ok(summary.processed >= 1, `worker ${summary.worker} ran no job`);
      assert.equal(summary.stoppedBy, 'idle');
    }

    const results = await readSweepResults(bus.jetstream, 'grid');
    const counts = countByJob(results);
    assert.deepEqual([...counts.keys()].sort(), jobs.map((job) => job.id).sort());
    for (const [jobId, count] of counts) assert.equal(count, 1, jobId);
    for (const result of results) {
      assert.equal(result.status, 'ok');
      assert.equal(result.delivery, 1);
    }
    assert.deepEqual(
      new Set(results.map((result) => result.worker)),
      new Set(summaries.map((s) => s.worker)),
    );
    // The work queue is empty once every job is acked.
    assert.equal((await bus.manager.streams.info(SWEEP_JOB_STREAM)).state.messages, 0);

    // A stored result is what the job gives when run here.
    const sample = results[0]!;
    assert.deepEqual(sample.metrics, (await maCrossoverRunner.run(sample.params)).metrics);

    const table = aggregateSweep('grid', results);
    assert.equal(table.trials, 12);
    assert.ok(table.sharpeVariance !== null && table.sharpeVariance > 0);
    assert.ok(table.expectedMaxSharpe > 0);
    for (let i = 1; i < table.rows.length; i++)
      assert.ok(table.rows[i - 1]!.sharpe! >= table.rows[i]!.sharpe!);
    // Against the expected best of 12 trials, every trial's deflated Sharpe is below its plain PSR.
    for (const row of table.rows) assert.ok(row.deflatedSharpe! < row.probabilisticSharpe!, row.jobId);
  });

  it('dead-letters a malformed job with the reason and never runs it; the jobs around it still run', async () => {
    const [before, after] = gridJobs('hostile', 'ma-crossover', {
      symbol: ['AAPL'],
      fast: [5],
      slow: [50, 100],
    }) as [SweepJob, SweepJob];
    const subject = 'sweep.job.hostile';
    const hostile = [
      '{"schema":"sweep_job.v1","id":"hostile.',
      JSON.stringify({ ...before, id: 'hostile.0000000000000001', params: 'rm -rf /' }),
      JSON.stringify({ ...before, id: 'hostile.0000000000000002', kind: 'ma-crossover', extra: true }),
    ];
    await submitSweep(bus.jetstream, [before]);
    for (const [index, body] of hostile.entries())
      await bus.jetstream.publish(subject, body, { msgID: `hostile-${index}` });
    await submitSweep(bus.jetstream, [after]);
    const worker = startWorker(bus.url, { SLOW_MS: 0, IDLE_MS: 2_500 });
    workers.push(worker);
    const { code, summary } = await worker.exit;
    assert.equal(code, 0);
    assert.deepEqual({ processed: summary!.processed, failed: summary!.failed }, { processed: 2, failed: 0 });
    const results = await readSweepResults(bus.jetstream, 'hostile');
    assert.deepEqual(results.map((result) => result.jobId).sort(), [before.id, after.id].sort());

    const letters = await bus.jetstream.consumers.get('DEADLETTER');
    const reasons: string[] = [];
    for await (const message of await letters.fetch({ max_messages: 50, expires: 2_000 })) {
      const letter = message.json<{ reason: string; original_subject: string; consumer: string }>();
      if (letter.original_subject !== subject) continue;
      assert.equal(letter.consumer, 'sweep-workers');
      reasons.push(letter.reason);
      if (reasons.length === hostile.length) break;
    }
    assert.equal(reasons.length, hostile.length, reasons.join('\n'));
    assert.match(reasons[0] ?? '', /^sweep_job: malformed JSON/);
    assert.match(reasons[1] ?? '', /^sweep_job: \/params: /);
    assert.match(reasons[2] ?? '', /^sweep_job: (\/extra|\(root\)): /);
    // Terminated, not redelivered: the work queue holds nothing once the worker is gone.
    assert.equal((await bus.manager.streams.info(SWEEP_JOB_STREAM)).state.messages, 0);
  });

  it('re-delivers the job of a worker killed mid-job', async () => {
    const [job] = gridJobs('kill', 'slow-ma-crossover', { symbol: ['MSFT'], fast: [10], slow: [40] }) as [
      SweepJob,
    ];
    const doomed = startWorker(bus.url, { SLOW_MS: 60_000, IDLE_MS: 30_000 });
    workers.push(doomed);
    await doomed.logged('worker ready');
    await submitSweep(bus.jetstream, [job]);
    await doomed.logged('job started');
    doomed.child.kill('SIGKILL');
    assert.equal((await doomed.exit).signal, 'SIGKILL');

    const rescuer = startWorker(bus.url, { SLOW_MS: 100, IDLE_MS: ACK_WAIT_MS + 2_000 });
    workers.push(rescuer);
    const { code, summary } = await rescuer.exit;
    assert.equal(code, 0);
    assert.equal(summary!.processed, 1);
    const results = await readSweepResults(bus.jetstream, 'kill');
    assert.equal(results.length, 1);
    assert.equal(results[0]!.jobId, job.id);
    assert.equal(results[0]!.status, 'ok');
    assert.equal(results[0]!.worker, summary!.worker);
    assert.equal(results[0]!.delivery, 2);
  });

  it('drains on SIGTERM: the job in hand is finished and stored', async () => {
    const [job] = gridJobs('drain', 'slow-ma-crossover', { symbol: ['GE'], fast: [5], slow: [30] }) as [
      SweepJob,
    ];
    const worker = startWorker(bus.url, { SLOW_MS: 1_000, IDLE_MS: 30_000 });
    workers.push(worker);
    await worker.logged('worker ready');
    await submitSweep(bus.jetstream, [job]);
    await worker.logged('job started');
    worker.child.kill('SIGTERM');
    const { code, summary } = await worker.exit;
    assert.equal(code, 0);
    assert.deepEqual(
      { processed: summary!.processed, stoppedBy: summary!.stoppedBy },
      { processed: 1, stoppedBy: 'signal' },
    );
    const results = await readSweepResults(bus.jetstream, 'drain');
    assert.deepEqual(
      results.map((result) => [result.jobId, result.status, result.delivery]),
      [[job.id, 'ok', 1]],
    );
  });
});
