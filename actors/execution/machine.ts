// The ExecutionActor's lifecycle (actors/snapshot-lifecycle.ts): restoring -> running -> draining ->
// stopped. Restoring submits the intents its snapshot left open to the fresh venue (a refused
// snapshot is recorded and it starts with none); draining waits for its consumers and writes the rows
// it buffered. Only lifecycle events reach the machine, never an intent, a tick or a report.
import {
  type SnapshotLifecycleActor,
  type SnapshotLifecycleState,
  snapshotLifecycleMachine,
  startSnapshotLifecycle,
} from '../snapshot-lifecycle.ts';

/** What restoring found: the intents its snapshot left open, submitted again (0 without one). */
interface ExecutionRestored {
  resubmitted: number;
}

export type ExecutionLifecycleState = SnapshotLifecycleState;

export const executionLifecycleMachine = snapshotLifecycleMachine<ExecutionRestored>('executionActor', {
  resubmitted: 0,
});

export function createExecutionLifecycle(): SnapshotLifecycleActor<ExecutionRestored> {
  return startSnapshotLifecycle<ExecutionRestored>(executionLifecycleMachine);
}
