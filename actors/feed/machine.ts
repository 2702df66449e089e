// The FeedActor's lifecycle: connecting -> authenticating -> subscribing -> streaming, and back
// through reconnecting whenever the connection is lost. After a reconnect (and when a silent feed is
// caught up) it is backfilling: live frames are held while the gap is read over REST. Streaming goes
// stale when no frame came for the configured span. Refused credentials or a refused subscription
// cannot get better by retrying: they stop it, with the reason kept. Only lifecycle events reach the
// machine, never a frame.
import { type ActorRefFrom, assign, createActor, setup } from 'xstate';

export type FeedLifecycleEvent =
  | { type: 'CONNECTED' }
  | { type: 'AUTHENTICATED' }
  /** Subscribed; `gap` when frames may have been missed since the last session (a reconnect). */
  | { type: 'SUBSCRIBED'; gap: boolean }
  | { type: 'BACKFILLED' }
  | { type: 'SILENT' }
  | { type: 'FRAME' }
  | { type: 'CATCH_UP' }
  | { type: 'CONNECTION_LOST'; reason: string }
  | { type: 'RETRY' }
  /** Credentials or subscription refused: permanent. */
  | { type: 'REFUSED'; reason: string }
  | { type: 'STOP' };

export type FeedLifecycleState =
  | 'connecting'
  | 'authenticating'
  | 'subscribing'
  | 'streaming'
  | 'backfilling'
  | 'stale'
  | 'reconnecting'
  | 'stopped';

export interface FeedLifecycleContext {
  lastError: string | undefined;
  /** Connections lost (each one a reconnect). */
  disconnects: number;
}

const lost = { target: 'reconnecting', actions: 'recordLoss' } as const;
const refused = { target: 'stopped', actions: 'recordError' } as const;

export const feedLifecycleMachine = setup({
  types: {
    context: {} as FeedLifecycleContext,
    events: {} as FeedLifecycleEvent,
  },
  actions: {
    recordLoss: assign(({ context, event }) =>
      event.type === 'CONNECTION_LOST'
        ? { lastError: event.reason, disconnects: context.disconnects + 1 }
        : {},
    ),
    recordError: assign(({ event }) => (event.type === 'REFUSED' ? { lastError: event.reason } : {})),
  },
  guards: {
    gap: ({ event }) => event.type === 'SUBSCRIBED' && event.gap,
  },
}).createMachine({
  id: 'feedActor',
  context: { lastError: undefined, disconnects: 0 },
  initial: 'connecting',
  on: { STOP: '.stopped' },
  states: {
    connecting: { on: { CONNECTED: 'authenticating', CONNECTION_LOST: lost } },
    authenticating: { on: { AUTHENTICATED: 'subscribing', REFUSED: refused, CONNECTION_LOST: lost } },
    subscribing: {
      on: {
        SUBSCRIBED: [{ guard: 'gap', target: 'backfilling' }, { target: 'streaming' }],
        REFUSED: refused,
        CONNECTION_LOST: lost,
      },
    },
    backfilling: { on: { BACKFILLED: 'streaming', CONNECTION_LOST: lost } },
    // CATCH_UP from streaming: frames resumed after a silence, and what came before them is read.
    streaming: { on: { SILENT: 'stale', CATCH_UP: 'backfilling', CONNECTION_LOST: lost } },
    // A silent feed is caught up over REST (CATCH_UP), and streams again once a frame arrives.
    stale: { on: { FRAME: 'streaming', CATCH_UP: 'backfilling', CONNECTION_LOST: lost } },
    reconnecting: { on: { RETRY: 'connecting' } },
    stopped: { type: 'final' },
  },
});

export type FeedLifecycleActor = ActorRefFrom<typeof feedLifecycleMachine>;

export function createFeedLifecycle(): FeedLifecycleActor {
  return createActor(feedLifecycleMachine).start();
}
