/**
 * CAK/CKN from the MSK, checked against an independent AES-CMAC/KDF written here on node:crypto
 * (the library code reuses the MKA KDF from src/mka/crypto.ts, built on @noble/ciphers).
 */
import { createCipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deriveEapCak, deriveEapCkn, deriveMkaKeysFromEap } from '../../src/eap/keys.js';

function aesEcb(key: Buffer, block: Buffer): Buffer {
  const c = createCipheriv('aes-128-ecb', key, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}
function dbl(b: Buffer): Buffer {
  const out = Buffer.alloc(16);
  let carry = 0;
  for (let i = 15; i >= 0; i--) {
    const v = (b[i]! << 1) | carry;
    out[i] = v & 0xff;
    carry = b[i]! >> 7;
  }
  if (b[0]! & 0x80) out[15]! ^= 0x87;
  return out;
}
function cmacRef(key: Buffer, msg: Buffer): Buffer {
  const l = aesEcb(key, Buffer.alloc(16));
  const k1 = dbl(l);
  const k2 = dbl(k1);
  const n = Math.max(1, Math.ceil(msg.length / 16));
  const complete = msg.length > 0 && msg.length % 16 === 0;
  let x: Buffer = Buffer.alloc(16);
  for (let i = 0; i < n; i++) {
    let blk = Buffer.alloc(16);
    msg.copy(blk, 0, i * 16, Math.min(msg.length, i * 16 + 16));
    if (i === n - 1) {
      if (complete) blk = Buffer.from(blk.map((v, j) => v ^ k1[j]!));
      else {
        blk[msg.length - i * 16] = 0x80;
        blk = Buffer.from(blk.map((v, j) => v ^ k2[j]!));
      }
    }
    x = aesEcb(key, Buffer.from(x.map((v, j) => v ^ blk[j]!)));
  }
  return x;
}
function kdfRef(key: Buffer, label: string, ctx: Buffer): Buffer {
  // 128 bits: a single iteration i = 1
  return cmacRef(key, Buffer.concat([Buffer.of(1), Buffer.from(label), Buffer.of(0), ctx, Buffer.of(0, 128)]));
}

describe('CAK/CKN from MSK (802.1X-2010 6.2.2, wpa_supplicant ieee802_1x_key.c)', () => {
  it('reference CMAC matches RFC 4493 example 2', () => {
    const k = Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex');
    const m = Buffer.from('6bc1bee22e409f96e93d7e117393172a', 'hex');
    expect(cmacRef(k, m).toString('hex')).toBe('070a16b46b4d4144f79bdd9dd04a287c');
  });

  it('matches the independent derivation, MACs sorted, only MSK[0..15] used', () => {
    const msk = Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 7 + 3) & 0xff));
    const sid = Buffer.concat([Buffer.of(13), Buffer.alloc(64, 0x5a)]);
    const hi = Buffer.from('02000000aa01', 'hex');
    const lo = Buffer.from('020000000001', 'hex');
    const cak = deriveEapCak(msk, hi, lo);
    expect(Buffer.from(cak).toString('hex')).toBe(kdfRef(msk.subarray(0, 16), 'IEEE8021 EAP CAK', Buffer.concat([lo, hi])).toString('hex'));
    const ckn = deriveEapCkn(msk, sid, hi, lo);
    expect(Buffer.from(ckn).toString('hex')).toBe(kdfRef(msk.subarray(0, 16), 'IEEE8021 EAP CKN', Buffer.concat([sid, lo, hi])).toString('hex'));
    // symmetric in the MAC order; MSK tail ignored
    const a = deriveMkaKeysFromEap(msk, sid, lo, hi);
    const msk2 = Buffer.from(msk);
    msk2[40] ^= 1;
    const b = deriveMkaKeysFromEap(msk2, sid, hi, lo);
    expect(Buffer.from(a.cak).equals(Buffer.from(b.cak))).toBe(true);
    expect(Buffer.from(a.ckn).equals(Buffer.from(b.ckn))).toBe(true);
    expect(a.cak.length).toBe(16);
    expect(a.ckn.length).toBe(16);
  });
});
