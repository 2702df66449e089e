// `sluice run` at a ccxt exchange (the Binance trading loopback, test/support/loopback/binance-trading.ts,
// in this process):
// - its config names no trading.venueRules: the run reads the exchange's markets (exchangeInfo's
//   LOT_SIZE and NOTIONAL filters) at start, and the risk gate sizes orders to them, so the order it
//   passes is one the exchange takes and a trade below the minimum notional is no order;
// - spot positions are BTC balances: the 0.5 BTC the account held before Sluice traded and the
//   commission Binance takes out of the BTC bought reconcile (at start, on `sluice reconcile`, after a
//   restart), and BTC that leaves the account otherwise is still a mismatch with its alert;
// - the position the gate sizes against is the BTC bought less that commission (fill.v1's
//   base_commission), so a sell that closes it is one the exchange's balance covers;
// - the exchange's clock is its tape's (2021-01-08), years behind Sluice's: an order's fills are looked
//   up by its id, so none is lost to a window on the wrong clock.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Bar, Signal } from '../../schemas/messages.ts';
import { NatsActorBus } from '../../streams/bus.ts';
import { sendControl } from '../../streams/control.ts';
import { createDatabase } from '../../timescale/database.ts';
import { startTestBus, type TestBus } from '../support/bus.ts';
import { repoRoot, runCli, type SluiceRun, startSluiceRun } from '../support/cli.ts';
import { loadSourceTrades } from '../support/loopback/binance.ts';
import { BinanceTradingLoopback } from '../support/loopback/binance-trading.ts';
import { postgresForTests } from '../support/postgres.ts';
import { ordersLedger, settle } from '../support/trading.ts';
import { sleep, until } from '../support/wait.ts';

const API_KEY = 'loopback-run-key';
const SECRET = 'loopback-run-secret';
const SYMBOL = 'BTC/USDT';

let bus: TestBus;
let postgres: Awaited<ReturnType<typeof postgresForTests>>;
let exchange: BinanceTradingLoopback;
let dir: string;
let run: SluiceRun | undefined;

before(async () => {
  [bus, postgres] = await Promise.all([startTestBus(), postgresForTests()]);
  exchange = await BinanceTradingLoopback.start({
    apiKey: API_KEY,
    secret: SECRET,
    // BTC held before Sluice trades: not Sluice's position, yet in the balance it reconciles against.
    balances: { USDT: '10000', BTC: '0.5' },
    trades: loadSourceTrades(),
  });
  dir = mkdtempSync(join(tmpdir(), 'sluice-ccxt-run-'));
});
after(async () => {
  if (run && run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
  await exchange?.close();
  await bus?.close();
  await postgres?.close();
  rmSync(dir, { recursive: true, force: true });
});

function bar(id: number, close: number, ts: number): Bar {
  return {
    schema: 'bar.v1',
    id: `ccxt-run:bar:${id}`,
    ts_event: ts,
    ts_init: ts,
    symbol: SYMBOL,
    interval: '1d',
    open: close,
    high: close,
    low: close,
    close,
    volume: 1,
  };
}

function signalOn(of: Bar, direction: 1 | -1): Signal {
  return {
    schema: 'signal.v1',
    id: `sig:${of.id}`,
    ts_event: of.ts_event,
    ts_init: of.ts_event,
    strategy: 'momentum',
    symbol: SYMBOL,
    model_version: 'test-1',
    direction,
    probability: 0.9,
    feature_id: of.id,
  };
}

const ENV = () => ({
  NATS_URL: bus.url,
  DATABASE_URL: postgres.url,
  SLUICE_PARTITIONS: '4',
  SLUICE_LOG_LEVEL: 'info',
  SLUICE_BROKER_KEY_ID: API_KEY,
  SLUICE_BROKER_SECRET: SECRET,
});

/** The run config's fields on top of the sample's: no trading.venueRules, `notional` USDT a signal. */
function runConfig(notional: number): Record<string, unknown> {
  const sample = JSON.parse(readFileSync(join(repoRoot, 'simulations/configs/sample-daily.json'), 'utf8'));
  return {
    trading: {
      ...sample.trading,
      account: 'paper',
      sizing: { kind: 'fixed-notional', notional },
      limits: {
        ...sample.trading.limits,
        instruments: { [SYMBOL]: { minQuantity: 0.00001, maxQuantity: 1, maxPosition: 1 } },
      },
      broker: {
        kind: 'ccxt',
        exchange: 'binance',
        symbols: [SYMBOL],
        restUrl: exchange.restUrl,
        wsUrl: exchange.wsApiUrl,
        requestTimeoutMs: 5_000,
        // An order placed by hand is followed as Sluice's own from the reconciliation that finds it.
        unknownOrders: 'adopt',
      },
    },
  };
}

/** `sluice run` of risk, execution and portfolio at the loopback exchange, its gate resumed. */
async function startRun(name: string, notional: number): Promise<SluiceRun> {
  run = await startSluiceRun({
    dir,
    name,
    actors: 'risk,execution,portfolio',
    env: ENV(),
    extra: runConfig(notional),
  });
  await run.ready();
  assert.match(run.stderr(), /instrument rules of 1 symbol\(s\) from binance/);
  const resumed = await sendControl(bus.connection, bus.subjects, 'risk', 'resume', {
    operator: 'test',
    reason: 'integration test',
    now: Date.now(),
  });
  assert.equal(resumed.state, 'active');
  return run;
}

async function stop(stopped: SluiceRun): Promise<void> {
  stopped.child.kill('SIGTERM');
  assert.equal(await stopped.exited, 0, stopped.stderr());
}

/** A bar, then a signal on it (long unless `direction` says), each taken by every consumer before the next. */
async function step(event: Bar, direction: 1 | -1 = 1): Promise<void> {
  const feeder = new NatsActorBus(bus.jetstream, bus.manager, bus.subjects);
  await feeder.publish('bar', bus.subjects.bar(SYMBOL), event);
  await feeder.flush();
  await settle(bus, undefined);
  await feeder.publish('signal', bus.subjects.signal('momentum', SYMBOL), signalOn(event, direction));
  await feeder.flush();
  await settle(bus, undefined);
}

test('a ccxt run without trading.venueRules sizes orders to the exchange lot size and minimum notional', async () => {
  const price = Number(exchange.lastPrice);
  const now = Date.now();

  // 4 USDT a signal: 0.0001014… BTC, 0.0001 in whole lots, 3.94 USDT, under exchangeInfo's NOTIONAL
  // minimum of 5: no order (the exchange would refuse it), and the decision says which rule.
  const small = await startRun('ccxt-rules-small', 4);
  await step(bar(1, price, now));
  let ledger = await ordersLedger(bus);
  assert.equal(ledger.intents.length, 0);
  const denied = ledger.decisions.at(-1);
  assert.equal(denied?.code, 'BELOW_MIN_NOTIONAL', small.stderr());
  assert.equal(denied?.checks.find((check) => check.check === 'BELOW_MIN_NOTIONAL')?.limit, 5);
  await stop(small);

  // 100 USDT a signal: 0.0025359… BTC, cut to whole lots of the LOT_SIZE step 0.00001.
  const sized = await startRun('ccxt-rules', 100);
  await step(bar(2, price, now + 1));
  await step(bar(3, 38_760, now + 2));
  ledger = await ordersLedger(bus);
  assert.deepEqual(
    ledger.intents.map((intent) => intent.quantity),
    [0.00253, 0.00257],
  );
  await until('both fills', async () => (await ordersLedger(bus)).fills.length === 2);
  // The exchange took both (no filter failure); its 0.1% commission came out of the BTC bought.
  assert.equal(exchange.balance('BTC').free, '0.50509490');
  await stop(sized);
});

test('spot balances reconcile net of the BTC held before and the commission; BTC gone otherwise is a mismatch, after a restart too', async () => {
  // Sluice's fills make 0.0051 BTC; the balance holds 0.5 more from before and 0.0000051 less commission.
  // A sell placed by hand rests at the exchange (its BTC locked, still in the balance).
  const hand = exchange.placeByHand({
    side: 'SELL',
    type: 'LIMIT',
    quantity: '0.01',
    price: '50000',
    timeInForce: 'GTC',
  });
  const reconciled = await startRun('ccxt-rules', 100);
  const reconcile = await runCli(['reconcile', '--json'], ENV());
  assert.equal(reconcile.code, 0, reconcile.stderr);
  assert.deepEqual(
    [JSON.parse(reconcile.stdout).data.outcome, JSON.parse(reconcile.stdout).data.differences],
    ['ok', []],
  );
  await stop(reconciled);

  // The database: Sluice's orders with the account mode and the exchange's ids, and a row for the
  // order adopted from the exchange, which has no intent in Sluice.
  const db = createDatabase(postgres.url);
  try {
    const orders = await db
      .selectFrom('orders')
      .select([
        'intent_id',
        'origin',
        'strategy',
        'order_type',
        'limit_price',
        'account_mode',
        'venue_order_id',
        'status',
      ])
      .orderBy('origin')
      .orderBy('ts')
      .execute();
    assert.deepEqual(
      orders.map((order) => [order.origin, order.strategy, order.account_mode, order.status]),
      [
        ['intent', 'momentum', 'paper', 'filled'],
        ['intent', 'momentum', 'paper', 'filled'],
        ['venue', null, 'paper', 'accepted'],
      ],
    );
    assert.ok(orders.every((order) => order.venue_order_id !== null));
    const adopted = orders.at(-1);
    assert.deepEqual(
      [adopted?.venue_order_id, adopted?.order_type, adopted?.limit_price],
      [String(hand.orderId), 'limit', 50_000],
    );
    const fills = await db
      .selectFrom('fills')
      .select(['account_mode', 'venue_order_id', 'venue_fill_id'])
      .execute();
    assert.equal(fills.length, 2);
    assert.ok(
      fills.every((fill) => fill.account_mode === 'paper' && fill.venue_order_id && fill.venue_fill_id),
    );
    const events = await db
      .selectFrom('order_events')
      .select(['status', 'account_mode', 'venue_order_id'])
      .execute();
    assert.ok(events.some((event) => event.status === 'filled' && event.venue_order_id !== null));
  } finally {
    await db.destroy();
  }

  // 0.1 BTC withdrawn while Sluice is down: the baseline kept in the snapshot does not absorb it.
  exchange.withdraw('BTC', '0.1');
  const alerts = bus.connection.subscribe('alert.critical.>');
  const mismatch = (async () => {
    for await (const message of alerts) {
      const alert = message.json<{ code: string; message: string; labels: Record<string, string> }>();
      if (alert.code === 'reconciliation_mismatch') return alert;
    }
    return undefined;
  })();
  const restarted = await startSluiceRun({
    dir,
    name: 'ccxt-rules',
    actors: 'risk,execution,portfolio',
    env: ENV(),
    bootstrap: false,
    extra: runConfig(100),
  });
  run = restarted;
  const alert = await Promise.race([mismatch, restarted.exited.then(() => undefined), sleep(30_000)]);
  alerts.unsubscribe();
  assert.equal(alert?.labels.symbol, SYMBOL);
  assert.equal(alert?.labels.venue_quantity, '0.4050949');
  assert.equal(alert?.labels.sluice_quantity, '0.0051');
  assert.match(alert?.message ?? '', /0\.5 held before Sluice's fills, 0\.0000051 taken as commission/);
  await stop(restarted);
});

test('a sell that closes a position bought with its commission in BTC sells the balance the exchange holds', async () => {
  // A new account holding no BTC, with a bus and a database of its own: nothing but Sluice's buy in it.
  await exchange.close();
  await bus.close();
  await postgres.close();
  [bus, postgres] = await Promise.all([startTestBus(), postgresForTests()]);
  exchange = await BinanceTradingLoopback.start({
    apiKey: API_KEY,
    secret: SECRET,
    balances: { USDT: '10000', BTC: '0' },
    trades: loadSourceTrades(),
  });
  const price = Number(exchange.lastPrice);
  const now = Date.now();
  const closing = await startRun('ccxt-close', 100);
  await step(bar(1, price, now));
  await until('the buy filled', async () => (await ordersLedger(bus)).fills.length === 1);
  // 0.00253 BTC bought, 0.00000253 of it kept by the exchange as its commission.
  assert.equal(exchange.balance('BTC').free, '0.00252747');
  const [bought] = (await ordersLedger(bus)).fills;
  assert.equal(bought?.base_commission, 0.00000253);

  // Reducing, a short signal sells what the long holds: the balance, to the lot step (0.00001) below
  // it; the whole 0.00253 bought would be refused for insufficient balance.
  const reduced = await sendControl(bus.connection, bus.subjects, 'risk', 'reduce', {
    operator: 'test',
    reason: 'close the position',
    now: Date.now(),
  });
  assert.equal(reduced.state, 'reducing');
  await step(bar(2, price, now + 1), -1);
  await until('the sell filled', async () => (await ordersLedger(bus)).fills.length === 2);
  const ledger = await ordersLedger(bus);
  assert.deepEqual(
    ledger.intents.map((intent) => [intent.side, intent.quantity]),
    [
      ['buy', 0.00253],
      ['sell', 0.00252],
    ],
  );
  assert.deepEqual(
    ledger.events.filter((event) => event.status === 'rejected'),
    [],
  );
  assert.equal(exchange.balance('BTC').free, '0.00000747');
  const position = ledger.snapshots.at(-1)?.positions.find((held) => held.symbol === SYMBOL);
  assert.ok(Math.abs((position?.quantity ?? 0) - 0.00000747) < 1e-12, JSON.stringify(position));

  // A buy placed by hand fills at once, before any reconciliation could see it open: its fill is
  // adopted with an orders row of its own (origin venue), filled.
  const hand = exchange.placeByHand({ side: 'BUY', type: 'MARKET', quantity: '0.0002' });
  await until('the hand fill', async () => (await ordersLedger(bus)).fills.length === 3);

  const reconcile = await runCli(['reconcile', '--json'], ENV());
  assert.equal(reconcile.code, 0, reconcile.stderr);
  assert.deepEqual(
    [JSON.parse(reconcile.stdout).data.outcome, JSON.parse(reconcile.stdout).data.differences],
    ['ok', []],
  );
  await stop(closing);
  const db = createDatabase(postgres.url);
  try {
    const orders = await db
      .selectFrom('orders')
      .select(['origin', 'side', 'quantity', 'status', 'filled_quantity', 'venue_order_id'])
      .orderBy('origin')
      .orderBy('ts')
      .execute();
    assert.deepEqual(
      orders.map((order) => [order.origin, order.side, order.quantity, order.status, order.filled_quantity]),
      [
        ['intent', 'buy', 0.00253, 'filled', 0.00253],
        ['intent', 'sell', 0.00252, 'filled', 0.00252],
        ['venue', 'buy', 0.0002, 'filled', 0.0002],
      ],
    );
    assert.equal(orders.at(-1)?.venue_order_id, String(hand.orderId));
  } finally {
    await db.destroy();
  }
});
