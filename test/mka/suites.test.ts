import { describe, expect, it } from 'vitest';
import { CIPHER_SUITES } from '../../src/mka/constants.js';
import { deriveXpnSalt } from '../../src/mka/crypto.js';
import { fromHex, toHex } from '../../src/common/hex.js';
import { decodeMkpdu, findSet } from '../../src/mka/mkpdu.js';
import type { SimLan } from '../../src/mka/sim/index.js';
import { CAK, CAK256, CKN, expectOnlyCurrentKey, lan, rekeyEvents } from './helpers.js';

function decodedFrom(l: SimLan, name: string) {
  return l.frames
    .filter((f) => f.from === name)
    .map((f) => {
      const d = decodeMkpdu(f.frame);
      if (!d.ok) throw new Error(String(d.error));
      return d.value;
    });
}

function distSak(l: SimLan, name: string) {
  const d = decodedFrom(l, name).find((p) => findSet(p, 'distributedSak'));
  return d && { pdu: d, set: findSet(d, 'distributedSak')! };
}

describe('cipher suites and offsets', () => {
  it('GCM-AES-256 with a 256-bit CAK: 256-bit SAK, suite carried in the Distributed SAK', () => {
    const l = lan(3, { cipherSuite: 'GCM-AES-256', primary: { cak: CAK256, ckn: CKN } });
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    expectOnlyCurrentKey(l);
    for (const m of l.members) {
      expect(m.secy.cipherSuite).toBe('GCM-AES-256');
      expect(m.secy.transmitting()!.sak.length).toBe(32);
      for (const sc of m.secy.rxScs.values()) for (const sa of sc.values()) expect(sa.ssci).toBeUndefined();
    }
    const { set, pdu } = distSak(l, 'a')!;
    expect(set.cipherSuite).toBe(CIPHER_SUITES['GCM-AES-256'].id);
    expect(set.wrappedSak.length).toBe(40);
    expect(pdu.basic.version).toBe(1); // the suite field is 802.1X-2010's own
    expect(l.violations).toEqual([]);
  });

  it('GCM-AES-128 (default) sends the 28-octet Distributed SAK without a suite field', () => {
    const l = lan(2);
    l.startAll();
    expect(l.runUntilConverged(10_000)).toBe(true);
    const { set } = distSak(l, 'a')!;
    expect(set.cipherSuite).toBeNull();
    expect(set.wrappedSak.length).toBe(24);
    expect(set.confidentialityOffset).toBe(1); // offset 0
  });

  it('GCM-AES-256 with a 128-bit CAK also works (SAK length follows the suite)', () => {
    const l = lan(2, { cipherSuite: 'GCM-AES-256', primary: { cak: CAK, ckn: CKN } });
    l.startAll();
    expect(l.runUntilConverged(10_000)).toBe(true);
    expect(l.member('b').secy.transmitting()!.sak.length).toBe(32);
  });

  for (const suite of ['GCM-AES-XPN-128', 'GCM-AES-XPN-256'] as const) {
    it(`${suite}: SSCI by ascending SCI, salt from key server MI and KN, XPN parameter set`, () => {
      // c (highest SCI) is key server, so positions in its Live Peer List skip its own SSCI 3
      const l = lan(3, (i) => ({
        cipherSuite: suite,
        primary: { cak: suite === 'GCM-AES-XPN-256' ? CAK256 : CAK, ckn: CKN },
        priority: i === 3 ? 1 : 16,
      }));
      l.startAll();
      expect(l.runUntilQuiescent(10_000)).toBe(true);
      expectOnlyCurrentKey(l);
      const ks = l.status('c');
      expect(ks.keyServer?.self).toBe(true);
      const key = ks.oldKey!;
      const want = { [l.member('a').sci]: 1, [l.member('b').sci]: 2, [l.member('c').sci]: 3 };
      expect(key.ssci).toEqual(want);
      const salt = toHex(deriveXpnSalt(fromHex(ks.mi), key.kn));
      for (const m of l.members) {
        expect(m.secy.cipherSuite).toBe(suite);
        expect(m.kay.status().oldKey!.ssci).toEqual(want); // non key servers derived the same map
        const tx = m.secy.transmitting()!;
        expect(tx.sak.length).toBe(CIPHER_SUITES[suite].keyLen);
        expect(tx.ssci).toBe(want[m.sci]);
        expect(toHex(tx.salt!)).toBe(salt);
        for (const [sci, sc] of m.secy.rxScs) {
          for (const sa of sc.values()) {
            expect(sa.ssci).toBe(want[sci]);
            expect(toHex(sa.salt!)).toBe(salt);
          }
        }
      }
      const { set, pdu } = distSak(l, 'c')!;
      expect(set.cipherSuite).toBe(CIPHER_SUITES[suite].id);
      expect(pdu.basic.version).toBe(3);
      const live = findSet(pdu, 'livePeers')!;
      expect(live.keyServerSsci).toBe(3);
      expect(live.peers.map((p) => toHex(p.mi))).toEqual([l.status('a').mi, l.status('b').mi]);
      const lastA = decodedFrom(l, 'a').at(-1)!;
      expect(findSet(lastA, 'xpn')).toMatchObject({ type: 'xpn', suspendedFor: 0 });
      expect(findSet(lastA, 'livePeers')!.keyServerSsci).toBe(0);
      expect(l.violations).toEqual([]);
    });
  }

  it('XPN: PN exhaustion threshold defaults to three quarters of 2^64 and the high PN bits travel in the XPN set', () => {
    const l = lan(2, (i) => ({ cipherSuite: 'GCM-AES-XPN-128', priority: i === 2 ? 1 : 16 }));
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    const a = l.member('a'); // not the key server
    const an = a.secy.transmitting()!.an;
    a.secy.setNextPn(an, 0x5_0000_0010n); // beyond 32 bits: no rekey for XPN
    l.runFor(5_000);
    expect(rekeyEvents(l, 'b')).toEqual([]);
    const last = decodedFrom(l, 'a').at(-1)!;
    expect(findSet(last, 'xpn')!.oldLowestPnHigh).toBe(5);
    expect(findSet(last, 'sakUse')!.old.lowestPn).toBe(0x0f);
    a.secy.setNextPn(an, 2n ** 62n + 1n); // a quarter of the space: not yet
    l.runFor(5_000);
    expect(rekeyEvents(l, 'b')).toEqual([]);
    a.secy.setNextPn(an, 0xc000000000000001n);
    expect(l.runUntil(() => rekeyEvents(l, 'b').length === 1, 5_000)).toBe(true);
    expect(rekeyEvents(l, 'b')[0]!.reason).toBe('pn-exhaustion');
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    expect(l.violations).toEqual([]);
  });

  for (const [offset, code] of [
    [null, 0],
    [0, 1],
    [30, 2],
    [50, 3],
  ] as const) {
    it(`confidentiality offset ${offset === null ? 'none (integrity only)' : offset}: code ${code} on the wire, applied by every member`, () => {
      // only the key server's setting matters; b and c are configured differently
      // a SecY with offsets 30 and 50 (capability 3); the Linux SecY has 0 only (capability 2)
      const l = lan(3, (i) => ({ macsecCapability: 3, confidentialityOffset: i === 1 ? offset : 0 }));
      l.startAll();
      expect(l.runUntilQuiescent(10_000)).toBe(true);
      expect(distSak(l, 'a')!.set.confidentialityOffset).toBe(code);
      for (const m of l.members) {
        expect(m.secy.confidentialityOffset).toBe(offset);
        expect(m.kay.status().confidentialityOffset).toBe(offset);
        expect(m.kay.status().oldKey!.confidentialityOffset).toBe(offset);
      }
    });
  }

  it('a non key server follows the suite the key server distributes', () => {
    const l = lan(2, (i) => ({ cipherSuite: i === 1 ? 'GCM-AES-256' : 'GCM-AES-128' }));
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    expect(l.member('b').secy.cipherSuite).toBe('GCM-AES-256');
    expect(l.member('b').secy.transmitting()!.sak.length).toBe(32);
  });
});
