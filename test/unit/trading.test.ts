import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startTrading, type TradingConfig } from '../../actors/pipeline.ts';
import { orderIdFor } from '../../core/lineage-ids.ts';
import type { MessageName, MessageOf } from '../../schemas/messages.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { InProcessBus } from '../../streams/in-process-bus.ts';
import { SYMBOLS, sampleBars, signalFor, tradingConfig } from './trading-fixture.ts';

interface Published {
  subject: string;
  name: MessageName;
  event: MessageOf<MessageName>;
}

async function inProcessRun(config: TradingConfig = tradingConfig()) {
  const published: Published[] = [];
  const bus = new InProcessBus(new Subjects(4), {
    onPublish: (subject, name, event) => published.push({ subject, name, event }),
  });
  const trading = await startTrading(config, { bus });
  const of = <N extends MessageName>(name: N) =>
    published.filter((p) => p.name === name).map((p) => p.event as MessageOf<N>);
  return { bus, trading, published, of };
}

describe('trading actors on the in-process bus', () => {
  it('flows signal → intent → order → fill → portfolio, deterministically', async () => {
    const bars = await sampleBars(60);
    const ledgers: string[] = [];
    for (let run = 0; run < 2; run++) {
      const { bus, trading, of } = await inProcessRun();
      for (const bar of bars) {
        await bus.publish('bar', bus.subjects.bar(bar.symbol), bar);
        await bus.publish('signal', bus.subjects.signal('momentum', bar.symbol), signalFor(bar));
      }
      const decisions = of('risk_decision');
      const intents = of('order_intent');
      const fills = of('fill');
      assert.equal(decisions.length, bars.length, 'one decision per signal');
      assert.equal(decisions.filter((d) => d.outcome === 'pass').length, intents.length);
      assert.ok(intents.length >= 10, `intents: ${intents.length}`);
      assert.ok(
        decisions.some((d) => d.code === 'POSITION_LIMIT'),
        'the position limit binds somewhere in the run',
      );
      assert.ok(fills.length > 0);
      for (const fill of fills) assert.ok(intents.some((i) => fill.order_id === orderIdFor(i.id)));
      // Portfolio positions equal the net of the fills.
      const status = trading.status();
      for (const symbol of SYMBOLS) {
        const net = fills
          .filter((f) => f.symbol === symbol)
          .reduce((sum, f) => sum + (f.side === 'buy' ? f.quantity : -f.quantity), 0);
        const held = status.portfolio.positions.find((p) => p.symbol === symbol)?.quantity ?? 0;
        assert.ok(Math.abs(held - net) < 1e-9, `${symbol}: ${held} vs ${net}`);
        const risk = status.risk.positions.find((p) => p.symbol === symbol)?.quantity ?? 0;
        assert.ok(Math.abs(risk - net) < 1e-9, `risk view of ${symbol}: ${risk} vs ${net}`);
      }
      ledgers.push(JSON.stringify([...of('order_event'), ...fills]));
      await trading.stop();
      assert.equal(bus.deadLetters.length, 0, JSON.stringify(bus.deadLetters[0]));
    }
    assert.equal(ledgers[0], ledgers[1]);
  });

  it('a halt denies the next signal and cancels working orders; resume restores trading', async () => {
    const bars = await sampleBars(10);
    const { bus, trading, of } = await inProcessRun();
    const feed = async (index: number) => {
      const bar = bars[index]!;
      await bus.publish('bar', bus.subjects.bar(bar.symbol), bar);
      await bus.publish('signal', bus.subjects.signal('momentum', bar.symbol), signalFor(bar));
    };
    await feed(0);
    assert.equal(of('order_intent').length, 1, 'the first signal passes');
    assert.equal(trading.status().execution.openOrders, 1, 'its market order waits for the next bar');

    const halted = await trading.risk.command({ type: 'HALT', operator: 'alice', reason: 'test' });
    assert.deepEqual(halted, { ok: true, state: 'halted' });
    const cancels = of('control_command');
    assert.equal(cancels.length, 1);
    assert.equal(cancels[0]?.args?.order_id, orderIdFor(of('order_intent')[0]?.id ?? ''));
    assert.ok(of('alert').some((a) => a.code === 'RISK_HALTED' && a.severity === 'critical'));

    await feed(1);
    assert.equal(of('risk_decision').at(-1)?.code, 'TRADING_HALTED', 'the very next signal is denied');
    // The cancel takes effect after the venue latency (1 ms), i.e. by the next bar of the next day.
    await feed(2);
    assert.equal(of('risk_decision').at(-1)?.code, 'TRADING_HALTED');
    assert.equal(of('order_intent').length, 1, 'no new intent while halted');
    assert.equal(of('fill').length, 0, 'the working order was cancelled, not filled');
    assert.ok(of('order_event').some((e) => e.status === 'canceled'));
    assert.equal(trading.status().execution.openOrders, 0);

    assert.equal((await trading.risk.command({ type: 'RESUME', operator: 'alice' })).state, 'active');
    await feed(3);
    assert.equal(of('risk_decision').at(-1)?.outcome, 'pass');
    await trading.stop();
  });

  it('starts held and releases only when positions are reconciled with the portfolio', async () => {
    const { trading } = await inProcessRun(tradingConfig({ startState: 'halted' }));
    // The portfolio's start snapshot reflects the same (empty) fill ledger as the gate.
    assert.equal(trading.status().risk.state, 'active');
    assert.equal(trading.status().risk.reconciled, true);
    await trading.stop();
  });
});
