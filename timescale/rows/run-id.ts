// Tables a run writes (risk decisions, orders, fills, positions, equity) carry its run id in every row
// and in their key: a backtest's id, or 'live'.
import type { ColumnSpec } from '../copy-encoder.ts';

export function runIdColumn<Row>(runId: string): ColumnSpec<Row> {
  return { name: 'run_id', type: 'text', value: () => runId };
}
