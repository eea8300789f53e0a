import { describe, expect, it } from 'vitest';
import { expectOnlyCurrentKey, lan, noGap, rekeyEvents } from './helpers.js';

describe('rekey (make-before-break checked at every step)', () => {
  it('periodic rekey: new SAK every period, never a gap, old key retired', () => {
    const l = lan(3, { rekeyPeriodMs: 10_000 });
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    l.addChecker(noGap(['a', 'b', 'c']));
    const kis = new Set<string>();
    for (let t = 0; t < 45_000; t += 100) {
      l.runFor(100);
      kis.add(l.member('b').secy.transmitting()!.ki);
    }
    expect(l.violations).toEqual([]);
    const ev = rekeyEvents(l, 'a');
    expect(ev.length).toBeGreaterThanOrEqual(4);
    expect(ev.every((e) => e.reason === 'period')).toBe(true);
    expect(ev.map((e) => e.kn)).toEqual(ev.map((_, i) => i + 2));
    expect(kis.size).toBe(ev.length + 1);
    expect(l.status('a').counters.rekeys).toBe(ev.length);
    // non key servers never rekey on their own
    expect(rekeyEvents(l, 'b')).toEqual([]);
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    expectOnlyCurrentKey(l);
    // AN rotates 0,1,2,3,0...
    const st = l.status('a');
    expect(st.oldKey?.an).toBe((st.oldKey!.kn - 1) % 4);
  });

  it('PN exhaustion of the key server: rekeys when its TX PN reaches the threshold', () => {
    const l = lan(2);
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    l.addChecker(noGap(['a', 'b']));
    const a = l.member('a');
    const tx = a.secy.transmitting()!;
    a.secy.setNextPn(tx.an, 0xbfffffffn);
    l.runFor(5_000);
    expect(rekeyEvents(l, 'a')).toEqual([]);
    a.secy.setNextPn(tx.an, 0xc0000000n);
    expect(l.runUntil(() => rekeyEvents(l, 'a').length === 1, 5_000)).toBe(true);
    expect(rekeyEvents(l, 'a')[0]!.reason).toBe('pn-exhaustion');
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    expect(a.secy.transmitting()!.ki).not.toBe(tx.ki);
    expect(a.secy.transmitting()!.nextPn).toBe(1n);
    l.runFor(20_000);
    expect(rekeyEvents(l, 'a').length).toBe(1); // once per key
    expect(l.violations).toEqual([]);
  });

  it('PN exhaustion of a peer: its SAK Use lowest PN makes the key server rekey', () => {
    const l = lan(3, (i) => ({ priority: i === 3 ? 1 : 16 })); // c is key server
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    expect(l.status('c').keyServer?.self).toBe(true);
    l.addChecker(noGap(['a', 'b', 'c']));
    const a = l.member('a');
    a.secy.setNextPn(a.secy.transmitting()!.an, 0xd0000000n);
    expect(l.runUntil(() => rekeyEvents(l, 'c').length === 1, 5_000)).toBe(true);
    expect(rekeyEvents(l, 'c')[0]!.reason).toBe('pn-exhaustion');
    expect(l.now).toBeLessThan(l.frames[0]!.at + 15_000);
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    expectOnlyCurrentKey(l);
    expect(l.violations).toEqual([]);
  });

  it('peer join: new SAK for the new member set, no gap for the existing members', () => {
    const l = lan(4);
    for (const n of ['a', 'b', 'c']) l.start(l.member(n));
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    const ki0 = l.member('a').secy.transmitting()!.ki;
    l.addChecker(noGap(['a', 'b', 'c']));
    l.start(l.member('d'));
    expect(l.runUntilConverged(10_000)).toBe(true);
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    const ev = rekeyEvents(l, 'a');
    expect(ev.map((e) => e.reason)).toEqual(['peer-change']);
    const k = l.status('a').oldKey!;
    expect(k.ki).not.toBe(ki0);
    expect(k.members.sort()).toEqual(['b', 'c', 'd'].map((n) => l.status(n).mi).sort());
    expectOnlyCurrentKey(l);
    l.addChecker(noGap(['a', 'b', 'c', 'd']));
    l.runFor(10_000);
    expect(l.violations).toEqual([]);
  });

  it('peer leave: after its life time the member is dropped and a new SAK excludes it, no gap', () => {
    const l = lan(3);
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    l.addChecker(noGap(['a', 'b']));
    const t0 = l.now;
    l.crash(l.member('c'));
    expect(l.runUntil(() => rekeyEvents(l, 'a').length === 1, 10_000)).toBe(true);
    expect(rekeyEvents(l, 'a')[0]!.reason).toBe('peer-change');
    // not before MKA_LIFE_TIME
    const lost = l.member('a').events.find((e) => e.event.kind === 'peerLost')!;
    expect(lost.at - t0).toBeGreaterThanOrEqual(4_000);
    expect(lost.at - t0).toBeLessThanOrEqual(6_100);
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    const k = l.status('a').oldKey!;
    expect(k.members).toEqual([l.status('b').mi]);
    expectOnlyCurrentKey(l);
    expect([...l.member('a').secy.rxScs.keys()]).toEqual([l.member('b').sci]);
    expect(l.violations).toEqual([]);
  });

  it('key server leave: the next best participant takes over and rekeys without a gap', () => {
    const l = lan(3);
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    l.addChecker(noGap(['b', 'c']));
    l.crash(l.member('a'));
    expect(
      l.runUntil(
        () =>
          l.status('b').keyServer?.self === true &&
          l.converged() &&
          l.status('b').latestKey === null &&
          l.status('b').oldKey?.ki.startsWith(l.status('b').mi) === true,
        15_000,
      ),
    ).toBe(true);
    expect(l.status('c').keyServer?.sci).toBe(l.member('b').sci);
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    expectOnlyCurrentKey(l);
    expect(l.violations).toEqual([]);
  });

  it('forced rekey on the key server; refused with a reason elsewhere', () => {
    const l = lan(2);
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    l.addChecker(noGap(['a', 'b']));
    const out = l.command(l.member('b'), (k, now) => k.forceRekey(now));
    expect(out.events).toEqual([{ kind: 'dropped', reason: 'forceRekey ignored: not the key server' }]);
    expect(out.frames).toEqual([]);
    expect(out.actions).toEqual([]);
    const a = l.member('a');
    const before = a.secy.transmitting()!.ki;
    const o2 = l.command(a, (k, now) => k.forceRekey(now));
    expect(o2.events.filter((e) => e.kind === 'rekey')).toEqual([{ kind: 'rekey', reason: 'forced', kn: 2 }]);
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    expect(a.secy.transmitting()!.ki).not.toBe(before);
    expect(l.violations).toEqual([]);
  });

  it('rekeys under frame loss and jitter still never open a gap', () => {
    let n = 0;
    const l = lan(
      3,
      { rekeyPeriodMs: 8_000 },
      {
        link: () => {
          n++;
          if (n % 7 === 0) return true; // lose one frame in 7
          return 1 + (n % 5); // 1..5 ms jitter
        },
      },
    );
    l.startAll();
    expect(l.runUntilQuiescent(20_000)).toBe(true);
    l.addChecker(noGap(['a', 'b', 'c']));
    l.runFor(60_000);
    expect(rekeyEvents(l, 'a').length).toBeGreaterThanOrEqual(5);
    expect(l.violations).toEqual([]);
  });
});
