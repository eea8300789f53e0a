import { describe, expect, it } from 'vitest';
import { EapolType, PAE_GROUP_ADDRESS, decodeEapol, decodeEapolFrame, encodeEapol, encodeEapolFrame } from '../../src/eap/eapol.js';
import { EapCode, EapType, decodeEap, decodeEapTls, encodeEap, encodeEapTls, encodeIdentityResponse, eapIdentityText } from '../../src/eap/eap.js';
import { TlsFragmenter, TlsReassembler } from '../../src/eap/tls-frag.js';

describe('EAPOL codec', () => {
  it('round-trips every type for versions 1..3', () => {
    for (const version of [1, 2, 3]) {
      for (const type of [EapolType.EapPacket, EapolType.Start, EapolType.Logoff, EapolType.Key, EapolType.Mka]) {
        const body = type === EapolType.Start || type === EapolType.Logoff ? new Uint8Array(0) : Uint8Array.of(1, 2, 3, 4);
        const d = decodeEapol(encodeEapol({ version, type, body }));
        expect(d.ok).toBe(true);
        if (d.ok) {
          expect(d.value.version).toBe(version);
          expect(d.value.type).toBe(type);
          expect([...d.value.body]).toEqual([...body]);
        }
      }
    }
  });
  it('drops Ethernet padding and names the bad field', () => {
    const src = Uint8Array.of(2, 0, 0, 0, 0, 1);
    const f = encodeEapolFrame(PAE_GROUP_ADDRESS, src, 2, EapolType.Start);
    expect(f.length).toBe(60);
    const d = decodeEapolFrame(f);
    expect(d.ok && d.value.pdu.body.length === 0 && d.value.pdu.type === EapolType.Start).toBe(true);
    const bad = decodeEapol(Uint8Array.of(2, 0, 0, 10, 1, 2));
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error.field).toBe('eapol.bodyLength');
    const v0 = decodeEapol(Uint8Array.of(0, 1, 0, 0));
    expect(!v0.ok && v0.error.field === 'eapol.version').toBe(true);
    const notEapol = decodeEapolFrame(new Uint8Array(60));
    expect(!notEapol.ok && notEapol.error.field === 'ethernet.etherType').toBe(true);
  });
});

describe('EAP codec', () => {
  it('Identity, Success, Failure', () => {
    const d = decodeEap(encodeIdentityResponse(9, 'client1'));
    expect(d.ok).toBe(true);
    if (d.ok) {
      expect(d.value.code).toBe(EapCode.Response);
      expect(d.value.id).toBe(9);
      expect(d.value.type).toBe(EapType.Identity);
      expect(eapIdentityText(d.value)).toBe('client1');
    }
    const s = decodeEap(encodeEap({ code: EapCode.Success, id: 3 }));
    expect(s.ok && s.value.code === EapCode.Success && s.value.type === undefined).toBe(true);
  });
  it('typed errors', () => {
    const cases: [number[], string][] = [
      [[1, 2], 'eap.header'],
      [[9, 1, 0, 4], 'eap.code'],
      [[1, 1, 0, 3], 'eap.length'],
      [[1, 1, 0, 9, 1], 'eap.length'],
      [[1, 1, 0, 4], 'eap.type'],
      [[3, 1, 0, 5, 0], 'eap.length'],
    ];
    for (const [bytes, field] of cases) {
      const d = decodeEap(Uint8Array.from(bytes));
      expect(d.ok).toBe(false);
      if (!d.ok) expect(d.error.field).toBe(field);
    }
  });
  it('EAP-TLS flags and length', () => {
    const t = decodeEapTls(encodeEapTls({ start: true }));
    expect(t.ok && t.value.start && !t.value.more && !t.value.lengthIncluded).toBe(true);
    const f = decodeEapTls(encodeEapTls({ more: true, tlsMessageLength: 5000, data: new Uint8Array(100) }));
    expect(f.ok && f.value.more && f.value.tlsMessageLength === 5000 && f.value.data.length === 100).toBe(true);
    const bad = decodeEapTls(Uint8Array.of(0x80, 0, 0));
    expect(!bad.ok && bad.error.field === 'eaptls.tlsMessageLength').toBe(true);
    const over = decodeEapTls(encodeEapTls({ tlsMessageLength: 2, data: new Uint8Array(3) }));
    expect(!over.ok && over.error.field === 'eaptls.tlsMessageLength').toBe(true);
  });
  it('fragmenter and reassembler agree', () => {
    const msg = Uint8Array.from({ length: 3000 }, (_, i) => i & 0xff);
    const fr = new TlsFragmenter(1000);
    const frags = [fr.load(msg)];
    while (fr.pending) frags.push(fr.next()!);
    expect(frags.length).toBe(3);
    const re = new TlsReassembler();
    let out: Uint8Array | undefined;
    for (const f of frags) {
      const d = decodeEapTls(f);
      expect(d.ok).toBe(true);
      if (!d.ok) return;
      const r = re.add(d.value);
      if (r.kind === 'complete') out = r.data;
      else expect(r.kind).toBe('need-more');
    }
    expect(Buffer.from(out!).equals(Buffer.from(msg))).toBe(true);
    // announced length mismatch
    const re2 = new TlsReassembler();
    const d = decodeEapTls(encodeEapTls({ tlsMessageLength: 10, data: new Uint8Array(4) }));
    expect(d.ok && re2.add(d.value).kind).toBe('error');
  });
});
