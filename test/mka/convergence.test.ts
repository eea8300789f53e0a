import { describe, expect, it } from 'vitest';
import { decodeMkpdu, findSet } from '../../src/mka/mkpdu.js';
import { lan } from './helpers.js';

function expectConverged(l: ReturnType<typeof lan>) {
  const act = l.active();
  const servers = new Set(act.map((m) => m.kay.status().keyServer?.sci));
  expect(servers.size).toBe(1);
  const ks = [...servers][0]!;
  expect(act.filter((m) => m.kay.status().keyServer?.self).map((m) => m.sci)).toEqual([ks]);
  const kis = new Set(act.map((m) => m.secy.transmitting()?.ki));
  expect(kis.size).toBe(1);
  const ki = [...kis][0]!;
  expect(ki.startsWith(act.find((m) => m.sci === ks)!.kay.status().mi)).toBe(true);
  for (const x of act) {
    const tx = x.secy.transmitting()!;
    expect(x.secy.controlledPortEnabled).toBe(true);
    expect(x.secy.protectFrames).toBe(true);
    expect(x.kay.status().secured).toBe(true);
    // one RX SC per other member, each with the common key installed and enabled
    expect([...x.secy.rxScs.keys()].sort()).toEqual(
      act
        .filter((y) => y !== x)
        .map((y) => y.sci)
        .sort(),
    );
    for (const y of act) if (y !== x) expect(y.secy.canReceive(x.sci, tx.an, ki)).toBe(true);
  }
  expect(l.violations).toEqual([]);
}

describe('convergence', () => {
  for (const n of [2, 3, 8]) {
    it(`${n} participants converge to one key server and one SAK`, () => {
      const l = lan(n);
      l.startAll();
      expect(l.runUntilConverged(10_000)).toBe(true);
      expectConverged(l);
      // and stay converged over several hello and life times
      l.runFor(30_000);
      expect(l.converged()).toBe(true);
      expectConverged(l);
      for (const m of l.members) {
        const st = m.kay.status();
        expect(st.livePeers.length).toBe(n - 1);
        expect(st.potentialPeers.length).toBe(0);
        expect(st.counters.mkpdusDropped).toBe(0);
        expect(m.events.filter((e) => e.event.kind === 'peerLost')).toEqual([]);
      }
    });
  }

  it('the lowest SCI is key server at equal priority and distributes a SAK covering all members', () => {
    const l = lan(3);
    l.startAll();
    expect(l.runUntilConverged(10_000)).toBe(true);
    const a = l.status('a');
    expect(a.keyServer?.self).toBe(true);
    const k = a.latestKey ?? a.oldKey;
    expect(k?.members.sort()).toEqual([l.status('b').mi, l.status('c').mi].sort());
    expect(k?.kn).toBe(1);
  });

  it('two parties starting together are secured within 3 frames each (prompt transmission)', () => {
    const l = lan(2);
    l.startAll();
    expect(l.runUntilConverged(10_000)).toBe(true);
    // Well inside one hello time: no waiting for periodic MKPDUs.
    expect(l.now).toBeLessThan(200);
    const byA = l.frames.filter((f) => f.from === 'a').length;
    const byB = l.frames.filter((f) => f.from === 'b').length;
    expect(byA).toBeLessThanOrEqual(3);
    expect(byB).toBeLessThanOrEqual(3);
    // 1: hellos, 2: peer lists (each sees itself listed: both live), 3: SAK / its confirmation
    const sets = l.frames.map((f) => {
      const d = decodeMkpdu(f.frame);
      if (!d.ok) throw new Error('bad frame');
      return `${f.from}:${d.value.sets.map((s) => s.type).join(',')}`;
    });
    expect(sets).toEqual(['a:', 'b:', 'a:potentialPeers', 'b:potentialPeers', 'a:livePeers,sakUse,distributedSak', 'b:livePeers,sakUse']);
  });

  it('a late joiner is secured within a few frames, without waiting for hello periods', () => {
    const l = lan(3);
    l.start(l.member('a'));
    l.start(l.member('b'));
    expect(l.runUntilConverged(10_000)).toBe(true);
    l.runFor(5_000);
    const t0 = l.now;
    l.start(l.member('c'));
    expect(l.runUntilConverged(10_000)).toBe(true);
    expect(l.now - t0).toBeLessThan(300);
    expect(l.violations).toEqual([]);
  });

  it('prompt transmission is spaced: bursts of state changes do not flood the LAN', () => {
    const l = lan(8);
    l.startAll();
    expect(l.runUntilConverged(10_000)).toBe(true);
    for (const m of l.members) {
      const times = l.frames.filter((f) => f.from === m.name).map((f) => f.at);
      for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(10);
    }
  });

  it('sends the MKPDU with the configured EAPOL/MKA versions, destination and hello time', () => {
    const dst = Uint8Array.of(0x01, 0x80, 0xc2, 0x00, 0x00, 0x00);
    const l = lan(2, { eapolVersion: 2, mkaVersion: 1, helloTimeMs: 500, lifeTimeMs: 1500, destination: dst });
    l.startAll();
    expect(l.runUntilConverged(5_000)).toBe(true);
    const n0 = l.frames.length;
    l.runFor(5_000);
    // about one MKPDU per member per 500 ms
    expect(l.frames.length - n0).toBeGreaterThanOrEqual(18);
    expect(l.frames.length - n0).toBeLessThanOrEqual(24);
    const d = decodeMkpdu(l.frames.at(-1)!.frame);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.value.eapolVersion).toBe(2);
    expect(d.value.basic.version).toBe(1);
    expect([...d.value.dst]).toEqual([...dst]);
    expect(findSet(d.value, 'livePeers')?.peers.length).toBe(1);
    expect(l.converged()).toBe(true);
  });
});
