import { describe, expect, it } from 'vitest';
import { CAK, CKN, cfg, expectOnlyCurrentKey, lan, mac, noGap } from './helpers.js';
import { SimulatedSecy, seededRandom } from '../../src/mka/sim/index.js';
import { ALGORITHM_AGILITY_8021X_2010, PAE_GROUP_ADDRESS } from '../../src/mka/constants.js';
import { deriveIck } from '../../src/mka/crypto.js';
import { fromHex } from '../../src/common/hex.js';
import { Kay } from '../../src/mka/kay.js';
import { encodeMkpdu } from '../../src/mka/mkpdu.js';
import type { SecyAction } from '../../src/mka/secy.js';

describe('peer liveness', () => {
  it('a peer that stops sending expires after the life time: peerLost, RX SC deleted', () => {
    const l = lan(3);
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    const c = l.member('c');
    const cMi = l.status('c').mi;
    const t0 = l.now;
    l.crash(c);
    l.runFor(4_000);
    expect(l.eventsOf('a', 'peerLost')).toEqual([]);
    l.runFor(4_000);
    for (const n of ['a', 'b']) {
      const m = l.member(n);
      const lost = m.events.filter((e) => e.event.kind === 'peerLost');
      expect(lost.map((e) => e.event)).toEqual([{ kind: 'peerLost', sci: c.sci, mi: cMi }]);
      // last MKPDU from c was at most one hello time before the crash
      expect(lost[0]!.at - t0).toBeGreaterThan(6_000 - 2_000 - 1);
      expect(lost[0]!.at - t0).toBeLessThanOrEqual(6_000);
      expect(m.secy.rxScs.has(c.sci)).toBe(false);
      expect(m.secy.log.some((x) => x === `deleteRxSc sci=${c.sci}`)).toBe(true);
      expect(m.kay.status().livePeers.map((p) => p.sci)).toEqual([n === 'a' ? l.member('b').sci : l.member('a').sci]);
      expect(m.kay.status().counters.peersLost).toBe(1);
    }
    expect(l.violations).toEqual([]);
  });

  it('a peer that returns with a new MI is accepted and re-secured', () => {
    const l = lan(2);
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    const b = l.member('b');
    const oldMi = l.status('b').mi;
    l.crash(b);
    l.runFor(8_000);
    expect(l.status('a').livePeers).toEqual([]);
    expect(l.status('a').secured).toBe(false);
    l.restart(b, cfg(2, { random: seededRandom(77) }));
    expect(l.status('b').mi).not.toBe(oldMi);
    expect(l.runUntilConverged(5_000)).toBe(true);
    expect(l.status('a').livePeers.map((p) => p.mi)).toEqual([l.status('b').mi]);
    const live = l.eventsOf('a', 'peerLive') as { mi: string }[];
    expect(live.map((e) => e.mi)).toEqual([oldMi, l.status('b').mi]);
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    expectOnlyCurrentKey(l);
    expect(l.violations).toEqual([]);
  });

  it('a quick restart (new MI, same SCI, before the old MI expired) replaces the old peer at once', () => {
    const l = lan(3);
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    l.addChecker(noGap(['a', 'b']));
    const c = l.member('c');
    const oldMi = l.status('c').mi;
    l.crash(c);
    l.runFor(500);
    l.restart(c, cfg(3, { random: seededRandom(99) }));
    const t0 = l.now;
    expect(l.runUntilConverged(5_000)).toBe(true);
    expect(l.now - t0).toBeLessThan(500);
    const lost = l.eventsOf('a', 'peerLost') as { mi: string }[];
    expect(lost.map((e) => e.mi)).toEqual([oldMi]);
    expect(l.status('a').livePeers.length).toBe(2);
    expect(l.violations).toEqual([]);
  });

  it('must-secure: losing the last peer deletes the keys and closes the controlled port', () => {
    const l = lan(2);
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    const a = l.member('a');
    expect(a.secy.controlledPortEnabled).toBe(true);
    l.crash(l.member('b'));
    l.runFor(7_000);
    expect(l.eventsOf('a', 'unsecured')).toEqual([{ kind: 'unsecured', reason: 'no live peers' }]);
    expect(a.secy.controlledPortEnabled).toBe(false);
    expect(a.secy.txSas.size).toBe(0);
    expect(a.secy.rxScs.size).toBe(0);
    expect(a.kay.status().secured).toBe(false);
    expect(a.kay.status().oldKey).toBeNull();
  });

  it('should-secure: open unprotected without a peer, protected once secured, unprotected again when alone', () => {
    const l = lan(2, { policy: 'should-secure' });
    const a = l.member('a');
    l.start(a);
    expect(a.secy.controlledPortEnabled).toBe(true);
    expect(a.secy.protectFrames).toBe(false);
    expect(a.secy.validate).toBe('check');
    l.runFor(3_000);
    expect(a.secy.controlledPortEnabled).toBe(true);
    l.start(l.member('b'));
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    expect(a.secy.protectFrames).toBe(true);
    // the port never closed on the way
    expect(a.secy.log.filter((x) => x.startsWith('setControlledPortEnabled'))).toEqual(['setControlledPortEnabled enabled=true']);
    l.crash(l.member('b'));
    l.runFor(7_000);
    expect(a.secy.controlledPortEnabled).toBe(true);
    expect(a.secy.protectFrames).toBe(false);
  });

  it('must-secure never opens the controlled port without protection', () => {
    const l = lan(2);
    const a = l.member('a');
    l.addChecker((ln) => (a.secy.controlledPortEnabled && (!a.secy.protectFrames || !a.secy.transmitting()) ? ['a: port open without protection'] : []));
    l.start(a);
    l.runFor(10_000);
    l.start(l.member('b'));
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    l.crash(l.member('b'));
    l.runFor(10_000);
    expect(l.violations).toEqual([]);
  });

  it('stop(): SAs and SCs deleted, port closed, no more MKPDUs; the peer notices after its life time', () => {
    const l = lan(2);
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    const b = l.member('b');
    l.stop(b);
    expect(b.secy.txSas.size).toBe(0);
    expect(b.secy.rxScs.size).toBe(0);
    expect(b.secy.controlledPortEnabled).toBe(false);
    expect(b.kay.nextDeadline()).toBe(Infinity);
    const sent = b.framesSent;
    l.runFor(8_000);
    expect(b.framesSent).toBe(sent);
    expect(l.eventsOf('a', 'peerLost').length).toBe(1);
    expect(b.secy.errors).toEqual([]);
  });
});

describe('peers that do not want MACsec', () => {
  const ick = deriveIck(CAK, CKN);
  const fromPeer = (kay: Kay, mn: number, desired: boolean) =>
    encodeMkpdu(
      {
        dst: PAE_GROUP_ADDRESS,
        src: mac(7),
        eapolVersion: 3,
        basic: {
          type: 'basic',
          version: 2,
          priority: 16,
          keyServer: true,
          macsecDesired: desired,
          macsecCapability: desired ? 3 : 0,
          sci: { mac: mac(7), port: 1 },
          actor: { mi: new Uint8Array(12).fill(7), mn },
          algorithmAgility: ALGORITHM_AGILITY_8021X_2010,
          ckn: CKN,
        },
        sets: [{ type: 'potentialPeers', keyServerSsci: 0, peers: [{ mi: fromHex(kay.status().mi), mn: kay.status().mn }] }],
        icvIndicator: false,
      },
      ick,
    );

  for (const policy of ['must-secure', 'should-secure'] as const) {
    it(`${policy}: a live peer without MACsec gets no SAK; the port is ${policy === 'must-secure' ? 'closed' : 'open, unprotected'}`, () => {
      const k = new Kay(cfg(1, { policy }));
      const secy = new SimulatedSecy();
      const apply = (o: { actions: SecyAction[] }) => o.actions.forEach((a) => secy.applySync(a));
      apply(k.start(0));
      const out = k.receive(fromPeer(k, 1, false), 100);
      apply(out);
      expect(k.status().livePeers.map((p) => p.macsecDesired)).toEqual([false]);
      apply(k.tick(2_000));
      expect(k.status().keyServer?.self).toBe(true);
      expect(k.status().latestKey ?? k.status().oldKey).toBeNull();
      expect(secy.txSas.size).toBe(0);
      expect(secy.controlledPortEnabled).toBe(policy === 'should-secure');
      expect(secy.protectFrames).toBe(policy === 'must-secure');
      // the same peer asking for MACsec gets a SAK
      const o2 = k.receive(fromPeer(k, 2, true), 2_100);
      apply(o2);
      apply(k.tick(k.nextDeadline()));
      expect((k.status().latestKey ?? k.status().oldKey)?.kn).toBe(1);
      expect(secy.txSas.size).toBe(1);
    });
  }
});
