/** Message encoding and dump parsing for the kernel SecY, without a kernel. */
import { describe, expect, it } from 'vitest';
import { MacsecNetlinkError, errnoName } from '../../src/netlink/errors.js';
import { kiBytes } from '../../src/netlink/kernel-secy.js';
import { parseSecyDump, saConfigAttrs } from '../../src/netlink/macsec-genl.js';
import { attrMap, nla, nlaNest, parseAttrs, u32, u64, u8 } from '../../src/netlink/nla.js';
import { macsecDataAttrs, sciBytes, sciFromParts } from '../../src/netlink/rtnl.js';
import * as U from '../../src/netlink/uapi.js';

const hex = (b: Uint8Array | undefined): string => Buffer.from(b ?? []).toString('hex');
const le32 = (b: Buffer | undefined): number => b!.readUInt32LE(0);

describe('SCI byte order', () => {
  it('is MAC then big-endian port, as raw bytes', () => {
    expect(sciFromParts(Uint8Array.of(2, 0, 0, 0, 0, 0x0a), 1)).toBe('02000000000a0001');
    expect(hex(sciBytes('02000000000a0007'))).toBe('02000000000a0007');
    expect(() => sciBytes('0200')).toThrow(/invalid SCI/);
  });
});

describe('IFLA_MACSEC_* for link creation', () => {
  it('port as __be16, cipher suite u64, ICV length, defaults', () => {
    const m = attrMap(Buffer.concat(macsecDataAttrs({ port: 7, cipherSuite: 'GCM-AES-XPN-256' }, true)));
    expect(hex(m.get(U.IFLA_MACSEC_PORT))).toBe('0007');
    expect(m.has(U.IFLA_MACSEC_SCI)).toBe(false);
    expect(m.get(U.IFLA_MACSEC_CIPHER_SUITE)!.readBigUInt64LE(0)).toBe(0x0080c20001000004n);
    expect(m.get(U.IFLA_MACSEC_ICV_LEN)![0]).toBe(16);
    expect(m.get(U.IFLA_MACSEC_ENCRYPT)![0]).toBe(1);
    expect(m.get(U.IFLA_MACSEC_PROTECT)![0]).toBe(1);
    expect(m.get(U.IFLA_MACSEC_INC_SCI)![0]).toBe(1);
    expect(m.get(U.IFLA_MACSEC_VALIDATION)![0]).toBe(U.MACSEC_VALIDATE.strict);
    // the kernel insists on a window whenever replay protection is on
    expect(m.get(U.IFLA_MACSEC_REPLAY_PROTECT)![0]).toBe(1);
    expect(le32(m.get(U.IFLA_MACSEC_WINDOW))).toBe(0);
    expect(m.has(U.IFLA_MACSEC_OFFLOAD)).toBe(false);
  });

  it('an explicit SCI goes as raw network-order bytes, not through a host-order u64', () => {
    const m = attrMap(Buffer.concat(macsecDataAttrs({ sci: '02000000000a0007' }, true)));
    expect(hex(m.get(U.IFLA_MACSEC_SCI))).toBe('02000000000a0007');
    expect(m.has(U.IFLA_MACSEC_PORT)).toBe(false);
  });

  it('ES or SCB turn include-SCI off by default (the kernel rejects the combination)', () => {
    const m = attrMap(Buffer.concat(macsecDataAttrs({ es: true }, true)));
    expect(m.get(U.IFLA_MACSEC_ES)![0]).toBe(1);
    expect(m.get(U.IFLA_MACSEC_INC_SCI)![0]).toBe(0);
  });

  it('a change carries only what changes', () => {
    const attrs = parseAttrs(Buffer.concat(macsecDataAttrs({ encodingSa: 2 }, false)));
    expect(attrs.map((a) => a.type)).toEqual([U.IFLA_MACSEC_ENCODING_SA]);
    expect(attrs[0]!.data[0]).toBe(2);
  });
});

describe('SA configuration attributes', () => {
  const key = Uint8Array.from({ length: 16 }, (_, i) => i);
  const keyId = kiBytes('aa'.repeat(12) + '00000001');

  it('non-XPN: 32-bit PN, key id, key', () => {
    const { attrs, secret } = saConfigAttrs({ an: 1, pn: 5n, xpn: false, key, keyId, active: true });
    const m = attrMap(Buffer.concat(attrs));
    expect(m.get(U.MACSEC_SA_ATTR_AN)![0]).toBe(1);
    expect(m.get(U.MACSEC_SA_ATTR_ACTIVE)![0]).toBe(1);
    expect(m.get(U.MACSEC_SA_ATTR_PN)!.length).toBe(4);
    expect(le32(m.get(U.MACSEC_SA_ATTR_PN))).toBe(5);
    expect(hex(m.get(U.MACSEC_SA_ATTR_KEYID))).toBe('aa'.repeat(12) + '00000001');
    expect(hex(m.get(U.MACSEC_SA_ATTR_KEY))).toBe(hex(key));
    expect(m.has(U.MACSEC_SA_ATTR_SSCI)).toBe(false);
    // the buffers holding key material are handed back for zeroing
    secret.forEach((b) => b.fill(0));
    expect(hex(key)).toBe('000102030405060708090a0b0c0d0e0f'); // caller's key untouched
    expect(() => saConfigAttrs({ an: 0, pn: 1n << 32n, xpn: false, key, keyId, active: true })).toThrow(/32 bits/);
  });

  it('XPN: 64-bit PN, SSCI in network byte order, 12-octet salt', () => {
    const salt = Uint8Array.from({ length: 12 }, (_, i) => 0xc0 + i);
    const { attrs } = saConfigAttrs({ an: 0, pn: 0x1_0000_0005n, xpn: true, key, keyId, active: false, ssci: 0x01020304, salt });
    const m = attrMap(Buffer.concat(attrs));
    expect(m.get(U.MACSEC_SA_ATTR_PN)!.readBigUInt64LE(0)).toBe(0x1_0000_0005n);
    expect(hex(m.get(U.MACSEC_SA_ATTR_SSCI))).toBe('01020304');
    expect(hex(m.get(U.MACSEC_SA_ATTR_SALT))).toBe(hex(salt));
    expect(() => saConfigAttrs({ an: 0, pn: 1n, xpn: true, key, keyId, active: false })).toThrow(/ssci and salt/);
    expect(() => saConfigAttrs({ an: 0, pn: 1n, xpn: true, key, keyId, active: false, ssci: 1, salt: salt.subarray(0, 8) })).toThrow(/12 octets/);
  });

  it('key identifiers are 16 octets (MI || KN)', () => {
    expect(() => kiBytes('aabb')).toThrow(/32 hex digits/);
  });
});

describe('GET_TXSC dump parsing', () => {
  it('reads SecY config, TX SAs, RX SCs with per-SA counters', () => {
    const saStats = (ok: number) => nlaNest(U.MACSEC_SA_ATTR_STATS, [nla(1, u32(ok)), nla(2, u32(0))]);
    const msg = Buffer.concat([
      nla(U.MACSEC_ATTR_IFINDEX, u32(5)),
      nlaNest(U.MACSEC_ATTR_SECY, [
        nla(U.MACSEC_SECY_ATTR_SCI, sciBytes('02000000000a0001')),
        nla(U.MACSEC_SECY_ATTR_ENCODING_SA, u8(1)),
        nla(U.MACSEC_SECY_ATTR_CIPHER_SUITE, u64(0x0080c20001000003n)),
        nla(U.MACSEC_SECY_ATTR_ICV_LEN, u8(16)),
        nla(U.MACSEC_SECY_ATTR_PROTECT, u8(1)),
        nla(U.MACSEC_SECY_ATTR_OPER, u8(1)),
        nla(U.MACSEC_SECY_ATTR_VALIDATE, u8(1)),
        nla(U.MACSEC_SECY_ATTR_ENCRYPT, u8(1)),
      ]),
      nlaNest(U.MACSEC_ATTR_TXSA_LIST, [
        nlaNest(1, [
          nla(U.MACSEC_SA_ATTR_AN, u8(1)),
          nla(U.MACSEC_SA_ATTR_PN, u64(0x1_0000_000dn)),
          nla(U.MACSEC_SA_ATTR_ACTIVE, u8(1)),
          nla(U.MACSEC_SA_ATTR_SSCI, Buffer.from('00000001', 'hex')),
        ]),
      ]),
      nlaNest(U.MACSEC_ATTR_RXSC_LIST, [
        nlaNest(1, [
          nla(U.MACSEC_RXSC_ATTR_SCI, sciBytes('02000000000b0001')),
          nla(U.MACSEC_RXSC_ATTR_ACTIVE, u8(1)),
          nlaNest(U.MACSEC_RXSC_ATTR_STATS, [nla(5, u64(13n))]),
          nlaNest(U.MACSEC_RXSC_ATTR_SA_LIST, [nlaNest(1, [nla(U.MACSEC_SA_ATTR_AN, u8(0)), nla(U.MACSEC_SA_ATTR_PN, u32(11)), saStats(13)])]),
        ]),
      ]),
    ]);
    const d = parseSecyDump(msg)!;
    expect(d).toMatchObject({
      ifindex: 5,
      sci: '02000000000a0001',
      cipherSuite: 'GCM-AES-XPN-128',
      encodingSa: 1,
      validate: 'check',
      encrypt: true,
      operational: true,
    });
    expect(d.txSas).toEqual([{ an: 1, active: true, nextPn: 0x1_0000_000dn, keyId: '', ssci: 1, stats: {} }]);
    expect(d.rxScs[0]!.sci).toBe('02000000000b0001');
    expect(d.rxScs[0]!.stats.InPktsOK).toBe(13n);
    expect(d.rxScs[0]!.sas[0]).toMatchObject({ an: 0, nextPn: 11n, stats: { InPktsOK: 13, InPktsInvalid: 0 } });
    expect(parseSecyDump(Buffer.alloc(0))).toBeUndefined();
  });
});

describe('errors', () => {
  it('name the operation and the errno', () => {
    const e = new MacsecNetlinkError('add RX SA (sci 02000000000b0001, an 1)', -17);
    expect(String(e)).toBe('MacsecNetlinkError: add RX SA (sci 02000000000b0001, an 1): EEXIST');
    expect(e).toMatchObject({ errno: 17, errnoName: 'EEXIST', code: 'netlink_failed', operation: 'add RX SA (sci 02000000000b0001, an 1)' });
    expect(errnoName(16)).toBe('EBUSY');
  });
});
