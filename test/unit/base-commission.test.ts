// A commission the venue takes in the base asset (Binance: a buy's commission out of the coin bought):
// fill.v1 carries it as base_commission, and the risk gate's book and the portfolio hold the quantity
// less it, as the venue does, so a closing sell sizes to the balance there.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { VenueFill } from '../../actors/execution/broker-adapter.ts';
import { fillFromVenue } from '../../actors/execution/venue-reports.ts';
import { PortfolioCore } from '../../actors/portfolio/core.ts';
import { PositionBook } from '../../actors/risk/book.ts';
import type { Fill } from '../../schemas/messages.ts';
import { validateMessage } from '../../schemas/validate.ts';

const ref = {
  orderId: 'sig-1:intent:order',
  intentId: 'sig-1:intent',
  symbol: 'BTC/USDT',
  side: 'buy' as const,
  quantity: 0.00253,
};
const stamp = { accountMode: 'paper' as const, receivedAt: 1_700_000_000_500 };

function venueFill(fields: Partial<VenueFill> = {}): VenueFill {
  return {
    venueFillId: '71',
    venueOrderId: '9',
    clientOrderId: 'sluice-1',
    symbol: 'BTC/USDT',
    side: 'buy',
    quantity: 0.00253,
    price: 40_000,
    // 0.1% of the BTC bought, priced in USDT.
    fee: 0.00000253 * 40_000,
    liquidity: 'taker',
    ts: 1_700_000_000_100,
    baseCommission: 0.00000253,
    ...fields,
  };
}

function fillOf(fields: Partial<VenueFill> = {}): Fill {
  const fill = fillFromVenue(ref, venueFill(fields), stamp);
  assert.ok(typeof fill !== 'string', String(fill));
  return fill;
}

describe('base-asset commission', () => {
  it('a venue fill with a base commission says so on fill.v1; one without it leaves the field out', () => {
    const fill = fillOf();
    assert.equal(fill.base_commission, 0.00000253);
    assert.equal(validateMessage('fill', fill).ok, true);
    assert.equal('base_commission' in fillOf({ baseCommission: 0 }), false);
    const { baseCommission: _, ...withoutCommission } = venueFill();
    assert.equal('base_commission' in (fillFromVenue(ref, withoutCommission, stamp) as Fill), false);
  });

  it('a base commission that is negative, not a number or the whole quantity is a broken fill', () => {
    for (const baseCommission of [-0.000001, Number.NaN, 0.00253]) {
      assert.equal(
        fillFromVenue(ref, venueFill({ baseCommission }), stamp),
        `base commission ${baseCommission}`,
      );
    }
  });

  it('the risk gate holds the quantity less the commission, and the sell of that closes it', () => {
    const book = new PositionBook(() => undefined as never, 100);
    book.onFill(fillOf());
    assert.equal(book.entry('BTC/USDT').position, 0.00253 - 0.00000253);
    book.onFill(
      fillOf({ venueFillId: '72', side: 'sell', quantity: 0.00253 - 0.00000253, baseCommission: 0 }),
    );
    assert.equal(book.entry('BTC/USDT').position, 0);
  });

  it('the portfolio holds the quantity less the commission; cash pays what the venue charged, equity loses the fee', () => {
    const portfolio = new PortfolioCore({ account: 'paper', startingCash: 10_000 });
    const bought = fillOf();
    portfolio.applyFill(bought);
    const position = portfolio.position('BTC/USDT');
    assert.equal(position?.quantity, 0.00253 - 0.00000253);
    assert.equal(position?.avg_price, 40_000);
    assert.equal(position?.realized_pnl, -bought.fee);
    // The venue took 0.00253 × 40000 USDT for the BTC; the commission came out of the BTC.
    assert.ok(Math.abs(portfolio.cashBalance - (10_000 - 0.00253 * 40_000)) < 1e-9);
    assert.ok(Math.abs(portfolio.equity() - (10_000 - bought.fee)) < 1e-9);
    portfolio.applyFill(
      fillOf({ venueFillId: '72', side: 'sell', quantity: 0.00253 - 0.00000253, fee: 0, baseCommission: 0 }),
    );
    assert.equal(portfolio.position('BTC/USDT')?.quantity, 0);
  });
});
