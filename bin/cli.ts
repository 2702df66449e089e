// The `sluice` command. Each subcommand lives in bin/commands/<name>.ts and exports
// `register(program)`; this file only wires them and turns errors into exit codes.
import { Command, CommanderError } from 'commander';
import { SluiceError } from '../core/errors.ts';

const program = new Command('sluice')
  .description('Stream-processing actor system for systematic trading on NATS JetStream and TimescaleDB')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride();

const commandModules = [
  await import('./commands/status.ts'),
  await import('./commands/database-status.ts'),
  await import('./commands/bootstrap.ts'),
  await import('./commands/ingest.ts'),
  await import('./commands/features.ts'),
  await import('./commands/train.ts'),
  await import('./commands/models.ts'),
  await import('./commands/worker.ts'),
  await import('./commands/sweep.ts'),
  await import('./commands/backtest.ts'),
  await import('./commands/demo.ts'),
  await import('./commands/run.ts'),
  await import('./commands/feed.ts'),
  await import('./commands/control.ts'),
  await import('./commands/tail.ts'),
];
for (const module of commandModules) module.register(program);

// A stack trace helps only whoever debugs Sluice itself; everyone else gets one line.
const showStack = ['debug', 'trace'].includes(process.env.SLUICE_LOG_LEVEL ?? '');

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  if (showStack) console.error(error);
  if (error instanceof SluiceError) {
    console.error(`sluice: ${error.kind}: ${error.message}`);
    process.exit(error.exitCode);
  }
  console.error(
    `sluice: ${(error as Error).message ?? error} (SLUICE_LOG_LEVEL=debug shows where it came from)`,
  );
  process.exit(1);
}
