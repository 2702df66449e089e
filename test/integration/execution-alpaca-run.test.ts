// `sluice run` at Alpaca, as an operator runs it: a child process whose run config names
// trading.broker alpaca (the loopback Alpaca trading server, test/support/loopback/alpaca-trading.ts,
// in this process) with paper credentials from the environment, on real NATS and PostgreSQL.
// - Killed (SIGKILL) between sending an order and the venue's acknowledgement, then started again:
//   the order is found at the venue by its client order id, never placed twice.
// - `sluice orders`, `sluice positions`, `sluice reconcile`, `sluice status` and /metrics show the
//   venue's view beside Sluice's and the account mode.
// - Real money is opt-in: `live: true` with paper credentials only, a ccxt exchange outside its sandbox
//   without `live: true`, missing credentials: exit 2 with one line, before anything starts.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { GateKey, sealIntent } from '../../core/gate-seal.ts';
import { clientOrderIdFor, orderIdFor } from '../../core/lineage-ids.ts';
import type { OrderEvent, OrderIntent } from '../../schemas/messages.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { NatsActorBus } from '../../streams/bus.ts';
import { connectNats, type NatsConnection } from '../../streams/connection.ts';
import { fetchText, repoRoot, runCli, startSluiceRun, TEST_GATE_KEY } from '../support/cli.ts';
import { alpacaBar, readSpyBars } from '../support/loopback/alpaca.ts';
import {
  type AlpacaTradingLoopback,
  startAlpacaTradingLoopback,
} from '../support/loopback/alpaca-trading.ts';
import { natsForTests } from '../support/nats-server.ts';
import { postgresForTests } from '../support/postgres.ts';
import { until } from '../support/wait.ts';

const KEY = 'PKRUNTEST';
const SECRET = 'run-test-secret';

let nats: Awaited<ReturnType<typeof natsForTests>>;
let postgres: Awaited<ReturnType<typeof postgresForTests>>;
let venue: AlpacaTradingLoopback;
let dir: string;

before(async () => {
  [nats, postgres] = await Promise.all([natsForTests(), postgresForTests()]);
  const bars = (await readSpyBars(200)).map(alpacaBar);
  venue = await startAlpacaTradingLoopback({
    keyId: KEY,
    secretKey: SECRET,
    bars: { SPY: bars },
    cash: 1_000_000,
  });
  dir = mkdtempSync(join(tmpdir(), 'sluice-exec-run-'));
});
after(async () => {
  await venue?.close();
  await nats?.close();
  await postgres?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The sample's trading section at the loopback Alpaca, with `broker` fields on top. */
function trading(broker: Record<string, unknown>): Record<string, unknown> {
  const sample = JSON.parse(readFileSync(join(repoRoot, 'simulations/configs/sample-daily.json'), 'utf8'));
  return {
    ...sample.trading,
    account: 'paper',
    broker: { kind: 'alpaca', baseUrl: venue.baseUrl, streamUrl: venue.streamUrl, ...broker },
  };
}

test('sluice run at Alpaca: killed between submit and acknowledgement, restarted, the order is at the venue once', async (t) => {
  const env = {
    NATS_URL: nats.url,
    DATABASE_URL: postgres.url,
    SLUICE_PARTITIONS: '4',
    SLUICE_LOG_LEVEL: 'warn',
    SLUICE_BROKER_KEY_ID: KEY,
    SLUICE_BROKER_SECRET: SECRET,
  };
  // Long enough that the first process waits for the held acknowledgement rather than asking the
  // venue; the second's shorter, as the SDK's request timer outlives a request and holds the exit.
  const extra = (requestTimeoutMs: number) => ({
    trading: trading({ requestTimeoutMs, unknownOrders: 'halt' }),
  });
  const runs = [] as Awaited<ReturnType<typeof startSluiceRun>>[];
  t.after(() => {
    for (const run of runs)
      if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
  });
  const first = await startSluiceRun({
    dir,
    name: 'exec-crash',
    actors: 'risk,execution,portfolio',
    env,
    extra: extra(60_000),
  });
  runs.push(first);
  await first.ready();

  let connection: NatsConnection | undefined;
  try {
    connection = await connectNats({ url: nats.url, name: 'test-gate' });
    const manager = await jetstreamManager(connection);
    const subjects = new Subjects(4);
    const gate = new NatsActorBus(jetstream(connection), manager, subjects);
    const send = async (fields: Partial<OrderIntent> & Pick<OrderIntent, 'id'>) => {
      const intent: OrderIntent = {
        schema: 'order_intent.v2',
        ts_event: venue.now(),
        ts_init: venue.now(),
        strategy: 'test',
        symbol: 'SPY',
        side: 'sell',
        quantity: 1,
        order_type: 'limit',
        limit_price: 1_000,
        time_in_force: 'day',
        reduce_only: false,
        signal_id: fields.id.replace(/:intent$/, ''),
        ...fields,
      };
      const sealed = sealIntent(
        intent,
        { decisionId: `${intent.signal_id}:decision` },
        GateKey.fromHex(TEST_GATE_KEY),
      );
      await gate.publish('order_intent', subjects.orderIntent('SPY'), sealed);
      await gate.flush();
      return sealed;
    };
    const events = async (orderId: string): Promise<OrderEvent[]> => {
      const { state } = await manager.streams.info('ORDERS');
      const out: OrderEvent[] = [];
      const messages = await (
        await jetstream(connection as NatsConnection).consumers.get('ORDERS')
      ).consume();
      let seen = 0;
      for await (const message of messages) {
        const body = message.json<OrderEvent>();
        if (body.schema === 'order_event.v1' && body.order_id === orderId) out.push(body);
        if (++seen >= state.messages) break;
      }
      messages.stop();
      return out;
    };

    venue.holdNextOrderAnswer(120_000);
    const resting = await send({ id: 'sig:run:1:intent' });
    const orderId = orderIdFor(resting.id);
    await until('the order at the venue', () => venue.orders().length === 1);
    first.child.kill('SIGKILL');
    await first.exited;
    assert.deepEqual(
      (await events(orderId)).map((e) => e.status),
      ['submitted'],
      'the acknowledgement never came',
    );

    const second = await startSluiceRun({
      dir,
      name: 'exec-crash',
      actors: 'risk,execution,portfolio',
      env,
      extra: extra(5_000),
      bootstrap: false,
    });
    runs.push(second);
    await second.ready();
    assert.equal(venue.orders().length, 1, 'found by its client order id, not placed again');
    // The loopback records a request when it answers: the first process's (held) is not answered yet.
    assert.equal(
      venue.requests.filter((r) => r.method === 'POST' && r.path === '/v2/orders').length,
      0,
      'the restarted process sent no order',
    );
    assert.deepEqual(
      (await events(orderId)).map((e) => e.status),
      ['submitted', 'accepted'],
    );

    // The operator's views: Sluice's beside the venue's.
    const orders = await runCli(['orders', '--json'], env);
    assert.equal(orders.code, 0, orders.stderr);
    const ordersReply = JSON.parse(orders.stdout).data;
    assert.deepEqual(
      ordersReply.sluice.orders.map((o: { order_id: string; status: string }) => [o.order_id, o.status]),
      [[orderId, 'accepted']],
    );
    assert.deepEqual(
      ordersReply.venueBooks.orders.map((o: { clientOrderId: string }) => o.clientOrderId),
      [clientOrderIdFor(orderId)],
    );
    const human = await runCli(['orders'], env);
    assert.match(human.stdout, /at the venue alpaca-paper \(paper\):/);

    const reconcile = await runCli(['reconcile', '--json'], env);
    assert.equal(reconcile.code, 0, reconcile.stderr);
    const reconciled = JSON.parse(reconcile.stdout);
    assert.equal(reconciled.data.outcome, 'ok');
    assert.equal(reconciled.data.trigger, 'operator');
    assert.match(
      (await runCli(['reconcile'], env)).stdout,
      /^alpaca-paper \(paper\): ok; 0 difference\(s\), 0 unexplained$/m,
    );

    // A market order fills: the position shows on both sides; the round trip is measured.
    const bought = await send({
      id: 'sig:run:2:intent',
      side: 'buy',
      quantity: 3,
      order_type: 'market',
      limit_price: undefined,
    });
    await until('filled', async () =>
      (await events(orderIdFor(bought.id))).some((e) => e.status === 'filled'),
    );
    await until('the portfolio', async () => {
      const positions = await runCli(['positions', '--json'], env);
      return JSON.parse(positions.stdout).data.positions.some(
        (p: { symbol: string; quantity: number }) => p.symbol === 'SPY' && p.quantity === 3,
      );
    });
    const positions = JSON.parse((await runCli(['positions', '--json'], env)).stdout).data;
    assert.deepEqual(positions.venue.venueBooks.positions, [{ symbol: 'SPY', quantity: 3 }]);
    assert.deepEqual(positions.venue.sluice.positions, [{ symbol: 'SPY', quantity: 3 }]);
    assert.match((await runCli(['positions'], env)).stdout, /venue alpaca-paper \(paper\)/);

    const status = await runCli(['status', '--json'], env);
    assert.equal(JSON.parse(status.stdout).execution.status.accountMode, 'paper');
    assert.match(
      (await runCli(['status'], env)).stdout,
      /^Account {3}PAPER at alpaca-paper, broker connected, last reconciliation ok$/m,
    );
    const metrics = (await fetchText(`${second.base}/metrics`))?.text ?? '';
    assert.match(metrics, /^sluice_execution_account_mode\{venue="alpaca-paper",account_mode="paper"\} 1$/m);
    assert.match(metrics, /^sluice_execution_account_mode\{venue="alpaca-paper",account_mode="live"\} 0$/m);
    assert.match(metrics, /^sluice_order_roundtrip_seconds_count\{venue="alpaca-paper"\} 1$/m);
    assert.match(metrics, /^sluice_execution_reconciled\{venue="alpaca-paper"\} 1$/m);

    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0, second.stderr());
  } finally {
    await connection?.close();
  }
});

test('real money is opt-in: sluice run refuses a live account without live: true and the live credentials (exit 2, one line)', async () => {
  const cases: [string, Record<string, unknown>, Record<string, string>, RegExp][] = [
    [
      'live with paper credentials only',
      { kind: 'alpaca', live: true },
      { SLUICE_BROKER_KEY_ID: KEY, SLUICE_BROKER_SECRET: SECRET },
      /^sluice: configuration error: SLUICE_BROKER_LIVE_KEY_ID: is not set: live: true with paper credentials only\. /,
    ],
    [
      'live without credentials',
      { kind: 'alpaca', live: true },
      {},
      /^sluice: configuration error: SLUICE_BROKER_LIVE_KEY_ID: is not set \(live: true trades real money/,
    ],
    [
      'a ccxt exchange outside its sandbox without live: true',
      { kind: 'ccxt', exchange: 'binance', sandbox: false, symbols: ['BTC/USDT'] },
      { SLUICE_BROKER_LIVE_KEY_ID: 'AK', SLUICE_BROKER_LIVE_SECRET: 'S' },
      /^sluice: configuration error: \/trading\/broker\/sandbox: is false without live: true: binance outside its sandbox is real money/,
    ],
    [
      'paper without credentials',
      { kind: 'alpaca' },
      {},
      /^sluice: configuration error: SLUICE_BROKER_KEY_ID: is not set \(alpaca paper trading needs it\)/,
    ],
  ];
  const sample = JSON.parse(readFileSync(join(repoRoot, 'simulations/configs/sample-daily.json'), 'utf8'));
  for (const [name, broker, credentials, expected] of cases) {
    const file = join(dir, `optin-${name.replace(/\W+/g, '-')}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        name: 'optin',
        featureSet: 'default',
        barInterval: '1d',
        strategy: 'daily-lr',
        trading: { ...sample.trading, broker },
        http: { port: 0 },
        seed: 1,
      }),
    );
    // No NATS and no database: refused before either is reached.
    const result = await runCli(['run', '--config', file, '--actors', 'execution'], {
      NATS_URL: 'nats://127.0.0.1:1',
      DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
      SLUICE_GATE_KEY: TEST_GATE_KEY,
      SLUICE_BROKER_KEY_ID: '',
      SLUICE_BROKER_SECRET: '',
      SLUICE_BROKER_LIVE_KEY_ID: '',
      SLUICE_BROKER_LIVE_SECRET: '',
      ...credentials,
    });
    assert.equal(result.code, 2, `${name}: ${result.stderr}`);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${name}: ${result.stderr}`);
    assert.match(lines[0] ?? '', expected, name);
  }
  const bad = await runCli(['reconcile', '--timeout', 'soon'], { NATS_URL: 'nats://127.0.0.1:1' });
  assert.equal(bad.code, 2, bad.stderr);
});
