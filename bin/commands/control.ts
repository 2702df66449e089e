// `sluice halt | resume | flatten | positions | orders | reconcile`: operator commands over NATS
// request/reply (ctl.<actor>.<command>) to whichever process runs the actor. Human output by default,
// the control_reply as JSON with --json. `positions` and `orders` show the venue's view beside
// Sluice's when an execution actor answers; `reconcile` runs a reconciliation with the venue and
// prints its differences (exit 1 when one is unexplained). Exit codes: 0 done, 1 refused by the
// actor, 2 bad arguments, 3 NATS unreachable or no actor answered.
import { type Command, CommanderError } from 'commander';
import type { VenueView } from '../../actors/execution/actor.ts';
import { readEnvironment } from '../../core/config.ts';
import type { ControlReply, OrderIntent, Position, Reconciliation } from '../../schemas/messages.ts';
import { Subjects } from '../../schemas/subjects.ts';
import type { NatsConnection } from '../../streams/connection.ts';
import { sendControl } from '../../streams/control.ts';
import { connectToNats } from '../services.ts';

export const EXIT_REFUSED = 1;
export const EXIT_BAD_ARGS = 2;
export const EXIT_UNREACHABLE = 3;

interface ControlOptions {
  json?: boolean;
  reason?: string;
  operator: string;
  timeout: number;
}

/** Commander's own argument errors exit 2 here, like a ConfigError (help and version stay 0). */
export function badArgsExitTwo(command: Command): Command {
  return command.exitOverride((error) => {
    throw error.exitCode === 0 ? error : new CommanderError(EXIT_BAD_ARGS, error.code, error.message);
  });
}

/** Connects with the environment's credentials; an UnreachableError (exit 3) when it cannot. */
export function operatorConnection(name: string): Promise<NatsConnection> {
  return connectToNats(readEnvironment(), name);
}

/** Sends one command; undefined (exit code 3 set) when nobody answered. */
export async function requestControl(
  actor: string,
  command: string,
  options: ControlOptions,
): Promise<ControlReply | undefined> {
  const connection = await operatorConnection(`sluice-ctl-${command}`);
  try {
    return await sendControl(connection, new Subjects(readEnvironment().partitions), actor, command, {
      operator: options.operator,
      now: Date.now(),
      timeoutMs: options.timeout,
      ...(options.reason ? { reason: options.reason } : {}),
    });
  } catch (error) {
    console.error(`sluice: no ${actor} actor answered ctl.${actor}.${command}: ${(error as Error).message}`);
    process.exitCode = EXIT_UNREACHABLE;
    return undefined;
  } finally {
    await connection.close();
  }
}

type PositionsReply = {
  account: string;
  cash: number;
  equity: number;
  positions: Position[];
  venue?: VenueView;
};

function printPositions(data: PositionsReply) {
  console.log(`account ${data.account}  equity ${data.equity.toFixed(2)}  cash ${data.cash.toFixed(2)}`);
  const venue = data.venue?.venueBooks;
  if (venue === undefined) {
    if (data.positions.length === 0) console.log('no positions');
    else console.table(data.positions);
    return;
  }
  // Sluice's positions (the portfolio's) beside the venue's, symbol by symbol.
  console.log(`venue ${data.venue?.venue} (${data.venue?.accountMode})`);
  const atVenue = new Map(venue.positions.map((p) => [p.symbol, p.quantity]));
  const symbols = [...new Set([...data.positions.map((p) => p.symbol), ...atVenue.keys()])].sort();
  if (symbols.length === 0) console.log('no positions, here or at the venue');
  else
    console.table(
      symbols.map((symbol) => {
        const sluice = data.positions.find((p) => p.symbol === symbol)?.quantity ?? 0;
        const venueQuantity = atVenue.get(symbol) ?? 0;
        return { symbol, sluice, venue: venueQuantity, differs: sluice === venueQuantity ? '' : 'DIFFERS' };
      }),
    );
}

function printOrders(data: {
  orders: OrderIntent[];
  venueBooks?: VenueView['venueBooks'];
  venue?: string;
  accountMode?: string;
}) {
  if (data.orders.length === 0) console.log('no open orders');
  else
    console.table(
      data.orders.map((o) => ({
        id: o.id,
        symbol: o.symbol,
        side: o.side,
        quantity: o.quantity,
        type: o.order_type,
        limit: o.limit_price ?? '',
        tif: o.time_in_force,
        reduce_only: o.reduce_only,
      })),
    );
  if (data.venueBooks === undefined) return;
  console.log(`at the venue ${data.venue} (${data.accountMode}):`);
  if (data.venueBooks.orders.length === 0) console.log('no open orders');
  else
    console.table(
      data.venueBooks.orders.map((o) => ({
        client_order_id: o.clientOrderId ?? '',
        venue_order_id: o.venueOrderId,
        symbol: o.symbol,
        side: o.side,
        quantity: o.quantity,
        filled: o.filledQuantity,
        type: o.orderType,
        status: o.status,
      })),
    );
}

function printReconciliation(data: Reconciliation) {
  const unexplained = data.differences.filter((d) => d.resolution === 'unexplained').length;
  console.log(
    `${data.venue} (${data.account_mode}): ${data.outcome}; ${data.differences.length} difference(s), ${unexplained} unexplained`,
  );
  if (data.differences.length > 0)
    console.table(
      data.differences.map((d) => ({
        kind: d.kind,
        resolution: d.resolution,
        symbol: d.symbol ?? '',
        venue_quantity: d.venue_quantity ?? '',
        sluice_quantity: d.sluice_quantity ?? '',
        detail: d.detail,
      })),
    );
}

function printHuman(actor: string, command: string, reply: ControlReply): void {
  if (command === 'reconcile' && reply.data !== undefined) {
    printReconciliation(reply.data as Reconciliation);
    return;
  }
  if (!reply.ok) {
    console.log(`${actor} refused ${command}: ${reply.error ?? 'no reason given'}`);
    return;
  }
  if (command === 'positions') printPositions(reply.data as PositionsReply);
  else if (command === 'orders') printOrders(reply.data as Parameters<typeof printOrders>[0]);
  else {
    console.log(`${actor}: ${command} done; trading state ${reply.state ?? 'unknown'}`);
    const closing = (reply.data as { closing?: { symbol: string; quantity: number }[] } | undefined)?.closing;
    if (closing && closing.length > 0) console.table(closing);
  }
}

/**
 * The execution actor's view of the venue (ctl.execution.positions), when one answers: the
 * portfolio's positions are printed beside it. Silent when none runs (a backtest-only setup).
 */
async function venueView(options: ControlOptions): Promise<VenueView | undefined> {
  const connection = await operatorConnection('sluice-ctl-venue');
  try {
    const reply = await sendControl(
      connection,
      new Subjects(readEnvironment().partitions),
      'execution',
      'positions',
      {
        operator: options.operator,
        now: Date.now(),
        timeoutMs: Math.min(options.timeout, 2_000),
      },
    );
    return reply.ok ? (reply.data as VenueView) : undefined;
  } catch {
    return undefined;
  } finally {
    await connection.close();
  }
}

const COMMANDS = [
  { name: 'halt', actor: 'risk', description: 'halt trading: deny every signal and cancel working orders' },
  { name: 'resume', actor: 'risk', description: 'resume trading (needs reconciled positions)' },
  {
    name: 'flatten',
    actor: 'risk',
    description: 'switch to reducing and send an order closing every position, through the risk gate',
  },
  { name: 'positions', actor: 'portfolio', description: 'positions, cash and equity of the portfolio' },
  { name: 'orders', actor: 'execution', description: "orders still working, Sluice's and the venue's" },
  {
    name: 'reconcile',
    actor: 'execution',
    description:
      "reconcile with the venue now: its open orders, positions and fills against Sluice's; prints the differences",
  },
] as const;

function positiveMillis(raw: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    throw new CommanderError(EXIT_BAD_ARGS, 'sluice.badArgs', `--timeout must be positive ms, got "${raw}"`);
  return value;
}

export function register(program: Command): void {
  for (const { name, actor, description } of COMMANDS) {
    const command = program
      .command(name)
      .description(`${description} (ctl.${actor}.${name})`)
      .option('--json', 'print the control_reply as one JSON object')
      .option('--reason <text>', 'why, recorded with the command')
      .option('--operator <name>', 'who is asking', process.env.USER ?? 'operator')
      .option('--timeout <ms>', 'how long to wait for the actor', positiveMillis, 5_000)
      .action(async (options: ControlOptions) => {
        const reply = await requestControl(actor, name, options);
        if (!reply) return;
        if (name === 'positions' && reply.ok) {
          const venue = await venueView(options);
          if (venue) reply.data = { ...(reply.data as object), venue };
        }
        if (options.json) console.log(JSON.stringify(reply, null, 2));
        else printHuman(actor, name, reply);
        process.exitCode = reply.ok ? 0 : EXIT_REFUSED;
      });
    badArgsExitTwo(command);
  }
}
