// Connection options and the environment, logged the way a careless call would, carry no secret:
// the real createLogger runs in a child process and its stderr is searched for each secret.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { redactUrl } from '../../core/config.ts';
import { repoRoot } from '../support/cli.ts';

const secrets = {
  NATS_URL: 'nats://alice:url-secret-1@127.0.0.1:4222',
  NATS_USER: 'alice',
  NATS_PASSWORD: 'pw-secret-2',
  NATS_TOKEN: 'token-secret-3',
  DATABASE_URL: 'postgres://sluice:db-secret-4@127.0.0.1:5432/sluice',
};

const script = `
import { readEnvironment } from './core/config.ts';
import { createLogger } from './core/logger.ts';
import { connectionOptions } from './streams/connection.ts';
const environment = readEnvironment();
const logger = createLogger({ run: 'r1', actor: 'risk' });
const options = connectionOptions({ ...environment, url: environment.natsUrl });
logger.info(options, 'connecting');
logger.info({ options, environment }, 'nested');
logger.info(environment, 'environment');
`;

test('a log line of the connection options contains no secret', () => {
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: repoRoot,
    env: { ...process.env, ...secrets, SLUICE_LOG_LEVEL: 'info' },
    encoding: 'utf8',
  });
  assert.equal(result.status, 0, result.stderr);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 3, result.stderr);
  for (const line of lines) {
    const entry = JSON.parse(line) as Record<string, unknown>;
    assert.equal(entry.run, 'r1');
    assert.equal(entry.actor, 'risk');
  }
  for (const secret of ['url-secret-1', 'pw-secret-2', 'token-secret-3', 'db-secret-4']) {
    assert.ok(!result.stderr.includes(secret), `${secret} leaked: ${result.stderr}`);
  }
  // What is not secret stays readable.
  assert.match(result.stderr, /"name":"sluice"/);
});

test('redactUrl hides the password of well-formed and malformed URLs alike', () => {
  const cases: [string, string][] = [
    ['postgres://u:s3cret@db:5432/x', 'postgres://u:***@db:5432/x'],
    ['postgres://u@db/x?password=s3cret&sslmode=require', 'postgres://u@db/x?password=***&sslmode=require'],
    ['postgres://u:s3cret@[bad', 'postgres://***@[bad'],
    ['postgres://u:s3c@ret@db:99999/x', 'postgres://***@db:99999/x'],
    ['nats://a:s3cret@ho st:4222', 'nats://***@ho st:4222'],
    ['u:s3cret@db/x', '(value not shown)'],
    ['host=db password=s3cret', '(value not shown)'],
    ['nats://127.0.0.1:4222', 'nats://127.0.0.1:4222'],
  ];
  for (const [url, shown] of cases) assert.equal(redactUrl(url), shown, url);
});
