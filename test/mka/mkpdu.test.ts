import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeMkpdu, encodeMkpdu, findSet, parseCipherSuitesTlv, cipherSuitesTlv } from '../../src/mka/mkpdu.js';
import { verifyIcv } from '../../src/mka/crypto.js';
import { cipherSuiteById, LEGACY_GCM_AES_128_ID } from '../../src/mka/constants.js';
import { fromHex, toHex } from '../../src/common/hex.js';
import type { Mkpdu } from '../../src/mka/types.js';
import { mkpduArb } from '../support/mkpdu-arb.js';
import { peerMkpdu, SAMPLE_ICK } from '../support/mkpdu-fixtures.js';

const ick = SAMPLE_ICK;

function sample(): Mkpdu {
  return peerMkpdu(
    {
      sci: { mac: fromHex('020000000001'), port: 1 },
      actor: { mi: fromHex('0102030405060708090a0b0c'), mn: 7 },
      ckn: fromHex('96437a93ccf10d9dfe347846cce52c7d'),
    },
    [
      { type: 'livePeers', keyServerSsci: 0, peers: [{ mi: fromHex('aabbccddeeff001122334455'), mn: 3 }] },
      {
        type: 'distributedSak',
        an: 1,
        confidentialityOffset: 1,
        plain: false,
        kn: 1,
        cipherSuite: null,
        wrappedSak: new Uint8Array(24).fill(9),
      },
    ],
  );
}

function decodeOk(frame: Uint8Array) {
  const r = decodeMkpdu(frame);
  if (!r.ok) throw new Error(r.error.toString());
  return r.value;
}

describe('MKPDU codec', () => {
  it('encodes the documented layout: EAPOL header, Basic set, ICV last', () => {
    const f = encodeMkpdu(sample(), ick);
    expect(toHex(f.subarray(12, 16))).toBe('888e0305');
    expect(new DataView(f.buffer).getUint16(16)).toBe(f.length - 18);
    // Basic: version, priority, flags (KS|desired|cap 3) + length high nibble, length low (28+16)
    expect(toHex(f.subarray(18, 22))).toBe('0210f02c');
    const d = decodeOk(f);
    expect(verifyIcv(ick, d.signed, d.icv)).toBe(true);
    expect(d.signed.length).toBe(f.length - 16);
  });

  it('round-trips every valid MKPDU exactly (decode ∘ encode = id, encode ∘ decode = id)', () => {
    fc.assert(
      fc.property(mkpduArb, (pdu) => {
        const frame = encodeMkpdu(pdu, ick);
        const d = decodeMkpdu(frame);
        if (!d.ok) throw new Error(d.error.toString());
        const { signed, icv, ignored, ...back } = d.value;
        expect(ignored).toEqual([]);
        expect(back).toEqual(pdu);
        expect(verifyIcv(ick, signed, icv)).toBe(true);
        expect(toHex(encodeMkpdu(back, ick))).toBe(toHex(frame));
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts the ICV Indicator and covers its header with the ICV', () => {
    const f = encodeMkpdu({ ...sample(), icvIndicator: true }, ick);
    const d = decodeOk(f);
    expect(d.icvIndicator).toBe(true);
    expect(toHex(f.subarray(f.length - 20, f.length - 16))).toBe('ff000010');
    expect(verifyIcv(ick, d.signed, d.icv)).toBe(true);
  });

  it('ignores Ethernet padding after the EAPOL body', () => {
    const f = encodeMkpdu(sample(), ick);
    const padded = new Uint8Array(f.length + 30);
    padded.set(f);
    const d = decodeOk(padded);
    expect(verifyIcv(ick, d.signed, d.icv)).toBe(true);
  });

  it('accepts a VLAN-tagged MKPDU', () => {
    const f = encodeMkpdu(sample(), ick);
    const tagged = new Uint8Array(f.length + 4);
    tagged.set(f.subarray(0, 12));
    tagged.set([0x81, 0x00, 0x00, 0x0a], 12);
    tagged.set(f.subarray(12), 16);
    expect(decodeOk(tagged).basic.priority).toBe(16);
  });

  it('maps the 802.1AE-2006 GCM-AES-128 identifier to GCM-AES-128', () => {
    expect(cipherSuiteById(LEGACY_GCM_AES_128_ID)).toBe('GCM-AES-128');
    expect(cipherSuiteById(0x0080c20001000004n)).toBe('GCM-AES-XPN-256');
    expect(cipherSuiteById(0x1n)).toBeUndefined();
    const pdu = sample();
    pdu.sets[1] = { ...(pdu.sets[1] as any), cipherSuite: LEGACY_GCM_AES_128_ID };
    const ds = findSet(decodeOk(encodeMkpdu(pdu, ick)), 'distributedSak')!;
    expect(ds.cipherSuite).toBe(LEGACY_GCM_AES_128_ID);
  });

  it('cipher suite TLV round-trips', () => {
    const suites = [
      { capability: 3, id: 0x0080c20001000001n },
      { capability: 2, id: 0x0080c20001000004n },
    ];
    expect(parseCipherSuitesTlv(cipherSuitesTlv(suites).value)).toEqual(suites);
  });
});

describe('MKPDU decoder rejects malformed input with the field named', () => {
  const good = () => encodeMkpdu(sample(), ick);
  const cases: [string, (f: Uint8Array) => Uint8Array, RegExp][] = [
    ['short frame', (f) => f.subarray(0, 10), /^frame/],
    ['not EAPOL', (f) => (f.set([0x08, 0x00], 12), f), /^ethertype/],
    ['EAPOL-Start', (f) => ((f[15] = 1), f), /^eapol\.type/],
    ['EAPOL version 0', (f) => ((f[14] = 0), f), /^eapol\.version/],
    ['body length past end', (f) => (new DataView(f.buffer).setUint16(16, 2000), f), /^eapol\.bodyLength/],
    ['body length not a multiple of 4', (f) => f.subarray(0, f.length - 1), /^eapol\.bodyLength/],
    ['MKA version 0', (f) => ((f[18] = 0), f), /^basic\.version/],
    ['CKN of 0 octets', (f) => ((f[20] = f[20]! & 0xf0), (f[21] = 28), f), /^basic\.bodyLength/],
    ['CKN of 33 octets', (f) => ((f[21] = 61), f), /^basic\.bodyLength/],
    ['set runs past the end', (f) => ((f[18 + 48 + 2] = 0x0f), f), /^livePeers\.bodyLength/],
  ];
  for (const [name, mutate, field] of cases) {
    it(name, () => {
      const r = decodeMkpdu(mutate(good()));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.toString()).toMatch(field);
    });
  }
  // These three were whole-MKPDU rejections. 802.1X-2020 11.11 asks a receiver to ignore what it
  // cannot use and keep the rest (forward compatibility): the set is ignored and named, the
  // MKPDU decodes. See mkpdu-forward-compat.test.ts for every such case.
  it('peer list not a multiple of 16: that list is ignored, not the MKPDU', () => {
    const f = good();
    f[18 + 48 + 3] = 15; // Live Peer List of 15 octets (the padding keeps the next set in place)
    const d = decodeOk(f);
    expect(findSet(d, 'livePeers')).toBeUndefined();
    expect(findSet(d, 'distributedSak')!.kn).toBe(1);
    expect(d.ignored.map((i) => i.reason)).toEqual(['livePeers.bodyLength: 15 is not a multiple of 16']);
  });
  it('distributed SAK of an impossible length: that set is ignored, not the MKPDU', () => {
    const f = good();
    f[18 + 48 + 20 + 3] = 25; // neither 28 nor 12 + a key wrap
    const d = decodeOk(f);
    expect(findSet(d, 'distributedSak')).toBeUndefined();
    expect(d.ignored.map((i) => i.reason)).toEqual([expect.stringMatching(/^distributedSak\.bodyLength: 25/)]);
  });
  it('duplicate parameter sets: the first is used, the repeat ignored', () => {
    const pdu = sample();
    pdu.sets.push(pdu.sets[0]!);
    const d = decodeOk(encodeMkpdu(pdu, ick));
    expect(d.sets.map((s) => s.type)).toEqual(['livePeers', 'distributedSak']);
    expect(d.ignored.map((i) => i.reason)).toEqual(['livePeers: repeated (the first one is used)']);
  });
  it('ICV indicator that is not last', () => {
    const f = good();
    // turn the Distributed SAK header into an ICV indicator with body 16 in the middle
    const at = 18 + 48 + 20;
    f.set([0xff, 0x00, 0x00, 0x10], at);
    const r = decodeMkpdu(f);
    expect(!r.ok && r.error.field).toBe('icvIndicator');
  });
});
