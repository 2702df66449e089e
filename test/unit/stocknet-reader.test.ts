// One reader for the stocknet price CSVs: ingest and the replay source (streamed), `sluice features`
// and training (readMarketCsv) and research (readDailyBars) take the same bars with the same ids from
// core/datasets.ts. A second parser that drifts from it (other ids, other close times) fails here.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readMarketCsv } from '../../actors/feature/csv.ts';
import { readDatasetFile } from '../../core/dataset-files.ts';
import { parseDatasetText, stocknetPriceFile } from '../../core/datasets.ts';
import { ConfigError } from '../../core/errors.ts';
import type { Bar } from '../../schemas/messages.ts';
import { readDailyBars } from '../../simulations/research/price-features.ts';

const sample = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'simulations',
  'data',
  'sample',
  'prices',
);

async function streamedBars(path: string): Promise<Bar[]> {
  const bars: Bar[] = [];
  for await (const row of readDatasetFile(stocknetPriceFile(path)))
    if (row.kind === 'bar') bars.push(row.event);
  return bars;
}

describe('stocknet price reader', () => {
  it('gives the replay, `sluice features` and research the same bars and ids', async () => {
    const path = join(sample, 'AAPL.csv');
    const streamed = await streamedBars(path);
    assert.equal(streamed[0]?.id, `stocknet:bar:1d:AAPL:${streamed[0]?.ts_event}`);
    assert.deepEqual(
      parseDatasetText(stocknetPriceFile(path), readFileSync(path, 'utf8')).map(
        (row) => row.kind === 'bar' && row.event,
      ),
      streamed,
    );
    const csv = readMarketCsv(path);
    assert.equal(csv.kind, 'bars');
    assert.deepEqual(csv.kind === 'bars' && csv.bars, streamed);
    const daily = readDailyBars(path);
    assert.deepEqual(
      daily.map((bar) => [
        Date.parse(bar.date) + 86_400_000,
        bar.open,
        bar.high,
        bar.low,
        bar.close,
        bar.volume,
      ]),
      streamed.map((bar) => [bar.ts_event, bar.open, bar.high, bar.low, bar.close, bar.volume]),
    );
  });

  it('refuses a row with missing values everywhere alike: an error row, not a NaN bar', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-stocknet-'));
    try {
      const path = join(dir, 'PTR.csv');
      writeFileSync(
        path,
        [
          'Date,Open,High,Low,Close,Adj Close,Volume',
          '2016-06-28,66.0,67.0,65.5,66.5,60.1,1000',
          '2016-06-29,null,null,null,null,null,null',
          '2016-06-30,66.5,68.0,66.0,67.5,61.0,1200',
        ].join('\n'),
      );
      const rows = parseDatasetText(stocknetPriceFile(path), readFileSync(path, 'utf8'));
      assert.deepEqual(
        rows.map((row) => (row.kind === 'error' ? `${row.row}: ${row.reason}` : row.kind)),
        ['bar', '3: Open: not a number: "null"', 'bar'],
      );
      const csv = readMarketCsv(path);
      assert.equal(csv.kind === 'bars' && csv.bars.length, 2);
      assert.equal(csv.kind === 'bars' && csv.refused, 1);
      assert.deepEqual(csv.kind === 'bars' && csv.times, ['2016-06-28', '2016-06-30']);
      assert.equal(readDailyBars(path).length, 2);
      assert.throws(() => readMarketCsv(path, { interval: '1h' }), ConfigError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
