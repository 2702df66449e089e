// The risk_decisions table: one row per risk_decision.v1, pass or deny, with the values checked.
import type { Kysely } from 'kysely';
import type { RiskDecision } from '../../schemas/messages.ts';
import { BatchWriter, type WriterTuning } from '../batch-writer.ts';
import type { Database } from '../database.ts';
import { runIdColumn } from './run-id.ts';

export function riskDecisionWriter(
  db: Kysely<Database>,
  runId: string,
  tuning: WriterTuning<RiskDecision> = {},
): BatchWriter<RiskDecision> {
  return new BatchWriter<RiskDecision>(db, {
    ...tuning,
    table: 'risk_decisions',
    columns: [
      runIdColumn(runId),
      { name: 'id', type: 'text', value: (d) => d.id },
      { name: 'ts', type: 'timestamptz', value: (d) => d.ts_event },
      { name: 'ts_init', type: 'timestamptz', value: (d) => d.ts_init },
      { name: 'strategy', type: 'text', value: (d) => d.strategy },
      { name: 'symbol', type: 'text', value: (d) => d.symbol },
      { name: 'outcome', type: 'text', value: (d) => d.outcome },
      { name: 'code', type: 'text', value: (d) => d.code },
      { name: 'reason', type: 'text', value: (d) => d.reason },
      { name: 'trading_state', type: 'text', value: (d) => d.trading_state },
      { name: 'checks', type: 'jsonb', value: (d) => JSON.stringify(d.checks) },
      { name: 'signal_id', type: 'text', value: (d) => d.signal_id },
      { name: 'intent_id', type: 'text', value: (d) => d.intent_id ?? null },
    ],
  });
}
