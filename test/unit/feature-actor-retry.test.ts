// A FeatureActor handler that fails after the core took its message (a vector publish that did not
// land) is retried with the same delivery, as the consumer runner does: the retry must send the
// vector again, not hand the bar to the core a second time (which refuses it as a duplicate).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FeatureActor } from '../../actors/feature/actor.ts';
import { DEFAULT_FEATURE_SET } from '../../actors/feature/feature-set.ts';
import type { Bar, FeatureVector, MessageName, MessageOf } from '../../schemas/messages.ts';
import { Subjects } from '../../schemas/subjects.ts';
import type {
  ActorBus,
  Delivery,
  MessageHandler,
  SubscribeOptions,
  Subscription,
} from '../../streams/bus.ts';
import { sampleBars, warmVectors } from '../support/feature-actors.ts';

/** A bus whose first `failures` feature-vector publishes fail; it hands deliveries to the test. */
class FlakyPublishBus implements ActorBus {
  readonly subjects = new Subjects(4);
  readonly vectors: FeatureVector[] = [];
  handler: MessageHandler<'bar'> | undefined;

  constructor(private failures: number) {}

  async publish<N extends MessageName>(name: N, _subject: string, event: MessageOf<N>): Promise<void> {
    if (name !== 'feature_vector') return;
    if (this.failures > 0) {
      this.failures--;
      throw new Error('publish timed out');
    }
    this.vectors.push(event as FeatureVector);
  }

  async subscribe<N extends MessageName>(options: SubscribeOptions<N>): Promise<Subscription> {
    if ((options.messages as readonly string[]).includes('bar'))
      this.handler ??= options.handler as unknown as MessageHandler<'bar'>;
    return { drain: async () => {} };
  }

  async flush(): Promise<void> {}
}

/** Hands each bar over as its consumer would: a failed delivery is retried before the next. */
async function deliver(bus: FlakyPublishBus, bars: readonly Bar[]): Promise<number> {
  let retries = 0;
  for (const [index, bar] of bars.entries()) {
    const delivery: Delivery = {
      subject: bus.subjects.bar(bar.symbol),
      streamSequence: index + 1,
      deliveryCount: 1,
    };
    for (;;) {
      try {
        await bus.handler!(bar, delivery);
        break;
      } catch {
        retries++;
        delivery.deliveryCount++;
      }
    }
  }
  return retries;
}

describe('FeatureActor retries', () => {
  it('a retried delivery whose vector publish failed sends that vector, and counts no rejection', async () => {
    const bars = (await sampleBars()).filter((bar) => bar.symbol === 'AAPL').slice(0, 60);
    const bus = new FlakyPublishBus(3);
    const actor = await FeatureActor.start({ bus, set: DEFAULT_FEATURE_SET, partitions: [0, 1, 2, 3] });
    const retries = await deliver(bus, bars);
    await actor.stop();
    assert.equal(retries, 3);
    assert.deepEqual(
      bus.vectors.map((vector) => vector.id),
      warmVectors(bars).map((vector) => vector.id),
      'every warm row published once, the first one after three failed tries',
    );
    assert.deepEqual(actor.rejections(), [], 'a retry is not a duplicate');
  });
});
