// The portfolio actor's part of a run or backtest config: whose account it keeps and the cash it
// starts from.
import { Type } from '@sinclair/typebox';

export const PortfolioConfigProperties = {
  account: Type.String({ minLength: 1 }),
  startingCash: Type.Number({ exclusiveMinimum: 0 }),
};
