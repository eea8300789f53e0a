/**
 * Agent restart without loss (issue 12): the restarted KaY adopts the SAs its SecY (the kernel)
 * kept (KayConfig.adopted) and keeps them in use until its own key transmits; survivors keep a
 * restarted peer's RX SC and SAs across the change of MI; a planned stop announces in-service
 * suspension so survivors keep the peer (and its SAs) past the life time. Checked at every
 * instant: whatever each SecY transmits with, the other can receive, also while a process is down
 * (its kernel SecY keeps forwarding).
 */
import { describe, expect, it } from 'vitest';
import { type SimLan, seededRandom } from '../../src/mka/sim/index.js';
import { cfg, expectOnlyCurrentKey, lan } from './helpers.js';

/** Data plane both ways between every pair, whatever the processes do (kernel SecYs). */
function wire(names: string[]) {
  return (l: SimLan): string[] => {
    const out: string[] = [];
    for (const x of names.map((n) => l.member(n))) {
      const tx = x.secy.transmitting();
      if (!tx) {
        out.push(`${x.name} transmits nothing protected`);
        continue;
      }
      for (const y of names.map((n) => l.member(n)))
        if (y !== x && !y.secy.canReceive(x.sci, tx.an, tx.ki)) out.push(`${y.name} cannot receive ${x.name} (AN ${tx.an})`);
    }
    return out;
  };
}

function secured(l: SimLan) {
  l.startAll();
  expect(l.runUntilQuiescent(10_000)).toBe(true);
  l.runFor(3_000);
}

describe('restart over a kept SecY', () => {
  for (const who of ['member', 'key server'] as const) {
    it(`SIGKILL of the ${who}, back within the life time: no frame lost, its own key replaces the adopted SAs`, () => {
      const l = lan(2);
      secured(l);
      l.addChecker(wire(['a', 'b']));
      const m = l.member(who === 'key server' ? 'a' : 'b');
      l.kill(m);
      l.runFor(3_500);
      l.restart(m, cfg(who === 'key server' ? 1 : 2, { random: seededRandom(99) }), { adopt: true });
      expect(l.runUntilQuiescent(15_000)).toBe(true);
      l.runFor(8_000);
      expect(l.violations).toEqual([]);
      expectOnlyCurrentKey(l);
      const st = m.kay.status();
      expect(st.secured).toBe(true);
      expect(l.member('a').kay.status().keyServer?.sci).toBe(l.member('a').sci);
      // the survivor replaced the old incarnation without losing the peer's SC
      const survivor = l.member(who === 'key server' ? 'b' : 'a');
      expect(survivor.events.filter((e) => e.event.kind === 'unsecured')).toEqual([]);
    });
  }

  it('planned restart: suspension keeps the survivor from expiring the peer, even when the restart takes longer than a life time', () => {
    const l = lan(2);
    secured(l);
    l.addChecker(wire(['a', 'b']));
    const b = l.member('b');
    const out = l.command(b, (k, now) => k.suspend(now, 60));
    expect(out.frames.length).toBe(1);
    expect(out.actions).toEqual([]); // nothing deleted
    l.kill(b);
    l.runFor(15_000); // 2.5 life times
    expect(l.member('a').kay.status().livePeers.length).toBe(1);
    l.restart(b, cfg(2, { random: seededRandom(98) }), { adopt: true });
    expect(l.runUntilQuiescent(15_000)).toBe(true);
    l.runFor(8_000);
    expect(l.violations).toEqual([]);
    expectOnlyCurrentKey(l);
  });

  it('without suspension a restart longer than a life time loses the peer (what suspension is for)', () => {
    const l = lan(2);
    secured(l);
    const b = l.member('b');
    l.kill(b);
    l.runFor(15_000);
    expect(l.member('a').kay.status().livePeers.length).toBe(0);
    expect(l.member('a').secy.canReceive(b.sci, b.secy.transmitting()!.an, b.secy.transmitting()!.ki)).toBe(false);
  });

  it('adopted SAs go (and a must-secure port closes) when no key of ours comes within two life times', () => {
    const l = lan(2);
    secured(l);
    const a = l.member('a');
    const b = l.member('b');
    l.crash(a); // the peer is gone for good
    l.kill(b);
    l.restart(b, cfg(2, { random: seededRandom(97) }), { adopt: true });
    expect(b.secy.txSas.size).toBeGreaterThan(0);
    l.runFor(13_000);
    expect(b.secy.txSas.size).toBe(0);
    expect([...b.secy.rxScs.values()].every((sc) => sc.size === 0)).toBe(true);
    expect(b.secy.controlledPortEnabled).toBe(false);
    expect(l.violations).toEqual([]);
  });

  it('three members, XPN: the restarted member adopts, no gap anywhere', () => {
    const l = lan(3, { cipherSuite: 'GCM-AES-XPN-128' });
    secured(l);
    l.addChecker(wire(['a', 'b', 'c']));
    const c = l.member('c');
    l.command(c, (k, now) => k.suspend(now, 30));
    l.kill(c);
    l.runFor(9_000);
    l.restart(c, cfg(3, { cipherSuite: 'GCM-AES-XPN-128', random: seededRandom(96) }), { adopt: true });
    expect(l.runUntilQuiescent(20_000)).toBe(true);
    l.runFor(8_000);
    expect(l.violations).toEqual([]);
    expectOnlyCurrentKey(l);
  });
});
