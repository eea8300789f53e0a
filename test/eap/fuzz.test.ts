/**
 * Decoder fuzzing: >= 100,000 inputs per decoder per run (half random bytes, half mutations of
 * valid packets, from a fixed fast-check seed), no uncaught exception, and decode/encode
 * consistency on whatever decodes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EapolType, decodeEapol, decodeEapolFrame, encodeEapol, encodeEapolFrame, PAE_GROUP_ADDRESS } from '../../src/eap/eapol.js';
import { EapCode, decodeEap, decodeEapTls, encodeEap, encodeEapTlsPacket, encodeIdentityResponse } from '../../src/eap/eap.js';
import { TlsReassembler } from '../../src/eap/tls-frag.js';
import { AuthenticatorPae } from '../../src/eap/authenticator-pae.js';
import { SupplicantPae } from '../../src/eap/supplicant-pae.js';
import {
  Attr,
  RadiusCode,
  decodeRadius,
  decodeVendorSpecific,
  decryptMppeKey,
  encodeRadius,
  encodeVendorSpecific,
  eapMessageAttributes,
  verifyMessageAuthenticator,
  verifyResponseAuthenticator,
} from '../../src/eap/radius.js';

const RUNS = 100_000;
const SEED = 0x5eed;

function mutated(seeds: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 3 })), { maxLength: 6 }))
    .map(([seed, muts]) => {
      let b = Array.from(seed);
      for (const [pos, val, op] of muts) {
        const i = b.length ? pos % b.length : 0;
        if (op === 0) b[i] = val;
        else if (op === 1) b = b.slice(0, i);
        else if (op === 2) b.splice(i, 0, val);
        else b[i] = (b[i] ?? 0) ^ (1 << (val & 7));
      }
      return Uint8Array.from(b);
    });
}

function inputs(seeds: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc.oneof(fc.uint8Array({ maxLength: 400 }), mutated(seeds));
}

const mac = Uint8Array.of(2, 0, 0, 0, 0, 9);
const eapSeeds = [
  encodeIdentityResponse(1, 'client1.vnf.example'),
  encodeEap({ code: EapCode.Success, id: 4 }),
  encodeEapTlsPacket(EapCode.Request, 2, { start: true }),
  encodeEapTlsPacket(EapCode.Response, 3, { more: true, tlsMessageLength: 3000, data: new Uint8Array(100).fill(0x16) }),
  encodeEapTlsPacket(EapCode.Request, 3, { data: new Uint8Array(50).fill(0x17) }),
];

describe('decoder fuzzing', () => {
  it(`EAPOL: ${RUNS} inputs`, () => {
    const seeds = [
      ...eapSeeds.map((e) => encodeEapolFrame(PAE_GROUP_ADDRESS, mac, 2, EapolType.EapPacket, e)),
      encodeEapolFrame(PAE_GROUP_ADDRESS, mac, 3, EapolType.Start),
      encodeEapolFrame(PAE_GROUP_ADDRESS, mac, 1, EapolType.Logoff),
      encodeEapolFrame(PAE_GROUP_ADDRESS, mac, 3, EapolType.Mka, new Uint8Array(60).fill(1)),
      encodeEapol({ version: 2, type: EapolType.Key, body: new Uint8Array(20) }),
    ];
    let decoded = 0;
    fc.assert(
      fc.property(inputs(seeds), (buf) => {
        const f = decodeEapolFrame(buf);
        const p = decodeEapol(buf);
        if (p.ok) {
          decoded++;
          const re = encodeEapol({ version: p.value.version, type: p.value.type, body: p.value.body });
          expect(Buffer.from(re).equals(Buffer.from(buf.subarray(0, re.length)))).toBe(true);
        } else expect(p.error.field).toMatch(/^eapol\./);
        if (f.ok && f.value.pdu.type === EapolType.EapPacket) decodeEap(f.value.pdu.body);
      }),
      { numRuns: RUNS, seed: SEED },
    );
    expect(decoded).toBeGreaterThan(1000);
  });

  it(`EAP and EAP-TLS: ${RUNS} inputs`, () => {
    let decoded = 0;
    const re = new TlsReassembler();
    fc.assert(
      fc.property(inputs(eapSeeds), (buf) => {
        const d = decodeEap(buf);
        if (!d.ok) {
          expect(d.error.field).toMatch(/^eap\./);
          return;
        }
        decoded++;
        const enc = encodeEap(d.value);
        expect(Buffer.from(enc).equals(Buffer.from(buf.subarray(0, enc.length)))).toBe(true);
        if (d.value.type === 13) {
          const t = decodeEapTls(d.value.data);
          if (t.ok) re.add(t.value);
          else expect(t.error.field).toMatch(/^eaptls\./);
        }
      }),
      { numRuns: RUNS, seed: SEED },
    );
    expect(decoded).toBeGreaterThan(1000);
  });

  it(`RADIUS: ${RUNS} inputs`, () => {
    const auth = new Uint8Array(16).fill(7);
    const seeds = [
      encodeRadius({
        code: RadiusCode.AccessChallenge,
        id: 3,
        authenticator: auth,
        attributes: [
          ...eapMessageAttributes(new Uint8Array(600).fill(1)),
          { type: Attr.State, value: new Uint8Array(16) },
          { type: Attr.MessageAuthenticator, value: new Uint8Array(16) },
        ],
      }),
      encodeRadius({
        code: RadiusCode.AccessAccept,
        id: 4,
        authenticator: auth,
        attributes: [
          encodeVendorSpecific(311, 17, new Uint8Array(50).fill(0x85)),
          encodeVendorSpecific(311, 16, new Uint8Array(50).fill(0x86)),
          { type: Attr.EapKeyName, value: new Uint8Array(65) },
          { type: Attr.MessageAuthenticator, value: new Uint8Array(16) },
        ],
      }),
    ];
    let decoded = 0;
    fc.assert(
      fc.property(inputs(seeds), (buf) => {
        const d = decodeRadius(buf);
        if (!d.ok) {
          expect(d.error.field).toMatch(/^radius\./);
          return;
        }
        decoded++;
        verifyResponseAuthenticator(buf, auth, 'x');
        verifyMessageAuthenticator(buf, 'x', auth);
        for (const a of d.value.attributes) {
          if (a.type !== Attr.VendorSpecific) continue;
          const v = decodeVendorSpecific(a.value);
          if (v.ok) for (const s of v.value) decryptMppeKey(s.value, 'x', auth);
        }
      }),
      { numRuns: RUNS, seed: SEED },
    );
    expect(decoded).toBeGreaterThan(1000);
  });

  it('PAE state machines survive 20,000 random and mutated frames', () => {
    const peerMac = Uint8Array.of(2, 0, 0, 0, 0, 7);
    const seeds = [
      ...eapSeeds.map((e) => encodeEapolFrame(PAE_GROUP_ADDRESS, peerMac, 2, EapolType.EapPacket, e)),
      encodeEapolFrame(PAE_GROUP_ADDRESS, peerMac, 3, EapolType.Start),
      encodeEapolFrame(PAE_GROUP_ADDRESS, peerMac, 1, EapolType.Logoff),
    ];
    const a = new AuthenticatorPae({ portMac: mac });
    const s = new SupplicantPae({ ownMac: peerMac, identity: 'x' });
    let now = 0;
    a.portUp(now);
    s.start(now);
    fc.assert(
      fc.property(inputs(seeds), fc.nat(5000), (buf, dt) => {
        now += dt;
        a.receive(buf, now);
        a.tick(now);
        s.receive(buf, now);
        s.tick(now);
      }),
      { numRuns: 20_000, seed: SEED },
    );
  });
});
