// Admission (streams/admission.ts): a message must travel on a subject of its kind whose tokens are
// its own fields, and may not be stamped more than the allowed skew ahead of its ts_init or of a live
// receiving clock; and the in-process bus dead-letters what admission refuses, so one bad message can
// no longer move a symbol's clock and make every later tick of it "late".
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BarAggregator, type TickOutcome } from '../../actors/feature/bars.ts';
import { ReplayClock } from '../../core/clock.ts';
import type { MessageName, MessageOf, QuoteTick } from '../../schemas/messages.ts';
import { partitionOf, type SubjectKind, Subjects, subjectSpecs } from '../../schemas/subjects.ts';
import {
  type AdmissionContext,
  admissionFailure,
  DEFAULT_MAX_FUTURE_SKEW_MS,
} from '../../streams/admission.ts';
import { InProcessBus } from '../../streams/in-process-bus.ts';

const T0 = Date.UTC(2024, 0, 2, 14, 30);
const DAY = 86_400_000;
const YEAR_2100 = Date.UTC(2100, 0, 1);

type AnyMessage = MessageOf<MessageName>;

const header = { id: 'test:1', ts_event: T0, ts_init: T0 };

const quote = (symbol: string, overrides: Partial<QuoteTick> = {}): QuoteTick => ({
  schema: 'quote_tick.v1',
  ...header,
  symbol,
  bid: 99,
  ask: 101,
  bid_size: 10,
  ask_size: 10,
  ...overrides,
});

/** One message of each contract, with the fields its subject names (contract-valid). */
const messages: { [N in MessageName]: MessageOf<N> } = {
  trade_tick: { schema: 'trade_tick.v1', ...header, symbol: 'BRK.B', price: 1, size: 1, aggressor: 'buy' },
  quote_tick: quote('GBP/USD'),
  bar: {
    schema: 'bar.v1',
    ...header,
    symbol: 'AAPL',
    interval: '1m',
    open: 1,
    high: 2,
    low: 1,
    close: 2,
    volume: 5,
  },
  news_item: { schema: 'news_item.v1', ...header, symbol: 'AAPL', headline: 'h', source: 's' },
  sentiment_score: {
    schema: 'sentiment_score.v1',
    ...header,
    symbol: 'AAPL',
    label: 'neutral',
    score: 0,
    confidence: 1,
    model_version: 'm',
  },
  feature_vector: {
    schema: 'feature_vector.v1',
    ...header,
    symbol: 'BRK.B',
    feature_set: 'default',
    feature_set_version: 'v',
    values: {},
    bar_id: 'b',
  },
  signal: {
    schema: 'signal.v1',
    ...header,
    strategy: 'mean reversion',
    symbol: 'AAPL',
    model_version: 'm',
    direction: 1,
    probability: 0.6,
    feature_id: 'f',
  },
  order_intent: {
    schema: 'order_intent.v2',
    ...header,
    strategy: 's',
    symbol: 'AAPL',
    side: 'buy',
    quantity: 1,
    order_type: 'market',
    time_in_force: 'gtc',
    reduce_only: false,
    signal_id: 'sig',
  },
  order_intent_v1: {
    schema: 'order_intent.v1',
    ...header,
    strategy: 's',
    symbol: 'AAPL',
    side: 'buy',
    quantity: 1,
    order_type: 'market',
    time_in_force: 'gtc',
    reduce_only: false,
    signal_id: 'sig',
  },
  risk_decision: {
    schema: 'risk_decision.v1',
    ...header,
    strategy: 's',
    symbol: 'AAPL',
    outcome: 'pass',
    code: 'OK',
    reason: '',
    trading_state: 'active',
    checks: [],
    signal_id: 'sig',
  },
  order_event: {
    schema: 'order_event.v1',
    ...header,
    order_id: 'o',
    intent_id: 'i',
    symbol: 'AAPL',
    status: 'accepted',
    filled_quantity: 0,
    leaves_quantity: 1,
  },
  fill: {
    schema: 'fill.v1',
    ...header,
    order_id: 'o',
    symbol: 'AAPL',
    side: 'buy',
    quantity: 1,
    price: 1,
    fee: 0,
    liquidity: 'taker',
  },
  reconciliation: {
    schema: 'reconciliation.v1',
    ...header,
    venue: 'ccxt.binance',
    account_mode: 'paper',
    trigger: 'start',
    outcome: 'ok',
    differences: [],
  },
  portfolio_snapshot: {
    schema: 'portfolio_snapshot.v1',
    ...header,
    account: 'paper/1',
    positions: [],
    cash: 1,
    equity: 1,
    gross_exposure: 0,
    net_exposure: 0,
  },
  alert: {
    schema: 'alert.v1',
    ...header,
    severity: 'critical',
    code: 'daily.loss',
    message: 'm',
    source: 'risk',
    dedupe_key: 'k',
  },
  control_command: {
    schema: 'control_command.v1',
    ...header,
    actor: 'risk',
    command: 'halt',
    operator: 'op',
  },
  control_reply: { schema: 'control_reply.v1', ...header, command_id: 'c', ok: true },
  dead_letter: {
    schema: 'dead_letter.v1',
    ...header,
    original_subject: 'md.tick.1.X',
    reason: 'r',
    consumer: 'c',
    payload: '',
  },
  feed_frame: {
    schema: 'feed_frame.v1',
    ...header,
    provider: 'ccxt:binance',
    session: 's1',
    sequence: 0,
    channel: 'trades',
    origin: 'stream',
    payload: { id: '1' },
  },
};

/** Where each kind's message travels, built as publishers build it. */
function subjectFor(subjects: Subjects, kind: SubjectKind): { subject: string; message: AnyMessage } {
  const m = messages;
  switch (kind) {
    case 'tick':
      return { subject: subjects.tick(m.trade_tick.symbol), message: m.trade_tick };
    case 'bar':
      return { subject: subjects.bar(m.bar.symbol), message: m.bar };
    case 'news':
      return { subject: subjects.news(m.news_item.symbol), message: m.news_item };
    case 'sentiment':
      return { subject: subjects.sentiment(m.sentiment_score.symbol), message: m.sentiment_score };
    case 'feature':
      return { subject: subjects.feature(m.feature_vector.symbol), message: m.feature_vector };
    case 'signal':
      return { subject: subjects.signal(m.signal.strategy, m.signal.symbol), message: m.signal };
    case 'orderIntent':
      return { subject: subjects.orderIntent(m.order_intent.symbol), message: m.order_intent };
    case 'orderCancel':
      return { subject: `${subjects.namespace}ord.cancel.AAPL`, message: m.control_command };
    case 'riskDecision':
      return { subject: subjects.riskDecision(m.risk_decision.symbol), message: m.risk_decision };
    case 'orderEvent':
      return { subject: subjects.orderEvent(m.order_event.symbol), message: m.order_event };
    case 'fill':
      return { subject: subjects.fill(m.fill.symbol), message: m.fill };
    case 'reconciliation':
      return { subject: subjects.reconciliation(m.reconciliation.venue), message: m.reconciliation };
    case 'portfolio':
      return { subject: subjects.portfolio(m.portfolio_snapshot.account), message: m.portfolio_snapshot };
    case 'alert':
      return { subject: subjects.alert(m.alert.severity, m.alert.code), message: m.alert };
    case 'control':
      return { subject: subjects.control('risk', 'halt'), message: m.control_command };
    case 'rawFrame':
      return {
        subject: subjects.rawFrame(m.feed_frame.provider, m.feed_frame.channel),
        message: m.feed_frame,
      };
    case 'deadLetter': {
      const letter = { ...m.dead_letter, original_subject: subjects.tick('X') };
      return { subject: subjects.deadLetter(letter.original_subject), message: letter };
    }
  }
}

const context = (subjects = new Subjects(4), extra: Partial<AdmissionContext> = {}): AdmissionContext => ({
  subjects,
  maxFutureSkewMs: DEFAULT_MAX_FUTURE_SKEW_MS,
  ...extra,
});

describe('admission: routing', () => {
  it('admits every kind of message on the subject its publisher builds, with or without a namespace', () => {
    for (const subjects of [new Subjects(4), new Subjects(7, 'bt.run-1.')]) {
      for (const kind of Object.keys(subjectSpecs) as SubjectKind[]) {
        const { subject, message } = subjectFor(subjects, kind);
        assert.equal(admissionFailure(subject, message, context(subjects)), undefined, `${kind}: ${subject}`);
      }
    }
  });

  it('refuses a message whose schema does not travel on its subject kind', () => {
    const subjects = new Subjects(4);
    const cases: [string, AnyMessage, RegExp][] = [
      [
        subjects.bar('GBP/USD'),
        messages.quote_tick,
        /^quote_tick\.v1 does not travel on bar subjects .*bar\.v1$/,
      ],
      [subjects.bar('BRK.B'), messages.trade_tick, /trade_tick\.v1 does not travel on bar subjects/],
      [
        subjects.tick('AAPL'),
        messages.bar,
        /bar\.v1 does not travel on tick subjects .*trade_tick\.v1, quote_tick\.v1/,
      ],
      [subjects.orderIntent('AAPL'), messages.signal, /signal\.v1 does not travel on orderIntent subjects/],
      [subjects.news('AAPL'), messages.sentiment_score, /sentiment_score\.v1 does not travel on news/],
    ];
    for (const [subject, message, reason] of cases) {
      assert.match(admissionFailure(subject, message, context(subjects)) ?? '', reason, subject);
    }
  });

  it('refuses a body symbol that is not its subject symbol, or not of its subject partition', () => {
    const subjects = new Subjects(4);
    const aapl = messages.bar;
    const msftSubject = subjects.bar('MSFT');
    const samePartitionOther = ['IBM', 'GOOG', 'TSLA', 'NVDA', 'AMZN', 'META', 'SPY', 'QQQ'].find(
      (symbol) => partitionOf(symbol, 4) === partitionOf('AAPL', 4),
    )!;
    const wrongPartition = (partitionOf('AAPL', 4) + 1) % 4;
    const cases: [string, RegExp][] = [
      [
        subjects.bar(samePartitionOther),
        new RegExp(`names symbol "${samePartitionOther}", but the message's /symbol is "AAPL"`),
      ],
      [
        `md.bar.${wrongPartition}.AAPL`,
        new RegExp(
          `names partition "${wrongPartition}", but /symbol "AAPL" is in partition ${partitionOf('AAPL', 4)} of 4`,
        ),
      ],
      [`md.bar.0${partitionOf('AAPL', 4)}.AAPL`, /names partition "0\d"/],
      ['md.bar.x.AAPL', /names partition "x"/],
      [msftSubject, /names (partition|symbol) .*"AAPL"/],
    ];
    for (const [subject, reason] of cases) {
      assert.match(admissionFailure(subject, aapl, context(subjects)) ?? '', reason, subject);
    }
    // Symbols with characters a token cannot hold are compared in their encoded form only.
    const brk = messages.trade_tick;
    const partition = partitionOf('BRK.B', 4);
    assert.equal(admissionFailure(`md.tick.${partition}.BRK~2eB`, brk, context(subjects)), undefined);
    assert.match(
      admissionFailure(`md.tick.${partition}.BRK~2EB`, brk, context(subjects)) ?? '',
      /names symbol/,
    );
    assert.match(
      admissionFailure(`md.tick.${partition}.BRK~2e`, brk, context(subjects)) ?? '',
      /names symbol/,
    );
    const tilde = { ...brk, symbol: 'BRK~2eB' };
    assert.match(
      admissionFailure(`md.tick.${partitionOf('BRK~2eB', 4)}.BRK~2eB`, tilde, context(subjects)) ?? '',
      /names symbol "BRK~2eB", but the message's \/symbol is "BRK~2eB"/,
    );
  });

  it('answers the same once a subject has admitted a message (its cache keeps subject and symbol only)', () => {
    const subjects = new Subjects(4);
    const admitted = context(subjects);
    const barSubject = subjects.bar('AAPL');
    for (let round = 0; round < 3; round++) {
      assert.equal(admissionFailure(barSubject, messages.bar, admitted), undefined);
      assert.match(
        admissionFailure(barSubject, { ...messages.bar, symbol: 'MSFT' }, admitted) ?? '',
        /names/,
      );
      assert.match(admissionFailure(barSubject, quote('AAPL'), admitted) ?? '', /does not travel on bar/);
      const signalSubject = subjects.signal('mean reversion', 'AAPL');
      assert.equal(admissionFailure(signalSubject, messages.signal, admitted), undefined);
      const otherStrategy = { ...messages.signal, strategy: 'momentum' };
      assert.match(admissionFailure(signalSubject, otherStrategy, admitted) ?? '', /names strategy/);
    }
    // Another partition count, other answers: AAPL's subject under 4 partitions is not its subject under 5.
    assert.notEqual(partitionOf('AAPL', 4), partitionOf('AAPL', 5));
    assert.match(admissionFailure(barSubject, messages.bar, context(new Subjects(5))) ?? '', /partition/);
  });

  it('refuses other fields their subject names: strategy, account, alert code, original subject', () => {
    const subjects = new Subjects(4);
    const cases: [string, AnyMessage, RegExp][] = [
      [subjects.signal('other', 'AAPL'), messages.signal, /names strategy "other"/],
      [subjects.portfolio('paper/2'), messages.portfolio_snapshot, /names account "paper~2f2"/],
      [subjects.alert('info', 'daily.loss'), messages.alert, /names severity "info"/],
      [subjects.alert('critical', 'other'), messages.alert, /names code "other"/],
      [subjects.control('risk', 'resume'), messages.control_command, /names command "resume"/],
      [
        subjects.deadLetter('md.tick.1.Y'),
        messages.dead_letter,
        /not the dead-letter subject of \/original_subject md\.tick\.1\.X/,
      ],
      [subjects.deadLetter('md.tick.1.X.Y'), messages.dead_letter, /not the dead-letter subject/],
    ];
    for (const [subject, message, reason] of cases) {
      assert.match(admissionFailure(subject, message, context(subjects)) ?? '', reason, subject);
    }
  });

  it('refuses subjects outside the namespace or the subject map, and missing or extra tokens', () => {
    const subjects = new Subjects(4, 'bt.r1.');
    const bar = messages.bar;
    const own = subjects.bar('AAPL');
    const cases: [string, RegExp][] = [
      [own.slice('bt.r1.'.length), /outside the namespace bt\.r1\./],
      [`bt.r1.md.evil.${partitionOf('AAPL', 4)}.AAPL`, /no subject of the subject map/],
      [`${own}.extra`, /has more tokens than bar subjects/],
      [`${own}.`, /has more tokens than bar subjects/],
      [`bt.r1.md.bar.${partitionOf('AAPL', 4)}`, /has no \{symbol\} token/],
    ];
    for (const [subject, reason] of cases) {
      assert.match(admissionFailure(subject, bar, context(subjects)) ?? '', reason, subject);
    }
  });
});

describe('admission: clock skew', () => {
  const subjects = new Subjects(4);
  const subject = subjects.tick('GBP/USD');

  it('refuses ts_event more than the skew ahead of ts_init (the quote stamped 2100), at the boundary exactly', () => {
    const hostile = quote('GBP/USD', { ts_event: YEAR_2100, ts_init: T0 });
    assert.match(
      admissionFailure(subject, hostile, context()) ?? '',
      /^\/ts_event 4102444800000 \(2100-01-01T00:00:00\.000Z\) is \d+ ms ahead of \/ts_init .* more than the allowed clock skew of 86400000 ms$/,
    );
    assert.equal(admissionFailure(subject, quote('GBP/USD', { ts_event: T0 + DAY }), context()), undefined);
    assert.match(
      admissionFailure(subject, quote('GBP/USD', { ts_event: T0 + DAY + 1 }), context()) ?? '',
      /ahead of \/ts_init/,
    );
    // Configurable: an hour.
    const hour = context(subjects, { maxFutureSkewMs: 3_600_000 });
    assert.match(
      admissionFailure(subject, quote('GBP/USD', { ts_event: T0 + 3_600_001 }), hour) ?? '',
      /skew of 3600000 ms/,
    );
    // Received before it happened is normal (feed latency): ts_event behind ts_init is fine.
    assert.equal(
      admissionFailure(subject, quote('GBP/USD', { ts_init: T0 + 5 * DAY }), context()),
      undefined,
    );
  });

  it('with a live receiving clock, refuses ts_event or ts_init more than the skew ahead of it', () => {
    const clock = new ReplayClock(T0);
    const live = context(subjects, { receivingClock: clock });
    const stampedAhead = quote('GBP/USD', { ts_event: YEAR_2100, ts_init: YEAR_2100 });
    assert.match(
      admissionFailure(subject, stampedAhead, live) ?? '',
      /^\/ts_event 4102444800000 \(2100-01-01T00:00:00\.000Z\) is \d+ ms ahead of the receiving clock 1704205800000 /,
    );
    assert.match(
      admissionFailure(subject, quote('GBP/USD', { ts_init: T0 + DAY + 1 }), live) ?? '',
      /^\/ts_init .* ahead of the receiving clock/,
    );
    assert.equal(
      admissionFailure(subject, quote('GBP/USD', { ts_event: T0 + DAY, ts_init: T0 + DAY }), live),
      undefined,
    );
    // Historical data (ts_init = ts_event, long past) is admitted in live mode too.
    assert.equal(
      admissionFailure(
        subject,
        quote('GBP/USD', { ts_event: T0 - 3_000 * DAY, ts_init: T0 - 3_000 * DAY }),
        live,
      ),
      undefined,
    );
    // A replay has no receiving clock but ts_init: the same message stamped 2100 throughout passes
    // the skew rule there (the backtest window and the contracts bound it).
    assert.equal(admissionFailure(subject, stampedAhead, context()), undefined);
  });
});

describe('in-process bus admission', () => {
  /** A BarAggregator per symbol behind the bus, as the feature actor keeps one: its clock is the symbol's. */
  async function aggregated(events: readonly { subject?: string; quote: QuoteTick }[], bus: InProcessBus) {
    const outcomes: TickOutcome[] = [];
    const aggregator = new BarAggregator('GBP/USD', '1m');
    await bus.subscribe({
      durable: 'feature-test',
      stream: 'MARKET',
      filterSubject: bus.subjects.marketFilter('*'),
      messages: ['quote_tick', 'bar'],
      handler: (message) => {
        if (message.schema === 'quote_tick.v1') outcomes.push(aggregator.onQuote(message));
      },
    });
    for (const { subject, quote: tick } of events) {
      await bus.publish('quote_tick', subject ?? bus.subjects.tick(tick.symbol), tick);
    }
    return outcomes;
  }

  const tick = (n: number, overrides: Partial<QuoteTick> = {}) =>
    quote('GBP/USD', { id: `q:${n}`, ts_event: T0 + n * 1_000, ts_init: T0 + n * 1_000, ...overrides });

  it('dead-letters a quote stamped 2100 (received now) and every later quote of the symbol still counts', async () => {
    const bus = new InProcessBus(new Subjects(4));
    const outcomes = await aggregated(
      [
        { quote: tick(1) },
        { quote: tick(2, { ts_event: YEAR_2100 }) },
        ...[3, 4, 65, 130].map((n) => ({ quote: tick(n) })),
      ],
      bus,
    );
    assert.deepEqual(outcomes, ['accepted', 'accepted', 'accepted', 'accepted', 'accepted']);
    assert.equal(bus.deadLetters.length, 1);
    const [letter] = bus.deadLetters;
    assert.equal(letter?.original_subject, bus.subjects.tick('GBP/USD'));
    assert.equal(letter?.consumer, 'feature-test');
    assert.equal(letter?.ts_event, T0 + 2_000, 'received at its ts_init');
    assert.match(letter?.reason ?? '', /\/ts_event 4102444800000 .* ahead of \/ts_init/);
    assert.equal(JSON.parse(letter?.payload ?? '{}').id, 'q:2');
  });

  it('with a live receiving clock, dead-letters a quote stamped 2100 throughout', async () => {
    const clock = new ReplayClock(T0);
    const bus = new InProcessBus(new Subjects(4), { admission: { receivingClock: clock } });
    const outcomes = await aggregated(
      [
        { quote: tick(1) },
        { quote: tick(2, { ts_event: YEAR_2100, ts_init: YEAR_2100 }) },
        { quote: tick(3) },
      ],
      bus,
    );
    assert.deepEqual(outcomes, ['accepted', 'accepted']);
    assert.equal(bus.deadLetters.length, 1);
    assert.equal(bus.deadLetters[0]?.ts_event, T0, 'received at the receiving clock, not at 2100');
    assert.match(bus.deadLetters[0]?.reason ?? '', /ahead of the receiving clock/);
  });

  it("dead-letters a quote on a bar subject and a quote on another symbol's subject; the rest goes on", async () => {
    const bus = new InProcessBus(new Subjects(4));
    const outcomes = await aggregated(
      [
        { quote: tick(1) },
        { subject: bus.subjects.bar('GBP/USD'), quote: tick(2) },
        { subject: bus.subjects.tick('EUR/USD'), quote: tick(3) },
        { quote: tick(4) },
      ],
      bus,
    );
    assert.deepEqual(outcomes, ['accepted', 'accepted']);
    assert.deepEqual(
      bus.deadLetters.map((letter) => letter.original_subject),
      [bus.subjects.bar('GBP/USD'), bus.subjects.tick('EUR/USD')],
    );
    assert.match(bus.deadLetters[0]?.reason ?? '', /^quote_tick\.v1 does not travel on bar subjects/);
    assert.match(bus.deadLetters[1]?.reason ?? '', /names (partition|symbol) .* \/symbol "GBP\/USD"/);
  });
});
