// Connection options and the environment, logged the way a careless call would, carry no secret:
// the real createLogger runs in a child process and its stderr is searched for each secret.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
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
