import { describe, expect, it } from 'vitest';
import { electKeyServer } from '../../src/mka/election.js';
import { decodeMkpdu } from '../../src/mka/mkpdu.js';
import { cfg, lan, mac } from './helpers.js';
import { SimLan, makeBeforeBreak } from '../../src/mka/sim/index.js';

const cand = (priority: number, sciHex: string, keyServer = true) => ({ priority, sciHex, keyServer, miHex: sciHex });

describe('key server election', () => {
  it('lowest priority value wins, then lowest SCI', () => {
    const me = { priority: 16, sciHex: '0200000000050001', canBeKeyServer: true };
    expect(electKeyServer(me, [cand(32, '0200000000010001')])).toEqual({ self: true });
    expect(electKeyServer(me, [cand(8, '0200000000090001')])).toEqual({ self: false, winner: cand(8, '0200000000090001') });
    expect(electKeyServer(me, [cand(16, '0200000000040001'), cand(16, '0200000000060001')])).toEqual({ self: false, winner: cand(16, '0200000000040001') });
    expect(electKeyServer(me, [cand(16, '0200000000060001')])).toEqual({ self: true });
    // same MAC, port decides
    expect(electKeyServer(me, [cand(16, '0200000000050002')])).toEqual({ self: true });
  });

  it('peers without the Key Server flag are not candidates; a full tie elects nobody', () => {
    const me = { priority: 16, sciHex: '0200000000050001', canBeKeyServer: true };
    expect(electKeyServer(me, [cand(0, '0200000000010001', false)])).toEqual({ self: true });
    expect(electKeyServer({ ...me, canBeKeyServer: false }, [cand(0, '0200000000010001', false)])).toBeNull();
    expect(electKeyServer(me, [cand(16, '0200000000050001')])).toBeNull();
  });

  it('priority 0xff is the least preferred but still electable (as wpa_supplicant)', () => {
    const me = { priority: 0xff, sciHex: '0200000000010001', canBeKeyServer: true };
    expect(electKeyServer(me, [cand(0xff, '0200000000020001')])).toEqual({ self: true });
    expect(electKeyServer(me, [cand(0xfe, '0200000000020001')])).toEqual({ self: false, winner: cand(0xfe, '0200000000020001') });
  });

  it('in a group, the configured priority decides over the SCI', () => {
    const l = lan(4, (i) => ({ priority: i === 3 ? 5 : 16 }));
    l.startAll();
    expect(l.runUntilConverged(10_000)).toBe(true);
    for (const n of ['a', 'b', 'c', 'd']) expect(l.status(n).keyServer?.sci).toBe(l.member('c').sci);
    expect(l.status('c').keyServer?.self).toBe(true);
    expect(l.status('b').oldKey?.ki.startsWith(l.status('c').mi) ?? l.status('b').latestKey?.ki.startsWith(l.status('c').mi)).toBe(true);
    expect(l.violations).toEqual([]);
  });

  it('equal priorities: the lowest SCI is key server; others clear their Key Server flag', () => {
    const l = lan(3);
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    expect(l.status('a').keyServer).toMatchObject({ self: true, sci: l.member('a').sci, priority: 16 });
    for (const n of ['b', 'c']) expect(l.status(n).keyServer).toMatchObject({ self: false, sci: l.member('a').sci });
    const last = (n: string) => {
      const d = decodeMkpdu(l.frames.filter((f) => f.from === n).at(-1)!.frame);
      if (!d.ok) throw new Error('undecodable');
      return d.value.basic;
    };
    expect(last('a').keyServer).toBe(true);
    expect(last('b').keyServer).toBe(false);
    expect(last('c').keyServer).toBe(false);
    // before any peer is live, everyone claims it can be key server
    const first = decodeMkpdu(l.frames.find((f) => f.from === 'c')!.frame);
    expect(first.ok && first.value.basic.keyServer).toBe(true);
  });

  it('SCI tie-break uses the port when the MACs are equal', () => {
    const l = new SimLan();
    l.add('p2', cfg(1, { sci: { mac: mac(1), port: 2 } }));
    l.add('p1', cfg(2, { sci: { mac: mac(1), port: 1 } }));
    l.addChecker(makeBeforeBreak);
    l.startAll();
    expect(l.runUntilConverged(10_000)).toBe(true);
    expect(l.status('p1').keyServer?.self).toBe(true);
    expect(l.violations).toEqual([]);
  });

  it('all priorities 0xff: a key server is still elected and the group secured', () => {
    const l = lan(3, { priority: 0xff });
    l.startAll();
    expect(l.runUntilConverged(10_000)).toBe(true);
    expect(l.status('a').keyServer?.self).toBe(true);
    expect(l.status('c').keyServer?.priority).toBe(0xff);
  });

  it('a better-priority newcomer takes over as key server and rekeys without a gap', () => {
    const l = lan(3, (i) => ({ priority: i === 3 ? 1 : 16 }));
    l.start(l.member('a'));
    l.start(l.member('b'));
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    expect(l.status('a').keyServer?.self).toBe(true);
    l.start(l.member('c'));
    expect(
      l.runUntil(
        (ln) =>
          ln.converged() &&
          ln.status('a').keyServer?.sci === ln.member('c').sci &&
          (ln.member('a').secy.transmitting()?.ki.startsWith(ln.status('c').mi) ?? false),
        10_000,
      ),
    ).toBe(true);
    expect(l.eventsOf('a', 'keyServerElected').map((e) => (e as { self: boolean }).self)).toEqual([true, false]);
    expect(l.violations).toEqual([]);
  });
});
