// The risk gate's trading state, active ⇄ reducing ⇄ halted, as an xstate machine: it changes a few
// times a day, on operator commands (ctl.risk.*) and automatic triggers (daily loss → halted,
// drawdown → reducing); there is no event by which a strategy could change it. RiskGate wires the
// machine to RiskGateCore: state changes are pushed into the core as a plain value, so evaluating a
// signal never goes through xstate.
import { type Actor, assign, createActor, emit, setup } from 'xstate';
import type { Signal } from '../../schemas/messages.ts';
import type { RiskGateCore, RiskResult, RiskTrigger, TradingState } from './core.ts';

export type OperatorCommand = {
  type: 'HALT' | 'RESUME' | 'REDUCE';
  operator: string;
  reason?: string;
};

export type RiskStateEvent =
  | OperatorCommand
  | RiskTrigger
  | { type: 'RECONCILED' }
  | { type: 'UNRECONCILED' };

/**
 * Why the gate is not active. Only the holds taken for reconciliation are released by RECONCILED
 * alone: the one at start-up, and the one a venue's reconciliation takes (a reconnect, a mismatch).
 */
type Hold = 'startup' | 'reconciliation' | 'operator' | 'daily_loss' | 'drawdown';

interface RiskStateContext {
  reconciled: boolean;
  heldBy: Hold | undefined;
  start: TradingState;
  /** Where a reconciliation hold returns to once reconciled: the state and hold it interrupted. */
  resumeTo: { state: 'active' | 'reducing'; heldBy: Hold | undefined } | undefined;
}

export interface RiskStateInput {
  /**
   * State until positions are reconciled: `reducing` or `halted` after a restart (fail closed);
   * `active` only for a fresh run with nothing to reconcile (a backtest).
   */
  startState: TradingState;
}

export type RiskStateEmitted = { type: 'cancel_all_working_orders' };

export const riskStateMachine = setup({
  types: {
    context: {} as RiskStateContext,
    events: {} as RiskStateEvent,
    input: {} as RiskStateInput,
    emitted: {} as RiskStateEmitted,
  },
  guards: {
    reconciled: ({ context }) => context.reconciled,
    heldForStartup: ({ context }) => context.heldBy === 'startup',
    heldForReconciliation: ({ context }) => context.heldBy === 'reconciliation',
    heldForReconciliationFromReducing: ({ context }) =>
      context.heldBy === 'reconciliation' && context.resumeTo?.state === 'reducing',
    startsHalted: ({ context }) => context.start === 'halted',
    startsReducing: ({ context }) => context.start === 'reducing',
  },
  actions: {
    holdBy: assign((_, hold: Hold) => ({ heldBy: hold })),
    release: assign({ heldBy: undefined }),
    markReconciled: assign({ reconciled: true }),
    markUnreconciled: assign({ reconciled: false }),
    holdForReconciliation: assign(({ context }, from: 'active' | 'reducing') => ({
      heldBy: 'reconciliation' as const,
      resumeTo: { state: from, heldBy: context.heldBy },
    })),
    resume: assign(({ context }) => ({ heldBy: context.resumeTo?.heldBy, resumeTo: undefined })),
    cancelAllWorkingOrders: emit({ type: 'cancel_all_working_orders' }),
  },
}).createMachine({
  id: 'riskGate',
  context: ({ input }) => ({
    reconciled: input.startState === 'active',
    heldBy: input.startState === 'active' ? undefined : 'startup',
    start: input.startState,
    resumeTo: undefined,
  }),
  initial: 'starting',
  states: {
    starting: {
      always: [
        { guard: 'startsHalted', target: 'halted' },
        { guard: 'startsReducing', target: 'reducing' },
        { target: 'active' },
      ],
    },
    active: {
      on: {
        HALT: { target: 'halted', actions: { type: 'holdBy', params: 'operator' } },
        REDUCE: { target: 'reducing', actions: { type: 'holdBy', params: 'operator' } },
        DAILY_LOSS_BREACHED: { target: 'halted', actions: { type: 'holdBy', params: 'daily_loss' } },
        DRAWDOWN_BREACHED: { target: 'reducing', actions: { type: 'holdBy', params: 'drawdown' } },
        UNRECONCILED: {
          target: 'halted',
          actions: ['markUnreconciled', { type: 'holdForReconciliation', params: 'active' }],
        },
      },
    },
    reducing: {
      on: {
        HALT: { target: 'halted', actions: { type: 'holdBy', params: 'operator' } },
        DAILY_LOSS_BREACHED: { target: 'halted', actions: { type: 'holdBy', params: 'daily_loss' } },
        RESUME: { guard: 'reconciled', target: 'active', actions: 'release' },
        RECONCILED: [
          { guard: 'heldForStartup', target: 'active', actions: ['markReconciled', 'release'] },
          { actions: 'markReconciled' },
        ],
        UNRECONCILED: [
          { guard: 'heldForStartup', actions: 'markUnreconciled' },
          {
            target: 'halted',
            actions: ['markUnreconciled', { type: 'holdForReconciliation', params: 'reducing' }],
          },
        ],
      },
    },
    halted: {
      entry: 'cancelAllWorkingOrders',
      on: {
        RESUME: { guard: 'reconciled', target: 'active', actions: 'release' },
        REDUCE: { guard: 'reconciled', target: 'reducing', actions: { type: 'holdBy', params: 'operator' } },
        RECONCILED: [
          { guard: 'heldForStartup', target: 'active', actions: ['markReconciled', 'release'] },
          {
            guard: 'heldForReconciliationFromReducing',
            target: 'reducing',
            actions: ['markReconciled', 'resume'],
          },
          { guard: 'heldForReconciliation', target: 'active', actions: ['markReconciled', 'resume'] },
          { actions: 'markReconciled' },
        ],
        UNRECONCILED: { actions: 'markUnreconciled' },
      },
    },
  },
});

export interface GateTransition {
  from: TradingState;
  to: TradingState;
  /** The command or trigger, e.g. "HALT by alice: fat finger" or "DAILY_LOSS_BREACHED 5200 >= 5000". */
  cause: string;
}

/** What the binding must do besides publishing a decision. */
export interface GateEffects {
  /** Order ids to cancel (entering halted cancels every working order). */
  cancels: string[];
  /** Present when the trading state changed: publish it and raise an alert. */
  transition: GateTransition | undefined;
}

export type GateResult = RiskResult & GateEffects;

export interface CommandReply extends GateEffects {
  ok: boolean;
  state: TradingState;
  error: string | undefined;
}

const noCancels: string[] = [];

function describe(event: RiskStateEvent): string {
  switch (event.type) {
    case 'HALT':
    case 'RESUME':
    case 'REDUCE':
      return `${event.type} by ${event.operator}${event.reason ? `: ${event.reason}` : ''}`;
    case 'RECONCILED':
    case 'UNRECONCILED':
      return event.type;
    default:
      return `${event.type} ${event.value} >= ${event.limit}`;
  }
}

export class RiskGate {
  private readonly actor: Actor<typeof riskStateMachine>;
  private pendingCancels: string[] = noCancels;

  constructor(
    readonly core: RiskGateCore,
    input: RiskStateInput,
  ) {
    this.actor = createActor(riskStateMachine, { input });
    this.actor.on('cancel_all_working_orders', () => {
      this.pendingCancels = core.workingOrderIds();
    });
    this.actor.start();
    core.setTradingState(this.state);
  }

  get state(): TradingState {
    return this.actor.getSnapshot().value as TradingState;
  }

  /** Per signal: the core decides; the machine is touched only when the core reports a trigger. */
  evaluate(signal: Signal): GateResult {
    const result = this.core.evaluate(signal);
    if (result.trigger === undefined) return { ...result, cancels: noCancels, transition: undefined };
    return { ...result, ...this.send(result.trigger) };
  }

  onPortfolio(...args: Parameters<RiskGateCore['onPortfolio']>): GateEffects {
    const trigger = this.core.onPortfolio(...args);
    return trigger ? this.send(trigger) : { cancels: noCancels, transition: undefined };
  }

  /** ctl.risk.halt / resume / reduce. RESUME and REDUCE out of halted need reconciled positions. */
  command(command: OperatorCommand): CommandReply {
    if (!this.actor.getSnapshot().can(command)) {
      const why = this.actor.getSnapshot().context.reconciled
        ? `already ${this.state}`
        : 'positions are not reconciled yet';
      return {
        ok: false,
        state: this.state,
        error: `${command.type} refused in ${this.state}: ${why}`,
        cancels: noCancels,
        transition: undefined,
      };
    }
    const effects = this.send(command);
    return { ok: true, state: this.state, error: undefined, ...effects };
  }

  /** Positions were reconciled with the venue and the portfolio: a reconciliation hold is released. */
  reconciled(): GateEffects {
    return this.send({ type: 'RECONCILED' });
  }

  /** The venue is being reconciled, or did not reconcile: halted (working orders cancelled) until it does. */
  unreconciled(): GateEffects {
    return this.send({ type: 'UNRECONCILED' });
  }

  stop(): void {
    this.actor.stop();
  }

  private send(event: RiskStateEvent): GateEffects {
    const from = this.state;
    this.pendingCancels = noCancels;
    this.actor.send(event);
    const to = this.state;
    this.core.setTradingState(to);
    const cancels = this.pendingCancels;
    this.pendingCancels = noCancels;
    return { cancels, transition: from === to ? undefined : { from, to, cause: describe(event) } };
  }
}
