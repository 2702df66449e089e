// Servers started by tests are killed and their temp dirs removed when the process ends, even when
// a test fails or the run is interrupted.
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

const pendingDirs = new Set<string>();
const runningChildren = new Set<ChildProcess>();
let hooked = false;

function removeAll(): void {
  for (const child of runningChildren) child.kill('SIGKILL');
  runningChildren.clear();
  for (const dir of pendingDirs) rmSync(dir, { recursive: true, force: true });
  pendingDirs.clear();
}

function hookExit(): void {
  if (!hooked) {
    hooked = true;
    process.once('exit', removeAll);
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        removeAll();
        process.exit(130);
      });
    }
  }
}

/** Registers `dir` for removal at exit; the returned function unregisters it (after a normal dispose). */
export function removeOnExit(dir: string): () => void {
  hookExit();
  pendingDirs.add(dir);
  return () => pendingDirs.delete(dir);
}

/** Kills `child` at exit unless it has exited by then. */
export function killOnExit(child: ChildProcess): void {
  hookExit();
  runningChildren.add(child);
  child.once('exit', () => runningChildren.delete(child));
}
