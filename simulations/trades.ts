// Closed round trips from the fill ledger, FIFO per symbol: each fill first closes open lots of the
// other side (oldest first), the rest opens a new lot. Fees are charged pro rata to the quantity
// each part of a fill closes or opens, so a trade's pnl is net of the fees of both legs.
//
// Exits by reason: every order whose fills closed (part of) a position is one exit, its PnL the trades
// it closed; why it closed (signal, take-profit, stop-loss, time, flatten) is told by the run's intents
// (exitReasonOf), which may arrive after the fills, so exits are grouped only when asked.
import type { ExitReason, Fill } from '../schemas/messages.ts';
import type { ClosedTrade } from './metrics.ts';

/**
 * Quantities within this of zero are float residue, not a position: fractional fills (a notional
 * sized in shares) summed and taken apart leave a few ulps of a quantity in the thousands behind.
 */
const QUANTITY_EPSILON = 1e-9;

export const EXIT_REASONS: readonly ExitReason[] = ['signal', 'take_profit', 'stop_loss', 'time', 'flatten'];

/** Exits (closing orders) and the PnL of the trades they closed, per reason; every reason present. */
export type ExitsByReason = Record<ExitReason, { exits: number; pnl: number }>;

/** How a run's positions closed, from the closing orders and the intents that sent them. */
export interface BacktestExits {
  byReason: ExitsByReason;
  /** Entries sent with barrier exits (a bracket), and how many of them carried a time limit. */
  bracketedEntries: number;
  timeLimitedEntries: number;
}

interface Lot {
  side: 'long' | 'short';
  quantity: number;
  price: number;
  ts: number;
  /** Fee still attached to the open quantity. */
  fee: number;
}

export class RoundTripBuilder {
  readonly trades: ClosedTrade[] = [];
  private readonly lots = new Map<string, Lot[]>();
  /** PnL closed per closing order, by order id. */
  private readonly closingOrders = new Map<string, number>();
  tradedNotional = 0;

  add(fill: Fill): void {
    this.tradedNotional += fill.quantity * fill.price;
    const side: Lot['side'] = fill.side === 'buy' ? 'long' : 'short';
    const open = this.lots.get(fill.symbol) ?? [];
    this.lots.set(fill.symbol, open);
    let remaining = fill.quantity;
    const feePerUnit = fill.fee / fill.quantity;
    while (remaining > QUANTITY_EPSILON && open.length > 0 && open[0]!.side !== side) {
      const lot = open[0]!;
      const closed = Math.min(lot.quantity, remaining);
      const entryFee = lot.fee * (closed / lot.quantity);
      const direction = lot.side === 'long' ? 1 : -1;
      const pnl = direction * (fill.price - lot.price) * closed - entryFee - feePerUnit * closed;
      this.trades.push({
        symbol: fill.symbol,
        side: lot.side,
        quantity: closed,
        entryTs: lot.ts,
        exitTs: fill.ts_event,
        entryPrice: lot.price,
        exitPrice: fill.price,
        pnl,
      });
      this.closingOrders.set(fill.order_id, (this.closingOrders.get(fill.order_id) ?? 0) + pnl);
      lot.quantity -= closed;
      lot.fee -= entryFee;
      remaining -= closed;
      if (lot.quantity <= QUANTITY_EPSILON) open.shift();
    }
    if (remaining > QUANTITY_EPSILON) {
      open.push({
        side,
        quantity: remaining,
        price: fill.price,
        ts: fill.ts_event,
        fee: feePerUnit * remaining,
      });
    }
  }

  /** The exits so far grouped by reason; an order `exitReasonOf` does not know closed on a signal. */
  exitsByReason(exitReasonOf: (orderId: string) => ExitReason | undefined): ExitsByReason {
    const exits = Object.fromEntries(
      EXIT_REASONS.map((reason) => [reason, { exits: 0, pnl: 0 }]),
    ) as ExitsByReason;
    for (const [orderId, pnl] of this.closingOrders) {
      const tally = exits[exitReasonOf(orderId) ?? 'signal'];
      tally.exits++;
      tally.pnl += pnl;
    }
    return exits;
  }
}
