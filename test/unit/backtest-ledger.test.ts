import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { canonicalJson, Ledger } from '../../simulations/ledger.ts';

const order = {
  id: 'o1',
  symbol: 'AAPL',
  side: 'buy',
  quantity: 10,
  limit: 101.25,
  tags: ['a', { z: 1, y: null }],
};
const sameOrderOtherKeyOrder = {
  tags: ['a', { y: null, z: 1 }],
  limit: 101.25,
  quantity: 10,
  side: 'buy',
  symbol: 'AAPL',
  id: 'o1',
};
const fill = { order: 'o1', price: 101.2, quantity: 10, fee: 0.05, ts: 1_600_000_000_000 };

describe('order and fill ledger', () => {
  it('writes canonical JSON: sorted keys at every level, no whitespace', () => {
    assert.equal(canonicalJson(sameOrderOtherKeyOrder), canonicalJson(order));
    assert.equal(
      canonicalJson(order),
      '{"id":"o1","limit":101.25,"quantity":10,"side":"buy","symbol":"AAPL","tags":["a",{"y":null,"z":1}]}',
    );
    assert.throws(() => canonicalJson({ price: Number.NaN }), RangeError);
  });

  it('hashes the ordered entries with SHA-256; key order is irrelevant, entry order is not', () => {
    const a = new Ledger();
    a.append('order', order);
    a.append('fill', fill);
    const b = new Ledger();
    b.append('order', sameOrderOtherKeyOrder);
    b.append('fill', {
      ts: fill.ts,
      fee: fill.fee,
      quantity: fill.quantity,
      price: fill.price,
      order: fill.order,
    });
    assert.equal(a.hash(), b.hash());
    assert.equal(a.size, 2);
    // The hash is SHA-256 of the JSON Lines text, so anyone can check it from an exported ledger.
    assert.equal(a.hash(), createHash('sha256').update(a.toJsonLines()).digest('hex'));
    assert.match(
      a.toJsonLines(),
      /^\{"entry":\{"id":"o1",.*\},"kind":"order"\}\n\{"entry":\{"fee":0\.05,.*"kind":"fill"\}\n$/,
    );

    const reversed = new Ledger();
    reversed.append('fill', fill);
    reversed.append('order', order);
    assert.notEqual(reversed.hash(), a.hash());
    const otherKind = new Ledger();
    otherKind.append('fill', order);
    otherKind.append('fill', fill);
    assert.notEqual(otherKind.hash(), a.hash());
  });

  it('can be hashed while it grows; an empty ledger hashes the empty string', () => {
    const ledger = new Ledger();
    assert.equal(ledger.hash(), createHash('sha256').update('').digest('hex'));
    ledger.append('order', order);
    const first = ledger.hash();
    assert.equal(ledger.hash(), first);
    ledger.append('fill', { ...fill, price: 101.21 });
    assert.notEqual(ledger.hash(), first);
  });
});
