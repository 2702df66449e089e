// `sluice run` as a child process on real NATS and PostgreSQL: waits for /ready, scrapes /metrics,
// halts with `sluice halt`, sees the state in `sluice status --json`, then SIGTERM exits 0.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fetchText, runCli, startSluiceRun } from '../support/cli.ts';
import { natsForTests } from '../support/nats-server.ts';
import { postgresForTests } from '../support/postgres.ts';

let nats: Awaited<ReturnType<typeof natsForTests>>;
let postgres: Awaited<ReturnType<typeof postgresForTests>>;
let dir: string;

before(async () => {
  [nats, postgres] = await Promise.all([natsForTests(), postgresForTests()]);
  dir = mkdtempSync(join(tmpdir(), 'sluice-run-'));
});
after(async () => {
  await nats?.close();
  await postgres?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('sluice run: ready, metrics, halt over the CLI, status shows it, SIGTERM exits 0', async (t) => {
  const env = { NATS_URL: nats.url, DATABASE_URL: postgres.url, SLUICE_LOG_LEVEL: 'warn' };
  const run = await startSluiceRun({
    dir,
    name: 'test-run',
    actors: 'feature,inference,risk,execution,portfolio,alerts',
    env,
    extra: { alerts: { sinks: [] } },
  });
  const { child, base, exited } = run;
  // A failed assertion must not leave the child holding the test process open.
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const ready = await run.ready();
  assert.deepEqual(JSON.parse(ready), { ready: true, reasons: [] });
  assert.equal((await fetchText(`${base}/health`))?.status, 200);

  // Consumer lag is polled from JetStream: scrape until the first poll has landed.
  let metrics = '';
  for (const deadline = Date.now() + 15_000; Date.now() < deadline; ) {
    metrics = (await fetchText(`${base}/metrics`))?.text ?? '';
    if (/^sluice_consumer_pending\{stream="SIGNALS",consumer="risk-signals"\}/m.test(metrics)) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.match(metrics, /^sluice_risk_trading_state\{state="active"\} 1$/m);
  assert.match(metrics, /^sluice_risk_reconciled 1$/m);
  assert.match(metrics, /^sluice_portfolio_equity\{account="paper"\} 1000000$/m);
  assert.match(metrics, /^sluice_actor_events_total\{actor="portfolio",direction="out"\} [1-9]/m);
  assert.match(metrics, /^sluice_consumer_pending\{stream="SIGNALS",consumer="risk-signals"\} 0$/m);
  assert.match(metrics, /^# TYPE sluice_inference_latency_seconds histogram$/m);
  assert.match(metrics, /^# TYPE sluice_risk_decisions_total counter$/m);

  const halt = await runCli(['halt', '--json', '--reason', 'test', '--operator', 'tester'], env);
  assert.equal(halt.code, 0, halt.stderr);
  assert.equal(JSON.parse(halt.stdout).state, 'halted');
  const again = await runCli(['halt'], env);
  assert.equal(again.code, 1, 'a second halt is refused');
  assert.match(again.stdout, /refused halt: HALT refused in halted/);

  const status = await runCli(['status', '--json'], env);
  assert.equal(status.code, 0, status.stderr);
  const report = JSON.parse(status.stdout);
  assert.equal(report.risk.running, true);
  assert.equal(report.risk.state, 'halted');

  const positions = await runCli(['positions', '--json'], env);
  assert.equal(positions.code, 0, positions.stderr);
  assert.equal(JSON.parse(positions.stdout).data.account, 'paper');
  const orders = await runCli(['orders'], env);
  assert.equal(orders.code, 0, orders.stderr);
  assert.match(orders.stdout, /no open orders/);
  const badArgs = await runCli(['halt', '--timeout', 'soon'], env);
  assert.equal(badArgs.code, 2);

  const scraped = (await fetchText(`${base}/metrics`))?.text ?? '';
  assert.match(scraped, /^sluice_risk_trading_state\{state="halted"\} 1$/m);

  child.kill('SIGTERM');
  assert.equal(await exited, 0, run.stderr());

  // Nobody answers now: exit 3 for scripts.
  const gone = await runCli(['halt', '--timeout', '500'], env);
  assert.equal(gone.code, 3, gone.stderr);
});

test('sluice run with the risk gate or execution and no SLUICE_GATE_KEY stops with exit 2 and one line saying how to make one', async () => {
  const env = { NATS_URL: nats.url, DATABASE_URL: postgres.url, SLUICE_GATE_KEY: '' };
  for (const actors of ['risk', 'execution,portfolio']) {
    const result = await runCli(['run', '--config', 'deploy/sluice.json', '--actors', actors], env, 30_000);
    assert.equal(result.code, 2, result.stderr);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(
      lines[0]!,
      /^sluice: configuration error: SLUICE_GATE_KEY: is not set; .*`openssl rand -hex 32`/,
    );
  }
  const short = await runCli(
    ['run', '--config', 'deploy/sluice.json', '--actors', 'risk'],
    { ...env, SLUICE_GATE_KEY: 'abcd1234' },
    30_000,
  );
  assert.equal(short.code, 2, short.stderr);
  assert.match(
    short.stderr,
    /SLUICE_GATE_KEY: must be at least 64 hex characters \(32 bytes\); got 8 characters/,
  );
  assert.ok(!short.stderr.includes('abcd1234'), 'the key is never printed');
});
