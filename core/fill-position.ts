// What a fill does to the position it trades: the gate and the portfolio count a position as the venue
// holds it, so a commission the venue took in the base asset is not held.
import type { Fill } from '../schemas/messages.ts';

/** The signed change of the position: the quantity (bought +, sold −) less any base-asset commission. */
export function positionChange(fill: Pick<Fill, 'side' | 'quantity' | 'base_commission'>): number {
  return (fill.side === 'buy' ? fill.quantity : -fill.quantity) - (fill.base_commission ?? 0);
}
