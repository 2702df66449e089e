// `sluice status`: is NATS reachable (server version, streams and consumers), is the database
// reachable (version, TimescaleDB or plain PostgreSQL, migrations), and, when they run, the risk
// gate's trading state and the execution actor's venue and account mode (simulated, paper or live).
// Exit code 0 when both answer, 3 when something is unreachable, so scripts can rely on it.

import { jetstreamManager } from '@nats-io/jetstream';
import type { Command } from 'commander';
import { readEnvironment } from '../../core/config.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { connectNats } from '../../streams/connection.ts';
import { sendControl } from '../../streams/control.ts';
import { databaseUrl, natsUrl, redactUrl } from '../services.ts';
import { collectDatabaseStatus, type DatabaseStatusReport } from './database-status.ts';

export interface NatsStatusReport {
  url: string;
  reachable: boolean;
  error?: string;
  serverVersion?: string;
  jetstream?: boolean;
  streams?: {
    name: string;
    subjects: string[];
    messages: number;
    bytes: number;
    consumers: { name: string; pending: number; ackPending: number; redelivered: number }[];
  }[];
}

export async function collectNatsStatus(url: string): Promise<NatsStatusReport> {
  const environment = readEnvironment();
  const report: NatsStatusReport = { url: redactUrl(url), reachable: false };
  let connection: Awaited<ReturnType<typeof connectNats>> | undefined;
  try {
    connection = await connectNats({ ...environment, url, name: 'sluice-status' });
    report.reachable = true;
    report.serverVersion = connection.info?.version;
    report.jetstream = connection.info?.jetstream ?? false;
    const manager = await jetstreamManager(connection);
    report.streams = [];
    for await (const stream of manager.streams.list()) {
      const consumers = [];
      for await (const consumer of manager.consumers.list(stream.config.name)) {
        consumers.push({
          name: consumer.name,
          pending: consumer.num_pending,
          ackPending: consumer.num_ack_pending,
          redelivered: consumer.num_redelivered,
        });
      }
      report.streams.push({
        name: stream.config.name,
        subjects: stream.config.subjects ?? [],
        messages: stream.state.messages,
        bytes: stream.state.bytes,
        consumers,
      });
    }
  } catch (error) {
    report.error = (error as Error).message;
  } finally {
    await connection?.close();
  }
  return report;
}

export interface ActorStatusReport {
  /** Whether the actor answered ctl.<actor>.status. */
  running: boolean;
  state?: string;
  status?: unknown;
  error?: string;
}

/** A running actor's status (ctl.<actor>.status); not running is no failure. */
export async function collectActorStatus(
  url: string,
  actor: 'risk' | 'execution',
): Promise<ActorStatusReport> {
  const environment = readEnvironment();
  let connection: Awaited<ReturnType<typeof connectNats>> | undefined;
  try {
    connection = await connectNats({ ...environment, url, name: 'sluice-status' });
    const reply = await sendControl(connection, new Subjects(environment.partitions), actor, 'status', {
      operator: 'sluice-status',
      now: Date.now(),
      timeoutMs: 2_000,
    });
    return { running: true, ...(reply.state ? { state: reply.state } : {}), status: reply.data };
  } catch (error) {
    return { running: false, error: (error as Error).message };
  } finally {
    await connection?.close();
  }
}

function printExecution(execution: ActorStatusReport | undefined): void {
  if (!execution?.running) return;
  const status = execution.status as
    | {
        venue: string;
        accountMode: string;
        broker?: { connected: boolean; lastReconciliation?: { outcome: string } };
      }
    | undefined;
  if (status === undefined) return;
  const broker = status.broker
    ? `, broker ${status.broker.connected ? 'connected' : 'DISCONNECTED'}, last reconciliation ${status.broker.lastReconciliation?.outcome ?? 'none'}`
    : '';
  console.log(`Account   ${status.accountMode.toUpperCase()} at ${status.venue}${broker}`);
}

function printHuman(nats: NatsStatusReport, database: DatabaseStatusReport): void {
  console.log(
    `NATS      ${nats.url}  ${nats.reachable ? `up, nats-server ${nats.serverVersion}` : `DOWN: ${nats.error}`}`,
  );
  if (nats.streams?.length === 0)
    console.log('          no streams yet (`sluice ingest` or any actor applies them)');
  if (nats.streams && nats.streams.length > 0) {
    console.table(
      nats.streams.map((stream) => ({
        stream: stream.name,
        subjects: stream.subjects.join(' '),
        messages: stream.messages,
        consumers: stream.consumers
          .map((consumer) => `${consumer.name} (pending ${consumer.pending})`)
          .join(', '),
      })),
    );
  }
  console.log(
    `Database  ${database.url}  ${database.reachable ? `up, ${database.serverVersion}` : `DOWN: ${database.error}`}`,
  );
  if (database.reachable) {
    console.log(`Flavour   ${database.flavourDescription}`);
    console.log(
      `Migrations ${database.migrations.length > 0 ? database.migrations.join(', ') : 'none applied (run any actor or `sluice migrate`)'}`,
    );
    const counted = database.tables.filter((table) => table.rows !== null);
    if (counted.length > 0) {
      // Exact counts; a table too big to count within the time limit shows the planner's estimate, marked.
      const rows = counted.map(
        (table) =>
          `${table.name} ${table.estimated ? '~' : ''}${table.rows?.toLocaleString('en-US')}${table.estimated ? ' (approximate)' : ''}`,
      );
      console.log(`Rows      ${rows.join(', ')}`);
    }
  }
}

export function register(program: Command): void {
  program
    .command('status')
    .description(
      'NATS and database reachability, server versions, TimescaleDB or plain PostgreSQL, streams and consumers',
    )
    .option('--json', 'print one JSON object')
    .action(async (options: { json?: boolean }) => {
      const environment = readEnvironment();
      const [nats, database] = await Promise.all([
        collectNatsStatus(natsUrl(environment)),
        collectDatabaseStatus(databaseUrl(environment)),
      ]);
      const [risk, execution] = nats.reachable
        ? await Promise.all([
            collectActorStatus(natsUrl(environment), 'risk'),
            collectActorStatus(natsUrl(environment), 'execution'),
          ])
        : [undefined, undefined];
      if (options.json) console.log(JSON.stringify({ nats, database, risk, execution }, null, 2));
      else {
        printHuman(nats, database);
        printExecution(execution);
      }
      if (!nats.reachable || !database.reachable) process.exitCode = 3;
    });
}
