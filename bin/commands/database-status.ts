// The database half of `sluice status`, and `sluice migrate`.
import type { Command } from 'commander';
import { parseDuration } from '../../actors/feature/bars.ts';
import { readEnvironment } from '../../core/config.ts';
import { ConfigError } from '../../core/errors.ts';
import { createLogger } from '../../core/logger.ts';
import { createDatabase } from '../../timescale/database.ts';
import {
  type DatabaseStatus,
  databaseStatus,
  migrateToLatest,
  PRELOAD_HOWTO,
} from '../../timescale/migrate.ts';
import { RETAINED_TABLES } from '../../timescale/migrations.ts';
import { parseRetention, type RetentionSettings } from '../../timescale/policies.ts';
import { databaseUrl, reachDatabase, redactUrl } from '../services.ts';

export interface DatabaseStatusReport {
  url: string;
  reachable: boolean;
  error?: string;
  serverVersion?: string;
  flavour?: DatabaseStatus['flavour'];
  flavourDescription?: string;
  timescaleVersion?: string;
  timescaleAvailable?: boolean;
  timescalePreloaded?: boolean;
  migrations: string[];
  pendingMigrations: string[];
  tables: DatabaseStatus['tables'];
}

export function describeFlavour(
  status: Pick<DatabaseStatus, 'flavour' | 'timescaleVersion' | 'timescaleAvailable' | 'timescalePreloaded'>,
): string {
  // Installed but not preloaded: CREATE EXTENSION cannot work until the server is reconfigured.
  const notPreloaded =
    status.timescaleAvailable && status.timescalePreloaded === false
      ? `; TimescaleDB is installed but not preloaded: to use it for a new database, ${PRELOAD_HOWTO}`
      : '';
  switch (status.flavour) {
    case 'timescaledb':
      return `TimescaleDB ${status.timescaleVersion ?? ''}: hypertables, continuous aggregate bars_1m, compression (retention only where set: sluice migrate --retention)`.replace(
        '  ',
        ' ',
      );
    case 'postgresql':
      return `plain PostgreSQL (TimescaleDB not available): BRIN-indexed tables, bars_1m maintained by the feature actor${notPreloaded}`;
    default:
      return `not migrated yet (TimescaleDB ${status.timescaleAvailable ? 'is' : 'is not'} available on this server)${notPreloaded}`;
  }
}

export async function collectDatabaseStatus(url: string): Promise<DatabaseStatusReport> {
  const report: DatabaseStatusReport = {
    url: redactUrl(url),
    reachable: false,
    migrations: [],
    pendingMigrations: [],
    tables: [],
  };
  const db = createDatabase(url, { applicationName: 'sluice-status' });
  try {
    const status = await databaseStatus(db);
    Object.assign(report, {
      reachable: true,
      serverVersion: `PostgreSQL ${status.serverVersion}`,
      flavour: status.flavour,
      flavourDescription: describeFlavour(status),
      timescaleAvailable: status.timescaleAvailable,
      ...(status.timescalePreloaded !== undefined ? { timescalePreloaded: status.timescalePreloaded } : {}),
      migrations: status.migrations
        .filter((migration) => migration.executedAt)
        .map((migration) => migration.name),
      pendingMigrations: status.pendingMigrations,
      tables: status.tables,
      ...(status.timescaleVersion ? { timescaleVersion: status.timescaleVersion } : {}),
    });
  } catch (error) {
    report.error = (error as Error).message;
  } finally {
    await db.destroy();
  }
  return report;
}

function retentionOption(text: string): RetentionSettings {
  try {
    return parseRetention(text);
  } catch (error) {
    throw new ConfigError(
      '--retention',
      (error as Error).message,
      'Use e.g. --retention "ticks=90 days,bars=off"',
    );
  }
}

export function register(program: Command): void {
  program
    .command('migrate')
    .description(
      'bring the database to the latest schema (TimescaleDB when available, plain PostgreSQL otherwise)',
    )
    .option(
      '--bar-interval <interval>',
      'bar interval this database will hold (1m, 1h, 1d): sizes TimescaleDB chunks to about 1,000 bars a symbol (default: from the bars stored)',
    )
    .option(
      '--retention <list>',
      `TimescaleDB retention by event time, e.g. "ticks=90 days,bars=off" (tables: ${RETAINED_TABLES.join(', ')}; default off: it would also drop history loaded for backtests)`,
    )
    .option('--json', 'print the result as JSON')
    .action(async (options: { json?: boolean; barInterval?: string; retention?: string }) => {
      const barIntervalMs =
        options.barInterval === undefined ? undefined : parseDuration(options.barInterval, '--bar-interval');
      const retention = options.retention === undefined ? undefined : retentionOption(options.retention);
      const url = databaseUrl(readEnvironment());
      await reachDatabase(url);
      const db = createDatabase(url);
      try {
        const result = await migrateToLatest(db, createLogger({ actor: 'migrate' }), {
          ...(barIntervalMs !== undefined ? { barIntervalMs } : {}),
          ...(retention ? { retention } : {}),
        });
        if (retention && result.flavour !== 'timescaledb') {
          console.error(
            'sluice migrate: --retention needs TimescaleDB; this database is plain PostgreSQL, nothing set',
          );
        }
        if (options.json) console.log(JSON.stringify(result));
        else {
          console.log(
            `${describeFlavour({ ...result, timescaleAvailable: result.flavour === 'timescaledb' })}; applied: ${result.applied.join(', ') || 'nothing (up to date)'}`,
          );
          if (result.warning) console.log(`warning: ${result.warning}`);
        }
      } finally {
        await db.destroy();
      }
    });
}
