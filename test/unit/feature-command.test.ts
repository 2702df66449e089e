// `sluice features` over real CSVs: header, warm-up cells, trade aggregation, flag errors.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULT_FEATURE_SET } from '../../actors/feature/feature-set.ts';
import { runFeatures } from '../../bin/commands/features.ts';
import { ConfigError } from '../../core/errors.ts';

const DATA = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'data');
const out = mkdtempSync(join(tmpdir(), 'sluice-features-'));
const PANDAS_TA =
  'SMA_20,EMA_20,RSI_14,MACD_12_26_9,MACDs_12_26_9,MACDh_12_26_9,BBL_20_2.0,BBM_20_2.0,BBU_20_2.0,ATRr_14,ADX_14,MFI_14,OBV,ROC_10';

test('OHLCV file: time column, pandas-ta columns, empty cells while warming', () => {
  const output = join(out, 'gmre.csv');
  const { rows } = runFeatures({ input: join(DATA, 'stocknet/price_raw/GMRE.csv'), output, set: 'default' });
  const lines = readFileSync(output, 'utf8').trimEnd().split('\n');
  assert.equal(lines.length, rows + 1);
  assert.equal(lines[0], ['Date', ...DEFAULT_FEATURE_SET.columns].join(','));
  assert.ok(lines[0]!.startsWith(`Date,${PANDAS_TA},`));
  const first = lines[1]!.split(',');
  assert.match(first[0]!, /^\d{4}-\d{2}-\d{2}$/);
  assert.equal(first[1], ''); // SMA_20 warming
  const warm = lines[DEFAULT_FEATURE_SET.warmupBars]!.split(',');
  assert.ok(
    warm.every((cell) => cell !== ''),
    'every cell filled once warm',
  );
});

test('SPY minute file and a trade file aggregated by --interval', () => {
  const spy = join(out, 'spy.csv');
  runFeatures({
    input: join(DATA, 'spy-minute-pyalgotrade/ninjatrader_spy_minute_2011-01.csv'),
    output: spy,
    set: 'default',
  });
  const spyLines = readFileSync(spy, 'utf8').split('\n');
  assert.ok(spyLines[0]!.startsWith(`datetime,${PANDAS_TA}`));
  assert.equal(spyLines[1]!.split(',')[0], '20110103 090100');

  const btc = join(out, 'btc.csv');
  const input = join(DATA, 'binance-btcusdt-ticks/btcusdt_trades_2021-01-08.csv');
  const { rows } = runFeatures({ input, output: btc, set: 'default', interval: '1s' });
  const lines = readFileSync(btc, 'utf8').split('\n');
  assert.ok(lines[0]!.startsWith(`timestamp_utc,${PANDAS_TA}`));
  assert.equal(lines[1]!.split(',')[0], '2021-01-08T00:00:01.000Z'); // close of the first 1s bar
  assert.equal(rows, 47);
});

test('bad flags are ConfigErrors naming the flag', () => {
  const input = join(DATA, 'stocknet/price_raw/GMRE.csv');
  const output = join(out, 'x.csv');
  const field = (run: () => unknown) => {
    try {
      run();
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return error.field;
    }
    return 'no error';
  };
  assert.equal(
    field(() => runFeatures({ input, output, set: 'nope' })),
    '--set',
  );
  assert.equal(
    field(() => runFeatures({ input, output, set: 'default', interval: '5x' })),
    '--interval',
  );
  assert.equal(
    field(() => runFeatures({ input: join(out, 'missing.csv'), output, set: 'default' })),
    '--input',
  );
});
