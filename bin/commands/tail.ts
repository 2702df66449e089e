// `sluice tail SUBJECT`: prints live messages on a subject (wildcards allowed) as they are published,
// without joining any consumer. Human lines by default, one JSON object per line with --json. Stops
// after --count messages or on SIGINT / SIGTERM (exit 0); exit 3 when NATS is unreachable.
import type { Command } from 'commander';
import { ConfigError } from '../../core/errors.ts';
import { badArgsExitTwo, operatorConnection } from './control.ts';

const decoder = new TextDecoder();

function describe(subject: string, text: string): string {
  try {
    const body = JSON.parse(text) as { schema?: string; id?: string; ts_event?: number };
    const at = typeof body.ts_event === 'number' ? new Date(body.ts_event).toISOString() : '';
    return `${at}  ${subject}  ${body.schema ?? ''}  ${body.id ?? ''}  ${text.length > 160 ? `${text.slice(0, 157)}...` : text}`;
  } catch {
    return `${subject}  ${text}`;
  }
}

export function register(program: Command): void {
  const command = program
    .command('tail')
    .description('print live messages on SUBJECT (NATS wildcards * and > allowed)')
    .argument('<subject>', 'e.g. alert.> or risk.decision.AAPL')
    .option('--count <n>', 'stop after this many messages')
    .option('--json', 'one JSON object per line: {subject, data}')
    .action(async (subject: string, options: { count?: string; json?: boolean }) => {
      if (/\s/.test(subject) || subject.split('.').some((token) => token === '')) {
        throw new ConfigError('SUBJECT', `"${subject}" is not a NATS subject`, 'e.g. sluice tail alert.>');
      }
      const count = options.count === undefined ? undefined : Number(options.count);
      if (count !== undefined && !(Number.isInteger(count) && count > 0)) {
        throw new ConfigError(
          '--count',
          `must be a positive integer, got "${options.count}"`,
          'e.g. --count 10',
        );
      }
      const connection = await operatorConnection('sluice-tail');
      const subscription = connection.subscribe(subject, count !== undefined ? { max: count } : {});
      const stop = () => subscription.unsubscribe();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      for await (const message of subscription) {
        const text = decoder.decode(message.data);
        if (!options.json) console.log(describe(message.subject, text));
        else {
          let data: unknown = text;
          try {
            data = JSON.parse(text);
          } catch {
            // Not JSON: printed as a string.
          }
          console.log(JSON.stringify({ subject: message.subject, data }));
        }
      }
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      await connection.close();
    });
  badArgsExitTwo(command);
}
