/** Unit tests of the MKPDU transmit schedule (src/mka/tx-schedule.ts). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PROMPT_MIN_SPACING_MS, PROMPT_SOFT_DELAY_MS, TxSchedule } from '../../src/mka/tx-schedule.js';

const HELLO = 2_000;

/** Earliest time from `from` (stepping 1 ms) at which the schedule is due, up to `limit`. */
function firstDue(s: TxSchedule, from: number, limit = from + 3 * HELLO): number | null {
  for (let t = from; t <= limit; t++) if (s.due(t)) return t;
  return null;
}

describe('MKPDU transmit schedule', () => {
  it('nothing is due before the first prompt; start sends at once, then every hello time', () => {
    const s = new TxSchedule(HELLO);
    expect(s.due(1e9)).toBe(false);
    expect(s.timers()).toEqual([Infinity]);
    s.promptNow(100);
    expect(s.due(99)).toBe(false);
    expect(s.due(100)).toBe(true);
    s.sent(100);
    expect(s.timers()).toEqual([100 + HELLO]);
    expect(firstDue(s, 101)).toBe(100 + HELLO);
  });

  it('an urgent prompt goes out at once, but never sooner than the minimum spacing after the last MKPDU', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 3 * HELLO }), (sentAt, delay) => {
        const s = new TxSchedule(HELLO);
        s.sent(sentAt);
        const now = sentAt + delay;
        s.urgent(now);
        expect(firstDue(s, now)).toBe(Math.min(Math.max(now, sentAt + PROMPT_MIN_SPACING_MS), Math.max(now, sentAt + HELLO)));
      }),
    );
  });

  it('a soft prompt waits its delay, an earlier prompt of either kind wins, and sending clears both', () => {
    const s = new TxSchedule(HELLO);
    s.sent(0);
    s.soft(500);
    s.soft(700); // later: the first one stands
    expect(firstDue(s, 500)).toBe(500 + PROMPT_SOFT_DELAY_MS);
    s.urgent(520);
    expect(firstDue(s, 500)).toBe(520);
    expect(s.timers().sort((a, b) => a - b)).toEqual([520, 500 + PROMPT_SOFT_DELAY_MS, HELLO]);
    s.sent(520);
    expect(s.timers()).toEqual([520 + HELLO]);
    expect(firstDue(s, 521)).toBe(520 + HELLO);
  });
});
