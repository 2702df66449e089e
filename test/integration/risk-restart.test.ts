// A risk gate restarted on its own, while its portfolio and execution run elsewhere, reconciles at
// start from the portfolio's last pf.snapshot and the venue's last reconciliation on the stream (their
// public contracts), not from their saved state: here the gate's store holds only the gate's own keys.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { lastMarketDataFromStream, startPipeline } from '../../actors/pipeline.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { NatsActorBus } from '../../streams/bus.ts';
import { connectNats } from '../../streams/connection.ts';
import { lastPortfolioSnapshotFromStream, lastReconciliationFromStream } from '../../streams/last-message.ts';
import { KvSnapshotStore, type SnapshotStore } from '../../streams/snapshot-store.ts';
import { startTestBus, type TestBus } from '../support/bus.ts';
import { feedStep, settle, startProcess } from '../support/trading.ts';
import { SYMBOLS, sampleBars, tradingConfig } from '../unit/trading-fixture.ts';

describe('risk gate restarted alone', { timeout: 120_000 }, () => {
  let test: TestBus;
  before(async () => {
    test = await startTestBus();
  });
  after(async () => {
    await test.close();
  });

  it('reconciles with the portfolio’s last pf.snapshot and the venue’s last reconciliation on the stream', async () => {
    const config = tradingConfig({ startState: 'reducing' });
    const process = await startProcess(test.url, config);
    await settle(test, process);
    for (const bar of await sampleBars(8)) await feedStep(test, bar, process);
    await settle(test, process);
    const held = process.trading.status().portfolio.positions.filter((p) => p.quantity !== 0);
    assert.ok(held.length > 0, 'the portfolio holds positions');
    await process.trading.stop();
    await process.connection.close();

    const connection = await connectNats({ url: test.url, name: 'risk-alone' });
    const js = jetstream(connection);
    const manager = await jetstreamManager(connection);
    const subjects = new Subjects(4);
    const kv = await KvSnapshotStore.open(js, 'sluice_snapshots');
    const ownKeysOnly: SnapshotStore = {
      get: (key) => (key.startsWith('risk.') ? kv.get(key) : Promise.resolve(undefined)),
      put: (key, text) => kv.put(key, text),
    };
    const { risk } = await startPipeline(
      ['risk'],
      { trading: config },
      {
        bus: new NatsActorBus(js, manager, subjects),
        store: ownKeysOnly,
        lastMarketData: lastMarketDataFromStream(manager, subjects, SYMBOLS),
        lastPortfolioSnapshot: lastPortfolioSnapshotFromStream(manager, subjects, config.account),
        lastReconciliation: lastReconciliationFromStream(manager, subjects, 'SIM'),
      },
    );
    try {
      const status = risk.status();
      assert.equal(status.reconciled, true);
      assert.equal(status.state, 'active');
      assert.deepEqual(
        status.positions.filter((p) => p.quantity !== 0),
        held.map((p) => ({ symbol: p.symbol, quantity: p.quantity })),
      );
    } finally {
      await risk.stop();
      await connection.close();
    }
  });
});
