// The HTML report from a real-data run (an MA crossover on the bundled stocknet AAPL sample).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { calendarReturns, computeAnalytics } from '../../simulations/analytics.ts';
import { computeMetrics } from '../../simulations/metrics.ts';
import { type BacktestReportInput, writeReportHtml } from '../../simulations/report-html.ts';
import { maCrossoverParams, runMaCrossover } from '../../simulations/sweep-jobs.ts';

const CHROMIUM = '/usr/bin/chromium';

/** Tag balance of an SVG fragment: every opened element is closed in order. Returns the element names. */
function svgElements(svg: string): string[] {
  const stack: string[] = [];
  const names: string[] = [];
  for (const match of svg.matchAll(/<(\/?)([a-zA-Z]+)((?:\s+[a-zA-Z][a-zA-Z0-9:-]*="[^"<]*")*)\s*(\/?)>/g)) {
    const [, closing, name, , selfClosing] = match;
    if (closing) assert.equal(stack.pop(), name, `unbalanced </${name}>`);
    else {
      names.push(name!);
      if (!selfClosing) stack.push(name!);
    }
  }
  assert.deepEqual(stack, [], 'unclosed SVG elements');
  // Nothing that looks like a tag was skipped by the pattern above (e.g. a broken attribute).
  assert.equal(
    (svg.match(/</g) ?? []).length,
    [...svg.matchAll(/<\/?[a-zA-Z]+(?:\s+[a-zA-Z][a-zA-Z0-9:-]*="[^"<]*")*\s*\/?>/g)].length,
  );
  return names;
}

describe('HTML backtest report', () => {
  let dir: string;
  let html: string;
  let report: BacktestReportInput;
  let path: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-report-'));
    const config = {
      strategy: 'ma-crossover',
      symbol: 'AAPL',
      fast: 10,
      slow: 50,
      costBps: 5,
      note: '<script>x</script>',
    };
    const run = await runMaCrossover(maCrossoverParams(config));
    const metrics = computeMetrics(run);
    // The strategy against itself as its benchmark: beta 1, and the overlay on the equity chart.
    const analytics = computeAnalytics({
      equity: run.equity,
      periodsPerYear: metrics.periodsPerYear,
      bootstrap: { seed: 7, samples: 200 },
      benchmark: { name: 'itself', symbols: ['AAPL'], curve: run.equity },
    });
    report = {
      runId: 'bt-aapl-10-50',
      config,
      equity: run.equity,
      trades: run.trades,
      denialsByCode: { MAX_POSITION: 7, DAILY_LOSS: 2, STALE_PRICE: 1 },
      metrics,
      analytics,
      exits: {
        byReason: {
          signal: { exits: run.trades.length, pnl: run.trades.reduce((sum, t) => sum + t.pnl, 0) },
          take_profit: { exits: 4, pnl: 812.5 },
          stop_loss: { exits: 3, pnl: -640.25 },
          time: { exits: 9, pnl: -12 },
          flatten: { exits: 0, pnl: 0 },
        },
        bracketedEntries: 16,
        timeLimitedEntries: 16,
      },
    };
    path = await writeReportHtml(report, join(dir, 'nested', 'report.html'));
    html = readFileSync(path, 'utf8');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is one self-contained file with every section', () => {
    assert.equal(path, join(dir, 'nested', 'report.html'));
    for (const id of [
      'metrics',
      'equity',
      'drawdown',
      'benchmark',
      'drawdowns',
      'monthly',
      'yearly',
      'histogram',
      'rolling-sharpe',
      'rolling-volatility',
      'bootstrap',
      'exits',
      'trades',
      'denials',
      'config',
    ])
      assert.match(html, new RegExp(`<section id="${id}"><h2>`), id);
    // Nothing to fetch: no scripts, stylesheets, images or URLs other than the SVG namespace.
    assert.doesNotMatch(html, /<script|<link|<img|<iframe|url\(/i);
    assert.deepEqual([...new Set(html.match(/https?:\/\/[^"'\s<]+/g))], ['http://www.w3.org/2000/svg']);
    // The config is shown escaped, not executed.
    assert.match(html, /&#60;script&#62;x&#60;\/script&#62;/);
    assert.match(html, /&#34;fast&#34;: 10,/);
    assert.doesNotMatch(html, /NaN|undefined|Infinity/);
  });

  it('draws well-formed SVG charts from the data', () => {
    const svgs = html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
    // equity, drawdown, heatmap, histogram, rolling Sharpe and volatility, one bar per denial code.
    assert.equal(svgs.length, 6 + 3);
    for (const svg of svgs) svgElements(svg);
    const equitySvg = html.match(/<section id="equity">[\s\S]*?<\/section>/)![0];
    const points = equitySvg.match(/<polyline class="line" points="([^"]+)"/)![1]!.split(' ');
    assert.equal(points.length, report.equity.length);
    // The benchmark is drawn on the same scales: here the same curve, so the same coordinates.
    const overlay = equitySvg.match(/<polyline class="overlay" points="([^"]+)"/)![1]!.split(' ');
    assert.deepEqual(overlay, points);
    for (const point of points) {
      const [x, y] = point.split(',').map(Number);
      assert.ok(x! >= 70 && x! <= 890 && y! >= 10 && y! <= 216, point);
    }
    // Heatmap: one cell per month of data, labelled with that month's return computed here.
    const cells = [...html.matchAll(/<title>(\d{4}-\d{2}): (-?\d+\.\d{2})%<\/title>/g)];
    const months = new Set(report.equity.map((p) => new Date(p.t).toISOString().slice(0, 7)));
    assert.equal(cells.length, months.size);
    assert.equal(calendarReturns(report.equity, 'month').size, months.size);
    const march2015 = report.equity.filter((p) => new Date(p.t).toISOString().startsWith('2015-03'));
    const february2015 = report.equity.filter((p) => new Date(p.t).toISOString().startsWith('2015-02'));
    const expected = (march2015.at(-1)!.equity / february2015.at(-1)!.equity - 1) * 100;
    assert.equal(cells.find((cell) => cell[1] === '2015-03')![2], expected.toFixed(2));
  });

  it('lists exits by reason with their PnL', () => {
    const section = html.match(/<section id="exits">[\s\S]*?<\/section>/)![0];
    const signal = report.exits.byReason.signal;
    assert.match(
      section,
      new RegExp(
        `<tr><th>Signal</th><td>${signal.exits}</td><td class="(gain|loss)">${signal.pnl.toFixed(2)}</td>`,
      ),
    );
    assert.match(section, /<tr><th>Take-profit<\/th><td>4<\/td><td class="gain">812.50<\/td>/);
    assert.match(section, /<tr><th>Stop-loss<\/th><td>3<\/td><td class="loss">-640.25<\/td>/);
    assert.match(section, /<tr><th>Time limit<\/th><td>9<\/td><td class="loss">-12.00<\/td>/);
    assert.match(section, /<tr><th>Flatten<\/th><td>0<\/td>/);
    assert.match(section, /16 entries had barrier exits .*, 16 of them a time limit/);
  });

  it('lists trades, denials and metrics', () => {
    assert.equal((html.match(/<tr><td>AAPL<\/td>/g) ?? []).length, report.trades.length);
    assert.match(html, /<tr><th>MAX_POSITION<\/th><td>7<\/td>/);
    assert.ok(html.indexOf('MAX_POSITION') < html.indexOf('DAILY_LOSS'));
    for (const key of Object.keys(report.metrics))
      assert.match(html, new RegExp(`<td class="key">${key}</td>`), key);
    assert.match(html, new RegExp(`${(report.metrics.totalReturn * 100).toFixed(2)}%`));
  });

  it('shows the analytics tables of its input', () => {
    const section = (id: string) => html.match(new RegExp(`<section id="${id}">[\\s\\S]*?</section>`))![0];
    // Against itself: beta and correlation 1, no alpha, no tracking error, capture 1 both ways.
    const benchmark = section('benchmark');
    assert.match(benchmark, /<tr><th>Beta<\/th><td>1.000<\/td>/);
    assert.match(benchmark, /<tr><th>Correlation<\/th><td>1.000<\/td>/);
    assert.match(benchmark, /<tr><th>Alpha \(annualised, CAPM\)<\/th><td>(-)?0.00%<\/td>/);
    assert.match(benchmark, /<tr><th>Up capture<\/th><td>1.000<\/td>/);
    const { analytics } = report;
    const drawdownRows =
      section('drawdowns')
        .match(/<tbody>([\s\S]*?)<\/tbody>/)![1]!
        .match(/<tr>/g) ?? [];
    assert.equal(drawdownRows.length, analytics.drawdowns.length);
    assert.equal(drawdownRows.length, 5);
    const worst = analytics.drawdowns[0]!;
    assert.match(section('drawdowns'), new RegExp(`${(-worst.depth * 100).toFixed(2)}%`));
    for (const [year, value] of Object.entries(analytics.yearlyReturns))
      assert.match(
        section('yearly'),
        new RegExp(`<tr><th>${year}</th><td class="\\w+">${(value * 100).toFixed(2)}%`),
      );
    const bars = section('histogram').match(/<rect /g) ?? [];
    assert.equal(bars.length, analytics.histogram.length);
    const p95 = analytics.bootstrap!.totalReturn.p95;
    assert.match(section('bootstrap'), new RegExp(`${(p95 * 100).toFixed(2)}%</td></tr>`));
    assert.match(section('rolling-volatility'), /<polyline class="line"/);
  });

  it('renders headless in chromium', {
    skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed`,
  }, () => {
    const screenshot = join(dir, 'report.png');
    const result = spawnSync(
      CHROMIUM,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        `--screenshot=${screenshot}`,
        '--window-size=1000,2400',
        `file://${path}`,
      ],
      { timeout: 25_000 },
    );
    assert.equal(result.status, 0, result.stderr?.toString());
    assert.ok(statSync(screenshot).size > 10_000);
  });
});
