/**
 * Unit tests of the key server's pure decisions (src/mka/key-server.ts) and of the Distributed
 * SAK they produce, opened by a member (src/mka/distributed-sak.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CIPHER_SUITES, type CipherSuiteName } from '../../src/mka/constants.js';
import { deriveKek, wrapKey } from '../../src/mka/crypto.js';
import { openDistributedSak, type SakReceiver } from '../../src/mka/distributed-sak.js';
import { toHex } from '../../src/common/hex.js';
import type { RekeyReason } from '../../src/mka/kay-types.js';
import { KeyServerState, type KeyServerView, chooseOffset, distributedSakSet, electedKeyServer, keyServerSsciOctet } from '../../src/mka/key-server.js';
import { type Peer, PeerTable } from '../../src/mka/peers.js';
import type { KeyState } from '../../src/mka/sak.js';
import type { DistributedSakParamSet, PeerListParamSet } from '../../src/mka/types.js';
import { livePeer, ME, ourKey, reporting } from '../support/mka-members.js';
import { CAK, CKN } from './helpers.js';

const KEK = deriveKek(CAK, CKN);

const view = (over: Partial<KeyServerView>): KeyServerView => ({
  lifeTimeMs: 6_000,
  potentialPending: false,
  live: [],
  latest: null,
  old: null,
  mi: ME.mi,
  rekeyPeriodMs: 0,
  pnExhaustionThreshold: 0xc0000000n,
  ...over,
});

describe('election outcome', () => {
  it('nobody without live peers; ourselves or the winning peer with its MI and priority', () => {
    const me = { priority: 16, sciHex: ME.sciHex, miHex: toHex(ME.mi) };
    expect(electedKeyServer(me, [])).toBeNull();
    expect(electedKeyServer(me, [livePeer(7)])).toEqual({ self: true, sciHex: ME.sciHex, miHex: me.miHex, priority: 16 });
    const better = livePeer(7, { priority: 3 });
    expect(electedKeyServer(me, [better])).toEqual({ self: false, sciHex: better.sciHex, miHex: better.miHex, priority: 3 });
    expect(electedKeyServer(me, [livePeer(7, { keyServer: false, priority: 0 })])?.self).toBe(true);
  });
});

describe('when a new SAK is due', () => {
  it('nothing without live MACsec-capable peers; the first key once there are', () => {
    const s = new KeyServerState();
    expect(s.duty(view({}), 0)).toBeNull();
    expect(s.duty(view({ live: [livePeer(7, { macsecDesired: false })] }), 0)).toBeNull();
    expect(s.duty(view({ live: [livePeer(7, { macsecCapability: 0 })] }), 0)).toBeNull();
    expect(s.duty(view({ live: [livePeer(7)] }), 0)).toBe('initial');
  });

  it('a changed live set, or keys of a former key server, call for a key for the new set', () => {
    const s = new KeyServerState();
    const [b, c] = [livePeer(7), livePeer(8)];
    const k = ourKey([b]);
    expect(s.duty(view({ live: [b], latest: k }), 0)).toBeNull();
    expect(s.duty(view({ live: [b, c], latest: k }), 0)).toBe('peer-change');
    expect(s.duty(view({ live: [c], old: k }), 0)).toBe('peer-change');
    const theirs = { ...k, ki: { mi: b.mi, kn: 1 } };
    expect(s.duty(view({ live: [b], old: theirs }), 0)).toBe('peer-change');
    s.requestRekey('forced');
    expect(s.duty(view({ live: [b], old: theirs }), 0)).toBe('forced');
    expect(s.duty(view({ live: [b], latest: k }), 0)).toBe('forced');
  });

  it('the rekey period counts from the switch to the key in use, and only for the newest key', () => {
    const s = new KeyServerState();
    const b = livePeer(7);
    const k = Object.assign(ourKey([b]), { tx: true, txAt: 1_000 });
    const v = view({ live: [b], latest: k, rekeyPeriodMs: 5_000 });
    expect(s.duty(v, 5_999)).toBeNull();
    expect(s.duty(v, 6_000)).toBe('period');
    const next = ourKey([b], 2, 1);
    expect(s.duty({ ...v, latest: next, old: k }, 6_000)).toBeNull();
    expect(s.duty({ ...v, rekeyPeriodMs: 0 }, 60_000)).toBeNull();
  });

  it('a peer reporting a lowest PN at the threshold exhausts the key in use, once (XPN: high half counts)', () => {
    const s = new KeyServerState();
    const k = Object.assign(ourKey([livePeer(7)], 1, 0, 'GCM-AES-XPN-128'), { tx: true, txAt: 0 });
    const below = livePeer(7, {
      sakUse: reporting(k, { tx: true, lowestPn: 0xffffffff }),
      xpn: { type: 'xpn', suspendedFor: 0, latestLowestPnHigh: 0, oldLowestPnHigh: 0 },
    });
    const v = (p: Peer) => view({ live: [p], latest: k, pnExhaustionThreshold: 1n << 32n });
    expect(s.duty(v(below), 0)).toBeNull();
    expect(k.exhausted).toBe(false);
    const at = livePeer(7, {
      sakUse: reporting(k, { tx: true, lowestPn: 0 }),
      xpn: { type: 'xpn', suspendedFor: 0, latestLowestPnHigh: 1, oldLowestPnHigh: 0 },
    });
    expect(s.duty(v(at), 0)).toBe('pn-exhaustion');
    expect(k.exhausted).toBe(true);
    expect(s.duty(v(at), 0)).toBeNull();
  });

  it('a pending rekey keeps the first reason that is more than a membership change', () => {
    const reason = fc.constantFrom<RekeyReason>('peer-change', 'period', 'pn-exhaustion', 'forced');
    fc.assert(
      fc.property(fc.array(reason, { maxLength: 8 }), (rs) => {
        const s = new KeyServerState();
        for (const r of rs) s.requestRekey(r);
        const strong = rs.find((r) => r !== 'peer-change');
        expect(s.pendingRekey).toBe(strong ?? (rs.length > 0 ? 'peer-change' : null));
      }),
    );
  });
});

describe('numbering and confidentiality offset', () => {
  it('KNs count up from 1; an AN never collides with the old key still in use and cycles otherwise', () => {
    fc.assert(
      fc.property(fc.array(fc.option(fc.integer({ min: 0, max: 3 })), { minLength: 1, maxLength: 20 }), (olds) => {
        const s = new KeyServerState();
        let prevAn: number | null = null;
        olds.forEach((oldAn, i) => {
          const old = oldAn === null ? null : ({ an: oldAn } as KeyState);
          const { kn, an } = s.allocate(old);
          expect(kn).toBe(i + 1);
          expect(an).toBeGreaterThanOrEqual(0);
          expect(an).toBeLessThanOrEqual(3);
          if (old) expect(an).not.toBe(old.an);
          const natural = prevAn === null ? 0 : (prevAn + 1) & 3;
          expect(an).toBe(old && old.an === natural ? (natural + 1) & 3 : natural);
          prevAn = an;
        });
      }),
    );
  });

  it('the offset drops to what the least capable live peer supports', () => {
    expect(chooseOffset(50, [livePeer(7), livePeer(8)])).toBe(50);
    expect(chooseOffset(50, [livePeer(7), livePeer(8, { macsecCapability: 2 })])).toBe(0);
    expect(chooseOffset(null, [livePeer(8, { macsecCapability: 2 })])).toBeNull();
    expect(chooseOffset(30, [livePeer(7, { macsecCapability: 1 }), livePeer(8, { macsecCapability: 2 })])).toBeNull();
  });
});

describe('Distributed SAK', () => {
  it('is sent while the key is for the live set and some member has not confirmed it', () => {
    const [b, c] = [livePeer(7), livePeer(8)];
    const k = ourKey([b, c]);
    expect(distributedSakSet(k, [b, c], KEK)).toMatchObject({ type: 'distributedSak', an: k.an, kn: 1, plain: false, cipherSuite: null });
    expect(distributedSakSet(k, [b], KEK)).toBeNull(); // a new key is on its way
    expect(distributedSakSet(k, [b, c, livePeer(9)], KEK)).toBeNull();
    b.sakUse = reporting(k);
    expect(distributedSakSet(k, [b, c], KEK)).not.toBeNull();
    c.sakUse = reporting(k);
    expect(distributedSakSet(k, [b, c], KEK)).toBeNull();
  });

  it('a member opens what the key server distributed: same SAK, AN, KN, suite, offset and XPN SSCIs', () => {
    const suites = Object.keys(CIPHER_SUITES) as CipherSuiteName[];
    fc.assert(
      fc.property(
        fc.constantFrom(...suites),
        fc.uniqueArray(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 5 }).filter((xs) => !xs.includes(5)),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 1, max: 0xffffffff }),
        (suite, macs, an, kn) => {
          const members = macs.map((i) => livePeer(i)).sort((x, y) => (x.sciHex < y.sciHex ? -1 : 1)); // Live Peer List order
          const k = ourKey(members, kn, an, suite);
          const set = distributedSakSet(k, members, KEK)!;
          // The key server's Live Peer List in the same MKPDU, as the member receiving it sees it.
          const liveList: PeerListParamSet = {
            type: 'livePeers',
            keyServerSsci: keyServerSsciOctet(k, ME.mi, ME.sciHex),
            peers: members.map((p) => ({ mi: p.mi, mn: p.mn })),
          };
          const me = members[0]!;
          const server = livePeer(5, { mi: ME.mi, miHex: toHex(ME.mi) });
          const table = new PeerTable();
          for (const p of [server, ...members.slice(1)]) table.add(p);
          const r = openDistributedSak(set, liveList, server, { kek: KEK, mi: me.mi, sciHex: me.sciHex, capability: 3, peers: table, known: () => false }, 7);
          if (r.kind !== 'key') throw new Error(`not opened: ${JSON.stringify(r)}`);
          expect(toHex(r.key.sak)).toBe(toHex(k.sak));
          expect(r.key).toMatchObject({ an: k.an, kiHex: k.kiHex, cipherSuite: suite, confidentialityOffset: k.confidentialityOffset, createdAt: 7 });
          expect([...r.key.holders].sort()).toEqual([toHex(ME.mi), ...members.map((p) => p.miHex)].sort());
          expect(Object.fromEntries(r.key.ssci)).toEqual(Object.fromEntries(k.ssci));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('unusable sets are ignored with a reason; known keys silently; plain text is reported', () => {
    const b = livePeer(7);
    const server = livePeer(5, { mi: ME.mi, miHex: toHex(ME.mi) });
    const rx = (known = false): SakReceiver => ({ kek: KEK, mi: b.mi, sciHex: b.sciHex, capability: 3, peers: new PeerTable(), known: () => known });
    const k = ourKey([b]);
    const good = distributedSakSet(k, [b], KEK)!;
    const list = (ssci: number, who = b): PeerListParamSet => ({ type: 'livePeers', keyServerSsci: ssci, peers: [{ mi: who.mi, mn: 1 }] });
    const open = (set: DistributedSakParamSet, r = rx(), l = list(0)) => openDistributedSak(set, l, server, r, 0);
    expect(open(good).kind).toBe('key');
    expect(open({ ...good, plain: true })).toEqual({ kind: 'plain' });
    expect(open(good, rx(true))).toEqual({ kind: 'ignored' });
    expect(open({ ...good, cipherSuite: 0x1234n })).toEqual({ kind: 'ignored', reason: 'Distributed SAK with unsupported cipher suite 0x1234' });
    expect(open({ ...good, cipherSuite: CIPHER_SUITES['GCM-AES-256'].id })).toEqual({
      kind: 'ignored',
      reason: 'Distributed SAK wrap of 24 octets does not fit GCM-AES-256',
    });
    expect(open({ ...good, wrappedSak: wrapKey(new Uint8Array(16).fill(1), k.sak) })).toEqual({ kind: 'ignored', reason: 'Distributed SAK failed to unwrap' });
    const xk = ourKey([b], 2, 1, 'GCM-AES-XPN-128');
    const xset = distributedSakSet(xk, [b], KEK)!;
    expect(open(xset, rx(), list(0))).toEqual({ kind: 'ignored', reason: 'XPN Distributed SAK without a key server SSCI' });
    // Any suite: a key distributed to others (our MI not in that MKPDU's Live Peer List) is not ours to use.
    expect(open(xset, rx(), list(2, livePeer(9)))).toEqual({
      kind: 'ignored',
      reason: 'Distributed SAK not addressed to us (our MI is not in the key server Live Peer List)',
    });
    expect(open(good, rx(), list(0, livePeer(9)))).toEqual({
      kind: 'ignored',
      reason: 'Distributed SAK not addressed to us (our MI is not in the key server Live Peer List)',
    });
    expect(open(xset, rx(), list(2)).kind).toBe('key');
  });

  it('the Live Peer List carries our SSCI only for our own XPN key', () => {
    const b = livePeer(7);
    expect(keyServerSsciOctet(null, ME.mi, ME.sciHex)).toBe(0);
    expect(keyServerSsciOctet(ourKey([b]), ME.mi, ME.sciHex)).toBe(0);
    const xk = ourKey([b], 1, 0, 'GCM-AES-XPN-256');
    expect(keyServerSsciOctet(xk, ME.mi, ME.sciHex)).toBe(xk.ssci.get(ME.sciHex));
    expect(keyServerSsciOctet(xk, b.mi, ME.sciHex)).toBe(0);
  });
});
