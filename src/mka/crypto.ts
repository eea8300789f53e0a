/**
 * MKA key hierarchy (IEEE 802.1X-2010 6.2, 9.3.3, 9.4.1, 9.8.1) on AES-CMAC and AES key wrap.
 * All inputs and outputs are raw octets. Callers own the buffers they get back and should
 * zero them (zeroize) when the key is retired.
 */
import { aeskw, cmac } from '@noble/ciphers/aes.js';
import { timingSafeEqual } from 'node:crypto';
import { ICV_LEN, MI_LEN } from './constants.js';

const encoder = new TextEncoder();

/** AES-CMAC (RFC 4493) with a 128- or 256-bit key. */
export function aesCmac(key: Uint8Array, msg: Uint8Array): Uint8Array {
  return cmac(msg, key);
}

/**
 * KDF of 802.1X-2010 6.2.1 (SP 800-108 counter mode with AES-CMAC):
 * for i = 1..ceil(L/128): CMAC(Key, i | Label | 0x00 | Context | L(16 bits)).
 */
export function kdf(key: Uint8Array, label: string, context: Uint8Array, bits: number): Uint8Array {
  if (key.length !== 16 && key.length !== 32) throw new RangeError('KDF key must be 128 or 256 bits');
  if (bits <= 0 || bits % 8 !== 0 || bits > 0xffff) throw new RangeError('KDF output length invalid');
  const labelBytes = encoder.encode(label);
  const input = new Uint8Array(1 + labelBytes.length + 1 + context.length + 2);
  input.set(labelBytes, 1);
  input.set(context, 2 + labelBytes.length);
  input[input.length - 2] = bits >> 8;
  input[input.length - 1] = bits & 0xff;
  const out = new Uint8Array(bits / 8);
  for (let i = 1, off = 0; off < out.length; i++, off += 16) {
    input[0] = i;
    const block = cmac(input, key);
    out.set(block.subarray(0, Math.min(16, out.length - off)), off);
  }
  input.fill(0);
  return out;
}

/** The first 16 octets of the CKN, zero-padded: the context of the KEK and ICK derivations. */
function cknContext(ckn: Uint8Array): Uint8Array {
  const ctx = new Uint8Array(16);
  ctx.set(ckn.subarray(0, 16));
  return ctx;
}

/** KEK = KDF(CAK, "IEEE8021 KEK", CKN[0..15], |CAK|) (9.3.3). */
export function deriveKek(cak: Uint8Array, ckn: Uint8Array): Uint8Array {
  return kdf(cak, 'IEEE8021 KEK', cknContext(ckn), cak.length * 8);
}

/** ICK = KDF(CAK, "IEEE8021 ICK", CKN[0..15], |CAK|) (9.3.3). */
export function deriveIck(cak: Uint8Array, ckn: Uint8Array): Uint8Array {
  return kdf(cak, 'IEEE8021 ICK', cknContext(ckn), cak.length * 8);
}

/** ICV = AES-CMAC(ICK, frame from destination address to the end of the last parameter set) (9.4.1). */
export function computeIcv(ick: Uint8Array, signed: Uint8Array): Uint8Array {
  const mac = cmac(signed, ick);
  return mac.length === ICV_LEN ? mac : mac.subarray(0, ICV_LEN);
}

/** Constant-time comparison of two MACs; false on a length mismatch. */
export function macEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

export function verifyIcv(ick: Uint8Array, signed: Uint8Array, icv: Uint8Array): boolean {
  return macEqual(computeIcv(ick, signed), icv);
}

/**
 * SAK = KDF(CAK, "IEEE8021 SAK", KS-nonce | MI of every live member | KN(32 bits), bits) (9.8.1).
 * The KS-nonce must be fresh random octets as long as the SAK.
 */
export function deriveSak(cak: Uint8Array, ksNonce: Uint8Array, miList: readonly Uint8Array[], kn: number, bits: number): Uint8Array {
  const ctx = new Uint8Array(ksNonce.length + miList.length * MI_LEN + 4);
  ctx.set(ksNonce, 0);
  miList.forEach((mi, i) => ctx.set(mi, ksNonce.length + i * MI_LEN));
  new DataView(ctx.buffer).setUint32(ctx.length - 4, kn >>> 0);
  const sak = kdf(cak, 'IEEE8021 SAK', ctx, bits);
  ctx.fill(0);
  return sak;
}

/** RFC 3394 AES key wrap of a SAK or CAK with the KEK. */
export function wrapKey(kek: Uint8Array, key: Uint8Array): Uint8Array {
  return aeskw(kek).encrypt(key);
}

/** RFC 3394 unwrap; null when the integrity check fails (wrong KEK or tampered data). */
export function unwrapKey(kek: Uint8Array, wrapped: Uint8Array): Uint8Array | null {
  if (wrapped.length < 24 || wrapped.length % 8 !== 0) return null;
  try {
    return aeskw(kek).decrypt(wrapped);
  } catch {
    return null;
  }
}

/**
 * XPN salt (96 bits) for a SAK (IEEE 802.1AE-2018 10.7.8): the 64 least significant bits are
 * those of the key server's MI (octets 4-11); the next 16 bits are MI octets 2-3 XOR the 16 most
 * significant bits of KN; the 16 most significant bits are MI octets 0-1 XOR the 16 least
 * significant bits of KN. Both ends compute it from the Key Identifier alone.
 */
export function deriveXpnSalt(keyServerMi: Uint8Array, kn: number): Uint8Array {
  const salt = Uint8Array.from(keyServerMi.subarray(0, MI_LEN));
  salt[0]! ^= (kn >>> 8) & 0xff;
  salt[1]! ^= kn & 0xff;
  salt[2]! ^= (kn >>> 24) & 0xff;
  salt[3]! ^= (kn >>> 16) & 0xff;
  return salt;
}

/** Overwrite key material we own. */
export function zeroize(...bufs: (Uint8Array | null | undefined)[]): void {
  for (const b of bufs) b?.fill(0);
}
