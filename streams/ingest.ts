// Publishes a data set to JetStream: each row is checked against its contract, valid events go to
// their market-data subject with their deterministic id (so a re-run is all duplicates), and bad
// rows go to the dead-letter stream with file, row number and reason. Events of symbols not asked for
// are skipped and counted.
import { basename } from 'node:path';
import { readDatasetFile } from '../core/dataset-files.ts';
import type { Dataset, DatasetEvent } from '../core/datasets.ts';
import type { Subjects } from '../schemas/subjects.ts';
import { sendToDeadLetter } from './dead-letter.ts';
import { type EventPublisher, InvalidMessageError } from './publisher.ts';

export interface IngestSummary {
  dataset: string;
  rows: number;
  published: number;
  duplicates: number;
  rejected: number;
  /** Rows of symbols not in IngestOptions.symbols. */
  skipped: number;
}

export interface IngestOptions {
  /** Called after every row with the number of rows read so far. */
  onRow?: (rowsRead: number) => void;
  /** Epoch ms stamped on dead letters of rejected rows (the CLI passes the wall clock). */
  receivedAt: number;
  /** Publish only events of these symbols (default: all). */
  symbols?: ReadonlySet<string>;
}

function subjectFor(subjects: Subjects, item: DatasetEvent): string {
  switch (item.kind) {
    case 'bar':
      return subjects.bar(item.event.symbol);
    case 'trade':
    case 'quote':
      return subjects.tick(item.event.symbol);
    case 'news':
      return subjects.news(item.event.symbol);
  }
}

async function publishEvent(publisher: EventPublisher, subject: string, item: DatasetEvent): Promise<void> {
  switch (item.kind) {
    case 'bar':
      return publisher.publish('bar', subject, item.event);
    case 'trade':
      return publisher.publish('trade_tick', subject, item.event);
    case 'quote':
      return publisher.publish('quote_tick', subject, item.event);
    case 'news':
      return publisher.publish('news_item', subject, item.event);
  }
}

export interface IngestTarget {
  events: EventPublisher;
  /** A publisher of its own, so dead letters do not count as published events. */
  deadLetters: EventPublisher;
  subjects: Subjects;
}

export async function ingestDataset(
  dataset: Dataset,
  { events: publisher, deadLetters, subjects }: IngestTarget,
  options: IngestOptions,
): Promise<IngestSummary> {
  const before = { ...publisher.stats };
  let rows = 0;
  let rejected = 0;
  let skipped = 0;
  for (const file of dataset.files) {
    const consumer = `ingest:${dataset.name}/${basename(file.path)}`;
    for await (const item of readDatasetFile(file)) {
      rows++;
      if (item.kind === 'error') {
        rejected++;
        await sendToDeadLetter(deadLetters, subjects, {
          originalSubject: `ingest.${dataset.name}`,
          reason: `row ${item.row}: ${item.reason}`,
          consumer,
          payload: item.raw,
          receivedAt: options.receivedAt,
          sourceRow: item.row,
        });
      } else if (options.symbols && !options.symbols.has(item.event.symbol)) {
        skipped++;
      } else {
        const subject = subjectFor(subjects, item);
        try {
          await publishEvent(publisher, subject, item);
        } catch (error) {
          if (!(error instanceof InvalidMessageError)) throw error;
          rejected++;
          await sendToDeadLetter(deadLetters, subjects, {
            originalSubject: subject,
            reason: `row ${item.row}: ${error.reason}`,
            consumer,
            payload: JSON.stringify(item.event),
            receivedAt: options.receivedAt,
            sourceRow: item.row,
          });
        }
      }
      options.onRow?.(rows);
    }
  }
  const after = await publisher.flush();
  return {
    dataset: dataset.name,
    rows,
    published: after.published - before.published,
    duplicates: after.duplicates - before.duplicates,
    rejected,
    skipped,
  };
}
