// `sluice run --config FILE [--actors LIST]`: the live mode (see actors/runtime/runtime.ts). Runs until
// SIGTERM or SIGINT, then drains consumers, flushes buffers, closes connections and exits 0 — or, when
// that takes longer than the drain timeout (a consumer retrying a message in place, a database that
// does not answer), exits 1 at the timeout: what was not acknowledged comes again to the next process.

import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { createLiveBroker } from '../../actors/execution/brokers/index.ts';
import { checkChannels, createFeedAdapter, parseFeedProvider } from '../../actors/feed/adapters/index.ts';
import { gateKeyFor, parseActorList, readRunConfig } from '../../actors/runtime/config.ts';
import { DATABASE_ACTORS, startRuntime } from '../../actors/runtime/runtime.ts';
import { WallClock } from '../../core/clock.ts';
import { readEnvironment } from '../../core/config.ts';
import { createLogger } from '../../core/logger.ts';
import { connectBus, databaseUrl, reachDatabase } from '../services.ts';

export async function runMain(options: { config: string; actors?: string }): Promise<void> {
  const config = readRunConfig(options.config);
  const actors = parseActorList(options.actors, config);
  const gateKey = gateKeyFor(actors);
  const run = `${config.name}-${randomUUID().slice(0, 8)}`;
  const logger = createLogger({ run });
  // Missing credentials or a channel the provider lacks: one line before NATS or the database.
  const feed = actors.has('feed') && config.feed ? config.feed : undefined;
  const feedAdapter = feed
    ? await createFeedAdapter(parseFeedProvider(feed.provider, '/feed/provider'), {
        clock: new WallClock(),
        channels: feed.channels,
      })
    : undefined;
  if (feedAdapter && feed) checkChannels(feedAdapter, feed.channels, '/feed/channels');
  // Real money is opt-in (live: true and the live credentials): refused in one line before anything.
  const brokerConfig = config.trading.broker;
  const broker =
    actors.has('execution') && brokerConfig && brokerConfig.kind !== 'simulated'
      ? await createLiveBroker(brokerConfig)
      : undefined;
  // Said in one line (exit 3) before anything starts, rather than as a migration's stack trace.
  if (DATABASE_ACTORS.some((actor) => actors.has(actor))) {
    await reachDatabase(databaseUrl(readEnvironment()));
  }
  const bus = await connectBus(`sluice-run-${[...actors].join('-')}`, 'require');
  const drainTimeoutMs = config.drainTimeoutMs ?? 30_000;
  const stopRequested = new Promise<NodeJS.Signals>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      resolve(signal);
      // Armed at the signal, so it also ends a start-up that hangs.
      setTimeout(() => {
        logger.error({ signal, drainTimeoutMs }, 'did not stop within the drain timeout; exiting');
        process.exit(1);
      }, drainTimeoutMs).unref();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  try {
    const runtime = await startRuntime({
      config,
      actors,
      connection: bus.connection,
      jetstream: bus.jetstream,
      manager: bus.manager,
      subjects: bus.subjects,
      databaseUrl: databaseUrl(bus.environment),
      ...(gateKey ? { gateKey } : {}),
      ...(feedAdapter ? { feedAdapter } : {}),
      ...(broker ? { broker } : {}),
      logger,
    });
    const signal = await stopRequested;
    logger.info({ signal }, 'stopping');
    await runtime.stop();
  } finally {
    await bus.connection.drain();
  }
}

export function register(program: Command): void {
  program
    .command('run')
    .description('live mode: run actors on NATS with /health, /ready and /metrics until SIGTERM')
    .requiredOption('--config <file>', 'run configuration (JSON; see deploy/sluice.json)')
    .option(
      '--actors <list>',
      'comma-separated subset of feed,feature,inference,news,risk,execution,portfolio,alerts (default: all; feed when the config has a feed section)',
    )
    .action(async (options: { config: string; actors?: string }) => {
      await runMain(options);
    });
}
