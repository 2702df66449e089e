// The one pipeline builder (actors/pipeline.ts) that `sluice run` and the backtest runner share:
// it starts exactly the actors named, and refuses one whose config section or service is missing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startPipeline } from '../../actors/pipeline.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { InProcessBus } from '../../streams/in-process-bus.ts';
import { tradingConfig } from './trading-fixture.ts';

describe('startPipeline', () => {
  it('starts exactly the actors named', async () => {
    const pipeline = await startPipeline(
      new Set(['portfolio'] as const),
      { trading: tradingConfig() },
      {
        bus: new InProcessBus(new Subjects(4)),
      },
    );
    const status = pipeline.status();
    await pipeline.stop();
    assert.equal(status.portfolio?.cash, 1_000_000);
    assert.deepEqual(
      Object.entries(status)
        .filter(([, value]) => value !== undefined)
        .map(([name]) => name),
      ['portfolio'],
    );
  });

  it('refuses an actor without its config section, service or gate key', async () => {
    const bus = new InProcessBus(new Subjects(4));
    await assert.rejects(startPipeline(['risk'], {}, { bus }), /the risk actor needs its section/);
    const { gateKey: _, ...unkeyed } = tradingConfig();
    await assert.rejects(startPipeline(['execution'], { trading: unkeyed }, { bus }), /need a gate key/);
    await assert.rejects(startPipeline(['news'], {}, { bus }), /the news actor needs a model source/);
  });
});
