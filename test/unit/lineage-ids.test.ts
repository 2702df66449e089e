// The derived id rules, byte for byte: the backtest ledger hashes these ids, and a stream drops a
// re-published event only when its id is the same, so a rule that changes is a breaking change.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  alertIdFor,
  cancelIdFor,
  deadLetterIdFor,
  decisionIdFor,
  featureVectorIdFor,
  fillIdFor,
  flattenSignalIdFor,
  intentIdFor,
  orderEventIdFor,
  orderIdFor,
  portfolioSnapshotIdFor,
  replyIdFor,
  sentimentIdFor,
  signalIdFor,
} from '../../core/lineage-ids.ts';

describe('lineage ids', () => {
  it('from a bar to a fill', () => {
    const vector = featureVectorIdFor('stocknet:bar:1d:AAPL:1388707200000', 'live-v1');
    assert.equal(vector, 'stocknet:bar:1d:AAPL:1388707200000:feat:live-v1');
    const signal = signalIdFor('momentum', vector);
    assert.equal(signal, `sig:momentum:${vector}`);
    assert.equal(decisionIdFor(signal), `${signal}:decision`);
    assert.equal(decisionIdFor(signal, true), `${signal}:decision:duplicate`);
    const order = orderIdFor(intentIdFor(signal));
    assert.equal(order, `${signal}:intent:order`);
    assert.equal(orderEventIdFor(order, 2), `${order}:event:2`);
    assert.equal(fillIdFor(order, 1), `${order}:fill:1`);
    assert.equal(cancelIdFor(order), `${order}:cancel`);
    assert.equal(
      portfolioSnapshotIdFor('paper', 5, fillIdFor(order, 1)),
      `portfolio:paper:5:${order}:fill:1`,
    );
    assert.equal(portfolioSnapshotIdFor('paper', 0, undefined), 'portfolio:paper:0:none');
  });

  it('news, operator commands, dead letters and their alerts', () => {
    assert.equal(sentimentIdFor('stocknet:news:AAPL:42', 'news-1'), 'sent:stocknet:news:AAPL:42:news-1');
    assert.equal(replyIdFor('ctl:risk:halt:alice:7'), 'ctl:risk:halt:alice:7:reply');
    assert.equal(flattenSignalIdFor('ctl:risk:flatten:alice:7', 'AAPL'), 'ctl:risk:flatten:alice:7:AAPL');
    const letter = deadLetterIdFor('feature-default-p1', 5);
    assert.equal(letter, 'dlq:feature-default-p1:5');
    assert.equal(alertIdFor(letter, 'dead_letter_rate'), 'dlq:feature-default-p1:5:alert:dead_letter_rate');
  });
});
