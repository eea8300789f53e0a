/**
 * CAK change without a gap (802.1X-2010 clause 9: one participant per CA, one principal): the
 * new CA's participant agrees its SAK beside the principal, installs it for receive on the shared
 * RX SCs under another AN, takes over when every peer receives with it, and the old one retires.
 * Checked at every simulated instant by the make-before-break checker, secyErrors (which also
 * catches two keys on one AN) and noGap (every member always receives every other).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../src/common/hex.js';
import type { CakConfig } from '../../src/mka/kay.js';
import { type SimLan, seededRandom } from '../../src/mka/sim/index.js';
import { CKN, cfg, expectOnlyCurrentKey, lan, noGap } from './helpers.js';

function cak(i: number): CakConfig {
  const hex = i.toString(16).padStart(2, '0');
  return { cak: fromHex(hex.repeat(16)), ckn: fromHex(`c0ffee${hex}`) };
}

function addAt(l: SimLan, name: string, c: CakConfig, replace = true): void {
  l.command(l.member(name), (k, now) => k.addCak(c, now, { replace }));
}

function principalCkn(l: SimLan, name: string): string | null {
  return l.status(name).principalCkn;
}

describe('CAK change, make before break', () => {
  it('two members switch to a new CAK without a gap; the old CA leaves and its keys go', () => {
    const l = lan(2);
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    l.addChecker(noGap(['a', 'b']));
    const next = cak(1);
    addAt(l, 'a', next);
    l.runFor(300);
    addAt(l, 'b', next);
    expect(l.runUntil((x) => principalCkn(x, 'a') === toHex(next.ckn) && principalCkn(x, 'b') === toHex(next.ckn), 5_000)).toBe(true);
    // each member transmits with a key of the new CA under an AN the old one did not use
    expect(l.runUntilQuiescent(15_000)).toBe(true);
    l.runFor(10_000);
    for (const n of ['a', 'b']) {
      const st = l.status(n);
      expect(st.participants.map((p) => p.ckn)).toEqual([toHex(next.ckn)]);
      expect(st.participants[0]!.role).toBe('principal');
      expect(st.secured).toBe(true);
      expect(l.member(n).secy.transmitting()!.ki.startsWith(l.status('a').keyServer!.mi)).toBe(true);
    }
    expectOnlyCurrentKey(l);
    expect(l.violations).toEqual([]);
    // the port never went unsecured
    expect(l.eventsOf('a', 'unsecured')).toEqual([]);
    expect(l.eventsOf('b', 'unsecured')).toEqual([]);
  });

  it('while the new CA is getting ready both keys are on the SecY under different ANs', () => {
    const l = lan(2);
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    const oldKi = l.member('a').secy.transmitting()!.ki;
    const oldAn = l.member('a').secy.transmitting()!.an;
    const next = cak(2);
    addAt(l, 'a', next);
    addAt(l, 'b', next);
    // at some instant b has RX SAs for both keys on a's SC, and a still transmits with the old one
    const both = l.runUntil((x) => {
      const sc = x.member('b').secy.rxScs.get(x.member('a').sci);
      const kis = sc ? [...sc.values()].map((sa) => sa.ki) : [];
      return kis.length === 2 && kis.includes(oldKi);
    }, 5_000);
    expect(both).toBe(true);
    const sc = l.member('b').secy.rxScs.get(l.member('a').sci)!;
    expect(new Set([...sc.keys()]).size).toBe(2);
    expect([...sc.values()].find((sa) => sa.ki !== oldKi)!.an).not.toBe(oldAn);
    expect(l.status('b').participants.map((p) => p.role)).toEqual(['successor', 'principal']);
    expect(l.runUntilQuiescent(15_000)).toBe(true);
    expect(l.violations).toEqual([]);
  });

  it('three members, three rotations in a row, staggered: never a gap', () => {
    const l = lan(3);
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    l.addChecker(noGap(['a', 'b', 'c']));
    for (let r = 1; r <= 3; r++) {
      const next = cak(10 + r);
      addAt(l, 'c', next);
      l.runFor(700);
      addAt(l, 'a', next);
      l.runFor(1_100);
      addAt(l, 'b', next);
      expect(l.runUntil((x) => ['a', 'b', 'c'].every((n) => x.status(n).participants.length === 1 && principalCkn(x, n) === toHex(next.ckn)), 20_000)).toBe(
        true,
      );
    }
    expect(l.runUntilQuiescent(15_000)).toBe(true);
    expectOnlyCurrentKey(l);
    expect(l.violations).toEqual([]);
    for (const n of ['a', 'b', 'c']) expect(l.eventsOf(n, 'unsecured')).toEqual([]);
  });

  it('a peer that never gets the new CAK keeps its link: the old CA stays while it is used', () => {
    const l = lan(2);
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    l.addChecker(noGap(['a', 'b']));
    const next = cak(3);
    addAt(l, 'a', next);
    l.runFor(30_000);
    expect(principalCkn(l, 'a')).toBe(toHex(CKN));
    expect(l.status('a').participants.map((p) => p.role)).toEqual(['standby', 'principal']);
    expect(l.status('a').secured).toBe(true);
    // the peer gets it late: the switch happens then, without a gap
    addAt(l, 'b', next);
    expect(l.runUntil((x) => x.status('a').participants.length === 1 && x.status('b').participants.length === 1, 20_000)).toBe(true);
    expect(principalCkn(l, 'a')).toBe(toHex(next.ckn));
    expect(l.violations).toEqual([]);
  });

  it('a peer restarted with only the new CAK: the new CA takes over once the old has no live peer', () => {
    const l = lan(2);
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    const next = cak(4);
    addAt(l, 'a', next);
    const b = l.member('b');
    l.crash(b);
    l.restart(b, cfg(2, { primary: next, random: seededRandom(77) }));
    expect(l.runUntilConverged(20_000)).toBe(true);
    expect(principalCkn(l, 'a')).toBe(toHex(next.ckn));
    l.runFor(10_000);
    expect(l.status('a').participants.map((p) => p.ckn)).toEqual([toHex(next.ckn)]);
    expect(l.violations).toEqual([]);
  });

  it('removeCak: a principal with a ready successor goes after the handover; the last CA is never removed', () => {
    const l = lan(2);
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    l.addChecker(noGap(['a', 'b']));
    const next = cak(5);
    addAt(l, 'a', next, false);
    addAt(l, 'b', next, false);
    expect(l.runUntil((x) => principalCkn(x, 'a') === toHex(next.ckn) && principalCkn(x, 'b') === toHex(next.ckn), 5_000)).toBe(true);
    l.runFor(10_000);
    // without replace the old CA stays (a key chain removes it explicitly)
    expect(l.status('a').participants.map((p) => p.ckn)).toEqual([toHex(next.ckn), toHex(CKN)]);
    for (const n of ['a', 'b']) l.command(l.member(n), (k, now) => k.removeCak(CKN, now));
    l.runFor(10_000);
    for (const n of ['a', 'b']) expect(l.status(n).participants.map((p) => p.ckn)).toEqual([toHex(next.ckn)]);
    const out = l.command(l.member('a'), (k, now) => k.removeCak(next.ckn, now));
    expect(out.events).toContainEqual({ kind: 'dropped', reason: 'removeCak: the last CA is not removed' });
    expect(l.status('a').secured).toBe(true);
    expect(l.violations).toEqual([]);
  });

  it('addCak refuses a CKN already running and malformed keys', () => {
    const l = lan(1);
    l.startAll();
    const k = l.member('a').kay;
    expect(() => k.addCak({ cak: fromHex('11'.repeat(16)), ckn: CKN }, l.now)).toThrow(/ckn is already in use/);
    expect(() => k.addCak({ cak: fromHex('11'.repeat(15)), ckn: fromHex('01') }, l.now)).toThrow(/cak must be 16 or 32 octets/);
  });

  it('XPN: the SSCIs of the new key are assigned and the switch has no gap', () => {
    const l = lan(3, { cipherSuite: 'GCM-AES-XPN-128' });
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    l.addChecker(noGap(['a', 'b', 'c']));
    const next = cak(6);
    for (const n of ['b', 'a', 'c']) {
      addAt(l, n, next);
      l.runFor(400);
    }
    expect(l.runUntil((x) => ['a', 'b', 'c'].every((n) => x.status(n).participants.length === 1), 20_000)).toBe(true);
    expect(l.runUntilQuiescent(15_000)).toBe(true);
    expect(l.violations).toEqual([]);
  });

  it('property: any order and timing of the change on 2-4 members, with frame loss, never makes a gap', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 4 }),
        fc.array(fc.integer({ min: 0, max: 4_000 }), { minLength: 4, maxLength: 4 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.double({ min: 0, max: 0.05, noNaN: true }),
        (n, delays, seed, loss) => {
          const rnd = seededRandom(seed);
          const lose = () => rnd(1)[0]! / 256 < loss;
          const l = lan(n, (i) => ({ random: seededRandom(seed * 8 + i) }), { link: () => lose() });
          l.startAll();
          expect(l.runUntilQuiescent(30_000)).toBe(true);
          const names = l.members.map((m) => m.name);
          l.addChecker(noGap(names));
          const next = cak(7);
          const order = names.map((name, i) => ({ name, at: delays[i]! })).sort((x, y) => x.at - y.at);
          let t = 0;
          for (const o of order) {
            l.runFor(o.at - t);
            t = o.at;
            addAt(l, o.name, next);
          }
          const done = l.runUntil((x) => names.every((m) => x.status(m).participants.length === 1 && principalCkn(x, m) === toHex(next.ckn)), 60_000);
          expect(l.violations.slice(0, 3)).toEqual([]);
          expect(done).toBe(true);
          return true;
        },
      ),
      { numRuns: 100, seed: 12 },
    );
  });
});
