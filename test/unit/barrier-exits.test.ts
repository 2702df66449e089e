// Barrier exits in the risk gate, on real daily bars (the bundled stocknet sample): an entry carries the
// bracket and time limit of its model's triple-barrier labels; the gate sends the time exit on the
// symbol's first bar at or after the limit, cancelling the bracket first; an opposite signal closes the
// position with exit reason 'signal', a flatten with 'flatten'. Then the same through the trading actors
// on the in-process bus, with the settings read from a model manifest.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StaticModelSource } from '../../actors/inference/registry.ts';
import { startTrading } from '../../actors/pipeline.ts';
import { modelBarriers } from '../../actors/risk/barrier-exits.ts';
import { RiskGateCore, type RiskGateCoreOptions } from '../../actors/risk/core.ts';
import { FixedNotionalSizer } from '../../actors/risk/sizing.ts';
import { ReplayClock } from '../../core/clock.ts';
import { bracketChildIdFor, orderIdFor, timeExitIntentIdFor } from '../../core/lineage-ids.ts';
import { barrierPrices } from '../../core/triple-barrier.ts';
import { rollingVolatility } from '../../core/volatility.ts';
import type {
  Bar,
  ControlCommand,
  Fill,
  MessageName,
  MessageOf,
  OrderIntent,
  PortfolioSnapshot,
  Signal,
} from '../../schemas/messages.ts';
import type { ModelManifest } from '../../schemas/model-manifest.ts';
import { orderIntentProblem } from '../../schemas/order-intent.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { contractViolation } from '../../schemas/validate.ts';
import { InProcessBus } from '../../streams/in-process-bus.ts';
import { manifestFor } from '../support/models.ts';
import { instruments, riskLimits } from '../support/risk-limits.ts';
import { sampleBars, signalFor, tradingConfig } from './trading-fixture.ts';

const DAY = 86_400_000;
const LABELS = { profitTake: 2, stopLoss: 1, verticalBars: 5, volatilityWindow: 20 };

const allBars = await sampleBars(80);
const aapl = allBars.filter((bar) => bar.symbol === 'AAPL');
const amzn = allBars.filter((bar) => bar.symbol === 'AMZN');

function gate(options: Partial<RiskGateCoreOptions> = {}): RiskGateCore {
  const core = new RiskGateCore({
    limits: riskLimits({
      instruments: instruments(['AAPL', 'AMZN'], {
        minQuantity: 1,
        maxQuantity: 100_000,
        maxPosition: 100_000,
      }),
      maxMarketDataAgeMs: 5 * DAY,
      // Wide enough for the stop-losses of these daily bars (STOP_COLLAR).
      priceCollarBps: 1_000,
    }),
    sizer: new FixedNotionalSizer(10_000),
    clock: new ReplayClock(0),
    tradingState: 'active',
    barrierExits: { barInterval: '1d' },
    ...options,
  });
  core.barrierExits?.setModel('m1', { labels: LABELS });
  core.onPortfolio(portfolio(aapl[0]!.ts_event));
  return core;
}

function portfolio(ts: number): PortfolioSnapshot {
  return {
    schema: 'portfolio_snapshot.v1',
    id: `pf:${ts}`,
    ts_event: ts,
    ts_init: ts,
    account: 'paper',
    positions: [],
    cash: 1_000_000,
    equity: 1_000_000,
    gross_exposure: 0,
    net_exposure: 0,
  };
}

function signal(bar: Bar, direction: Signal['direction'], overrides: Partial<Signal> = {}): Signal {
  return {
    schema: 'signal.v1',
    id: `sig:${bar.id}:${direction}:${overrides.strategy ?? 'momentum'}`,
    ts_event: bar.ts_event,
    ts_init: bar.ts_event,
    strategy: 'momentum',
    symbol: bar.symbol,
    model_version: 'm1',
    direction,
    probability: 0.9,
    feature_id: bar.id,
    ...overrides,
  };
}

/** The whole intent filled at `price` on `bar` (the venue fills at the next bar's open). */
function fillOf(
  intent: OrderIntent,
  bar: Bar,
  orderId = orderIdFor(intent.id),
  quantity = intent.quantity,
): Fill {
  return {
    schema: 'fill.v1',
    id: `${orderId}:fill:1`,
    ts_event: bar.ts_event,
    ts_init: bar.ts_event,
    order_id: orderId,
    symbol: intent.symbol,
    side: orderId === orderIdFor(intent.id) ? intent.side : intent.side === 'buy' ? 'sell' : 'buy',
    quantity,
    price: bar.open,
    fee: 0,
    liquidity: 'taker',
  };
}

/** Feeds bars up to and including index `until`. */
function feed(core: RiskGateCore, bars: readonly Bar[], from: number, until: number): void {
  for (let i = from; i <= until; i++) core.onBar(bars[i]!);
}

function passed(core: RiskGateCore, s: Signal): OrderIntent {
  const result = core.evaluate(s);
  assert.equal(result.decision.outcome, 'pass', result.decision.reason);
  const intent = result.intent!;
  assert.equal(orderIntentProblem(intent), undefined);
  assert.equal(contractViolation('order_intent', intent), undefined);
  return intent;
}

describe('barrier exits in the risk gate', () => {
  it("an entry carries its model's barriers around the close of its bar and a time limit", () => {
    const core = gate();
    const t = 30;
    feed(core, aapl, 0, t);
    feed(core, amzn, 0, t);
    const vol = (bars: readonly Bar[]) =>
      rollingVolatility(
        bars.slice(0, t + 1).map((bar) => bar.close),
        LABELS.volatilityWindow,
      )[t]!;

    const result = core.evaluate(signal(aapl[t]!, 1));
    const long = result.intent!;
    const { upper, lower } = barrierPrices(LABELS, vol(aapl), aapl[t]!.close);
    assert.deepEqual(long.bracket, { take_profit: { limit_price: upper }, stop_loss: { stop_price: lower } });
    assert.equal(long.exit_after, aapl[t]!.ts_event + 5 * DAY);
    assert.equal(long.exit_reason, undefined);
    assert.equal(long.reduce_only, false);
    assert.match(
      result.decision.reason,
      /^all checks passed; barrier exits: take-profit .* time limit .* \(5 bars\)$/,
    );
    assert.deepEqual(result.exitCancels, []);

    // A short's profit is the lower barrier (label −1: stopLoss × volatility down), its stop the upper.
    const short = passed(core, signal(amzn[t]!, -1));
    const amznBarriers = barrierPrices(LABELS, vol(amzn), amzn[t]!.close);
    assert.deepEqual(short.bracket, {
      take_profit: { limit_price: amznBarriers.lower },
      stop_loss: { stop_price: amznBarriers.upper },
    });
    assert.equal(core.barrierExits?.counts.bracketed, 2);
  });

  it("puts the barriers on the venue's tick, never more aggressive than the labels' barrier", () => {
    const tick = 0.05;
    const core = gate({ venueRules: { AAPL: { tickSize: tick } } });
    const t = 40;
    feed(core, aapl, 0, t);
    const vol = rollingVolatility(
      aapl.slice(0, t + 1).map((bar) => bar.close),
      20,
    )[t]!;
    const { upper, lower } = barrierPrices(LABELS, vol, aapl[t]!.close);
    const long = passed(core, signal(aapl[t]!, 1));
    const takeProfit = long.bracket!.take_profit.limit_price;
    const stop = long.bracket!.stop_loss.stop_price;
    const onTick = (price: number) => Math.abs(price / tick - Math.round(price / tick)) < 1e-9;
    assert.ok(onTick(takeProfit) && onTick(stop), `${takeProfit} ${stop}`);
    // The long's exits sell: the take-profit no lower than the barrier, the stop no lower either
    // (it triggers no later than the barrier would).
    assert.ok(takeProfit >= upper && takeProfit < upper + tick, `${takeProfit} vs ${upper}`);
    assert.ok(stop >= lower && stop < lower + tick, `${stop} vs ${lower}`);
  });

  it('without enough bars, or without label settings, an entry goes plain and says why', () => {
    const core = gate();
    feed(core, aapl, 0, 9);
    const early = core.evaluate(signal(aapl[9]!, 1));
    assert.equal(early.intent?.bracket, undefined);
    assert.equal(early.intent?.exit_after, undefined);
    assert.match(
      early.decision.reason,
      /plain entry without barrier exits: volatility of AAPL needs 20 returns of 1d bars, has 9$/,
    );
    const unknown = core.evaluate(signal(aapl[9]!, 1, { model_version: 'm2', id: 'other-model' }));
    assert.match(unknown.decision.reason, /no label settings known for model m2$/);
    assert.equal(core.barrierExits?.counts.plain, 2);
    assert.match(core.barrierExits?.counts.lastPlainReason ?? '', /model m2/);

    const classes = { modelId: 'sentiment-1', labels: { kind: 'classes', source: 'finance tweets' } };
    assert.deepEqual(modelBarriers(classes as unknown as ModelManifest), {
      labels: undefined,
      reason: 'model sentiment-1 was not trained on triple-barrier labels',
    });
  });

  it("sends the time exit on the symbol's first bar at or after the limit: bracket cancelled, the rest closed at market", () => {
    const core = gate();
    const t = 25;
    feed(core, aapl, 0, t);
    const entry = passed(core, signal(aapl[t]!, 1));
    const entryOrder = orderIdFor(entry.id);
    core.onFill(fillOf(entry, aapl[t + 1]!));
    core.onOrderEvent({
      schema: 'order_event.v1',
      id: `${entryOrder}:event:2`,
      ts_event: aapl[t + 1]!.ts_event,
      ts_init: aapl[t + 1]!.ts_event,
      order_id: entryOrder,
      intent_id: entry.id,
      symbol: 'AAPL',
      status: 'filled',
      filled_quantity: entry.quantity,
      leaves_quantity: 0,
    });
    // Another symbol's bars at or after the limit do not close AAPL: the market order must follow an AAPL bar.
    assert.deepEqual(core.timeExits('AMZN', entry.exit_after!), []);
    let exitBar: Bar | undefined;
    for (let i = t + 1; i < aapl.length && exitBar === undefined; i++) {
      core.onBar(aapl[i]!);
      const exits = core.timeExits('AAPL', aapl[i]!.ts_event);
      if (aapl[i]!.ts_event < entry.exit_after!) {
        assert.deepEqual(exits, [], `nothing before the limit (bar ${i})`);
        continue;
      }
      exitBar = aapl[i]!;
      assert.equal(exits.length, 1);
      const [exit] = exits;
      assert.deepEqual(exit!.exitCancels, [
        bracketChildIdFor(entryOrder, 'take_profit'),
        bracketChildIdFor(entryOrder, 'stop_loss'),
      ]);
      const intent = exit!.pass!.intent;
      assert.equal(orderIntentProblem(intent), undefined);
      assert.equal(contractViolation('order_intent', intent), undefined);
      assert.deepEqual(
        {
          id: intent.id,
          side: intent.side,
          quantity: intent.quantity,
          type: intent.order_type,
          reduceOnly: intent.reduce_only,
          reason: intent.exit_reason,
          ts: intent.ts_event,
          signal: intent.signal_id,
          bracket: intent.bracket,
        },
        {
          id: timeExitIntentIdFor(entryOrder),
          side: 'sell',
          quantity: entry.quantity,
          type: 'market',
          reduceOnly: true,
          reason: 'time',
          ts: aapl[i]!.ts_event,
          signal: entry.signal_id,
          bracket: undefined,
        },
      );
      assert.equal(exit!.pass!.decision.outcome, 'pass');
      assert.equal(exit!.pass!.decision.intent_id, intent.id);
      assert.match(exit!.pass!.decision.reason, /^time exit: entry .* reached its time limit/);
    }
    assert.ok(exitBar !== undefined && exitBar.ts_event - aapl[t]!.ts_event <= 8 * DAY);
    // Once sent, never again.
    core.onBar(aapl.at(-1)!);
    assert.deepEqual(core.timeExits('AAPL', aapl.at(-1)!.ts_event), []);
    assert.equal(core.barrierExits?.counts.timeExits, 1);
  });

  it('holds a due time exit while halted and sends it on the first bar after trading resumes', () => {
    const core = gate();
    const t = 25;
    feed(core, aapl, 0, t);
    const entry = passed(core, signal(aapl[t]!, 1));
    core.onFill(fillOf(entry, aapl[t + 1]!));
    core.setTradingState('halted');
    let i = t + 1;
    for (; aapl[i]!.ts_event < entry.exit_after! + 3 * DAY; i++) {
      core.onBar(aapl[i]!);
      assert.deepEqual(core.timeExits('AAPL', aapl[i]!.ts_event), []);
    }
    core.setTradingState('reducing');
    core.onBar(aapl[i]!);
    const [exit] = core.timeExits('AAPL', aapl[i]!.ts_event);
    assert.equal(exit?.pass?.intent.exit_reason, 'time');
    assert.equal(exit?.pass?.decision.trading_state, 'reducing');
  });

  it("ends an entry's tracking when its take-profit child closed the position: no time exit", () => {
    const core = gate();
    const t = 25;
    feed(core, aapl, 0, t);
    const entry = passed(core, signal(aapl[t]!, 1));
    const entryOrder = orderIdFor(entry.id);
    core.onFill(fillOf(entry, aapl[t + 1]!));
    core.onOrderEvent({
      schema: 'order_event.v1',
      id: `${entryOrder}:event:2`,
      ts_event: aapl[t + 1]!.ts_event,
      ts_init: aapl[t + 1]!.ts_event,
      order_id: entryOrder,
      intent_id: entry.id,
      symbol: 'AAPL',
      status: 'filled',
      filled_quantity: entry.quantity,
      leaves_quantity: 0,
    });
    core.onFill(fillOf(entry, aapl[t + 2]!, bracketChildIdFor(entryOrder, 'take_profit')));
    assert.equal(core.position('AAPL'), 0);
    for (let i = t + 1; i < aapl.length; i++) {
      core.onBar(aapl[i]!);
      assert.deepEqual(core.timeExits('AAPL', aapl[i]!.ts_event), []);
    }
  });

  it("an opposite signal closes the whole position ('signal'), cancelling the brackets first; a flatten says 'flatten'", () => {
    const core = gate();
    const t = 25;
    feed(core, aapl, 0, t);
    const first = passed(core, signal(aapl[t]!, 1));
    core.onFill(fillOf(first, aapl[t + 1]!));
    const second = passed(core, signal(aapl[t + 1]!, 1));
    core.onBar(aapl[t + 1]!);
    core.onFill(fillOf(second, aapl[t + 2]!));
    const held = first.quantity + second.quantity;
    assert.ok(Math.abs(core.position('AAPL') - held) < 1e-9);

    const result = core.evaluate(signal(aapl[t + 2]!, -1));
    const close = result.intent!;
    assert.equal(close.exit_reason, 'signal');
    assert.equal(close.side, 'sell');
    assert.equal(close.quantity, core.position('AAPL'), 'all of it, not the sized 10 000 notional');
    assert.equal(close.bracket, undefined);
    assert.deepEqual(
      result.exitCancels,
      [first, second].flatMap((entry) => [
        orderIdFor(entry.id),
        bracketChildIdFor(orderIdFor(entry.id), 'take_profit'),
        bracketChildIdFor(orderIdFor(entry.id), 'stop_loss'),
      ]),
      'entries whose end was not reported yet are cancelled too',
    );
    for (let i = t + 2; i < aapl.length; i++) {
      core.onBar(aapl[i]!);
      assert.deepEqual(core.timeExits('AAPL', aapl[i]!.ts_event), [], 'the closed entries have no time exit');
    }

    const flatten = gate();
    feed(flatten, aapl, 0, t);
    const entry = passed(flatten, signal(aapl[t]!, 1));
    flatten.onFill(fillOf(entry, aapl[t + 1]!));
    flatten.setTradingState('reducing');
    const closing = passed(
      flatten,
      signal(aapl[t + 1]!, -1, { strategy: 'flatten', model_version: 'operator:alice' }),
    );
    assert.equal(closing.exit_reason, 'flatten');
    assert.equal(closing.quantity, entry.quantity);
    assert.equal(closing.reduce_only, true);
  });

  it('off: entries carry no bracket, and a closing order still names its exit reason', () => {
    const core = gate({ barrierExits: undefined });
    const t = 25;
    feed(core, aapl, 0, t);
    const entry = passed(core, signal(aapl[t]!, 1));
    assert.equal(entry.bracket, undefined);
    assert.equal(entry.exit_after, undefined);
    assert.equal(core.barrierExits, undefined);
    core.onFill(fillOf(entry, aapl[t + 1]!));
    core.onBar(aapl[t + 1]!);
    const close = passed(core, signal(aapl[t + 1]!, -1));
    assert.equal(close.exit_reason, 'signal');
    // The sizer's order as always (10 000 of notional), not the whole position.
    assert.ok(Math.abs(close.quantity * aapl[t + 1]!.close - 10_000) < 1e-6);
    assert.deepEqual(core.timeExits('AAPL', aapl.at(-1)!.ts_event), []);
  });
});

describe('barrier exits through the trading actors', () => {
  it('reads the labels from the manifest, sends brackets and time exits, cancels before closing, deterministically', async () => {
    const labels = { profitTake: 1.5, stopLoss: 1, verticalBars: 3, volatilityWindow: 10 };
    const bytes = new Uint8Array([8, 1, 18, 4]);
    const runs: string[] = [];
    for (let run = 0; run < 2; run++) {
      const published: { name: MessageName; event: MessageOf<MessageName> }[] = [];
      const bus = new InProcessBus(new Subjects(4), {
        onPublish: (_subject, name, event) => published.push({ name, event }),
      });
      const base = tradingConfig();
      const models = new StaticModelSource([{ manifest: manifestFor('test-1', bytes, labels), bytes }]);
      const trading = await startTrading(
        { ...base, risk: { ...base.risk, barrierExits: { barInterval: '1d' } } },
        { bus, models },
      );
      for (const bar of allBars) {
        await bus.publish('bar', bus.subjects.bar(bar.symbol), bar);
        await bus.publish('signal', bus.subjects.signal('momentum', bar.symbol), signalFor(bar));
      }
      const of = <N extends MessageName>(name: N) =>
        published.filter((p) => p.name === name).map((p) => p.event as MessageOf<N>);
      const intents = of('order_intent');
      const entries = intents.filter((intent) => intent.bracket !== undefined);
      const timeExits = intents.filter((intent) => intent.exit_reason === 'time');
      assert.ok(entries.length >= 5, `bracketed entries: ${entries.length}`);
      assert.ok(timeExits.length >= 1, `time exits: ${timeExits.length}`);
      for (const entry of entries) assert.equal(entry.exit_after, entry.ts_event + 3 * DAY);
      // Each time exit: the first bar of its symbol at or after its entry's limit, its bracket's
      // cancels the last published before it, and filled at the venue.
      for (const exit of timeExits) {
        const entry = entries.find((e) => timeExitIntentIdFor(orderIdFor(e.id)) === exit.id)!;
        const firstBar = allBars.find(
          (bar) => bar.symbol === exit.symbol && bar.ts_event >= entry.exit_after!,
        );
        assert.equal(exit.ts_event, firstBar?.ts_event);
        const at = published.findIndex((p) => p.event === exit);
        const cancels = published
          .slice(0, at)
          .filter((p) => p.name === 'control_command')
          .slice(-2)
          .map((p) => (p.event as ControlCommand).args?.order_id);
        assert.deepEqual(cancels, [
          bracketChildIdFor(orderIdFor(entry.id), 'take_profit'),
          bracketChildIdFor(orderIdFor(entry.id), 'stop_loss'),
        ]);
        assert.ok(of('fill').some((fill) => fill.order_id === orderIdFor(exit.id)));
        assert.ok(of('risk_decision').some((d) => d.intent_id === exit.id && d.outcome === 'pass'));
      }
      assert.ok(
        intents.some((intent) => intent.exit_reason === 'signal'),
        'some position closed on a signal',
      );
      const status = trading.status().risk.barrierExits;
      assert.equal(status?.bracketed, entries.length);
      assert.equal(status?.timeExits, timeExits.length);
      await trading.stop();
      assert.equal(bus.deadLetters.length, 0, JSON.stringify(bus.deadLetters[0]));
      runs.push(JSON.stringify([...of('order_event'), ...of('fill')]));
    }
    assert.equal(runs[0], runs[1]);
  });
});

describe("the gate checks a bracket's prices against the market", () => {
  const t = 30;
  /** AAPL's bars up to t, the market then at `last`, and the long entry the gate makes of a buy signal. */
  function entryAt(last: number | undefined, collarBps = 1_000) {
    const core = gate({
      limits: riskLimits({
        instruments: instruments(['AAPL'], { minQuantity: 1, maxQuantity: 100_000, maxPosition: 100_000 }),
        maxMarketDataAgeMs: 5 * DAY,
        priceCollarBps: collarBps,
      }),
    });
    feed(core, aapl, 0, t);
    if (last !== undefined)
      core.onTrade({
        schema: 'trade_tick.v1',
        id: 'last',
        ts_event: aapl[t]!.ts_event,
        ts_init: aapl[t]!.ts_event,
        symbol: 'AAPL',
        price: last,
        size: 1,
        aggressor: 'unknown',
      });
    const vol = rollingVolatility(
      aapl.slice(0, t + 1).map((bar) => bar.close),
      LABELS.volatilityWindow,
    )[t]!;
    const barriers = barrierPrices(LABELS, vol, aapl[t]!.close);
    return { result: core.evaluate(signal(aapl[t]!, 1)), ...barriers };
  }
  const checkOf = (result: ReturnType<typeof entryAt>['result'], name: string) =>
    result.decision.checks.find((c) => c.check === name);

  it('records the three checks, passed, for a bracket around the market', () => {
    const { result, upper, lower } = entryAt(undefined);
    assert.equal(result.decision.outcome, 'pass', result.decision.reason);
    const close = aapl[t]!.close;
    assert.deepEqual(checkOf(result, 'STOP_WRONG_SIDE'), {
      check: 'STOP_WRONG_SIDE',
      passed: true,
      value: lower,
      limit: close,
    });
    assert.deepEqual(checkOf(result, 'TAKE_PROFIT_WRONG_SIDE'), {
      check: 'TAKE_PROFIT_WRONG_SIDE',
      passed: true,
      value: upper,
      limit: close,
    });
    const collar = checkOf(result, 'STOP_COLLAR');
    assert.equal(collar?.passed, true);
    assert.ok(Math.abs((collar?.value ?? 0) - ((close - lower) / close) * 10_000) < 1e-6);
    assert.equal(collar?.limit, 1_000);
  });

  it('STOP_COLLAR: a stop-loss farther from the last price than the collar denies the entry', () => {
    const { result, lower } = entryAt(undefined, 50);
    assert.equal(result.decision.outcome, 'deny');
    assert.equal(result.decision.code, 'STOP_COLLAR');
    assert.match(result.decision.reason, new RegExp(`^stop price ${lower} is [0-9.]+ bps from reference`));
  });

  it('STOP_WRONG_SIDE: the market already below a long’s sell stop would trigger it at once', () => {
    const { result, lower } = entryAt(aapl[t]!.close * 0.9);
    assert.ok(lower > aapl[t]!.close * 0.9, 'the setup: the last trade is below the stop');
    assert.equal(result.decision.code, 'STOP_WRONG_SIDE');
    assert.match(
      result.decision.reason,
      /sell stop .* is at or above the last price .*: it would trigger at once/,
    );
    assert.equal(result.intent, undefined);
  });

  it('TAKE_PROFIT_WRONG_SIDE: the market already above a long’s take-profit would fill it at once', () => {
    // A collar wide enough for the stop, far below the market now.
    const { result, upper } = entryAt(aapl[t]!.close * 1.1, 3_000);
    assert.ok(upper < aapl[t]!.close * 1.1, 'the setup: the last trade is above the take-profit');
    assert.equal(result.decision.code, 'TAKE_PROFIT_WRONG_SIDE');
    assert.match(result.decision.reason, /take-profit .* of a long is at or below the last price/);
  });

  it('an entry denied by a check is not counted as a plain entry nor tracked', () => {
    const core = gate({
      limits: riskLimits({
        instruments: instruments(['AAPL'], { minQuantity: 1, maxQuantity: 100_000, maxPosition: 100_000 }),
        maxMarketDataAgeMs: 5 * DAY,
        priceCollarBps: 50,
      }),
    });
    feed(core, aapl, 0, t);
    assert.equal(core.evaluate(signal(aapl[t]!, 1)).decision.code, 'STOP_COLLAR');
    assert.deepEqual([core.barrierExits?.counts.bracketed, core.barrierExits?.counts.plain], [0, 0]);
  });
});
