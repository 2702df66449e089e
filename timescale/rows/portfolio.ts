// The portfolio tables, from each portfolio_snapshot.v1: positions (one row per position) and equity.
// Several snapshots can share a millisecond (fills of one bar): a row keeps the last of them.
import type { Kysely } from 'kysely';
import type { PortfolioSnapshot, Position } from '../../schemas/messages.ts';
import { BatchWriter, type WriterTuning } from '../batch-writer.ts';
import type { Database } from '../database.ts';
import { runIdColumn } from './run-id.ts';

/** One position of a snapshot. */
export interface PositionRow {
  snapshot: PortfolioSnapshot;
  position: Position;
}

export function positionWriter(
  db: Kysely<Database>,
  runId: string,
  tuning: WriterTuning<PositionRow> = {},
): BatchWriter<PositionRow> {
  return new BatchWriter<PositionRow>(db, {
    ...tuning,
    table: 'positions',
    columns: [
      runIdColumn(runId),
      { name: 'account', type: 'text', value: (r) => r.snapshot.account },
      { name: 'symbol', type: 'text', value: (r) => r.position.symbol },
      { name: 'ts', type: 'timestamptz', value: (r) => r.snapshot.ts_event },
      { name: 'snapshot_id', type: 'text', value: (r) => r.snapshot.id },
      { name: 'quantity', type: 'float8', value: (r) => r.position.quantity },
      { name: 'avg_price', type: 'float8', value: (r) => r.position.avg_price },
      { name: 'realized_pnl', type: 'float8', value: (r) => r.position.realized_pnl },
      { name: 'unrealized_pnl', type: 'float8', value: (r) => r.position.unrealized_pnl },
      { name: 'last_price', type: 'float8', value: (r) => r.position.last_price },
    ],
    upsert: {
      key: ['run_id', 'account', 'symbol', 'ts'],
      set: ['snapshot_id', 'quantity', 'avg_price', 'realized_pnl', 'unrealized_pnl', 'last_price'],
    },
  });
}

export function equityWriter(
  db: Kysely<Database>,
  runId: string,
  tuning: WriterTuning<PortfolioSnapshot> = {},
): BatchWriter<PortfolioSnapshot> {
  return new BatchWriter<PortfolioSnapshot>(db, {
    ...tuning,
    table: 'equity',
    columns: [
      runIdColumn(runId),
      { name: 'account', type: 'text', value: (s) => s.account },
      { name: 'ts', type: 'timestamptz', value: (s) => s.ts_event },
      { name: 'snapshot_id', type: 'text', value: (s) => s.id },
      { name: 'cash', type: 'float8', value: (s) => s.cash },
      { name: 'equity', type: 'float8', value: (s) => s.equity },
      { name: 'gross_exposure', type: 'float8', value: (s) => s.gross_exposure },
      { name: 'net_exposure', type: 'float8', value: (s) => s.net_exposure },
    ],
    upsert: {
      key: ['run_id', 'account', 'ts'],
      set: ['snapshot_id', 'cash', 'equity', 'gross_exposure', 'net_exposure'],
    },
  });
}
