import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PortfolioCore } from '../../actors/portfolio/core.ts';
import type { Fill } from '../../schemas/messages.ts';
import { validateMessage } from '../../schemas/validate.ts';

let ts = 1_000;
function fill(
  id: string,
  side: Fill['side'],
  quantity: number,
  price: number,
  fee = 0,
  symbol = 'AAPL',
): Fill {
  ts += 1;
  return {
    schema: 'fill.v1',
    id,
    ts_event: ts,
    ts_init: ts,
    order_id: `${id}:o`,
    symbol,
    side,
    quantity,
    price,
    fee,
    liquidity: 'taker',
  };
}

describe('portfolio', () => {
  it('average cost, realized and unrealized PnL, cash and equity, by hand', () => {
    const p = new PortfolioCore({ account: 'paper', startingCash: 100_000 });
    p.applyFill(fill('f1', 'buy', 10, 100, 1));
    p.applyFill(fill('f2', 'buy', 10, 110, 1));
    assert.deepEqual(p.position('AAPL'), {
      symbol: 'AAPL',
      quantity: 20,
      avg_price: 105,
      realized_pnl: -2,
      unrealized_pnl: 100,
      last_price: 110,
    });
    assert.equal(p.cashBalance, 97_898);

    p.mark('AAPL', 120, 2_000);
    assert.equal(p.position('AAPL')?.unrealized_pnl, 300);
    assert.equal(p.equity(), 100_298, 'start + realized (−2) + unrealized (300)');

    // Sell 15 @ 120: 15 × (120 − 105) = 225 realized, less the 1 fee.
    p.applyFill(fill('f3', 'sell', 15, 120, 1));
    assert.equal(p.position('AAPL')?.realized_pnl, 222);
    assert.equal(p.position('AAPL')?.avg_price, 105);
    assert.equal(p.cashBalance, 99_697);

    // Sell 10 @ 100 crosses zero: closes 5 at a loss of 25, opens 5 short at 100.
    p.applyFill(fill('f4', 'sell', 10, 100));
    assert.deepEqual(p.position('AAPL'), {
      symbol: 'AAPL',
      quantity: -5,
      avg_price: 100,
      realized_pnl: 197,
      unrealized_pnl: 0,
      last_price: 100,
    });
    assert.deepEqual(p.exposure(), { gross: 500, net: -500 });
    assert.equal(p.equity(), 100_197);

    // Buy 5 @ 90 covers the short: 5 × (100 − 90) = 50.
    p.applyFill(fill('f5', 'buy', 5, 90));
    assert.deepEqual(p.position('AAPL'), {
      symbol: 'AAPL',
      quantity: 0,
      avg_price: 0,
      realized_pnl: 247,
      unrealized_pnl: 0,
      last_price: 90,
    });
    assert.equal(p.equity(), 100_247);
  });

  it('gross and net exposure over several symbols', () => {
    const p = new PortfolioCore({ account: 'paper', startingCash: 0 });
    p.applyFill(fill('a', 'buy', 10, 100, 0, 'AAA'));
    p.applyFill(fill('b', 'sell', 4, 50, 0, 'BBB'));
    p.mark('BBB', 60, 5_000);
    assert.deepEqual(p.exposure(), { gross: 1_240, net: 760 });
    const snapshot = p.snapshot(6_000);
    assert.ok(validateMessage('portfolio_snapshot', snapshot).ok);
    assert.equal(snapshot.gross_exposure, 1_240);
    assert.equal(snapshot.fill_id, 'b');
    assert.equal(snapshot.equity, -1_000 + 200 + 1_000 - 240);
    assert.deepEqual(p.equityPoint(), { ts: 5_000, equity: snapshot.equity });
  });

  it('applying the same fill twice is a no-op', () => {
    const p = new PortfolioCore({ account: 'paper', startingCash: 1_000 });
    const f = fill('dup', 'buy', 3, 10, 0.5);
    assert.equal(p.applyFill(f), true);
    const before = JSON.stringify(p.toJSON());
    assert.equal(p.applyFill(f), false);
    assert.equal(JSON.stringify(p.toJSON()), before);
  });

  it('snapshot and restore through plain JSON give the same state and keep ignoring applied fills', () => {
    const live = new PortfolioCore({ account: 'paper', startingCash: 50_000 });
    const ledger = [
      fill('g1', 'buy', 7, 100, 1),
      fill('g2', 'sell', 3, 105, 1),
      fill('g3', 'buy', 2, 101, 0.5, 'MSFT'),
    ];
    for (const f of ledger.slice(0, 2)) live.applyFill(f);

    const restored = PortfolioCore.restore(JSON.parse(JSON.stringify(live.toJSON())));
    assert.deepEqual(restored.toJSON(), live.toJSON());
    assert.deepEqual(restored.snapshot(9), live.snapshot(9));

    // Restart replays the ledger from before the snapshot: old fills are ignored, new ones applied.
    for (const f of ledger) restored.applyFill(f);
    live.applyFill(ledger[2]!);
    assert.deepEqual(restored.toJSON(), live.toJSON());
    assert.equal(restored.toJSON().lastFillId, 'g3');
  });
});
