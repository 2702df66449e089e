// The FeatureActor's lifecycle: warming -> live <-> stale -> stopped, all on EVENT time.
// xstate stays off the per-bar path (a send costs ~1.8 us): `FeatureLifecycle` keeps the last data
// time in a plain field and sends the machine an event only when the state can change.
import { type ActorRefFrom, assign, createActor, setup } from 'xstate';

export type FeatureLifecycleEvent =
  | { type: 'WARMED' }
  | { type: 'DATA'; ts: number }
  | { type: 'TICK_TIME'; ts: number }
  | { type: 'STOP' };

export interface FeatureLifecycleInput {
  /** Event-time span without data after which a live actor is stale. */
  readonly staleAfterMs: number;
}

export type FeatureLifecycleState = 'warming' | 'live' | 'stale' | 'stopped';

export const featureLifecycleMachine = setup({
  types: {
    context: {} as { staleAfterMs: number; lastDataTs: number },
    events: {} as FeatureLifecycleEvent,
    input: {} as FeatureLifecycleInput,
  },
  actions: {
    recordData: assign({
      lastDataTs: ({ context, event }) =>
        event.type === 'DATA' ? Math.max(context.lastDataTs, event.ts) : context.lastDataTs,
    }),
  },
  guards: {
    silentTooLong: ({ context, event }) =>
      event.type === 'TICK_TIME' && event.ts - context.lastDataTs >= context.staleAfterMs,
  },
}).createMachine({
  id: 'featureActor',
  context: ({ input }) => ({ staleAfterMs: input.staleAfterMs, lastDataTs: Number.NEGATIVE_INFINITY }),
  initial: 'warming',
  on: { STOP: '.stopped' },
  states: {
    // Stays warming however long the silence: there is nothing live to go stale.
    warming: { on: { DATA: { actions: 'recordData' }, WARMED: 'live' } },
    live: { on: { DATA: { actions: 'recordData' }, TICK_TIME: { guard: 'silentTooLong', target: 'stale' } } },
    stale: { on: { DATA: { target: 'live', actions: 'recordData' } } },
    stopped: { type: 'final' },
  },
});

export type FeatureLifecycleActor = ActorRefFrom<typeof featureLifecycleMachine>;

/** Drives the machine from the core's per-event facts, sending only events that change something. */
export class FeatureLifecycle {
  readonly actor: FeatureLifecycleActor;
  private lastDataTs = Number.NEGATIVE_INFINITY;
  private syncedDataTs = Number.NEGATIVE_INFINITY;

  constructor(input: FeatureLifecycleInput) {
    this.actor = createActor(featureLifecycleMachine, { input }).start();
  }

  get state(): FeatureLifecycleState {
    return this.actor.getSnapshot().value as FeatureLifecycleState;
  }

  /** After each accepted event: its ts and whether every indicator is now warm. O(1), usually no send. */
  data(ts: number, warm: boolean): void {
    if (ts > this.lastDataTs) this.lastDataTs = ts;
    const state = this.state;
    if (state === 'stale' || (state === 'warming' && warm)) {
      this.sync();
      if (warm && state === 'warming') this.actor.send({ type: 'WARMED' });
    }
  }

  /** Event time moved on (a timer in replay or live); may turn a live actor stale. */
  tick(now: number): void {
    if (this.state === 'live' && now - this.lastDataTs >= this.actor.getSnapshot().context.staleAfterMs) {
      this.sync();
      this.actor.send({ type: 'TICK_TIME', ts: now });
    }
  }

  stop(): void {
    this.actor.send({ type: 'STOP' });
  }

  private sync(): void {
    if (this.lastDataTs !== this.syncedDataTs) {
      this.syncedDataTs = this.lastDataTs;
      this.actor.send({ type: 'DATA', ts: this.lastDataTs });
    }
  }
}
