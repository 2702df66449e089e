// The backtest report for people: one self-contained HTML file (inline CSS and SVG, no scripts, nothing
// fetched), so it opens offline and can be archived or mailed as is. Charts are drawn here as SVG.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { JsonValue } from './ledger.ts';
import type { BacktestMetrics, ClosedTrade, EquityPoint } from './metrics.ts';
import { type BacktestExits, EXIT_REASONS } from './trades.ts';

export interface BacktestReportInput {
  runId: string;
  /** The configuration the run used, shown verbatim. */
  config: JsonValue;
  equity: readonly EquityPoint[];
  trades: readonly ClosedTrade[];
  /** Risk-gate denials counted by reason code. */
  denialsByCode: Readonly<Record<string, number>>;
  metrics: BacktestMetrics;
  exits: BacktestExits;
}

/** More points than this are reduced to each bucket's first, minimum and maximum: the shape survives. */
const MAX_CHART_POINTS = 1500;
const MAX_TRADE_ROWS = 500;
const DAY_MS = 86_400_000;

interface Point {
  x: number;
  y: number;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function downsample(points: readonly Point[]): readonly Point[] {
  if (points.length <= MAX_CHART_POINTS) return points;
  const bucket = Math.ceil(points.length / (MAX_CHART_POINTS / 3));
  const out: Point[] = [];
  for (let start = 0; start < points.length; start += bucket) {
    const slice = points.slice(start, start + bucket);
    let low = slice[0]!;
    let high = slice[0]!;
    for (const point of slice) {
      if (point.y < low.y) low = point;
      if (point.y > high.y) high = point;
    }
    out.push(...[slice[0]!, low, high].filter((p, i, all) => all.indexOf(p) === i).sort((a, b) => a.x - b.x));
  }
  return out;
}

const isoDate = (t: number) => new Date(t).toISOString().slice(0, 10);
const percent = (value: number, digits = 2) => `${(value * 100).toFixed(digits)}%`;

/** A time-series line chart; `area` fills between the line and zero (for drawdowns). */
function lineChart(
  series: readonly Point[],
  options: { label: string; format: (y: number) => string; area?: boolean },
) {
  const width = 900;
  const height = 240;
  const left = 70;
  const right = 10;
  const top = 10;
  const bottom = 24;
  const points = downsample(series);
  if (points.length < 2) return `<p class="empty">Not enough points for ${escapeHtml(options.label)}.</p>`;
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [
    Math.min(...ys, options.area ? 0 : Number.POSITIVE_INFINITY),
    Math.max(...ys, options.area ? 0 : Number.NEGATIVE_INFINITY),
  ];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const sx = (x: number) => left + ((x - x0) / (x1 - x0 || 1)) * (width - left - right);
  const sy = (y: number) => top + (1 - (y - y0) / (y1 - y0)) * (height - top - bottom);
  const coords = points.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ');
  const parts: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const y = y0 + ((y1 - y0) * i) / 4;
    parts.push(
      `<line class="grid" x1="${left}" x2="${width - right}" y1="${sy(y).toFixed(1)}" y2="${sy(y).toFixed(1)}"/>`,
      `<text class="tick" x="${left - 6}" y="${(sy(y) + 4).toFixed(1)}" text-anchor="end">${escapeHtml(options.format(y))}</text>`,
    );
  }
  for (let year = new Date(x0).getUTCFullYear() + 1; Date.UTC(year, 0, 1) <= x1; year++) {
    const x = sx(Date.UTC(year, 0, 1)).toFixed(1);
    parts.push(
      `<line class="grid" x1="${x}" x2="${x}" y1="${top}" y2="${height - bottom}"/>`,
      `<text class="tick" x="${x}" y="${height - 6}" text-anchor="middle">${year}</text>`,
    );
  }
  if (y0 < 0 && y1 > 0)
    parts.push(
      `<line class="zero" x1="${left}" x2="${width - right}" y1="${sy(0).toFixed(1)}" y2="${sy(0).toFixed(1)}"/>`,
    );
  if (options.area)
    parts.push(
      `<polygon class="area" points="${sx(x0).toFixed(1)},${sy(0).toFixed(1)} ${coords} ${sx(x1).toFixed(1)},${sy(0).toFixed(1)}"/>`,
    );
  parts.push(`<polyline class="line" points="${coords}"/>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(options.label)}">${parts.join('')}</svg>`;
}

function drawdownSeries(equity: readonly EquityPoint[]): Point[] {
  let peak = Number.NEGATIVE_INFINITY;
  return equity.map((point) => {
    peak = Math.max(peak, point.equity);
    return { x: point.t, y: point.equity / peak - 1 };
  });
}

/** Annualised Sharpe over a trailing window of period returns (null while the window is flat). */
export function rollingSharpe(
  equity: readonly EquityPoint[],
  window: number,
  periodsPerYear: number,
): Point[] {
  const out: Point[] = [];
  for (let end = window; end < equity.length; end++) {
    let sum = 0;
    let squares = 0;
    for (let i = end - window + 1; i <= end; i++) {
      const r = equity[i]!.equity / equity[i - 1]!.equity - 1;
      sum += r;
      squares += r * r;
    }
    const mean = sum / window;
    const variance = (squares - window * mean * mean) / (window - 1);
    if (variance > 0)
      out.push({ x: equity[end]!.t, y: (mean / Math.sqrt(variance)) * Math.sqrt(periodsPerYear) });
  }
  return out;
}

/** Month (UTC) → return from the last equity of the previous month (or the first point) to its last. */
export function monthlyReturns(equity: readonly EquityPoint[]): Map<string, number> {
  const lastByMonth = new Map<string, number>();
  for (const point of equity) lastByMonth.set(new Date(point.t).toISOString().slice(0, 7), point.equity);
  const out = new Map<string, number>();
  let previous = equity[0]?.equity;
  for (const [month, last] of lastByMonth) {
    if (previous !== undefined) out.set(month, last / previous - 1);
    previous = last;
  }
  return out;
}

function heatmap(equity: readonly EquityPoint[]): string {
  const returns = monthlyReturns(equity);
  if (returns.size === 0) return '<p class="empty">No months.</p>';
  const years = [...new Set([...returns.keys()].map((month) => month.slice(0, 4)))];
  const scale = Math.max(0.01, ...[...returns.values()].map(Math.abs));
  const cell = 62;
  const rowHeight = 26;
  const left = 48;
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const parts = months.map(
    (name, m) =>
      `<text class="tick" x="${left + m * cell + cell / 2}" y="16" text-anchor="middle">${name}</text>`,
  );
  years.forEach((year, row) => {
    const y = 24 + row * rowHeight;
    parts.push(`<text class="tick" x="${left - 6}" y="${y + 17}" text-anchor="end">${year}</text>`);
    months.forEach((_, m) => {
      const key = `${year}-${String(m + 1).padStart(2, '0')}`;
      const value = returns.get(key);
      if (value === undefined) return;
      const strength = Math.min(1, Math.abs(value) / scale);
      const colour =
        value >= 0
          ? `rgba(22,128,60,${(0.12 + 0.78 * strength).toFixed(3)})`
          : `rgba(200,40,40,${(0.12 + 0.78 * strength).toFixed(3)})`;
      parts.push(
        `<g class="month"><title>${key}: ${percent(value)}</title><rect x="${left + m * cell + 1}" y="${y}" width="${cell - 2}" height="${rowHeight - 2}" fill="${colour}"/>`,
        `<text x="${left + m * cell + cell / 2}" y="${y + 17}" text-anchor="middle">${percent(value, 1)}</text></g>`,
      );
    });
  });
  const width = left + 12 * cell + 4;
  const height = 24 + years.length * rowHeight + 4;
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" role="img" aria-label="monthly returns">${parts.join('')}</svg>`;
}

const metricFormats: Record<keyof BacktestMetrics, [string, (value: number) => string]> = {
  totalReturn: ['Total return', (v) => percent(v)],
  cagr: ['CAGR', (v) => percent(v)],
  volatility: ['Volatility (annualised)', (v) => percent(v)],
  sharpe: ['Sharpe (annualised, rf 0)', (v) => v.toFixed(3)],
  sortino: ['Sortino (annualised)', (v) => v.toFixed(3)],
  calmar: ['Calmar', (v) => v.toFixed(3)],
  maxDrawdown: ['Max drawdown', (v) => percent(v)],
  maxDrawdownDuration: ['Max drawdown duration', (v) => `${(v / DAY_MS).toFixed(1)} days`],
  var95: ['VaR 95 % (historical, per period)', (v) => percent(v)],
  cvar95: ['CVaR 95 % (per period)', (v) => percent(v)],
  skew: ['Skew', (v) => v.toFixed(3)],
  kurtosis: ['Excess kurtosis', (v) => v.toFixed(3)],
  winRate: ['Win rate', (v) => percent(v, 1)],
  profitFactor: ['Profit factor', (v) => v.toFixed(3)],
  expectancy: ['Expectancy (per trade)', (v) => v.toFixed(2)],
  turnover: ['Turnover (annualised)', (v) => `${v.toFixed(2)}×`],
  exposure: ['Exposure (mean gross / equity)', (v) => percent(v, 1)],
  probabilisticSharpe: ['Probabilistic Sharpe (vs 0)', (v) => v.toFixed(4)],
  deflatedSharpe: ['Deflated Sharpe', (v) => v.toFixed(4)],
  periods: ['Return periods', (v) => String(v)],
  periodsPerYear: ['Periods per year', (v) => v.toFixed(0)],
};

function metricsTable(metrics: BacktestMetrics): string {
  const rows = (Object.keys(metricFormats) as (keyof BacktestMetrics)[]).map((key) => {
    const [label, format] = metricFormats[key];
    const value = metrics[key];
    return `<tr><th>${escapeHtml(label)}</th><td>${value === null ? '<span class="na">n/a</span>' : escapeHtml(format(value))}</td><td class="key">${key}</td></tr>`;
  });
  return `<table class="metrics">${rows.join('')}</table>`;
}

function tradesTable(trades: readonly ClosedTrade[]): string {
  if (trades.length === 0) return '<p class="empty">No closed trades.</p>';
  const rows = trades
    .slice(0, MAX_TRADE_ROWS)
    .map(
      (t) =>
        `<tr><td>${escapeHtml(t.symbol)}</td><td>${t.side}</td><td>${Number(t.quantity.toFixed(4))}</td><td>${isoDate(t.entryTs)}</td><td>${t.entryPrice.toFixed(2)}</td><td>${isoDate(t.exitTs)}</td><td>${t.exitPrice.toFixed(2)}</td><td class="${t.pnl >= 0 ? 'gain' : 'loss'}">${t.pnl.toFixed(2)}</td></tr>`,
    );
  const more =
    trades.length > MAX_TRADE_ROWS
      ? `<p class="empty">First ${MAX_TRADE_ROWS} of ${trades.length} trades.</p>`
      : '';
  return `<table class="trades"><thead><tr><th>Symbol</th><th>Side</th><th>Qty</th><th>Entry</th><th>Price</th><th>Exit</th><th>Price</th><th>PnL</th></tr></thead><tbody>${rows.join('')}</tbody></table>${more}`;
}

const EXIT_LABELS: Readonly<Record<(typeof EXIT_REASONS)[number], string>> = {
  signal: 'Signal',
  take_profit: 'Take-profit',
  stop_loss: 'Stop-loss',
  time: 'Time limit',
  flatten: 'Flatten',
};

function exitsTable(exits: BacktestExits): string {
  const rows = EXIT_REASONS.map((reason) => {
    const { exits: count, pnl } = exits.byReason[reason];
    return `<tr><th>${EXIT_LABELS[reason]}</th><td>${count}</td><td class="${pnl >= 0 ? 'gain' : 'loss'}">${pnl.toFixed(2)}</td><td class="key">${reason}</td></tr>`;
  });
  const barriers =
    exits.bracketedEntries === 0
      ? 'No entry had barrier exits.'
      : `${exits.bracketedEntries} entries had barrier exits (take-profit and stop-loss brackets), ${exits.timeLimitedEntries} of them a time limit.`;
  return `<table class="metrics"><thead><tr><th>Reason</th><th>Exits</th><th>PnL</th><th></th></tr></thead><tbody>${rows.join('')}</tbody></table><p class="sub">${escapeHtml(barriers)}</p>`;
}

function denialsTable(denials: Readonly<Record<string, number>>): string {
  const entries = Object.entries(denials).sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1));
  if (entries.length === 0) return '<p class="empty">No orders were denied.</p>';
  const top = Math.max(...entries.map(([, n]) => n));
  return `<table class="denials">${entries
    .map(
      ([code, n]) =>
        `<tr><th>${escapeHtml(code)}</th><td>${n}</td><td><svg xmlns="http://www.w3.org/2000/svg" width="200" height="12"><rect width="${((200 * n) / top).toFixed(1)}" height="12" fill="#b85c00"/></svg></td></tr>`,
    )
    .join('')}</table>`;
}

const style = `
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:960px;color:#1d232b;padding:0 12px}
h1{font-size:22px;margin-bottom:2px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d8dde3;padding-bottom:4px}
.sub{color:#5b6673}svg{width:100%;height:auto;display:block}
.grid{stroke:#e3e7ec;stroke-width:1}.zero{stroke:#8a95a3;stroke-width:1}.tick{font-size:11px;fill:#5b6673}
.line{fill:none;stroke:#1f5fbf;stroke-width:1.5}.area{fill:rgba(200,40,40,.25);stroke:none}
.month text{font-size:11px;fill:#1d232b}table{border-collapse:collapse}th,td{padding:3px 10px;text-align:right}
th{text-align:left;font-weight:600}.metrics td.key{color:#8a95a3;font-family:monospace;font-size:12px;text-align:left}
.trades{font-size:12px;width:100%}.trades tbody tr:nth-child(odd){background:#f4f6f8}.gain{color:#16803c}.loss{color:#c82828}
.denials svg{width:200px}.na,.empty{color:#8a95a3}pre{background:#f4f6f8;padding:10px;overflow:auto;font-size:12px}`;

export function renderReportHtml(report: BacktestReportInput): string {
  const { equity, metrics } = report;
  const first = equity[0];
  const last = equity[equity.length - 1];
  const span =
    first && last ? `${isoDate(first.t)} → ${isoDate(last.t)}, ${equity.length} points` : 'no points';
  const window = Math.max(2, Math.min(63, Math.floor(equity.length / 4)));
  const sections: [string, string, string][] = [
    ['metrics', 'Metrics', metricsTable(metrics)],
    [
      'equity',
      'Equity curve',
      lineChart(
        equity.map((p) => ({ x: p.t, y: p.equity })),
        { label: 'equity curve', format: (y) => y.toFixed(0) },
      ),
    ],
    [
      'drawdown',
      'Drawdown',
      lineChart(drawdownSeries(equity), { label: 'drawdown', format: (y) => percent(y, 0), area: true }),
    ],
    ['monthly', 'Monthly returns', heatmap(equity)],
    [
      'rolling-sharpe',
      `Rolling Sharpe (${window} periods, annualised)`,
      lineChart(rollingSharpe(equity, window, metrics.periodsPerYear), {
        label: 'rolling Sharpe',
        format: (y) => y.toFixed(1),
      }),
    ],
    ['exits', 'Exits by reason', exitsTable(report.exits)],
    ['trades', `Trades (${report.trades.length})`, tradesTable(report.trades)],
    ['denials', 'Risk denials by code', denialsTable(report.denialsByCode)],
    ['config', 'Configuration', `<pre>${escapeHtml(JSON.stringify(report.config, null, 2))}</pre>`],
  ];
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Sluice backtest ${escapeHtml(report.runId)}</title><style>${style}</style></head>
<body><h1>Backtest ${escapeHtml(report.runId)}</h1><p class="sub">${escapeHtml(span)}</p>
${sections.map(([id, title, body]) => `<section id="${id}"><h2>${escapeHtml(title)}</h2>${body}</section>`).join('\n')}
</body></html>
`;
}

/** Writes the report (creating the folder) and returns its path. */
export async function writeReportHtml(report: BacktestReportInput, path: string): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, renderReportHtml(report));
  return path;
}
