/**
 * RADIUS packet codec and cryptography (RFC 2865, 2869, 3579, 2548). Pure: no sockets.
 * Decoders never throw; they return a typed error naming the offending field.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { type Decoded, fail, ok } from './decode.js';

export enum RadiusCode {
  AccessRequest = 1,
  AccessAccept = 2,
  AccessReject = 3,
  AccountingRequest = 4,
  AccountingResponse = 5,
  AccessChallenge = 11,
  StatusServer = 12,
  StatusClient = 13,
}

export const Attr = {
  UserName: 1,
  NasIpAddress: 4,
  NasPort: 5,
  ServiceType: 6,
  FramedMtu: 12,
  ReplyMessage: 18,
  State: 24,
  Class: 25,
  VendorSpecific: 26,
  SessionTimeout: 27,
  CalledStationId: 30,
  CallingStationId: 31,
  NasIdentifier: 32,
  AcctSessionId: 44,
  NasPortType: 61,
  ConnectInfo: 77,
  EapMessage: 79,
  MessageAuthenticator: 80,
  NasPortId: 87,
  EapKeyName: 102,
} as const;

export const VENDOR_MICROSOFT = 311;
export const MS_MPPE_SEND_KEY = 16;
export const MS_MPPE_RECV_KEY = 17;
export const NAS_PORT_TYPE_ETHERNET = 15;

export const RADIUS_HEADER_LEN = 20;
export const RADIUS_MAX_LEN = 4096;
export const MAX_ATTR_VALUE = 253;

export interface RadiusAttribute {
  readonly type: number;
  readonly value: Uint8Array;
}

export interface RadiusPacket {
  readonly code: number;
  readonly id: number;
  readonly authenticator: Uint8Array;
  readonly attributes: readonly RadiusAttribute[];
}

export function decodeRadius(buf: Uint8Array): Decoded<RadiusPacket> {
  if (buf.length < RADIUS_HEADER_LEN) return fail('radius.header', `need ${RADIUS_HEADER_LEN} octets, got ${buf.length}`);
  const code = buf[0]!;
  const id = buf[1]!;
  const length = (buf[2]! << 8) | buf[3]!;
  if (length < RADIUS_HEADER_LEN || length > RADIUS_MAX_LEN) return fail('radius.length', `length ${length} outside 20..4096`);
  if (length > buf.length) return fail('radius.length', `length ${length} exceeds the ${buf.length} octets received`);
  const attributes: RadiusAttribute[] = [];
  let off = RADIUS_HEADER_LEN;
  while (off < length) {
    if (off + 2 > length) return fail(`radius.attribute[${attributes.length}]`, 'truncated attribute header');
    const type = buf[off]!;
    const alen = buf[off + 1]!;
    if (alen < 2) return fail(`radius.attribute[${attributes.length}].length`, `attribute length ${alen} < 2`);
    if (off + alen > length) return fail(`radius.attribute[${attributes.length}].length`, `attribute type ${type} overruns the packet`);
    attributes.push({ type, value: buf.subarray(off + 2, off + alen) });
    off += alen;
  }
  return ok({ code, id, authenticator: buf.subarray(4, 20), attributes });
}

export function encodeRadius(p: RadiusPacket): Uint8Array {
  let len = RADIUS_HEADER_LEN;
  for (const a of p.attributes) {
    if (a.value.length > MAX_ATTR_VALUE) throw new RangeError(`attribute ${a.type} value longer than 253 octets`);
    len += 2 + a.value.length;
  }
  if (len > RADIUS_MAX_LEN) throw new RangeError('RADIUS packet longer than 4096 octets');
  if (p.authenticator.length !== 16) throw new RangeError('authenticator must be 16 octets');
  const out = new Uint8Array(len);
  out[0] = p.code;
  out[1] = p.id;
  out[2] = len >> 8;
  out[3] = len & 0xff;
  out.set(p.authenticator, 4);
  let off = RADIUS_HEADER_LEN;
  for (const a of p.attributes) {
    out[off] = a.type;
    out[off + 1] = a.value.length + 2;
    out.set(a.value, off + 2);
    off += 2 + a.value.length;
  }
  return out;
}

export function getAttribute(p: RadiusPacket, type: number): Uint8Array | undefined {
  return p.attributes.find((a) => a.type === type)?.value;
}

export function getAttributes(p: RadiusPacket, type: number): Uint8Array[] {
  return p.attributes.filter((a) => a.type === type).map((a) => a.value);
}

/** Splits an EAP packet into EAP-Message attributes of at most 253 octets (RFC 3579 3.1). */
export function eapMessageAttributes(eap: Uint8Array): RadiusAttribute[] {
  const out: RadiusAttribute[] = [];
  for (let off = 0; off < eap.length; off += MAX_ATTR_VALUE) {
    out.push({ type: Attr.EapMessage, value: eap.subarray(off, Math.min(eap.length, off + MAX_ATTR_VALUE)) });
  }
  return out;
}

/** Concatenates the EAP-Message attributes of a packet; undefined when there are none. */
export function joinEapMessage(p: RadiusPacket): Uint8Array | undefined {
  const parts = getAttributes(p, Attr.EapMessage);
  if (parts.length === 0) return undefined;
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}

export interface VendorAttribute {
  readonly vendorId: number;
  readonly type: number;
  readonly value: Uint8Array;
}

/** Decodes a Vendor-Specific attribute value in the RFC 2865 suggested format. */
export function decodeVendorSpecific(value: Uint8Array): Decoded<VendorAttribute[]> {
  if (value.length < 4) return fail('radius.vsa.vendorId', 'Vendor-Specific shorter than 4 octets');
  const vendorId = ((value[0]! << 24) | (value[1]! << 16) | (value[2]! << 8) | value[3]!) >>> 0;
  const out: VendorAttribute[] = [];
  let off = 4;
  while (off < value.length) {
    if (off + 2 > value.length) return fail('radius.vsa.header', 'truncated vendor attribute header');
    const type = value[off]!;
    const len = value[off + 1]!;
    if (len < 2 || off + len > value.length) return fail('radius.vsa.length', `vendor attribute length ${len} invalid`);
    out.push({ vendorId, type, value: value.subarray(off + 2, off + len) });
    off += len;
  }
  return ok(out);
}

export function encodeVendorSpecific(vendorId: number, type: number, value: Uint8Array): RadiusAttribute {
  const v = new Uint8Array(6 + value.length);
  new DataView(v.buffer).setUint32(0, vendorId);
  v[4] = type;
  v[5] = value.length + 2;
  v.set(value, 6);
  return { type: Attr.VendorSpecific, value: v };
}

export function findVendorAttribute(p: RadiusPacket, vendorId: number, type: number): Uint8Array | undefined {
  for (const v of getAttributes(p, Attr.VendorSpecific)) {
    const d = decodeVendorSpecific(v);
    if (!d.ok) continue;
    const hit = d.value.find((a) => a.vendorId === vendorId && a.type === type);
    if (hit) return hit.value;
  }
  return undefined;
}

function md5(...parts: Uint8Array[]): Buffer {
  const h = createHash('md5');
  for (const p of parts) h.update(p);
  return h.digest();
}

function ctEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

const enc = new TextEncoder();
function secretBytes(secret: string | Uint8Array): Uint8Array {
  return typeof secret === 'string' ? enc.encode(secret) : secret;
}

/** Offset of the Message-Authenticator value in an encoded packet, or -1. */
function messageAuthenticatorOffset(buf: Uint8Array): number {
  const length = Math.min(buf.length, (buf[2]! << 8) | buf[3]!);
  let off = RADIUS_HEADER_LEN;
  while (off + 2 <= length) {
    const alen = buf[off + 1]!;
    if (alen < 2) return -1;
    if (buf[off] === Attr.MessageAuthenticator && alen === 18) return off + 2;
    off += alen;
  }
  return -1;
}

/**
 * Fills the Message-Authenticator (RFC 3579 3.2) in place: HMAC-MD5 over the packet with the
 * attribute zeroed; `authenticatorForMac` replaces octets 4..19 (the Request Authenticator for replies).
 */
export function signMessageAuthenticator(buf: Uint8Array, secret: string | Uint8Array, authenticatorForMac?: Uint8Array): void {
  const off = messageAuthenticatorOffset(buf);
  if (off < 0) throw new Error('packet has no Message-Authenticator attribute');
  buf.fill(0, off, off + 16);
  const copy = Uint8Array.from(buf);
  if (authenticatorForMac) copy.set(authenticatorForMac, 4);
  const mac = createHmac('md5', secretBytes(secret)).update(copy).digest();
  buf.set(mac, off);
}

/** Verifies a Message-Authenticator in constant time; false if absent or wrong. */
export function verifyMessageAuthenticator(buf: Uint8Array, secret: string | Uint8Array, authenticatorForMac?: Uint8Array): boolean {
  const off = messageAuthenticatorOffset(buf);
  if (off < 0) return false;
  const received = Uint8Array.from(buf.subarray(off, off + 16));
  const copy = Uint8Array.from(buf.subarray(0, (buf[2]! << 8) | buf[3]!));
  copy.fill(0, off, off + 16);
  if (authenticatorForMac) copy.set(authenticatorForMac, 4);
  const mac = createHmac('md5', secretBytes(secret)).update(copy).digest();
  return ctEqual(mac, received);
}

/** Response Authenticator = MD5(Code|ID|Length|RequestAuth|Attributes|Secret) (RFC 2865 3). */
export function computeResponseAuthenticator(reply: Uint8Array, requestAuthenticator: Uint8Array, secret: string | Uint8Array): Buffer {
  const len = (reply[2]! << 8) | reply[3]!;
  return md5(reply.subarray(0, 4), requestAuthenticator, reply.subarray(20, len), secretBytes(secret));
}

export function signResponse(reply: Uint8Array, requestAuthenticator: Uint8Array, secret: string | Uint8Array): void {
  if (messageAuthenticatorOffset(reply) >= 0) signMessageAuthenticator(reply, secret, requestAuthenticator);
  reply.set(computeResponseAuthenticator(reply, requestAuthenticator, secret), 4);
}

export function verifyResponseAuthenticator(reply: Uint8Array, requestAuthenticator: Uint8Array, secret: string | Uint8Array): boolean {
  return ctEqual(computeResponseAuthenticator(reply, requestAuthenticator, secret), reply.subarray(4, 20));
}

/**
 * MS-MPPE-Send/Recv-Key decryption (RFC 2548 2.4.2/2.4.3): Salt(2) | C, with
 * b(1) = MD5(S | R | Salt), b(i) = MD5(S | c(i-1)), P = key-length | key | padding.
 */
export function decryptMppeKey(value: Uint8Array, secret: string | Uint8Array, requestAuthenticator: Uint8Array): Decoded<Uint8Array> {
  if (value.length < 2 + 16) return fail('radius.mppe.length', `MPPE key attribute of ${value.length} octets is too short`);
  if ((value[0]! & 0x80) === 0) return fail('radius.mppe.salt', 'salt high bit not set');
  const c = value.subarray(2);
  if (c.length % 16 !== 0) return fail('radius.mppe.length', 'encrypted part is not a multiple of 16 octets');
  const s = secretBytes(secret);
  const p = new Uint8Array(c.length);
  let prev: Uint8Array = Buffer.concat([requestAuthenticator, value.subarray(0, 2)]);
  for (let i = 0; i < c.length; i += 16) {
    const b = md5(s, prev);
    for (let j = 0; j < 16; j++) p[i + j] = c[i + j]! ^ b[j]!;
    prev = c.subarray(i, i + 16);
  }
  const keyLen = p[0]!;
  if (keyLen === 0 || keyLen > p.length - 1) {
    p.fill(0);
    return fail('radius.mppe.keyLength', 'decrypted key length is invalid (wrong shared secret?)');
  }
  const key = Uint8Array.from(p.subarray(1, 1 + keyLen));
  p.fill(0);
  return ok(key);
}

/** MPPE key encryption (for tests and a future RADIUS server role). */
export function encryptMppeKey(key: Uint8Array, secret: string | Uint8Array, requestAuthenticator: Uint8Array, salt: Uint8Array): Uint8Array {
  const plen = Math.ceil((key.length + 1) / 16) * 16;
  const p = new Uint8Array(plen);
  p[0] = key.length;
  p.set(key, 1);
  const s = secretBytes(secret);
  const out = new Uint8Array(2 + plen);
  out[0] = salt[0]! | 0x80;
  out[1] = salt[1]!;
  let prev: Uint8Array = Buffer.concat([requestAuthenticator, out.subarray(0, 2)]);
  for (let i = 0; i < plen; i += 16) {
    const b = md5(s, prev);
    for (let j = 0; j < 16; j++) out[2 + i + j] = p[i + j]! ^ b[j]!;
    prev = out.subarray(2 + i, 2 + i + 16);
  }
  return out;
}

export function radiusCodeName(code: number): string {
  return RadiusCode[code] ?? `code${code}`;
}
