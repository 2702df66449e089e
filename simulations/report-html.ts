// The backtest report for people: one self-contained HTML file (inline CSS and SVG, no scripts, nothing
// fetched), so it opens offline and can be archived or mailed as is. Charts are drawn here as SVG.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  type BacktestAnalytics,
  type BootstrapResult,
  calendarReturns,
  type HistogramBin,
} from './analytics.ts';
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
  analytics: BacktestAnalytics;
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

/**
 * A time-series line chart; `area` fills between the line and zero (for drawdowns); `overlay` is a second
 * series on the same scales (the benchmark beside the equity curve).
 */
function lineChart(
  series: readonly Point[],
  options: { label: string; format: (y: number) => string; area?: boolean; overlay?: readonly Point[] },
) {
  const width = 900;
  const height = 240;
  const left = 70;
  const right = 10;
  const top = 10;
  const bottom = 24;
  const points = downsample(series);
  if (points.length < 2) return `<p class="empty">Not enough points for ${escapeHtml(options.label)}.</p>`;
  const overlay = options.overlay ? downsample(options.overlay) : [];
  const xs = [...points, ...overlay].map((p) => p.x);
  const ys = [...points, ...overlay].map((p) => p.y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [
    Math.min(...ys, options.area ? 0 : Number.POSITIVE_INFINITY),
    Math.max(...ys, options.area ? 0 : Number.NEGATIVE_INFINITY),
  ];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const sx = (x: number) => left + ((x - x0) / (x1 - x0 || 1)) * (width - left - right);
  const sy = (y: number) => top + (1 - (y - y0) / (y1 - y0)) * (height - top - bottom);
  const coordinates = (line: readonly Point[]) =>
    line.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ');
  const coords = coordinates(points);
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
  if (overlay.length > 1) parts.push(`<polyline class="overlay" points="${coordinates(overlay)}"/>`);
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

function heatmap(equity: readonly EquityPoint[]): string {
  const returns = calendarReturns(equity, 'month');
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

const ratio = (value: number | null) => (value === null ? '<span class="na">n/a</span>' : value.toFixed(3));
const share = (value: number | null) => (value === null ? '<span class="na">n/a</span>' : percent(value));

function benchmarkTable(analytics: BacktestAnalytics, metrics: BacktestMetrics): string {
  const benchmark = analytics.benchmark;
  if (benchmark === null) return '<p class="empty">No benchmark in the config (/benchmark).</p>';
  const r = benchmark.relative;
  const rows: [string, string, string][] = [
    ['Total return', share(metrics.totalReturn), share(benchmark.totalReturn)],
    ['CAGR', share(metrics.cagr), share(benchmark.cagr)],
    ['Volatility (annualised)', share(metrics.volatility), share(benchmark.volatility)],
    ['Sharpe (annualised)', ratio(metrics.sharpe), ratio(benchmark.sharpe)],
    ['Max drawdown', share(metrics.maxDrawdown), share(benchmark.maxDrawdown)],
  ];
  const relative: [string, string, keyof typeof r][] = [
    ['Alpha (annualised, CAPM)', share(r.alpha), 'alpha'],
    ['Beta', ratio(r.beta), 'beta'],
    ['Correlation', ratio(r.correlation), 'correlation'],
    ['Tracking error (annualised)', share(r.trackingError), 'trackingError'],
    ['Information ratio (annualised)', ratio(r.informationRatio), 'informationRatio'],
    ['Up capture', ratio(r.upCapture), 'upCapture'],
    ['Down capture', ratio(r.downCapture), 'downCapture'],
  ];
  return `<p class="sub">${escapeHtml(`${benchmark.name}: ${benchmark.symbols.join(', ')}`)}</p><table class="metrics"><thead><tr><th></th><th>Strategy</th><th>Benchmark</th></tr></thead><tbody>${rows
    .map(([label, ours, theirs]) => `<tr><th>${label}</th><td>${ours}</td><td>${theirs}</td></tr>`)
    .join('')}</tbody></table><table class="metrics">${relative
    .map(([label, value, key]) => `<tr><th>${label}</th><td>${value}</td><td class="key">${key}</td></tr>`)
    .join('')}</table>`;
}

function drawdownsTable(analytics: BacktestAnalytics): string {
  const under = `<p class="sub">Time under water: ${percent(analytics.timeUnderWater, 1)} of the points.</p>`;
  if (analytics.drawdowns.length === 0) return `<p class="empty">No drawdowns.</p>${under}`;
  const rows = analytics.drawdowns.map(
    (d) =>
      `<tr><td>${isoDate(d.start)}</td><td>${isoDate(d.trough)}</td><td>${d.recovery === null ? '<span class="na">not recovered</span>' : isoDate(d.recovery)}</td><td class="loss">${percent(-d.depth)}</td><td>${d.periods}</td><td>${(d.duration / DAY_MS).toFixed(0)}</td></tr>`,
  );
  return `<table class="trades"><thead><tr><th>Start</th><th>Trough</th><th>Recovery</th><th>Depth</th><th>Periods</th><th>Days</th></tr></thead><tbody>${rows.join('')}</tbody></table>${under}`;
}

function yearlyTable(analytics: BacktestAnalytics): string {
  const benchmark = analytics.benchmark ? calendarReturns(analytics.benchmark.curve, 'year') : undefined;
  const entries = Object.entries(analytics.yearlyReturns);
  if (entries.length === 0) return '<p class="empty">No years.</p>';
  const cell = (value: number | undefined) =>
    value === undefined ? '<td></td>' : `<td class="${value >= 0 ? 'gain' : 'loss'}">${percent(value)}</td>`;
  return `<table class="metrics"><thead><tr><th>Year</th><th>Strategy</th>${benchmark ? '<th>Benchmark</th>' : ''}</tr></thead><tbody>${entries
    .map(
      ([year, value]) =>
        `<tr><th>${year}</th>${cell(value)}${benchmark ? cell(benchmark.get(year)) : ''}</tr>`,
    )
    .join('')}</tbody></table>`;
}

function histogramChart(bins: readonly HistogramBin[]): string {
  if (bins.length === 0) return '<p class="empty">No returns.</p>';
  const width = 900;
  const height = 200;
  const bottom = 24;
  const top = Math.max(...bins.map((bin) => bin.count));
  const barWidth = width / bins.length;
  const bars = bins.map((bin, i) => {
    const barHeight = ((height - bottom - 10) * bin.count) / top;
    return `<g><title>${percent(bin.from)} to ${percent(bin.to)}: ${bin.count}</title><rect class="${bin.to <= 0 ? 'down' : 'up'}" x="${(i * barWidth + 1).toFixed(1)}" y="${(height - bottom - barHeight).toFixed(1)}" width="${(barWidth - 2).toFixed(1)}" height="${barHeight.toFixed(1)}"/></g>`;
  });
  const labels = [
    `<text class="tick" x="0" y="${height - 6}">${percent(bins[0]!.from)}</text>`,
    `<text class="tick" x="${width}" y="${height - 6}" text-anchor="end">${percent(bins.at(-1)!.to)}</text>`,
  ];
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" role="img" aria-label="return histogram">${[...bars, ...labels].join('')}</svg>`;
}

function bootstrapTable(bootstrap: BootstrapResult | null): string {
  if (bootstrap === null) return '<p class="empty">No returns to resample.</p>';
  const rows: [string, BootstrapResult['totalReturn'] | null, (v: number) => string][] = [
    ['Total return', bootstrap.totalReturn, (v) => percent(v)],
    ['Sharpe (annualised)', bootstrap.sharpe, (v) => v.toFixed(3)],
    ['Max drawdown', bootstrap.maxDrawdown, (v) => percent(v)],
  ];
  return `<p class="sub">${bootstrap.samples} samples, circular blocks of ${bootstrap.blockLength} periods (fixed length), seed ${bootstrap.seed}.</p><table class="metrics"><thead><tr><th></th><th>5 %</th><th>50 %</th><th>95 %</th></tr></thead><tbody>${rows
    .map(
      ([label, interval, format]) =>
        `<tr><th>${label}</th>${interval === null ? '<td colspan="3"><span class="na">n/a</span></td>' : [interval.p5, interval.p50, interval.p95].map((v) => `<td>${escapeHtml(format(v))}</td>`).join('')}</tr>`,
    )
    .join('')}</tbody></table>`;
}

const style = `
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:960px;color:#1d232b;padding:0 12px}
h1{font-size:22px;margin-bottom:2px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d8dde3;padding-bottom:4px}
.sub{color:#5b6673}svg{width:100%;height:auto;display:block}
.grid{stroke:#e3e7ec;stroke-width:1}.zero{stroke:#8a95a3;stroke-width:1}.tick{font-size:11px;fill:#5b6673}
.line{fill:none;stroke:#1f5fbf;stroke-width:1.5}.overlay{fill:none;stroke:#b85c00;stroke-width:1.2;stroke-dasharray:4 3}
.up{fill:#1f5fbf}.down{fill:#c82828}.area{fill:rgba(200,40,40,.25);stroke:none}
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
  const { analytics } = report;
  const benchmark = analytics.benchmark;
  const rolling = (value: (point: (typeof analytics.rolling)[number]) => number | null) =>
    analytics.rolling.flatMap((point) => {
      const y = value(point);
      return y === null ? [] : [{ x: point.t, y }];
    });
  const sections: [string, string, string][] = [
    ['metrics', 'Metrics', metricsTable(metrics)],
    [
      'equity',
      benchmark ? `Equity curve (dashed: ${benchmark.name})` : 'Equity curve',
      lineChart(
        equity.map((p) => ({ x: p.t, y: p.equity })),
        {
          label: 'equity curve',
          format: (y) => y.toFixed(0),
          ...(benchmark ? { overlay: benchmark.curve.map((p) => ({ x: p.t, y: p.equity })) } : {}),
        },
      ),
    ],
    ['benchmark', 'Against the benchmark', benchmarkTable(analytics, metrics)],
    [
      'drawdown',
      'Drawdown',
      lineChart(drawdownSeries(equity), { label: 'drawdown', format: (y) => percent(y, 0), area: true }),
    ],
    ['drawdowns', 'Worst drawdowns', drawdownsTable(analytics)],
    ['monthly', 'Monthly returns', heatmap(equity)],
    ['yearly', 'Yearly returns', yearlyTable(analytics)],
    ['histogram', 'Return histogram (per period)', histogramChart(analytics.histogram)],
    [
      'rolling-sharpe',
      `Rolling Sharpe (${analytics.rollingWindow} periods, annualised)`,
      lineChart(
        rolling((point) => point.sharpe),
        { label: 'rolling Sharpe', format: (y) => y.toFixed(1) },
      ),
    ],
    [
      'rolling-volatility',
      `Rolling volatility (${analytics.rollingWindow} periods, annualised)`,
      lineChart(
        rolling((point) => point.volatility),
        { label: 'rolling volatility', format: (y) => percent(y, 0) },
      ),
    ],
    ['bootstrap', 'Bootstrap confidence intervals', bootstrapTable(analytics.bootstrap)],
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
