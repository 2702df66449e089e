// The data sets Sluice knows by name: the bundled sample and the shared real data in ../shared/data,
// each a list of files in a layout core/datasets.ts reads.
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import {
  binanceQuoteFile,
  binanceTradeFile,
  type Dataset,
  ninjaTraderMinuteFile,
  plotlyDailyFile,
  stocknetPriceFile,
  stocknetTweetFile,
} from '../../core/datasets.ts';

/**
 * Daily prices and tweets laid out like stocknet (price_raw/<SYMBOL>.csv and a tweets CSV); with
 * `symbols`, only their price files are read (the tweets file holds every symbol).
 */
function stocknetDatasets(
  prefix: string,
  priceDir: string,
  tweetsPath: string,
  symbols?: readonly string[],
): Record<string, Dataset> {
  const held = listPriceSymbols(priceDir);
  return {
    [`${prefix}-prices`]: {
      name: `${prefix}-prices`,
      description: `${prefix} daily OHLCV (MIT)`,
      files: held
        .filter((symbol) => !symbols || symbols.includes(symbol))
        .map((symbol) => stocknetPriceFile(join(priceDir, `${symbol}.csv`))),
      symbols: held,
    },
    [`${prefix}-tweets`]: {
      name: `${prefix}-tweets`,
      description: `${prefix} tweets with cashtag symbols (MIT)`,
      files: [stocknetTweetFile(tweetsPath)],
      symbols: held,
    },
  };
}

/** The sample bundled in the repo (simulations/data/sample): ten stocknet symbols, prices and tweets. */
export function bundledSampleDatasets(
  sampleDir: string,
  symbols?: readonly string[],
): Record<string, Dataset> {
  return stocknetDatasets(
    'sample',
    join(sampleDir, 'prices'),
    join(sampleDir, 'tweets_2014-2016.csv.gz'),
    symbols,
  );
}

/** The shared real data sets that `sluice ingest` knows by name. */
export function sharedDatasets(dataDir: string, symbols?: readonly string[]): Record<string, Dataset> {
  return {
    ...stocknetDatasets(
      'stocknet',
      join(dataDir, 'stocknet', 'price_raw'),
      join(dataDir, 'stocknet', 'tweets_2014-2016.csv.gz'),
      symbols,
    ),
    'binance-trades': {
      name: 'binance-trades',
      description: 'Binance BTCUSDT trades and quotes, 2021-01-08',
      files: [
        binanceTradeFile(join(dataDir, 'binance-btcusdt-ticks', 'btcusdt_trades_2021-01-08.csv')),
        binanceQuoteFile(join(dataDir, 'binance-btcusdt-ticks', 'btcusdt_quotes_2021-01-08.csv')),
      ],
      symbols: ['BTCUSDT'],
    },
    'plotly-daily': {
      name: 'plotly-daily',
      description: 'plotly daily OHLCV for AAPL, GOOGL, TSLA, COKE, YHOO 2015-2017 (MIT)',
      files: [plotlyDailyFile(join(dataDir, 'daily-ohlcv-plotly', 'dash-stock-ticker-demo.csv'))],
      symbols: ['AAPL', 'GOOGL', 'TSLA', 'COKE', 'YHOO'],
    },
    'spy-minute': {
      name: 'spy-minute',
      description: 'SPY 1-minute bars, January 2011 (Apache-2.0)',
      files: [
        ninjaTraderMinuteFile(join(dataDir, 'spy-minute-pyalgotrade', 'ninjatrader_spy_minute_2011-01.csv')),
      ],
      symbols: ['SPY'],
    },
  };
}

function listPriceSymbols(priceDir: string): string[] {
  if (!existsSync(priceDir)) return [];
  return readdirSync(priceDir)
    .filter((name) => name.endsWith('.csv'))
    .map((name) => basename(name, '.csv'))
    .sort();
}
