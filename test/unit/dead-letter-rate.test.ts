// The dead-letter rate alert's core: one alert when `threshold` letters arrive within `windowMs` of
// event time, at most one per window while the burst lasts, the same id when replayed; and the
// monitor on the in-process bus publishes it on alert.<severity>.dead_letter_rate. The feature
// rejection alert shares the rule (RateThreshold), one window per partition.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeadLetterRate, DeadLetterRateMonitor } from '../../actors/alerts/dead-letter-rate.ts';
import { FeatureRejectionRate, type RejectedInput } from '../../actors/alerts/rejection-rate.ts';
import { alertIdFor } from '../../core/lineage-ids.ts';
import type { Alert, DeadLetter } from '../../schemas/messages.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { buildDeadLetter } from '../../streams/dead-letter.ts';
import { InProcessBus } from '../../streams/in-process-bus.ts';

function letter(sequence: number, at: number): DeadLetter {
  return buildDeadLetter({
    originalSubject: 'md.tick.1.AAPL',
    reason: 'trade_tick: /price: Expected number to be greater than 0',
    consumer: 'feature-default-p1',
    payload: '{"price":-1}',
    receivedAt: at,
    streamSequence: sequence,
  });
}

function alertsOf(rate: DeadLetterRate, times: readonly number[]): Alert[] {
  const alerts: Alert[] = [];
  times.forEach((at, index) => {
    const alert = rate.observe(letter(index + 1, at));
    if (alert) alerts.push(alert);
  });
  return alerts;
}

describe('DeadLetterRate', () => {
  it('raises one alert when the threshold is reached within the window', () => {
    const rate = new DeadLetterRate({ threshold: 5, windowMs: 1_000 });
    const alerts = alertsOf(rate, [0, 100, 200, 300, 400, 500, 600]);
    assert.equal(alerts.length, 1);
    const [alert] = alerts;
    assert.equal(alert?.code, 'dead_letter_rate');
    assert.equal(alert?.severity, 'warning');
    assert.equal(alert?.ts_event, 400, 'raised by the fifth letter');
    assert.equal(alert?.id, alertIdFor('dlq:feature-default-p1:5', 'dead_letter_rate'));
    assert.deepEqual(alert?.labels, {
      threshold: '5',
      window_ms: '1000',
      latest_subject: 'md.tick.1.AAPL',
      latest_consumer: 'feature-default-p1',
    });
    assert.match(
      alert?.message ?? '',
      /5 messages dead-lettered within 400 ms .*md\.tick\.1\.AAPL: trade_tick/,
    );
  });

  it('stays quiet below the rate, and again for a window after an alert', () => {
    // One letter every 300 ms: 5 letters span 1,200 ms, more than the window.
    assert.equal(
      alertsOf(new DeadLetterRate({ threshold: 5, windowMs: 1_000 }), [0, 300, 600, 900, 1_200, 1_500])
        .length,
      0,
    );
    // A burst lasting 2.5 windows: one alert per window.
    const burst = Array.from({ length: 250 }, (_, index) => index * 10);
    const alerts = alertsOf(new DeadLetterRate({ threshold: 5, windowMs: 1_000 }), burst);
    assert.deepEqual(
      alerts.map((alert) => alert.ts_event),
      [40, 1_040, 2_040],
    );
  });

  it('gives the same alerts for the same letters (replay)', () => {
    const times = [5, 7, 9, 11, 13, 2_000, 2_001, 2_002, 2_003, 2_004];
    const first = alertsOf(new DeadLetterRate({ threshold: 3, windowMs: 100, severity: 'critical' }), times);
    const again = alertsOf(new DeadLetterRate({ threshold: 3, windowMs: 100, severity: 'critical' }), times);
    assert.deepEqual(again, first);
    assert.equal(first.length, 2);
    assert.ok(first.every((alert) => alert.severity === 'critical'));
  });

  it('refuses a threshold or window that cannot work', () => {
    assert.throws(() => new DeadLetterRate({ threshold: 0 }), /threshold/);
    assert.throws(() => new DeadLetterRate({ windowMs: 0 }), /windowMs/);
  });

  it('the monitor publishes the alert on the bus', async () => {
    const bus = new InProcessBus(new Subjects(4));
    const published: { subject: string; alert: Alert }[] = [];
    await bus.subscribe({
      durable: 'test',
      stream: 'ALERTS',
      filterSubject: 'alert.>',
      messages: ['alert'],
      handler: (alert, delivery) => {
        published.push({ subject: delivery.subject, alert });
      },
    });
    const monitor = await DeadLetterRateMonitor.start({ bus, threshold: 3, windowMs: 1_000 });
    for (let index = 1; index <= 4; index++) {
      const dead = letter(index, index);
      await bus.publish('dead_letter', bus.subjects.deadLetter(dead.original_subject), dead);
    }
    assert.deepEqual(monitor.status(), { letters: 4, alerts: 1 });
    assert.deepEqual(
      published.map((p) => p.subject),
      ['alert.warning.dead_letter_rate'],
    );
  });
});

describe('FeatureRejectionRate', () => {
  const rejected = (partition: number, index: number, at: number): RejectedInput => ({
    partition,
    symbol: `S${partition}`,
    reason: index % 2 ? 'duplicate' : 'out_of_order',
    id: `md:${partition}:${index}`,
    schema: 'trade_tick.v1',
    ts_init: at,
  });
  /** Rejections alternating between partitions 0 and 1, 100 ms apart; the alerts they raise. */
  const alertsOf = (count: number) => {
    const rate = new FeatureRejectionRate({ threshold: 3, windowMs: 1_000, severity: 'critical' });
    const alerts: Alert[] = [];
    for (let index = 0; index < count; index++) {
      const alert = rate.observe(rejected(index % 2, index, index * 100));
      if (alert) alerts.push(alert);
    }
    return alerts;
  };

  it('counts each partition in a window of its own, on ts_init', () => {
    // Partition 0 reaches three at index 4, partition 1 at index 5; five together do not count.
    assert.equal(alertsOf(4).length, 0);
    const alerts = alertsOf(6);
    assert.deepEqual(
      alerts.map((alert) => [alert.labels?.partition, alert.ts_event, alert.id, alert.dedupe_key]),
      [
        ['0', 400, alertIdFor('md:0:4', 'feature_rejection_rate:p0'), 'feature_rejection_rate:p0'],
        ['1', 500, alertIdFor('md:1:5', 'feature_rejection_rate:p1'), 'feature_rejection_rate:p1'],
      ],
    );
    assert.ok(
      alerts.every((alert) => alert.severity === 'critical' && alert.code === 'feature_rejection_rate'),
    );
    assert.match(alerts[1]?.message ?? '', /3 market messages of partition 1 rejected .* within 400 ms/);
    assert.deepEqual(alertsOf(6), alerts, 'the same input, the same alerts');
  });

  it('refuses a threshold or window that cannot work', () => {
    assert.throws(() => new FeatureRejectionRate({ threshold: 1.5 }), /threshold/);
    assert.throws(() => new FeatureRejectionRate({ windowMs: -1 }), /windowMs/);
  });
});
