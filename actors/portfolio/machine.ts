// The PortfolioActor's lifecycle: restoring -> running -> draining -> stopped. Restoring loads the
// saved PortfolioCore and the last fill sequence; a refused snapshot is recorded and it starts with
// the starting cash (its first pf.snapshot then names no last fill, so a risk gate that saved one
// stays held). Only lifecycle events reach the machine, never a fill or a mark.
import { type ActorRefFrom, assign, createActor, setup } from 'xstate';

export type PortfolioLifecycleEvent =
  | { type: 'SNAPSHOT_REFUSED'; reason: string }
  /** The saved portfolio was loaded, or there was none. */
  | { type: 'RESTORED' }
  | { type: 'STOP' }
  | { type: 'DRAINED' };

export type PortfolioLifecycleState = 'restoring' | 'running' | 'draining' | 'stopped';

export interface PortfolioLifecycleContext {
  lastError: string | undefined;
}

export const portfolioLifecycleMachine = setup({
  types: {
    context: {} as PortfolioLifecycleContext,
    events: {} as PortfolioLifecycleEvent,
  },
  actions: {
    recordError: assign(({ event }) =>
      event.type === 'SNAPSHOT_REFUSED' ? { lastError: event.reason } : {},
    ),
  },
}).createMachine({
  id: 'portfolioActor',
  context: { lastError: undefined },
  initial: 'restoring',
  states: {
    restoring: {
      on: {
        SNAPSHOT_REFUSED: { actions: 'recordError' },
        RESTORED: 'running',
      },
    },
    running: { on: { STOP: 'draining' } },
    draining: { on: { DRAINED: 'stopped' } },
    stopped: { type: 'final' },
  },
});

export type PortfolioLifecycleActor = ActorRefFrom<typeof portfolioLifecycleMachine>;

export function createPortfolioLifecycle(): PortfolioLifecycleActor {
  return createActor(portfolioLifecycleMachine).start();
}
