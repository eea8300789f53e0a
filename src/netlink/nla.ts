/**
 * Netlink attribute (TLV) encoding and decoding, independent of any socket.
 * Integers are in host byte order (netlink's convention) unless a helper says
 * "be"; MACsec SCI and SSCI are opaque network-order byte strings (see
 * docs/kernel-secy.md).
 */
import { endianness } from 'node:os';
import { NLA_F_NESTED, NLA_TYPE_MASK } from './uapi.js';

const LE = endianness() === 'LE';
const NLA_HDRLEN = 4;

export const align4 = (n: number): number => (n + 3) & ~3;

/** One encoded attribute: header + payload + padding, as a single buffer. */
export function nla(type: number, payload: Uint8Array): Buffer {
  const len = NLA_HDRLEN + payload.length;
  const out = Buffer.alloc(align4(len));
  writeU16(out, len, 0);
  writeU16(out, type, 2);
  out.set(payload, NLA_HDRLEN);
  return out;
}

/** A nested attribute containing the given (already encoded) attributes. */
export function nlaNest(type: number, children: Uint8Array[]): Buffer {
  return nla(type | NLA_F_NESTED, Buffer.concat(children));
}

function writeU16(buf: Buffer, v: number, off: number): void {
  if (LE) buf.writeUInt16LE(v, off);
  else buf.writeUInt16BE(v, off);
}

export function u8(v: number): Buffer {
  return Buffer.of(v & 0xff);
}
export function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  writeU16(b, v, 0);
  return b;
}
export function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  if (LE) b.writeUInt32LE(v >>> 0, 0);
  else b.writeUInt32BE(v >>> 0, 0);
  return b;
}
export function u64(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  if (LE) b.writeBigUInt64LE(BigInt.asUintN(64, v), 0);
  else b.writeBigUInt64BE(BigInt.asUintN(64, v), 0);
  return b;
}
export function be16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v, 0);
  return b;
}
export function be32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
}
export function cstr(s: string): Buffer {
  return Buffer.concat([Buffer.from(s, 'utf8'), Buffer.of(0)]);
}

// --- decoding ---------------------------------------------------------------------------

export interface Attr {
  type: number;
  nested: boolean;
  data: Buffer;
}

/** Split an attribute stream; stops quietly at a truncated tail. */
export function parseAttrs(buf: Buffer): Attr[] {
  const out: Attr[] = [];
  let off = 0;
  while (off + NLA_HDRLEN <= buf.length) {
    const len = LE ? buf.readUInt16LE(off) : buf.readUInt16BE(off);
    const rawType = LE ? buf.readUInt16LE(off + 2) : buf.readUInt16BE(off + 2);
    if (len < NLA_HDRLEN || off + len > buf.length) break;
    out.push({ type: rawType & NLA_TYPE_MASK, nested: (rawType & NLA_F_NESTED) !== 0, data: buf.subarray(off + NLA_HDRLEN, off + len) });
    off += align4(len);
  }
  return out;
}

/** Attributes by type (last one wins). */
export function attrMap(buf: Buffer): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  for (const a of parseAttrs(buf)) m.set(a.type, a.data);
  return m;
}

export function getU8(b: Buffer | undefined): number | undefined {
  return b && b.length >= 1 ? b.readUInt8(0) : undefined;
}
export function getU32(b: Buffer | undefined): number | undefined {
  if (!b || b.length < 4) return undefined;
  return LE ? b.readUInt32LE(0) : b.readUInt32BE(0);
}
/** u64 in host order; a 4-byte attribute (non-XPN PN) is read as u32. */
export function getUint(b: Buffer | undefined): bigint | undefined {
  if (!b) return undefined;
  if (b.length >= 8) return LE ? b.readBigUInt64LE(0) : b.readBigUInt64BE(0);
  if (b.length >= 4) return BigInt(getU32(b)!);
  if (b.length >= 2) return BigInt(LE ? b.readUInt16LE(0) : b.readUInt16BE(0));
  if (b.length >= 1) return BigInt(b.readUInt8(0));
  return undefined;
}
export function getCStr(b: Buffer | undefined): string | undefined {
  if (!b) return undefined;
  const z = b.indexOf(0);
  return b.subarray(0, z < 0 ? b.length : z).toString('utf8');
}
