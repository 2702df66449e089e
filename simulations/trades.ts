// Closed round trips from the fill ledger, FIFO per symbol: each fill first closes open lots of the
// other side (oldest first), the rest opens a new lot. Fees are charged pro rata to the quantity
// each part of a fill closes or opens, so a trade's pnl is net of the fees of both legs.
import type { Fill } from '../schemas/messages.ts';
import type { ClosedTrade } from './metrics.ts';

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
  tradedNotional = 0;

  add(fill: Fill): void {
    this.tradedNotional += fill.quantity * fill.price;
    const side: Lot['side'] = fill.side === 'buy' ? 'long' : 'short';
    const open = this.lots.get(fill.symbol) ?? [];
    this.lots.set(fill.symbol, open);
    let remaining = fill.quantity;
    const feePerUnit = fill.fee / fill.quantity;
    while (remaining > 1e-12 && open.length > 0 && open[0]!.side !== side) {
      const lot = open[0]!;
      const closed = Math.min(lot.quantity, remaining);
      const entryFee = lot.fee * (closed / lot.quantity);
      const direction = lot.side === 'long' ? 1 : -1;
      this.trades.push({
        symbol: fill.symbol,
        side: lot.side,
        quantity: closed,
        entryTs: lot.ts,
        exitTs: fill.ts_event,
        entryPrice: lot.price,
        exitPrice: fill.price,
        pnl: direction * (fill.price - lot.price) * closed - entryFee - feePerUnit * closed,
      });
      lot.quantity -= closed;
      lot.fee -= entryFee;
      remaining -= closed;
      if (lot.quantity <= 1e-12) open.shift();
    }
    if (remaining > 1e-12) {
      open.push({
        side,
        quantity: remaining,
        price: fill.price,
        ts: fill.ts_event,
        fee: feePerUnit * remaining,
      });
    }
  }
}
