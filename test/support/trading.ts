// Risk gate → execution → portfolio as one "process" on a real NATS server, fed bar by bar, and
// the same actors on the in-process bus as the uninterrupted reference: shared by the trading tests
// over NATS (risk-execution, forged-intent).
import assert from 'node:assert/strict';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { Kysely } from 'kysely';
import type { ModelSource } from '../../actors/inference/registry.ts';
import {
  lastMarketDataFromStream,
  startTrading,
  type Trading,
  type TradingConfig,
} from '../../actors/pipeline.ts';
import type {
  Bar,
  ControlCommand,
  Fill,
  OrderEvent,
  OrderIntent,
  PortfolioSnapshot,
  RiskDecision,
} from '../../schemas/messages.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { NatsActorBus } from '../../streams/bus.ts';
import { connectNats, type NatsConnection } from '../../streams/connection.ts';
import { InProcessBus } from '../../streams/in-process-bus.ts';
import { lastPortfolioSnapshotFromStream, lastReconciliationFromStream } from '../../streams/last-message.ts';
import { KvSnapshotStore } from '../../streams/snapshot-store.ts';
import { createDatabase, type Database } from '../../timescale/database.ts';
import { SYMBOLS, signalFor, tradingConfig } from '../unit/trading-fixture.ts';
import type { TestBus } from './bus.ts';

export interface Process {
  connection: NatsConnection;
  bus: NatsActorBus;
  trading: Trading;
  db: Kysely<Database> | undefined;
}

/**
 * One "process": its own connection, bus, KV store, database pool (if any) and the three actors; the
 * model source where the gate reads barrier settings.
 */
export async function startProcess(
  url: string,
  config: TradingConfig,
  databaseUrl?: string,
  models?: ModelSource,
): Promise<Process> {
  const db = databaseUrl === undefined ? undefined : createDatabase(databaseUrl);
  const connection = await connectNats({ url, name: 'sluice-trading' });
  const js = jetstream(connection);
  const manager = await jetstreamManager(connection);
  const subjects = new Subjects(4);
  // Acks lost when the server is killed come back after ack_wait: keep it short so settling is quick.
  const bus = new NatsActorBus(js, manager, subjects, undefined, { ackWaitMs: 2_000 });
  const trading = await startTrading(config, {
    bus,
    store: await KvSnapshotStore.open(js, 'sluice_snapshots'),
    control: connection,
    lastMarketData: lastMarketDataFromStream(manager, subjects, SYMBOLS),
    lastPortfolioSnapshot: lastPortfolioSnapshotFromStream(manager, subjects, config.account),
    lastReconciliation: lastReconciliationFromStream(manager, subjects, 'SIM'),
    ...(db ? { db } : {}),
    ...(models ? { models } : {}),
  });
  return { connection, bus, trading, db };
}

/** Waits until every durable consumer has nothing pending or unacked, twice in a row. */
export async function settle(test: TestBus, process: Process | undefined): Promise<void> {
  let quiet = 0;
  for (let round = 0; round < 2_000 && quiet < 2; round++) {
    await process?.bus.flush();
    let busy = false;
    for (const stream of ['MARKET', 'SIGNALS', 'ORDERS']) {
      for await (const info of test.manager.consumers.list(stream)) {
        // Only the actors' durables: the ledger reader's ordered consumers linger after use.
        if (info.config.durable_name && info.num_pending + info.num_ack_pending > 0) busy = true;
      }
    }
    quiet = busy ? 0 : quiet + 1;
    if (quiet < 2) await new Promise((resolve) => setTimeout(resolve, busy ? 2 : 5));
  }
  assert.equal(quiet, 2, 'consumers did not settle');
}

/** Everything stored in ORDERS, in stream order. */
export async function ordersLedger(test: TestBus) {
  const consumer = await test.jetstream.consumers.get('ORDERS');
  const { state } = await test.manager.streams.info('ORDERS');
  const out = {
    intents: [] as OrderIntent[],
    events: [] as OrderEvent[],
    fills: [] as Fill[],
    decisions: [] as RiskDecision[],
    snapshots: [] as PortfolioSnapshot[],
    cancels: [] as ControlCommand[],
    /** Every id, in stream order. */
    ids: [] as string[],
  };
  if (state.messages === 0) return out;
  const messages = await consumer.consume();
  let seen = 0;
  for await (const message of messages) {
    const event = message.json<{ schema: string; id: string }>();
    out.ids.push(event.id);
    if (event.schema === 'control_command.v1') out.cancels.push(event as ControlCommand);
    if (event.schema === 'order_intent.v2') out.intents.push(event as OrderIntent);
    if (event.schema === 'order_event.v1') out.events.push(event as OrderEvent);
    if (event.schema === 'fill.v1') out.fills.push(event as Fill);
    if (event.schema === 'risk_decision.v1') out.decisions.push(event as RiskDecision);
    if (event.schema === 'portfolio_snapshot.v1') out.snapshots.push(event as PortfolioSnapshot);
    if (++seen >= state.messages) break;
  }
  messages.stop();
  return out;
}

export async function feedStep(test: TestBus, bar: Bar, process: Process | undefined, settleAfter = true) {
  const feeder = new NatsActorBus(test.jetstream, test.manager, test.subjects);
  await feeder.publish('bar', test.subjects.bar(bar.symbol), bar);
  await feeder.flush();
  if (settleAfter) await settle(test, process);
  await feeder.publish('signal', test.subjects.signal('momentum', bar.symbol), signalFor(bar));
  await feeder.flush();
  if (settleAfter) await settle(test, process);
}

/**
 * The uninterrupted reference: the same actors on the in-process bus (writing rows when given a
 * database; the fixture's config unless given another, with its model source).
 */
export async function inProcessReference(
  bars: readonly Bar[],
  db?: Kysely<Database>,
  setup: { config?: TradingConfig; models?: ModelSource } = {},
) {
  const fills: Fill[] = [];
  const events: OrderEvent[] = [];
  const intents: OrderIntent[] = [];
  const decisions: RiskDecision[] = [];
  const cancels: ControlCommand[] = [];
  const bus = new InProcessBus(new Subjects(4), {
    onPublish: (_subject, name, event) => {
      if (name === 'fill') fills.push(event as Fill);
      if (name === 'order_event') events.push(event as OrderEvent);
      if (name === 'order_intent') intents.push(event as OrderIntent);
      if (name === 'risk_decision') decisions.push(event as RiskDecision);
      if (name === 'control_command') cancels.push(event as ControlCommand);
    },
  });
  const trading = await startTrading(setup.config ?? tradingConfig(), {
    bus,
    ...(db ? { db } : {}),
    ...(setup.models ? { models: setup.models } : {}),
  });
  for (const bar of bars) {
    await bus.publish('bar', bus.subjects.bar(bar.symbol), bar);
    await bus.publish('signal', bus.subjects.signal('momentum', bar.symbol), signalFor(bar));
  }
  const positions = trading.status().portfolio.positions;
  await trading.stop();
  return { fills, events, positions, intents, decisions, cancels };
}

/** Items sorted by id, as JSON: compares two ledgers whatever order they were delivered in. */
export const byId = <T extends { id: string }>(items: readonly T[]) =>
  JSON.stringify([...items].sort((a, b) => a.id.localeCompare(b.id)));
