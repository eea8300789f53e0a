/**
 * Reading and writing capture files without libpcap: classic pcap (µs and ns, either byte
 * order) and pcapng, link types Ethernet and Linux cooked (SLL). Pure functions over bytes,
 * so the capture decoder works on any file an operator brings, on any machine.
 */
import { MacsecError } from '../common/errors.js';

export interface CapturedFrame {
  /** 1-based frame number, as Wireshark counts. */
  index: number;
  /** Seconds since the epoch (fractional). */
  time: number;
  /** Ethernet frame (SLL captures are rebuilt as Ethernet; see below). */
  data: Uint8Array;
}

export class PcapError extends MacsecError {
  constructor(message: string) {
    super('pcap_invalid', message);
  }
}

const LINKTYPE_ETHERNET = 1;
const LINKTYPE_LINUX_SLL = 113;

export function readCapture(buf: Uint8Array): CapturedFrame[] {
  if (buf.length < 4) throw new PcapError('file is too short to be a capture');
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magicBE = v.getUint32(0, false);
  if (magicBE === 0x0a0d0d0a) return readPcapng(buf, v);
  const classic: Record<number, { le: boolean; nano: boolean }> = {
    0xa1b2c3d4: { le: false, nano: false },
    0xd4c3b2a1: { le: true, nano: false },
    0xa1b23c4d: { le: false, nano: true },
    0x4d3cb2a1: { le: true, nano: true },
  };
  const fmt = classic[magicBE];
  if (!fmt) throw new PcapError('not a pcap or pcapng file (unknown magic number)');
  return readClassic(buf, v, fmt.le, fmt.nano);
}

function readClassic(buf: Uint8Array, v: DataView, le: boolean, nano: boolean): CapturedFrame[] {
  if (buf.length < 24) throw new PcapError('pcap global header is truncated');
  const linkType = v.getUint32(20, le) & 0xffff;
  const frames: CapturedFrame[] = [];
  let off = 24;
  while (off < buf.length) {
    if (off + 16 > buf.length) throw new PcapError(`frame ${frames.length + 1}: record header is truncated`);
    const sec = v.getUint32(off, le);
    const frac = v.getUint32(off + 4, le);
    const caplen = v.getUint32(off + 8, le);
    if (off + 16 + caplen > buf.length) throw new PcapError(`frame ${frames.length + 1}: record data is truncated`);
    const raw = buf.slice(off + 16, off + 16 + caplen);
    frames.push({ index: frames.length + 1, time: sec + frac / (nano ? 1e9 : 1e6), data: toEthernet(raw, linkType, frames.length + 1) });
    off += 16 + caplen;
  }
  return frames;
}

function readPcapng(buf: Uint8Array, v: DataView): CapturedFrame[] {
  const frames: CapturedFrame[] = [];
  const ifaces: { linkType: number; tsDiv: number }[] = [];
  let le = true;
  let off = 0;
  while (off < buf.length) {
    if (off + 12 > buf.length) throw new PcapError('pcapng block header is truncated');
    const type = v.getUint32(off, le);
    if (type === 0x0a0d0d0a) {
      // Section header: the byte-order magic decides how to read the rest of the section.
      le = v.getUint32(off + 8, true) === 0x1a2b3c4d;
      ifaces.length = 0;
    }
    const len = v.getUint32(off + 4, le);
    if (len < 12 || len % 4 !== 0 || off + len > buf.length) throw new PcapError(`pcapng block at offset ${off} has a bad length`);
    if (type === 1) {
      ifaces.push({ linkType: v.getUint16(off + 8, le), tsDiv: ifTsDivisor(buf, v, off, len, le) });
    } else if (type === 6) {
      const ifId = v.getUint32(off + 8, le);
      const iface = ifaces[ifId];
      if (!iface) throw new PcapError(`frame ${frames.length + 1}: unknown interface ${ifId}`);
      const ts = v.getUint32(off + 12, le) * 2 ** 32 + v.getUint32(off + 16, le);
      const caplen = v.getUint32(off + 20, le);
      if (28 + caplen > len) throw new PcapError(`frame ${frames.length + 1}: packet data is truncated`);
      const raw = buf.slice(off + 28, off + 28 + caplen);
      frames.push({ index: frames.length + 1, time: ts / iface.tsDiv, data: toEthernet(raw, iface.linkType, frames.length + 1) });
    } else if (type === 3) {
      const iface = ifaces[0];
      if (!iface) throw new PcapError('simple packet block before any interface');
      const caplen = Math.min(v.getUint32(off + 8, le), len - 16);
      frames.push({ index: frames.length + 1, time: 0, data: toEthernet(buf.slice(off + 12, off + 12 + caplen), iface.linkType, frames.length + 1) });
    }
    off += len;
  }
  return frames;
}

/** Timestamp resolution of an interface (option if_tsresol, default microseconds). */
function ifTsDivisor(buf: Uint8Array, v: DataView, off: number, len: number, le: boolean): number {
  let p = off + 16;
  const end = off + len - 4;
  while (p + 4 <= end) {
    const code = v.getUint16(p, le);
    const olen = v.getUint16(p + 2, le);
    if (code === 0) break;
    if (code === 9 && olen >= 1) {
      const r = buf[p + 4]!;
      return r & 0x80 ? 2 ** (r & 0x7f) : 10 ** r;
    }
    p += 4 + ((olen + 3) & ~3);
  }
  return 1e6;
}

/**
 * Linux cooked captures lack the destination address; MKPDUs go to the PAE group address,
 * so that is what we put back (the ICV covers it). Other destinations cannot be recovered.
 */
function toEthernet(raw: Uint8Array, linkType: number, index: number): Uint8Array {
  if (linkType === LINKTYPE_ETHERNET) return raw;
  if (linkType === LINKTYPE_LINUX_SLL) {
    if (raw.length < 16) throw new PcapError(`frame ${index}: SLL header is truncated`);
    const eth = new Uint8Array(raw.length - 2);
    eth.set([0x01, 0x80, 0xc2, 0x00, 0x00, 0x03], 0);
    eth.set(raw.subarray(6, 12), 6); // link-layer source address
    eth.set(raw.subarray(14), 12); // protocol + payload
    return eth;
  }
  throw new PcapError(`unsupported link type ${linkType} (Ethernet and Linux cooked are supported)`);
}

/** Writes a classic little-endian microsecond pcap with Ethernet link type. */
export function writePcap(frames: readonly { time: number; data: Uint8Array }[]): Uint8Array {
  const size = 24 + frames.reduce((n, f) => n + 16 + f.data.length, 0);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, 0xa1b2c3d4, true);
  v.setUint16(4, 2, true);
  v.setUint16(6, 4, true);
  v.setUint32(16, 65535, true);
  v.setUint32(20, LINKTYPE_ETHERNET, true);
  let off = 24;
  for (const f of frames) {
    const sec = Math.floor(f.time);
    v.setUint32(off, sec, true);
    v.setUint32(off + 4, Math.round((f.time - sec) * 1e6), true);
    v.setUint32(off + 8, f.data.length, true);
    v.setUint32(off + 12, f.data.length, true);
    out.set(f.data, off + 16);
    off += 16 + f.data.length;
  }
  return out;
}
