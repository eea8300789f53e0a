/**
 * EAP (RFC 3748) and EAP-TLS (RFC 5216 / RFC 9190) packet codec.
 * Decoders never throw; they return a typed error naming the offending field.
 */
import { type Decoded, fail, ok } from './decode.js';

export enum EapCode {
  Request = 1,
  Response = 2,
  Success = 3,
  Failure = 4,
}

export enum EapType {
  Identity = 1,
  Notification = 2,
  Nak = 3,
  Md5Challenge = 4,
  Tls = 13,
  Expanded = 254,
}

export interface EapPacket {
  readonly code: EapCode;
  readonly id: number;
  /** Method type for Request/Response; undefined for Success/Failure. */
  readonly type?: number;
  /** Type-Data (after the type octet); empty for Success/Failure. */
  readonly data: Uint8Array;
}

const EAP_HEADER_LEN = 4;

export function decodeEap(buf: Uint8Array): Decoded<EapPacket> {
  if (buf.length < EAP_HEADER_LEN) return fail('eap.header', `need ${EAP_HEADER_LEN} octets, got ${buf.length}`);
  const code = buf[0]!;
  const id = buf[1]!;
  const length = (buf[2]! << 8) | buf[3]!;
  if (code < EapCode.Request || code > EapCode.Failure) return fail('eap.code', `unknown code ${code}`);
  if (length < EAP_HEADER_LEN) return fail('eap.length', `length ${length} is below the 4-octet header`);
  if (length > buf.length) return fail('eap.length', `length ${length} exceeds the ${buf.length} octets present`);
  if (code === EapCode.Success || code === EapCode.Failure) {
    if (length !== EAP_HEADER_LEN) return fail('eap.length', `Success/Failure must be 4 octets, got ${length}`);
    return ok({ code, id, data: new Uint8Array(0) });
  }
  if (length < EAP_HEADER_LEN + 1) return fail('eap.type', 'Request/Response without a type octet');
  return ok({ code, id, type: buf[4]!, data: buf.subarray(5, length) });
}

export function encodeEap(p: { code: EapCode; id: number; type?: number; data?: Uint8Array }): Uint8Array {
  const data = p.data ?? new Uint8Array(0);
  const hasType = p.code === EapCode.Request || p.code === EapCode.Response;
  if (hasType && p.type === undefined) throw new RangeError('EAP Request/Response needs a type');
  const len = EAP_HEADER_LEN + (hasType ? 1 + data.length : 0);
  if (len > 0xffff) throw new RangeError('EAP packet too long');
  const out = new Uint8Array(len);
  out[0] = p.code;
  out[1] = p.id & 0xff;
  out[2] = len >> 8;
  out[3] = len & 0xff;
  if (hasType) {
    out[4] = p.type!;
    out.set(data, 5);
  }
  return out;
}

/** Identity / Notification Type-Data as UTF-8 text. */
export function eapIdentityText(p: EapPacket): string {
  return Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength).toString('utf8');
}

export function encodeIdentityResponse(id: number, identity: string): Uint8Array {
  return encodeEap({ code: EapCode.Response, id, type: EapType.Identity, data: new TextEncoder().encode(identity) });
}

export function encodeIdentityRequest(id: number): Uint8Array {
  return encodeEap({ code: EapCode.Request, id, type: EapType.Identity });
}

export function encodeNak(id: number, desired: number[]): Uint8Array {
  return encodeEap({ code: EapCode.Response, id, type: EapType.Nak, data: Uint8Array.from(desired) });
}

// ---------------------------------------------------------------------------------------------
// EAP-TLS Type-Data: Flags | [TLS Message Length (4)] | TLS data (RFC 5216 3.1)

export const EAPTLS_FLAG_LENGTH = 0x80;
export const EAPTLS_FLAG_MORE = 0x40;
export const EAPTLS_FLAG_START = 0x20;

export interface EapTlsData {
  /** L: TLS Message Length field present. */
  readonly lengthIncluded: boolean;
  /** M: more fragments follow. */
  readonly more: boolean;
  /** S: EAP-TLS start. */
  readonly start: boolean;
  /** Total TLS message length when L is set. */
  readonly tlsMessageLength?: number;
  readonly data: Uint8Array;
}

export function decodeEapTls(typeData: Uint8Array): Decoded<EapTlsData> {
  if (typeData.length < 1) return fail('eaptls.flags', 'missing flags octet');
  const flags = typeData[0]!;
  const lengthIncluded = (flags & EAPTLS_FLAG_LENGTH) !== 0;
  const more = (flags & EAPTLS_FLAG_MORE) !== 0;
  const start = (flags & EAPTLS_FLAG_START) !== 0;
  if (!lengthIncluded) return ok({ lengthIncluded, more, start, data: typeData.subarray(1) });
  if (typeData.length < 5) return fail('eaptls.tlsMessageLength', 'L flag set but the 4-octet length is truncated');
  const tlsMessageLength = ((typeData[1]! << 24) | (typeData[2]! << 16) | (typeData[3]! << 8) | typeData[4]!) >>> 0;
  const data = typeData.subarray(5);
  if (data.length > tlsMessageLength) {
    return fail('eaptls.tlsMessageLength', `fragment of ${data.length} octets exceeds the announced ${tlsMessageLength}`);
  }
  return ok({ lengthIncluded, more, start, tlsMessageLength, data });
}

export function encodeEapTls(p: { start?: boolean; more?: boolean; tlsMessageLength?: number; data?: Uint8Array }): Uint8Array {
  const data = p.data ?? new Uint8Array(0);
  const hasLen = p.tlsMessageLength !== undefined;
  const out = new Uint8Array(1 + (hasLen ? 4 : 0) + data.length);
  out[0] = (hasLen ? EAPTLS_FLAG_LENGTH : 0) | (p.more ? EAPTLS_FLAG_MORE : 0) | (p.start ? EAPTLS_FLAG_START : 0);
  let off = 1;
  if (hasLen) {
    const l = p.tlsMessageLength! >>> 0;
    out[1] = l >>> 24;
    out[2] = (l >>> 16) & 0xff;
    out[3] = (l >>> 8) & 0xff;
    out[4] = l & 0xff;
    off = 5;
  }
  out.set(data, off);
  return out;
}

/** Builds an EAP-TLS packet (Request or Response). */
export function encodeEapTlsPacket(code: EapCode.Request | EapCode.Response, id: number, tls: Parameters<typeof encodeEapTls>[0]): Uint8Array {
  return encodeEap({ code, id, type: EapType.Tls, data: encodeEapTls(tls) });
}

export function eapCodeName(code: number): string {
  return EapCode[code] ?? `code${code}`;
}
