// Contracts of work items on JetStream work queues (`sluice worker` takes them from SWEEP_JOBS). Not
// events of the pipeline (no event time, no subject map), so they live beside messages.ts; JSON
// Schema files come from here too (schemas/generate.ts). A job is validated wherever it is read.
import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { Decoded } from './validate.ts';

/** A JSON value as JSON.parse gives it. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };

/** Sweep ids become subject tokens and consumer names. */
export const SWEEP_ID_PATTERN = '^[A-Za-z0-9_-]{1,64}$';

export const SweepJob = Type.Object(
  {
    schema: Type.Literal('sweep_job.v1'),
    id: Type.String({
      pattern: '^[A-Za-z0-9_-]{1,64}\\.[0-9a-f]{16}$',
      description: '<sweep>.<first 16 hex of sha256(kind, params)>: the same trial always has the same id',
    }),
    sweep: Type.String({ pattern: SWEEP_ID_PATTERN, description: 'sweep id: 1-64 letters, digits, _ or -' }),
    kind: Type.String({ minLength: 1, maxLength: 128, description: 'which runner runs it, e.g. backtest' }),
    // JSON.parse yields JSON values only, so any value is one; the kind's runner checks its own.
    params: Type.Record(
      Type.String(),
      Type.Unsafe<JsonValue>(Type.Unknown({ description: 'any JSON value' })),
      {
        description: "the trial's parameters, as the kind's runner reads them",
      },
    ),
  },
  {
    $id: 'https://sluice.dev/schemas/sweep_job.v1.json',
    title: 'sweep_job',
    description: 'One trial of a parameter sweep or walk-forward fold, for any `sluice worker`.',
    additionalProperties: false,
  },
);
export type SweepJob = Static<typeof SweepJob>;

/** Every job contract, keyed by its schema name (for the JSON Schema files). */
export const jobSchemas = { sweep_job: SweepJob };

const sweepJobCheck = TypeCompiler.Compile(SweepJob);
const textDecoder = new TextDecoder();

/** Parses and validates a sweep job; the reason names the first failing field, never a throw. */
export function decodeSweepJob(bytes: Uint8Array): Decoded<SweepJob> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(textDecoder.decode(bytes));
  } catch (error) {
    return { ok: false, reason: `sweep_job: malformed JSON: ${(error as Error).message}` };
  }
  if (sweepJobCheck.Check(parsed)) return { ok: true, value: parsed };
  const first = sweepJobCheck.Errors(parsed).First();
  return { ok: false, reason: `sweep_job: ${first?.path || '(root)'}: ${first?.message ?? 'invalid'}` };
}

/**
 * Parameters of a `feed_backfill` job (a catch-up of one gap a feed check found): read the span from
 * the provider's REST API and publish what it holds. Same span, same job id: submitted twice, run once.
 */
export const FeedBackfillParams = Type.Object(
  {
    provider: Type.String({
      pattern: '^(alpaca|polygon|ccxt:[a-z0-9_]{1,40})$',
      description: 'alpaca, polygon or ccxt:<exchange id>',
    }),
    symbol: Type.String({ minLength: 1, maxLength: 64 }),
    channel: Type.Union([
      Type.Literal('trades'),
      Type.Literal('quotes'),
      Type.Literal('bars'),
      Type.Literal('news'),
    ]),
    fromMs: Type.Integer({ minimum: 0, description: 'start of the span, epoch ms, inclusive' }),
    toMs: Type.Integer({ minimum: 1, description: 'end of the span, epoch ms, exclusive' }),
  },
  { additionalProperties: false },
);
export type FeedBackfillParams = Static<typeof FeedBackfillParams>;

const feedBackfillCheck = TypeCompiler.Compile(FeedBackfillParams);

/** Checks a feed_backfill job's params; the reason names the first failing field. */
export function decodeFeedBackfillParams(params: unknown): Decoded<FeedBackfillParams> {
  if (!feedBackfillCheck.Check(params)) {
    const first = feedBackfillCheck.Errors(params).First();
    return { ok: false, reason: `feed_backfill: ${first?.path || '(root)'}: ${first?.message ?? 'invalid'}` };
  }
  if (params.toMs <= params.fromMs)
    return { ok: false, reason: `feed_backfill: /toMs: must be after fromMs (${params.fromMs})` };
  return { ok: true, value: params };
}
