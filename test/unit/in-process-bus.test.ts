// The in-process bus drops a re-published event (same id, subject and ts_init) as JetStream's
// duplicate window does, through a burst of any length, and delivers everything else in order.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TradeTick } from '../../schemas/messages.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { InProcessBus } from '../../streams/in-process-bus.ts';

/** Market data is stamped 1990 or later (schemas/messages.ts); `ts` counts from here. */
const T0 = Date.UTC(2024, 0, 2);

function trade(symbol: string, sequence: number, ts: number): TradeTick {
  return {
    schema: 'trade_tick.v1',
    id: `test:trade:${symbol}:${sequence}`,
    ts_event: T0 + ts,
    ts_init: T0 + ts,
    symbol,
    price: 100,
    size: 1,
    aggressor: 'buy',
  };
}

async function delivered(ticks: readonly TradeTick[]): Promise<{ ids: string[]; dropped: number }> {
  const bus = new InProcessBus(new Subjects(4));
  const ids: string[] = [];
  await bus.subscribe({
    durable: 'test',
    stream: 'MARKET',
    filterSubject: bus.subjects.marketFilter('tick'),
    messages: ['trade_tick'],
    handler: (tick) => void ids.push(tick.id),
  });
  for (const tick of ticks) await bus.publish('trade_tick', bus.subjects.tick(tick.symbol), tick);
  return { ids, dropped: bus.duplicateCount };
}

describe('InProcessBus duplicate filter', () => {
  it('drops a repeat at the same instant and keeps the same id at a later one', async () => {
    const result = await delivered([
      trade('AAPL', 1, 1_000),
      trade('MSFT', 1, 1_000),
      trade('AAPL', 1, 1_000),
      trade('AAPL', 2, 1_000),
      trade('AAPL', 1, 2_000),
    ]);
    assert.deepEqual(result.ids, [
      'test:trade:AAPL:1',
      'test:trade:MSFT:1',
      'test:trade:AAPL:2',
      'test:trade:AAPL:1',
    ]);
    assert.equal(result.dropped, 1);
  });

  it('drops repeats inside a burst longer than the short list', async () => {
    const burst = Array.from({ length: 100 }, (_, index) => trade('AAPL', index, 5_000));
    const repeats = [burst[3]!, burst[60]!, burst[99]!];
    const result = await delivered([...burst, ...repeats, trade('AAPL', 100, 5_000)]);
    assert.equal(result.ids.length, 101);
    assert.equal(new Set(result.ids).size, 101);
    assert.equal(result.dropped, 3);
  });
});
