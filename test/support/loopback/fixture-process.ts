// TEST FIXTURE: a loopback server in a process of its own, for benches, so the venue's cost of
// answering is not charged to the client they measure (a real venue is another machine). The module
// of a fixture process both starts it (forkFixture, in the bench) and serves in it (serveFixture, in
// the child it forks): the child gets its options as JSON in argv and reports its URLs over IPC once
// it listens.
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Forks the fixture module at `moduleUrl` (its import.meta.url) with `options`; resolves with the
 * child and the URLs it reports once it listens.
 */
export async function forkFixture<Urls>(
  moduleUrl: string,
  options: object,
): Promise<{ child: ChildProcess; urls: Urls }> {
  const child = fork(fileURLToPath(moduleUrl), [JSON.stringify(options)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const urls = await new Promise<Urls>((resolve, reject) => {
    child.once('message', (message) => resolve(message as Urls));
    child.once('exit', (code) =>
      reject(new Error(`${fileURLToPath(moduleUrl)}: fixture process exited with ${code}`)),
    );
  });
  return { child, urls };
}

/** Stops a forked fixture (it closes its server on SIGTERM) and waits for it to exit. */
export async function stopFixture(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** In a forked fixture: the options it was given; undefined where the module was only imported. */
export function fixtureOptions<Options>(): Options | undefined {
  return process.send && process.argv[2] ? (JSON.parse(process.argv[2]) as Options) : undefined;
}

/** In a forked fixture, once `server` listens: reports `urls` and closes the server on SIGTERM. */
export function serveFixture(server: { close(): Promise<void> }, urls: object): void {
  process.on('SIGTERM', () => {
    void server.close().then(() => process.exit(0));
  });
  process.send?.(urls);
}
