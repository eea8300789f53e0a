import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { aesCmac, computeIcv, deriveIck, deriveKek, deriveSak, deriveXpnSalt, kdf, macEqual, unwrapKey, verifyIcv, wrapKey } from '../../src/mka/crypto.js';
import { fromHex, toHex } from '../../src/common/hex.js';

const vectors = JSON.parse(readFileSync(new URL('../support/fixtures/mka-kdf.json', import.meta.url), 'utf8'));

describe('AES-CMAC (RFC 4493)', () => {
  for (const v of vectors.aes_cmac_rfc4493) {
    it(`mac of ${v.msg.length / 2} octets`, () => {
      expect(toHex(aesCmac(fromHex(v.key), fromHex(v.msg)))).toBe(v.mac);
    });
  }
});

describe('KDF (802.1X-2010 6.2.1)', () => {
  for (const v of vectors.kdf) {
    it(v.name, () => {
      expect(toHex(kdf(fromHex(v.key), v.label, fromHex(v.context), v.bits))).toBe(v.out);
    });
  }
  it('rejects keys that are not 128 or 256 bits', () => {
    expect(() => kdf(new Uint8Array(20), 'X', new Uint8Array(0), 128)).toThrow(/128 or 256/);
  });
});

describe('KEK and ICK (9.3.3)', () => {
  for (const v of vectors.kek_ick) {
    it(v.name, () => {
      expect(toHex(deriveKek(fromHex(v.cak), fromHex(v.ckn)))).toBe(v.kek);
      expect(toHex(deriveIck(fromHex(v.cak), fromHex(v.ckn)))).toBe(v.ick);
    });
  }
  it('uses only the first 16 octets of a long CKN and zero-pads a short one', () => {
    const cak = fromHex(vectors.kek_ick[0].cak);
    const ckn = fromHex(vectors.kek_ick[0].ckn);
    const longer = new Uint8Array(32);
    longer.set(ckn);
    longer.fill(0xaa, 16);
    expect(toHex(deriveIck(cak, longer))).toBe(vectors.kek_ick[0].ick);
    expect(toHex(deriveIck(cak, Uint8Array.of(1, 2)))).toBe(toHex(deriveIck(cak, Uint8Array.of(1, 2, 0, 0))));
  });
});

describe('SAK (9.8.1)', () => {
  for (const v of vectors.sak) {
    it(v.name, () => {
      const sak = deriveSak(
        fromHex(v.cak),
        fromHex(v.ks_nonce),
        v.mi_list.map((m: string) => fromHex(m)),
        v.kn,
        v.bits,
      );
      expect(toHex(sak)).toBe(v.sak);
    });
  }
});

describe('AES key wrap (RFC 3394)', () => {
  for (const v of vectors.aes_kw_rfc3394) {
    it(v.name, () => {
      expect(toHex(wrapKey(fromHex(v.kek), fromHex(v.key)))).toBe(v.wrapped);
      expect(toHex(unwrapKey(fromHex(v.kek), fromHex(v.wrapped))!)).toBe(v.key);
    });
  }
  it('unwrap with a wrong KEK or tampered data returns null', () => {
    const v = vectors.aes_kw_rfc3394[0];
    const bad = fromHex(v.wrapped);
    bad[5]! ^= 1;
    expect(unwrapKey(fromHex(v.kek), bad)).toBeNull();
    expect(unwrapKey(new Uint8Array(16), fromHex(v.wrapped))).toBeNull();
    expect(unwrapKey(fromHex(v.kek), new Uint8Array(7))).toBeNull();
  });
  it('round-trips any 128/256-bit key under any KEK', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.oneof(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 32, maxLength: 32 })),
        (kek, key) => toHex(unwrapKey(kek, wrapKey(kek, key))!) === toHex(key),
      ),
      { numRuns: 300 },
    );
  });
});

describe('ICV', () => {
  it('verifies its own ICV and rejects any single-bit change', () => {
    const ick = fromHex(vectors.kek_ick[0].ick);
    const msg = Uint8Array.from({ length: 80 }, (_, i) => i);
    const icv = computeIcv(ick, msg);
    expect(icv.length).toBe(16);
    expect(verifyIcv(ick, msg, icv)).toBe(true);
    for (let bit = 0; bit < 8; bit++) {
      const m = Uint8Array.from(msg);
      m[40]! ^= 1 << bit;
      expect(verifyIcv(ick, m, icv)).toBe(false);
    }
  });
  it('macEqual is false on length mismatch', () => {
    expect(macEqual(new Uint8Array(16), new Uint8Array(15))).toBe(false);
    expect(macEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2))).toBe(true);
  });
});

describe('XPN salt', () => {
  it('differs per key number and key server, and is 12 octets', () => {
    const mi = fromHex('0102030405060708090a0b0c');
    expect(deriveXpnSalt(mi, 1).length).toBe(12);
    // 802.1AE-2018 10.7.8: MI octets 0-1 XOR KN's low 16 bits, octets 2-3 XOR KN's high 16 bits
    expect(toHex(deriveXpnSalt(mi, 1))).toBe('01030304' + '05060708090a0b0c');
    expect(toHex(deriveXpnSalt(mi, 0x01000001))).toBe('01030204' + '05060708090a0b0c');
    expect(toHex(deriveXpnSalt(mi, 0x12345678))).toBe('577a1130' + '05060708090a0b0c');
    expect(toHex(deriveXpnSalt(mi, 2))).not.toBe(toHex(deriveXpnSalt(mi, 3)));
  });
});
