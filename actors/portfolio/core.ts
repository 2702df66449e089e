// PortfolioCore: netting positions per symbol with average cost, realized and unrealized PnL, cash,
// equity and exposure, from fills and price marks. Synchronous and free of I/O: the binding feeds
// fills (exec.fill.*) and prices, publishes snapshots (which also feed the risk gate) and stores
// toJSON() with the stream sequence it reflects; restore() plus the fills after that sequence give
// the same state as an uninterrupted run, because a fill applied twice is ignored.
import { positionChange } from '../../core/fill-position.ts';
import { portfolioSnapshotIdFor } from '../../core/lineage-ids.ts';
import type { Fill, PortfolioSnapshot, Position } from '../../schemas/messages.ts';
import type { PortfolioState } from '../../schemas/snapshots.ts';
import { RecentIds } from '../risk/recent-ids.ts';

interface Holding {
  quantity: number;
  avgPrice: number;
  /** Net of fees. */
  realizedPnl: number;
  lastPrice: number;
}

export interface EquityPoint {
  ts: number;
  equity: number;
}

export interface PortfolioOptions {
  account: string;
  startingCash: number;
  fillMemory?: number;
}

export class PortfolioCore {
  readonly account: string;
  private cash: number;
  private readonly holdings = new Map<string, Holding>();
  private readonly appliedFills: RecentIds;
  private lastFillId: string | undefined;
  private lastEventTs = 0;

  constructor(options: PortfolioOptions) {
    this.account = options.account;
    this.cash = options.startingCash;
    this.appliedFills = new RecentIds(options.fillMemory ?? 100_000);
  }

  /** Applies a fill; returns false (and changes nothing) when this fill id was applied before. */
  applyFill(fill: Fill): boolean {
    if (!this.appliedFills.add(fill.id)) return false;
    const h = this.holding(fill.symbol);
    // Net of a base-asset commission: what the venue holds. The fee counts that commission at the
    // fill price, so the cash pays for the units held and the fee, which is what the venue charged.
    const signed = positionChange(fill);
    const traded = Math.abs(signed);
    const opening = h.quantity === 0 || Math.sign(h.quantity) === Math.sign(signed);
    if (opening) {
      if (traded > 0) {
        h.avgPrice =
          (Math.abs(h.quantity) * h.avgPrice + traded * fill.price) / (Math.abs(h.quantity) + traded);
      }
    } else {
      const closed = Math.min(traded, Math.abs(h.quantity));
      h.realizedPnl += closed * (fill.price - h.avgPrice) * Math.sign(h.quantity);
      // Crossing through zero opens the remainder at the fill price.
      if (traded > closed) h.avgPrice = fill.price;
    }
    h.quantity += signed;
    if (h.quantity === 0) h.avgPrice = 0;
    h.realizedPnl -= fill.fee;
    h.lastPrice = fill.price;
    this.cash -= signed * fill.price + fill.fee;
    this.lastFillId = fill.id;
    this.advance(fill.ts_event);
    return true;
  }

  /** Marks a symbol to a price (last trade or mid) at `ts`. */
  mark(symbol: string, price: number, ts: number): void {
    if (!(price > 0)) return;
    const h = this.holdings.get(symbol);
    if (h === undefined) return;
    h.lastPrice = price;
    this.advance(ts);
  }

  /** The signed quantity held; 0 when none (a cheap check for every tick). */
  heldQuantity(symbol: string): number {
    return this.holdings.get(symbol)?.quantity ?? 0;
  }

  position(symbol: string): Position | undefined {
    const h = this.holdings.get(symbol);
    return h && toPosition(symbol, h);
  }

  positions(): Position[] {
    return [...this.holdings].map(([symbol, h]) => toPosition(symbol, h));
  }

  get cashBalance(): number {
    return this.cash;
  }

  equity(): number {
    let equity = this.cash;
    for (const h of this.holdings.values()) equity += h.quantity * h.lastPrice;
    return equity;
  }

  exposure(): { gross: number; net: number } {
    let gross = 0;
    let net = 0;
    for (const h of this.holdings.values()) {
      const value = h.quantity * h.lastPrice;
      gross += Math.abs(value);
      net += value;
    }
    return { gross, net };
  }

  /** One point of the equity curve, at the time of the last fill or mark. */
  equityPoint(): EquityPoint {
    return { ts: this.lastEventTs, equity: this.equity() };
  }

  /** The portfolio_snapshot message; its id is derived from the account, time and last fill. */
  snapshot(tsInit: number): PortfolioSnapshot {
    const { gross, net } = this.exposure();
    return {
      schema: 'portfolio_snapshot.v1',
      id: portfolioSnapshotIdFor(this.account, this.lastEventTs, this.lastFillId),
      ts_event: this.lastEventTs,
      ts_init: tsInit,
      account: this.account,
      positions: this.positions(),
      cash: this.cash,
      equity: this.equity(),
      gross_exposure: gross,
      net_exposure: net,
      fill_id: this.lastFillId,
    };
  }

  /** Plain JSON that survives a restart (schemas/snapshots.ts). */
  toJSON(): PortfolioState {
    return {
      account: this.account,
      cash: this.cash,
      lastEventTs: this.lastEventTs,
      lastFillId: this.lastFillId,
      recentFillIds: this.appliedFills.toArray(),
      positions: [...this.holdings].map(([symbol, h]) => ({
        symbol,
        quantity: h.quantity,
        avg_price: h.avgPrice,
        realized_pnl: h.realizedPnl,
        last_price: h.lastPrice,
      })),
    };
  }

  static restore(state: PortfolioState, fillMemory = 100_000): PortfolioCore {
    const core = new PortfolioCore({ account: state.account, startingCash: state.cash, fillMemory });
    for (const id of state.recentFillIds) core.appliedFills.add(id);
    core.lastFillId = state.lastFillId;
    core.lastEventTs = state.lastEventTs;
    for (const p of state.positions) {
      core.holdings.set(p.symbol, {
        quantity: p.quantity,
        avgPrice: p.avg_price,
        realizedPnl: p.realized_pnl,
        lastPrice: p.last_price,
      });
    }
    return core;
  }

  private holding(symbol: string): Holding {
    let h = this.holdings.get(symbol);
    if (h === undefined) {
      h = { quantity: 0, avgPrice: 0, realizedPnl: 0, lastPrice: 0 };
      this.holdings.set(symbol, h);
    }
    return h;
  }

  private advance(ts: number): void {
    if (ts > this.lastEventTs) this.lastEventTs = ts;
  }
}

function toPosition(symbol: string, h: Holding): Position {
  return {
    symbol,
    quantity: h.quantity,
    avg_price: h.avgPrice,
    realized_pnl: h.realizedPnl,
    // + 0 turns −0 (a short at its average price) into 0 for stable ledgers.
    unrealized_pnl: h.quantity * (h.lastPrice - h.avgPrice) + 0,
    last_price: h.lastPrice,
  };
}
