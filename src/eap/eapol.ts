/**
 * EAPOL (IEEE 802.1X-2010 clause 11) PDU and Ethernet frame codec.
 * Decoders never throw; they return a typed error naming the offending field.
 */
import { type Decoded, fail, ok } from './decode.js';

export const ETHERTYPE_EAPOL = 0x888e;
/** Port Access Entity group address 01-80-C2-00-00-03 (802.1X-2010 11.1.1). */
export const PAE_GROUP_ADDRESS: Uint8Array = Uint8Array.of(0x01, 0x80, 0xc2, 0x00, 0x00, 0x03);

export enum EapolType {
  EapPacket = 0,
  Start = 1,
  Logoff = 2,
  Key = 3,
  EncapsulatedAsfAlert = 4,
  Mka = 5,
  AnnouncementGeneric = 6,
  AnnouncementSpecific = 7,
  AnnouncementReq = 8,
}

export interface EapolPdu {
  /** Protocol version, 1 (802.1X-2001), 2 (-2004) or 3 (-2010). Higher values are accepted (11.4 b). */
  readonly version: number;
  readonly type: EapolType | number;
  /** Packet body (exactly bodyLength octets; Ethernet padding is dropped). */
  readonly body: Uint8Array;
}

export interface EthernetFrame {
  readonly dst: Uint8Array;
  readonly src: Uint8Array;
  readonly etherType: number;
  readonly payload: Uint8Array;
}

const EAPOL_HEADER_LEN = 4;
const ETH_HEADER_LEN = 14;

export function decodeEapol(buf: Uint8Array): Decoded<EapolPdu> {
  if (buf.length < EAPOL_HEADER_LEN) return fail('eapol.header', `need ${EAPOL_HEADER_LEN} octets, got ${buf.length}`);
  const version = buf[0]!;
  if (version === 0) return fail('eapol.version', 'protocol version 0 is invalid');
  const type = buf[1]!;
  const bodyLength = (buf[2]! << 8) | buf[3]!;
  if (bodyLength > buf.length - EAPOL_HEADER_LEN) {
    return fail('eapol.bodyLength', `body length ${bodyLength} exceeds the ${buf.length - EAPOL_HEADER_LEN} octets present`);
  }
  return ok({ version, type, body: buf.subarray(EAPOL_HEADER_LEN, EAPOL_HEADER_LEN + bodyLength) });
}

export function encodeEapol(pdu: { version: number; type: number; body?: Uint8Array }): Uint8Array {
  const body = pdu.body ?? new Uint8Array(0);
  if (pdu.version < 1 || pdu.version > 255) throw new RangeError('EAPOL version out of range');
  if (body.length > 0xffff) throw new RangeError('EAPOL body too long');
  const out = new Uint8Array(EAPOL_HEADER_LEN + body.length);
  out[0] = pdu.version;
  out[1] = pdu.type;
  out[2] = body.length >> 8;
  out[3] = body.length & 0xff;
  out.set(body, EAPOL_HEADER_LEN);
  return out;
}

export function decodeEthernet(buf: Uint8Array): Decoded<EthernetFrame> {
  if (buf.length < ETH_HEADER_LEN) return fail('ethernet.header', `need ${ETH_HEADER_LEN} octets, got ${buf.length}`);
  let off = 12;
  let etherType = (buf[off]! << 8) | buf[off + 1]!;
  if (etherType === 0x8100) {
    // single 802.1Q tag: skip it
    if (buf.length < ETH_HEADER_LEN + 4) return fail('ethernet.vlan', 'truncated 802.1Q tag');
    off += 4;
    etherType = (buf[off]! << 8) | buf[off + 1]!;
  }
  return ok({ dst: buf.subarray(0, 6), src: buf.subarray(6, 12), etherType, payload: buf.subarray(off + 2) });
}

/** Builds an untagged Ethernet frame, padded to the 60-octet minimum. */
export function encodeEthernet(dst: Uint8Array, src: Uint8Array, etherType: number, payload: Uint8Array): Uint8Array {
  if (dst.length !== 6 || src.length !== 6) throw new RangeError('MAC addresses must be 6 octets');
  const out = new Uint8Array(Math.max(60, ETH_HEADER_LEN + payload.length));
  out.set(dst, 0);
  out.set(src, 6);
  out[12] = etherType >> 8;
  out[13] = etherType & 0xff;
  out.set(payload, ETH_HEADER_LEN);
  return out;
}

export interface EapolFrame {
  readonly dst: Uint8Array;
  readonly src: Uint8Array;
  readonly pdu: EapolPdu;
}

/** Decodes an Ethernet frame carrying EAPOL. */
export function decodeEapolFrame(buf: Uint8Array): Decoded<EapolFrame> {
  const eth = decodeEthernet(buf);
  if (!eth.ok) return eth;
  if (eth.value.etherType !== ETHERTYPE_EAPOL) {
    return fail('ethernet.etherType', `0x${eth.value.etherType.toString(16)} is not EAPOL (0x888e)`);
  }
  const pdu = decodeEapol(eth.value.payload);
  if (!pdu.ok) return pdu;
  return ok({ dst: eth.value.dst, src: eth.value.src, pdu: pdu.value });
}

export function encodeEapolFrame(dst: Uint8Array, src: Uint8Array, version: number, type: number, body?: Uint8Array): Uint8Array {
  return encodeEthernet(dst, src, ETHERTYPE_EAPOL, encodeEapol(body ? { version, type, body } : { version, type }));
}
