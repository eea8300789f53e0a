/**
 * Replay after a peer restart (same SCI, new MI).
 *
 * A restarted peer is a new incarnation: it never held the keys of its previous one. If a
 * survivor installs a pre-restart SAK on the restarted peer's (re-created) RX SC, that RX SA
 * starts at lowest PN 1 and every protected frame the old incarnation sent with that key can be
 * replayed to it. 802.1X: a receive SA for a peer is installed only for a key that peer's current
 * MI holds (distributed to it / confirmed in its SAK Use), and a live membership change makes
 * the key server distribute a new SAK.
 *
 * The data plane is modelled on the SimulatedSecy: frames the old incarnation sent were
 * received by one particular RX SA object (its replay window moved past them); a replay is
 * accepted if the receiver's current RX SA for (SCI, AN) has the same key but is another SA
 * object (a fresh replay window from lowest PN 1).
 */
import { describe, expect, it } from 'vitest';
import type { SimLan, SimMember } from '../../src/mka/sim/index.js';
import { seededRandom } from '../../src/mka/sim/index.js';
import type { SimRxSa } from '../../src/secy/simulated.js';
import { cfg, expectOnlyCurrentKey, lan, NAMES, noGap } from './helpers.js';

interface Captured {
  /** Receiver that accepted the frames. */
  to: SimMember;
  sci: string;
  an: number;
  ki: string;
  /** The RX SA object that received them (its replay window is past them). */
  sa: SimRxSa;
  pns: [bigint, bigint];
}

/** The sender transmits `n` protected frames; every other member receives them once. */
function sendAndCapture(l: SimLan, from: SimMember, n: bigint): Captured[] {
  const tx = from.secy.transmitting();
  if (!tx) throw new Error(`${from.name} does not transmit`);
  const first = tx.nextPn;
  from.secy.sendTraffic(n);
  const out: Captured[] = [];
  for (const to of l.active()) {
    if (to === from) continue;
    const sa = to.secy.rxScs.get(from.sci)?.get(tx.an);
    if (!sa?.enabled || sa.ki !== tx.ki) throw new Error(`${to.name} cannot receive ${from.name}`);
    out.push({ to, sci: from.sci, an: tx.an, ki: tx.ki, sa, pns: [first, first + n - 1n] });
  }
  return out;
}

/** Whether a replay of the captured frames would be accepted now (a fresh RX SA for that key). */
function replayAccepted(c: Captured): boolean {
  const sa = c.to.secy.rxScs.get(c.sci)?.get(c.an);
  return !!sa && sa.enabled && sa.ki === c.ki && sa !== c.sa && sa.lowestPn <= c.pns[1];
}

/** installRxSa lines of a SecY log from index `from` on, as {sci, ki}. */
function rxInstalls(m: SimMember, from = 0): { sci: string; ki: string; lowestPn: string }[] {
  return m.secy.log
    .slice(from)
    .filter((x) => x.startsWith('installRxSa '))
    .map((x) => {
      const f = Object.fromEntries(
        x
          .split(' ')
          .slice(1)
          .map((kv) => kv.split('=') as [string, string]),
      );
      return { sci: f.sci!, ki: f.ki!, lowestPn: f.lowestPn! };
    });
}

const keysOf = (m: SimMember): string[] => {
  const st = m.kay.status();
  return [st.latestKey?.ki, st.oldKey?.ki].filter((k): k is string => !!k);
};

// n members; `ksIndex` (1-based) gets the best priority; member `restartIndex` restarts.
const CASES: { n: number; ks: number; restart: number; title: string; xpn?: boolean; rekeyFirst?: boolean }[] = [
  { n: 2, ks: 1, restart: 2, title: '2 members, the restarted peer was not the key server' },
  { n: 2, ks: 1, restart: 1, title: '2 members, the restarted peer was the key server' },
  // after a rekey the key in use has AN 1, while the restarted key server starts again at AN 0
  { n: 2, ks: 1, restart: 1, title: '2 members, after a rekey, the restarted peer was the key server', rekeyFirst: true },
  { n: 3, ks: 1, restart: 3, title: '3 members, the restarted peer was not the key server' },
  { n: 3, ks: 2, restart: 2, title: '3 members, the restarted peer was the key server' },
  { n: 3, ks: 1, restart: 2, title: 'XPN, 3 members, the restarted peer was not the key server', xpn: true },
  { n: 2, ks: 1, restart: 1, title: 'XPN, 2 members, the restarted peer was the key server', xpn: true },
];

describe('peer restart (same SCI, new MI): no replay of pre-restart frames, a new SAK', () => {
  for (const c of CASES) {
    for (const when of ['quick', 'after-expiry'] as const) {
      if (when === 'after-expiry' && c.n === 2) continue; // alone, the survivor drops its keys
      it(`${c.title} (${when === 'quick' ? 'restart within the life time' : 'restart after the old MI expired'})`, () => {
        const prio = (i: number) => ({ priority: i === c.ks ? 8 : 16, ...(c.xpn ? { cipherSuite: 'GCM-AES-XPN-128' as const } : {}) });
        const l = lan(c.n, prio);
        l.startAll();
        expect(l.runUntilQuiescent(10_000)).toBe(true);
        const r = l.member(NAMES[c.restart - 1]!);
        const ks = l.member(NAMES[c.ks - 1]!);
        expect(ks.kay.status().keyServer?.self).toBe(true);
        if (c.rekeyFirst) {
          l.command(ks, (k, now) => k.forceRekey(now));
          expect(l.runUntilQuiescent(15_000)).toBe(true);
          expect(r.secy.transmitting()?.an).toBe(1);
        }
        const survivors = l.members.filter((m) => m !== r);
        const oldMi = r.kay.status().mi;
        const preKis = new Set(l.members.flatMap(keysOf));
        const preKn = Math.max(...[ks.kay.status().latestKey, ks.kay.status().oldKey].map((k) => k?.kn ?? 0));
        // The old incarnation sends 30 protected frames; an attacker records them.
        const captured = sendAndCapture(l, r, 30n);
        expect(captured).toHaveLength(c.n - 1);
        const logMark = new Map(survivors.map((m) => [m.name, m.secy.log.length]));

        l.crash(r);
        l.runFor(when === 'quick' ? 500 : 8_000);
        l.restart(r, cfg(c.restart, { ...prio(c.restart), random: seededRandom(4242 + c.restart) }));
        expect(r.kay.status().mi).not.toBe(oldMi);
        // At no instant after the restart may a survivor accept a replay of the old frames.
        l.addChecker(() => captured.filter(replayAccepted).map((x) => `${x.to.name} would accept a replay of ${r.name}'s pre-restart frames (AN ${x.an})`));

        expect(l.runUntilConverged(15_000)).toBe(true);
        expect(l.runUntilQuiescent(15_000)).toBe(true);
        l.addChecker(noGap(l.members.map((m) => m.name)));
        l.runFor(10_000);

        // (a) no RX SA for the restarted SCI with a pre-restart SAK
        for (const m of survivors) {
          const bad = rxInstalls(m, logMark.get(m.name)).filter((x) => x.sci === r.sci && preKis.has(x.ki));
          expect(bad, `${m.name} installed a pre-restart SAK for ${r.name}`).toEqual([]);
        }
        // (b) a new SAK from the key server (a new KI; a new KN when the key server kept its MI)
        const tx = r.secy.transmitting()!;
        expect(preKis.has(tx.ki)).toBe(false);
        const newKs = l.active().find((m) => m.kay.status().keyServer?.self)!;
        expect(newKs.name).toBe(ks.name);
        expect(tx.ki.startsWith(newKs.kay.status().mi)).toBe(true);
        if (r !== ks) {
          expect(parseInt(tx.ki.slice(24), 16)).toBeGreaterThan(preKn);
          expect(l.eventsOf(ks.name, 'rekey').map((e) => (e as { reason: string }).reason)).toContain('peer-change');
        }
        // (c) re-secured with the new key, no replay ever possible, nothing else amiss
        expect(l.converged()).toBe(true);
        for (const m of l.members) expect(m.secy.transmitting()?.ki).toBe(tx.ki);
        expectOnlyCurrentKey(l);
        expect(captured.filter(replayAccepted)).toEqual([]);
        expect(l.violations).toEqual([]);
      });
    }
  }

  it('a survivor never installs an RX SA for the same SCI and key twice (replay window reopened)', () => {
    for (const c of CASES) {
      const l = lan(c.n, (i) => ({ priority: i === c.ks ? 8 : 16 }));
      l.startAll();
      expect(l.runUntilQuiescent(10_000)).toBe(true);
      const r = l.member(NAMES[c.restart - 1]!);
      for (let round = 0; round < 3; round++) {
        l.crash(r);
        l.runFor(300);
        l.restart(r, cfg(c.restart, { priority: c.restart === c.ks ? 8 : 16, random: seededRandom(900 + round) }));
        expect(l.runUntilQuiescent(20_000)).toBe(true);
      }
      for (const m of l.members.filter((x) => x !== r)) {
        const seen = new Set<string>();
        for (const x of rxInstalls(m)) {
          const k = `${x.sci}/${x.ki}`;
          expect(seen.has(k), `${m.name}: second RX SA for ${k}`).toBe(false);
          seen.add(k);
        }
      }
      expect(l.violations).toEqual([]);
    }
  });
});
