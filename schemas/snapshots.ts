// What the stateful actors save to the snapshot store (streams/snapshot-store.ts), as versioned
// contracts checked whenever a snapshot is loaded: a restart must not build an actor from a value that
// someone edited, a bug wrote or an older release shaped otherwise. A change of shape is a new version
// (`risk_state.v2`), never an edit of a released one; a loader knows the versions it can read.
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { OrderIntent, OrderIntentV1 } from './messages.ts';
import type { Decoded } from './validate.ts';

const SymbolName = Type.String({ minLength: 1, maxLength: 64 });
const FillId = Type.String({ minLength: 1, maxLength: 256 });

/** The risk gate's own book: its positions and the last fill they reflect. */
export const RiskState = Type.Object(
  {
    positions: Type.Array(
      Type.Object({ symbol: SymbolName, quantity: Type.Number() }, { additionalProperties: false }),
    ),
    /** Absent before the first fill. */
    lastFillId: Type.Optional(FillId),
  },
  { additionalProperties: false },
);

/** The execution actor's working orders and the highest gate term it has accepted. */
export const ExecutionState = Type.Object(
  {
    /** v1 intents in snapshots from before order_intent.v2, upgraded on restore. */
    open: Type.Array(Type.Union([OrderIntent, OrderIntentV1])),
    /** IntentGuard's highest gate term, 0 before any election (absent in snapshots from before the seal). */
    gateTerm: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);

/** The portfolio's cash and holdings (PortfolioCore.toJSON). */
export const PortfolioState = Type.Object(
  {
    account: Type.String({ minLength: 1 }),
    cash: Type.Number(),
    lastEventTs: Type.Integer({ minimum: 0 }),
    lastFillId: Type.Optional(FillId),
    /** Recent fill ids, oldest first, so a redelivered fill stays a no-op after restore. */
    recentFillIds: Type.Array(FillId),
    positions: Type.Array(
      Type.Object(
        {
          symbol: SymbolName,
          quantity: Type.Number(),
          avg_price: Type.Number({ minimum: 0 }),
          realized_pnl: Type.Number(),
          last_price: Type.Number({ minimum: 0 }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export type RiskState = Static<typeof RiskState>;
export type ExecutionState = Static<typeof ExecutionState>;
export type PortfolioState = Static<typeof PortfolioState>;

/** One version of what an actor saves: its tag and the check of a loaded value. */
export interface SnapshotContract<T> {
  /** The state's name; untagged snapshots (saved before the contracts) are read as `<name>.v1`. */
  readonly name: string;
  /** `<name>.v<version>`, saved beside the value. */
  readonly schema: string;
  check(value: unknown): Decoded<T>;
}

function contract<S extends TSchema>(name: string, version: number, schema: S): SnapshotContract<Static<S>> {
  const compiled = TypeCompiler.Compile(schema);
  return {
    name,
    schema: `${name}.v${version}`,
    check: (value) => {
      if (compiled.Check(value)) return { ok: true, value };
      const first = compiled.Errors(value).First();
      return { ok: false, reason: `${first?.path || '(root)'}: ${first?.message ?? 'invalid'}` };
    },
  };
}

export const snapshotContracts = {
  risk: contract('risk_state', 1, RiskState),
  execution: contract('execution_state', 1, ExecutionState),
  portfolio: contract('portfolio_state', 1, PortfolioState),
};
