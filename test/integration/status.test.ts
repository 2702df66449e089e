import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { createDatabase, toTimestamp } from '../../timescale/database.ts';
import { startTestBus, type TestBus } from '../support/bus.ts';
import { runCli } from '../support/cli.ts';
import { postgresForTests } from '../support/postgres.ts';

describe('sluice migrate and status against real NATS and PostgreSQL', () => {
  let bus: TestBus;
  let database: { url: string; close(): Promise<void> };
  let env: Record<string, string>;
  before(async () => {
    [bus, database] = await Promise.all([startTestBus(), postgresForTests()]);
    env = { NATS_URL: bus.url, DATABASE_URL: database.url };
  });
  after(async () => {
    await bus?.close();
    await database?.close();
  });

  it('migrates twice without error and status names the database flavour', async () => {
    const first = await runCli(['migrate', '--json'], env);
    assert.equal(first.code, 0, first.stderr);
    const firstResult = JSON.parse(first.stdout) as { flavour: string; applied: string[] };
    assert.ok(firstResult.applied.length > 0);
    const second = await runCli(['migrate', '--json'], env);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual((JSON.parse(second.stdout) as { applied: string[] }).applied, []);

    const status = await runCli(['status', '--json'], env);
    assert.equal(status.code, 0, status.stderr);
    const report = JSON.parse(status.stdout) as {
      nats: { reachable: boolean; serverVersion: string; streams: { name: string }[] };
      database: { reachable: boolean; flavour: string; flavourDescription: string; migrations: string[] };
    };
    assert.equal(report.nats.reachable, true);
    assert.match(report.nats.serverVersion, /^\d+\.\d+\.\d+/);
    assert.ok(report.nats.streams.some((stream) => stream.name === 'MARKET'));
    assert.equal(report.database.reachable, true);
    assert.equal(report.database.flavour, firstResult.flavour);
    assert.match(
      report.database.flavourDescription,
      firstResult.flavour === 'timescaledb' ? /^TimescaleDB/ : /^plain PostgreSQL/,
    );
    assert.deepEqual(report.database.migrations, firstResult.applied);

    const human = await runCli(['status'], env);
    assert.match(human.stdout, /Flavour\s+(plain PostgreSQL|TimescaleDB)/);
  });

  it('shows exact row counts, not a planner estimate that is stale or 0 for chunks never analysed', async () => {
    assert.equal((await runCli(['migrate'], env)).code, 0);
    const db = createDatabase(database.url);
    const bar = (day: number) => ({
      id: `status:bar:1d:XOM:${day}`,
      symbol: 'XOM',
      interval: '1d',
      ts: toTimestamp(Date.UTC(2015, 0, day)),
      ts_init: toTimestamp(Date.UTC(2015, 0, day)),
      open: 90,
      high: 91,
      low: 89,
      close: 90.5,
      volume: 1_000,
    });
    try {
      await db.deleteFrom('bars').execute();
      await db.insertInto('bars').values([1, 2, 3].map(bar)).execute();
      // The planner's numbers now say 3; two more rows arrive before the next ANALYZE.
      await sql`ANALYZE bars`.execute(db);
      await db.insertInto('bars').values([4, 5].map(bar)).execute();
    } finally {
      await db.destroy();
    }
    const status = await runCli(['status', '--json'], env);
    assert.equal(status.code, 0, status.stderr);
    const report = JSON.parse(status.stdout) as {
      database: { tables: { name: string; rows: number | null; estimated: boolean }[] };
    };
    assert.deepEqual(
      report.database.tables.find((table) => table.name === 'bars'),
      { name: 'bars', rows: 5, estimated: false },
    );
    const human = await runCli(['status'], env);
    assert.match(human.stdout, /^Rows\s+.*\bbars 5\b/m);
  });

  it('exits 3 and says what is down when a service is unreachable', async () => {
    const status = await runCli(['status', '--json'], {
      NATS_URL: 'nats://127.0.0.1:1',
      DATABASE_URL: database.url,
    });
    assert.equal(status.code, 3);
    const report = JSON.parse(status.stdout) as { nats: { reachable: boolean; error: string } };
    assert.equal(report.nats.reachable, false);
    assert.ok(report.nats.error.length > 0);
  });

  it('stops with a message naming the variable for a bad NATS_URL', async () => {
    const status = await runCli(['status'], { NATS_URL: 'http//nope', DATABASE_URL: database.url });
    assert.equal(status.code, 2);
    assert.match(status.stderr, /NATS_URL: is not a URL/);
  });
});
