// `sluice demo` (npm run demo): the newcomer's first run. With no NATS_URL / DATABASE_URL it starts
// its own nats-server and PostgreSQL in temp dirs (the test harness), migrates, ingests the bundled
// real sample (ten stocknet symbols: daily prices and tweets) and prints the status report.
import type { Command } from 'commander';
import { readEnvironment } from '../../core/config.ts';
import { createLogger } from '../../core/logger.ts';
import { bundledSampleDatasets } from '../../simulations/sources/datasets.ts';
import { ingestDataset } from '../../streams/ingest.ts';
import { EventPublisher } from '../../streams/publisher.ts';
import { startNatsServer } from '../../test/support/nats-server.ts';
import { startPostgres } from '../../test/support/postgres.ts';
import { createDatabase } from '../../timescale/database.ts';
import { migrateToLatest } from '../../timescale/migrate.ts';
import { connectBus } from '../services.ts';
import { collectDatabaseStatus, describeFlavour } from './database-status.ts';
import { bundledSampleDir } from './ingest.ts';
import { collectNatsStatus } from './status.ts';

export function register(program: Command): void {
  program
    .command('demo')
    .description('start embedded NATS and PostgreSQL (unless configured), ingest the bundled sample, report')
    .action(async () => {
      const environment = readEnvironment();
      const logger = createLogger({ actor: 'demo' });
      const stops: (() => Promise<void>)[] = [];
      try {
        if (!environment.natsUrl) {
          const nats = await startNatsServer();
          stops.push(() => nats.dispose());
          process.env.NATS_URL = nats.url;
          logger.info({ port: nats.port }, 'started an embedded nats-server (set NATS_URL to use yours)');
        }
        if (!environment.databaseUrl) {
          const postgres = await startPostgres();
          stops.push(() => postgres.stop());
          process.env.DATABASE_URL = postgres.url;
          logger.info(
            { port: postgres.port },
            'started an embedded PostgreSQL (set DATABASE_URL to use yours)',
          );
        }
        const db = createDatabase(process.env.DATABASE_URL ?? '');
        const migration = await migrateToLatest(db, logger);
        await db.destroy();

        const bus = await connectBus('sluice-demo', true);
        const target = {
          events: new EventPublisher(bus.jetstream),
          deadLetters: new EventPublisher(bus.jetstream),
          subjects: bus.subjects,
        };
        const summaries = [];
        for (const dataset of Object.values(bundledSampleDatasets(bundledSampleDir))) {
          summaries.push(await ingestDataset(dataset, target, { receivedAt: Date.now() }));
        }
        await bus.connection.drain();

        const nats = await collectNatsStatus(process.env.NATS_URL ?? '');
        const database = await collectDatabaseStatus(process.env.DATABASE_URL ?? '');
        console.log('Sluice demo: bundled sample (stocknet, 10 symbols) ingested to JetStream\n');
        console.table(summaries);
        console.log(
          `NATS      nats-server ${nats.serverVersion}, streams: ${nats.streams?.map((s) => `${s.name}=${s.messages}`).join(' ')}`,
        );
        console.log(
          `Database  ${database.serverVersion}; ${describeFlavour({ ...migration, timescaleAvailable: false })}`,
        );
      } finally {
        for (const stop of stops.reverse()) await stop();
      }
    });
}
