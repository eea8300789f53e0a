/**
 * MKA CAK/CKN from EAP keying material (IEEE 802.1X-2010 6.2.2), derived the same way as
 * wpa_supplicant (src/pae/ieee802_1x_key.c, wpa_supplicant/wpas_kay.c):
 *   CAK = KDF(MSK[0..15], "IEEE8021 EAP CAK", mac1 | mac2, 128)
 *   CKN = KDF(MSK[0..15], "IEEE8021 EAP CKN", EAP Session-Id | mac1 | mac2, 128)
 * where mac1 is the numerically lower of the two MAC addresses. wpa_supplicant uses its own
 * address and the source address of the authenticator's EAPOL frames.
 */
import { kdf } from '../mka/crypto.js';

export const EAP_CAK_LEN = 16;
export const EAP_CKN_LEN = 16;

function orderedMacs(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length !== 6 || b.length !== 6) throw new RangeError('MAC addresses must be 6 octets');
  let first = a;
  let second = b;
  for (let i = 0; i < 6; i++) {
    if (a[i] !== b[i]) {
      if (a[i]! > b[i]!) {
        first = b;
        second = a;
      }
      break;
    }
  }
  const out = new Uint8Array(12);
  out.set(first, 0);
  out.set(second, 6);
  return out;
}

export interface MkaKeysFromEap {
  /** 128-bit CAK. */
  readonly cak: Uint8Array;
  /** 128-bit CKN. */
  readonly ckn: Uint8Array;
}

/** CAK from the MSK: only MSK[0..15] is used (wpa_supplicant DEFAULT_KEY_LEN). */
export function deriveEapCak(msk: Uint8Array, mac1: Uint8Array, mac2: Uint8Array): Uint8Array {
  if (msk.length < 16) throw new RangeError('MSK must be at least 16 octets');
  return kdf(msk.subarray(0, 16), 'IEEE8021 EAP CAK', orderedMacs(mac1, mac2), 128);
}

export function deriveEapCkn(msk: Uint8Array, sessionId: Uint8Array, mac1: Uint8Array, mac2: Uint8Array): Uint8Array {
  if (msk.length < 16) throw new RangeError('MSK must be at least 16 octets');
  const ctx = new Uint8Array(sessionId.length + 12);
  ctx.set(sessionId, 0);
  ctx.set(orderedMacs(mac1, mac2), sessionId.length);
  return kdf(msk.subarray(0, 16), 'IEEE8021 EAP CKN', ctx, 128);
}

/** Both keys at once; the MAC order does not matter (they are sorted). */
export function deriveMkaKeysFromEap(msk: Uint8Array, sessionId: Uint8Array, ownMac: Uint8Array, peerMac: Uint8Array): MkaKeysFromEap {
  return { cak: deriveEapCak(msk, ownMac, peerMac), ckn: deriveEapCkn(msk, sessionId, ownMac, peerMac) };
}
