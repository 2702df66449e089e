// Where a feed event goes and under which contract it is checked: one place for the FeedActor and the
// feed_backfill job (simulations/feed-backfill-job.ts), which publish the same events the same way.
import type { Subjects } from '../../schemas/subjects.ts';
import type { EventPublisher } from '../../streams/publisher.ts';
import type { FeedEvent } from './adapter.ts';

/** md.tick for trades and quotes, md.bar, md.news. */
export function feedSubject(subjects: Subjects, event: FeedEvent): string {
  switch (event.schema) {
    case 'trade_tick.v1':
    case 'quote_tick.v1':
      return subjects.tick(event.symbol);
    case 'bar.v1':
      return subjects.bar(event.symbol);
    case 'news_item.v1':
      return subjects.news(event.symbol);
  }
}

/** Validates and publishes (Nats-Msg-Id = event id); throws InvalidMessageError on a broken contract. */
export function publishFeedEvent(
  publisher: EventPublisher,
  subject: string,
  event: FeedEvent,
): Promise<void> {
  switch (event.schema) {
    case 'trade_tick.v1':
      return publisher.publish('trade_tick', subject, event);
    case 'quote_tick.v1':
      return publisher.publish('quote_tick', subject, event);
    case 'bar.v1':
      return publisher.publish('bar', subject, event);
    case 'news_item.v1':
      return publisher.publish('news_item', subject, event);
  }
}
