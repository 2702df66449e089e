// Operator commands as child processes on real NATS and PostgreSQL. `sluice flatten` against a running
// `sluice run` that holds a position (opened by a real bar → signal → order → fill through the risk
// gate, the simulated venue and the portfolio): the gate goes to reducing and sends a reduce-only
// closing order, which the next bar fills, leaving the position flat. `sluice tail SUBJECT` prints what
// is published on a subject, as JSON lines or human lines, and stops after --count.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { Bar, OrderIntent, Position, Signal } from '../../schemas/messages.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { NatsActorBus } from '../../streams/bus.ts';
import { connectNats, type NatsConnection } from '../../streams/connection.ts';
import { fetchText, runCli, startSluiceRun } from '../support/cli.ts';
import { natsForTests } from '../support/nats-server.ts';
import { postgresForTests } from '../support/postgres.ts';

let nats: Awaited<ReturnType<typeof natsForTests>>;
let postgres: Awaited<ReturnType<typeof postgresForTests>>;
let dir: string;

before(async () => {
  [nats, postgres] = await Promise.all([natsForTests(), postgresForTests()]);
  dir = mkdtempSync(join(tmpdir(), 'sluice-operator-'));
});
after(async () => {
  await nats?.close();
  await postgres?.close();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until every durable consumer has nothing pending or unacknowledged, twice in a row. */
async function settle(manager: JetStreamManager): Promise<void> {
  let quiet = 0;
  for (const deadline = Date.now() + 20_000; quiet < 2 && Date.now() < deadline; ) {
    let busy = false;
    for (const stream of ['MARKET', 'SIGNALS', 'ORDERS']) {
      for await (const info of manager.consumers.list(stream)) {
        if (info.config.durable_name && info.num_pending + info.num_ack_pending > 0) busy = true;
      }
    }
    quiet = busy ? 0 : quiet + 1;
    if (quiet < 2) await sleep(busy ? 20 : 50);
  }
  assert.equal(quiet, 2, 'consumers did not settle');
}

const HOUR = 3_600_000;

function bar(n: number, ts: number, close: number): Bar {
  return {
    schema: 'bar.v1',
    id: `test:bar:1h:AAPL:${n}`,
    ts_event: ts,
    ts_init: ts,
    symbol: 'AAPL',
    interval: '1h',
    open: close,
    high: close + 0.5,
    low: close - 0.5,
    close,
    volume: 100_000,
  };
}

test('sluice flatten: the open position gets a reduce-only closing order through the risk gate', async () => {
  const env = {
    NATS_URL: nats.url,
    DATABASE_URL: postgres.url,
    SLUICE_PARTITIONS: '4',
    SLUICE_LOG_LEVEL: 'warn',
  };
  // The sample's trading section: fixed notional 50,000 per order, every limit set, fills at the next bar.
  const run = await startSluiceRun({ dir, name: 'test-flatten', actors: 'risk,execution,portfolio', env });
  const { child, base, exited } = run;
  let connection: NatsConnection | undefined;
  try {
    await run.ready();

    // A feed of our own, as `sluice ingest` or a live adapter would publish.
    connection = await connectNats({ url: nats.url, name: 'test-feed' });
    const manager = await jetstreamManager(connection);
    const subjects = new Subjects(4);
    const feed = new NatsActorBus(jetstream(connection), manager, subjects);
    const publishBar = async (event: Bar) => {
      await feed.publish('bar', subjects.bar(event.symbol), event);
      await feed.flush();
      await settle(manager);
    };
    const positions = async (): Promise<Position[]> => {
      const result = await runCli(['positions', '--json'], env);
      assert.equal(result.code, 0, result.stderr);
      return JSON.parse(result.stdout).data.positions;
    };

    // Open a long: a bar for the reference price, a buy signal, the next bar fills it. Recent event
    // times, so the flatten signal (stamped now) sees fresh market data.
    const start = Date.now() - 2 * HOUR;
    await publishBar(bar(1, start, 100));
    const signal: Signal = {
      schema: 'signal.v1',
      id: 'test:sig:AAPL:1',
      ts_event: start,
      ts_init: start,
      strategy: 'daily-lr',
      symbol: 'AAPL',
      model_version: 'test-1',
      direction: 1,
      probability: 0.9,
      feature_id: 'test:feat:AAPL:1',
    };
    await feed.publish('signal', subjects.signal('daily-lr', 'AAPL'), signal);
    await feed.flush();
    await settle(manager);
    await publishBar(bar(2, start + HOUR, 98));
    const opened = (await positions()).find((p) => p.symbol === 'AAPL');
    assert.equal(opened?.quantity, 500, 'fixed notional 50,000 at 100');

    const flatten = await runCli(
      ['flatten', '--json', '--reason', 'integration test', '--operator', 'tester'],
      env,
    );
    assert.equal(flatten.code, 0, flatten.stderr);
    const reply = JSON.parse(flatten.stdout);
    assert.equal(reply.ok, true);
    assert.equal(reply.state, 'reducing');
    assert.deepEqual(reply.data.closing, [{ symbol: 'AAPL', quantity: 500 }]);
    assert.equal(reply.data.signals.length, 1);

    // The closing signal passed the gate: a reduce-only sell for the whole position is working.
    await settle(manager);
    const orders = await runCli(['orders', '--json'], env);
    assert.equal(orders.code, 0, orders.stderr);
    const working: OrderIntent[] = JSON.parse(orders.stdout).data.orders;
    assert.equal(working.length, 1, orders.stdout);
    const [closing] = working;
    assert.equal(closing?.strategy, 'flatten');
    assert.equal(closing?.symbol, 'AAPL');
    assert.equal(closing?.side, 'sell');
    assert.equal(closing?.quantity, 500, 'sized at 50,000 / 98 and capped at the position');
    assert.equal(closing?.reduce_only, true);

    // The next bar fills it: flat, nothing working, nothing left to close (human output names the state).
    await publishBar(bar(3, Date.now() + 1_000, 99));
    const [flat, none, again] = await Promise.all([
      positions(),
      runCli(['orders'], env),
      runCli(['flatten'], env),
    ]);
    assert.equal(flat.find((p) => p.symbol === 'AAPL')?.quantity, 0);
    assert.match(none.stdout, /no open orders/);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^risk: flatten done; trading state reducing$/m);
    const metrics = (await fetchText(`${base}/metrics`))?.text ?? '';
    assert.match(metrics, /^sluice_risk_trading_state\{state="reducing"\} 1$/m);
    assert.match(metrics, /^sluice_risk_decisions_total\{outcome="pass",code="OK"\} 2$/m);

    child.kill('SIGTERM');
    assert.equal(await exited, 0, run.stderr());
  } finally {
    await connection?.close();
    // A failed assertion must not leave the child holding the test process open.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

test('sluice tail: prints messages on a subject (JSON lines or human), stops after --count', async () => {
  const env = { NATS_URL: nats.url };
  const bad = await runCli(['tail', 'md..AAPL'], env);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /is not a NATS subject/);

  const connection = await connectNats({ url: nats.url, name: 'test-publisher' });
  try {
    const jsonTail = runCli(['tail', 'test.tail.json.*', '--count', '3', '--json'], env, 60_000);
    const humanTail = runCli(['tail', 'test.tail.human.>', '--count', '1'], env, 60_000);
    let done = false;
    const finished = Promise.all([jsonTail, humanTail]).finally(() => {
      done = true;
    });
    // The tails subscribe once their process is up: publish until both have had their fill.
    const at = Date.UTC(2024, 0, 2, 15, 30);
    for (let n = 1; !done && n <= 300; n++) {
      const body = n % 2 === 1 ? JSON.stringify({ n }) : `plain ${n}`;
      connection.publish(`test.tail.json.${n}`, body);
      connection.publish(
        'test.tail.human.AAPL',
        JSON.stringify({ schema: 'probe.v1', id: `probe:${n}`, ts_event: at, n }),
      );
      await connection.flush();
      await sleep(100);
    }
    const [json, human] = await finished;

    assert.equal(json.code, 0, json.stderr);
    const lines = json.stdout.trim().split('\n');
    assert.equal(lines.length, 3, json.stdout);
    const parsed = lines.map((line) => JSON.parse(line) as { subject: string; data: unknown });
    const first = Number(parsed[0]!.subject.split('.').at(-1));
    parsed.forEach(({ subject, data }, index) => {
      const n = first + index;
      assert.equal(subject, `test.tail.json.${n}`, 'in publish order, none skipped');
      // JSON bodies come back parsed, anything else as the text.
      assert.deepEqual(data, n % 2 === 1 ? { n } : `plain ${n}`);
    });

    assert.equal(human.code, 0, human.stderr);
    assert.match(
      human.stdout,
      /^2024-01-02T15:30:00\.000Z {2}test\.tail\.human\.AAPL {2}probe\.v1 {2}probe:\d+ {2}\{"schema":"probe\.v1".*\}\n$/,
    );
  } finally {
    await connection.close();
  }
});
