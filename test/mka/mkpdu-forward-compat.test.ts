/**
 * Forward compatibility of the MKPDU decoder (802.1X-2020 11.11.3/11.11.4): a parameter set we
 * cannot use is ignored, the rest of the MKPDU still counts. Only a structurally broken MKPDU
 * (lengths running past the end, a bad Basic Parameter Set or ICV Indicator) is rejected.
 */
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../src/common/hex.js';
import { PS_ANNOUNCEMENT, PS_DISTRIBUTED_CAK, PS_DISTRIBUTED_SAK, PS_LIVE_PEERS, PS_POTENTIAL_PEERS, PS_SAK_USE, PS_XPN } from '../../src/mka/constants.js';
import { deriveIck } from '../../src/mka/crypto.js';
import { decodeMkpdu, encodeMkpdu, findSet } from '../../src/mka/mkpdu.js';
import type { DecodedMkpdu, ParamSet } from '../../src/mka/types.js';
import { peerMkpdu, SAMPLE_ICK } from '../support/mkpdu-fixtures.js';
import { CAK, CKN, lan } from './helpers.js';

const basic = {
  sci: { mac: fromHex('020000000001'), port: 1 },
  actor: { mi: fromHex('0102030405060708090a0b0c'), mn: 7 },
  ckn: fromHex('96437a93ccf10d9dfe347846cce52c7d'),
};
const peerA = { mi: fromHex('aabbccddeeff001122334455'), mn: 3 };
const peerB = { mi: fromHex('bbbbbbbbbbbbbbbbbbbbbbbb'), mn: 9 };
const live: ParamSet = { type: 'livePeers', keyServerSsci: 0, peers: [peerA] };

/** A parameter set of any type with any body, written as-is by the encoder. */
const raw = (typeCode: number, body: Uint8Array | number, octet2 = 0): ParamSet => ({
  type: 'unknown',
  typeCode,
  octet2,
  body: typeof body === 'number' ? Uint8Array.from({ length: body }, (_, i) => i + 1) : body,
});

function decode(sets: ParamSet[], opts?: { cakLength?: number }): DecodedMkpdu {
  const r = decodeMkpdu(encodeMkpdu(peerMkpdu(basic, sets), SAMPLE_ICK), opts);
  if (!r.ok) throw new Error(r.error.toString());
  return r.value;
}

describe('MKPDU decoder forward compatibility', () => {
  it('a well-formed MKPDU has no ignored sets', () => {
    expect(decode([live]).ignored).toEqual([]);
  });

  it('SAK Use longer than 40 octets: the first 40 are used, the rest ignored', () => {
    const body = new Uint8Array(48).fill(0xee);
    body.set(fromHex('111111111111111111111111'), 0); // latest KI MI
    body.set([0, 0, 0, 5, 0, 0, 0, 9], 12); // latest KN 5, lowest PN 9
    body.set(fromHex('222222222222222222222222'), 20); // old KI MI
    body.set([0, 0, 0, 4, 0, 0, 1, 0], 32); // old KN 4, lowest PN 256
    const d = decode([live, raw(PS_SAK_USE, body, 0x70)]);
    const u = findSet(d, 'sakUse')!;
    expect(u.hasKeys).toBe(true);
    expect(u.latest).toEqual({ an: 1, tx: true, rx: true, ki: { mi: fromHex('111111111111111111111111'), kn: 5 }, lowestPn: 9 });
    expect(u.old).toEqual({ an: 0, tx: false, rx: false, ki: { mi: fromHex('222222222222222222222222'), kn: 4 }, lowestPn: 256 });
    expect(d.ignored).toEqual([]);
    expect(findSet(d, 'livePeers')!.peers).toEqual([peerA]);
  });

  it.each([1, 4, 20, 39])('SAK Use of %i octets is ignored, the MKPDU is not', (n) => {
    const d = decode([live, raw(PS_SAK_USE, n)]);
    expect(findSet(d, 'sakUse')).toBeUndefined();
    expect(findSet(d, 'livePeers')!.peers).toEqual([peerA]);
    expect(d.ignored).toEqual([{ type: PS_SAK_USE, reason: expect.stringMatching(/^sakUse\.bodyLength: /), offset: expect.any(Number) }]);
  });

  it('a repeated parameter set type: the first is used, later ones ignored', () => {
    const d = decode([live, { type: 'livePeers', keyServerSsci: 0, peers: [peerB] }, { type: 'potentialPeers', keyServerSsci: 0, peers: [peerB] }]);
    expect(d.sets.map((s) => s.type)).toEqual(['livePeers', 'potentialPeers']);
    expect(findSet(d, 'livePeers')!.peers).toEqual([peerA]);
    expect(d.ignored).toEqual([{ type: PS_LIVE_PEERS, reason: 'livePeers: repeated (the first one is used)', offset: expect.any(Number) }]);
  });

  it('the first set of a type decides, even when it is ignored itself', () => {
    const sakUse: ParamSet = {
      type: 'sakUse',
      plainTx: false,
      plainRx: false,
      reservedBit: false,
      delayProtect: false,
      hasKeys: false,
      latest: { an: 0, tx: false, rx: false, ki: { mi: new Uint8Array(12), kn: 0 }, lowestPn: 0 },
      old: { an: 0, tx: false, rx: false, ki: { mi: new Uint8Array(12), kn: 0 }, lowestPn: 0 },
    };
    const d = decode([raw(PS_SAK_USE, 8), sakUse]);
    expect(findSet(d, 'sakUse')).toBeUndefined();
    expect(d.ignored.map((i) => i.reason)).toEqual([expect.stringMatching(/^sakUse\.bodyLength/), 'sakUse: repeated (the first one is used)']);
  });

  it('XPN set: the first 8 octets of a longer body are used, a shorter one is ignored', () => {
    const d = decode([raw(PS_XPN, fromHex('0000000100000002deadbeef'), 3)]);
    expect(findSet(d, 'xpn')).toEqual({ type: 'xpn', suspendedFor: 3, latestLowestPnHigh: 1, oldLowestPnHigh: 2 });
    expect(d.ignored).toEqual([]);
    const short = decode([live, raw(PS_XPN, 4)]);
    expect(findSet(short, 'xpn')).toBeUndefined();
    expect(short.ignored).toEqual([{ type: PS_XPN, reason: expect.stringMatching(/^xpn\.bodyLength: 4/), offset: expect.any(Number) }]);
  });

  it('a peer list that is not a multiple of 16 octets is ignored as a whole; the MKPDU still counts', () => {
    const body = new Uint8Array(20);
    body.set(peerA.mi);
    body.set([0, 0, 0, 3], 12);
    const d = decode([raw(PS_LIVE_PEERS, body), { type: 'potentialPeers', keyServerSsci: 0, peers: [peerB] }]);
    expect(findSet(d, 'livePeers')).toBeUndefined();
    expect(findSet(d, 'potentialPeers')!.peers).toEqual([peerB]);
    expect(d.basic.actor.mn).toBe(7);
    expect(d.ignored).toEqual([
      { type: PS_LIVE_PEERS, reason: expect.stringMatching(/^livePeers\.bodyLength: 20 is not a multiple of 16/), offset: expect.any(Number) },
    ]);
    expect(decode([raw(PS_POTENTIAL_PEERS, 8)]).ignored.map((i) => i.type)).toEqual([PS_POTENTIAL_PEERS]);
  });

  it.each([4, 20, 30, 46])('a Distributed SAK of %i octets is ignored, the MKPDU is not', (n) => {
    const d = decode([live, raw(PS_DISTRIBUTED_SAK, n, 0x50)]);
    expect(findSet(d, 'distributedSak')).toBeUndefined();
    expect(findSet(d, 'livePeers')).toBeDefined();
    expect(d.ignored).toEqual([{ type: PS_DISTRIBUTED_SAK, reason: expect.stringMatching(/^distributedSak\.bodyLength/), offset: expect.any(Number) }]);
  });

  it('a Distributed CAK that cannot hold a key wrap and a CKN is ignored', () => {
    for (const n of [10, 24, 24 + 33]) {
      const d = decode([live, raw(PS_DISTRIBUTED_CAK, n)], { cakLength: 16 });
      expect(findSet(d, 'distributedCak')).toBeUndefined();
      expect(d.ignored.map((i) => i.reason)).toEqual([expect.stringMatching(/^distributedCak\.bodyLength/)]);
    }
  });

  it('without a CAK length, a Distributed CAK body that only fits a 256-bit CAK wrap is split as one', () => {
    const d = decode([raw(PS_DISTRIBUTED_CAK, 40 + 20)]);
    const c = findSet(d, 'distributedCak')!;
    expect(c.wrappedCak.length).toBe(40);
    expect(c.ckn.length).toBe(20);
    // 24 + 20 fits both; the 128-bit CAK wins as before.
    expect(findSet(decode([raw(PS_DISTRIBUTED_CAK, 44)]), 'distributedCak')!.wrappedCak.length).toBe(24);
    expect(decode([raw(PS_DISTRIBUTED_CAK, 40 + 33)]).ignored.map((i) => i.type)).toEqual([PS_DISTRIBUTED_CAK]);
  });

  it('an Announcement with a broken TLV is ignored', () => {
    const d = decode([live, raw(PS_ANNOUNCEMENT, fromHex('e00a0102'))]); // cipher suites TLV, length 10, 2 octets present
    expect(findSet(d, 'announcement')).toBeUndefined();
    expect(d.ignored.map((i) => i.type)).toEqual([PS_ANNOUNCEMENT]);
    const odd = decode([raw(PS_ANNOUNCEMENT, fromHex('e003010203'))]); // cipher suites of 3 octets
    expect(odd.ignored.map((i) => i.reason)).toEqual([expect.stringMatching(/^announcement\.cipherSuites\.length/)]);
  });

  it('ignored sets stay covered by the ICV, and the offset points at their header', () => {
    const frame = encodeMkpdu(peerMkpdu(basic, [live, raw(PS_SAK_USE, 12)]), SAMPLE_ICK);
    const r = decodeMkpdu(frame);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(toHex(r.value.signed)).toBe(toHex(frame.subarray(0, frame.length - 16)));
    const at = r.value.ignored[0]!.offset;
    expect(toHex(frame.subarray(at, at + 4))).toBe('0300000c');
  });

  it('structural damage still rejects the whole MKPDU', () => {
    const f = encodeMkpdu(peerMkpdu(basic, [live, raw(PS_SAK_USE, 12)]), SAMPLE_ICK);
    f[18 + 48 + 20 + 2] = 0x0f; // SAK Use length runs past the end
    const r = decodeMkpdu(f);
    expect(!r.ok && r.error.field).toBe('sakUse.bodyLength');
  });
});

describe('the KaY keeps MKPDUs with ignored sets', () => {
  it('a live peer MKPDU with a repeated Live Peer List and an unknown-length XPN set is accepted', () => {
    const l = lan(2);
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    const a = l.member('a');
    const last = l.frames.filter((f) => f.from === 'b').at(-1)!.frame;
    const d = decodeMkpdu(last);
    if (!d.ok) throw new Error(d.error.toString());
    const { signed: _s, icv: _i, ignored: _g, ...pdu } = d.value;
    pdu.basic.actor.mn += 1;
    pdu.sets.push({ type: 'livePeers', keyServerSsci: 0, peers: [peerB] }, raw(PS_XPN, 2));
    const before = l.status('a').counters;
    const out = l.inject(a, encodeMkpdu(pdu, deriveIck(CAK, CKN)));
    const after = l.status('a').counters;
    expect(out.events.filter((e) => e.kind === 'dropped')).toEqual([]);
    expect(after.mkpdusAccepted).toBe(before.mkpdusAccepted + 1);
    expect(after.malformed).toBe(before.malformed);
    l.runFor(10_000);
    expect(l.converged()).toBe(true);
  });
});
