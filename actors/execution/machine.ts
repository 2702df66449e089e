// The ExecutionActor's lifecycle: restoring -> running -> draining -> stopped. Restoring submits the
// intents its snapshot left open to the fresh venue (a refused snapshot is recorded and it starts
// with none); draining waits for its consumers and writes the rows it buffered. Only lifecycle
// events reach the machine, never an intent, a tick or a report.
import { type ActorRefFrom, assign, createActor, setup } from 'xstate';

export type ExecutionLifecycleEvent =
  /** The saved snapshot failed its contract; the actor starts with no working orders. */
  | { type: 'SNAPSHOT_REFUSED'; reason: string }
  /** The intents its snapshot left open were submitted again (0 without a snapshot). */
  | { type: 'RESTORED'; resubmitted: number }
  | { type: 'STOP' }
  | { type: 'DRAINED' };

export type ExecutionLifecycleState = 'restoring' | 'running' | 'draining' | 'stopped';

export interface ExecutionLifecycleContext {
  resubmitted: number;
  lastError: string | undefined;
}

export const executionLifecycleMachine = setup({
  types: {
    context: {} as ExecutionLifecycleContext,
    events: {} as ExecutionLifecycleEvent,
  },
  actions: {
    restored: assign(({ event }) => (event.type === 'RESTORED' ? { resubmitted: event.resubmitted } : {})),
    recordError: assign(({ event }) =>
      event.type === 'SNAPSHOT_REFUSED' ? { lastError: event.reason } : {},
    ),
  },
}).createMachine({
  id: 'executionActor',
  context: { resubmitted: 0, lastError: undefined },
  initial: 'restoring',
  states: {
    restoring: {
      on: {
        SNAPSHOT_REFUSED: { actions: 'recordError' },
        RESTORED: { target: 'running', actions: 'restored' },
      },
    },
    running: { on: { STOP: 'draining' } },
    draining: { on: { DRAINED: 'stopped' } },
    stopped: { type: 'final' },
  },
});

export type ExecutionLifecycleActor = ActorRefFrom<typeof executionLifecycleMachine>;

export function createExecutionLifecycle(): ExecutionLifecycleActor {
  return createActor(executionLifecycleMachine).start();
}
