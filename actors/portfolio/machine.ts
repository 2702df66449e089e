// The PortfolioActor's lifecycle (actors/snapshot-lifecycle.ts): restoring -> running -> draining ->
// stopped. Restoring loads the saved PortfolioCore and the last fill sequence; a refused snapshot is
// recorded and it starts with the starting cash (its first pf.snapshot then names no last fill, so a
// risk gate that saved one stays held). Only lifecycle events reach the machine, never a fill or a mark.
import {
  type SnapshotLifecycleActor,
  type SnapshotLifecycleState,
  snapshotLifecycleMachine,
  startSnapshotLifecycle,
} from '../snapshot-lifecycle.ts';

export type PortfolioLifecycleState = SnapshotLifecycleState;

/** Restoring finds nothing the status shows beyond a refused snapshot's reason. */
type PortfolioRestored = object;

export const portfolioLifecycleMachine = snapshotLifecycleMachine<PortfolioRestored>('portfolioActor', {});

export function createPortfolioLifecycle(): SnapshotLifecycleActor<PortfolioRestored> {
  return startSnapshotLifecycle<PortfolioRestored>(portfolioLifecycleMachine);
}
