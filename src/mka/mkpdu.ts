/**
 * MKPDU codec: Ethernet + EAPOL-MKA framing and every parameter set of 802.1X-2010/2020.
 *
 * decodeMkpdu never throws: a structurally broken MKPDU (framing, Basic Parameter Set, a
 * parameter set running past the end, a misplaced ICV Indicator) yields { ok: false, error }
 * naming the field. A known parameter set that cannot be used (impossible body length, a
 * repeated type) is left out of `sets` and listed in `ignored`; the rest of the MKPDU still
 * counts (forward compatibility, docs/mka.md). Unknown types are kept as `unknown` sets.
 * encodeMkpdu appends the ICV computed with the ICK. encode(decode(x)) reproduces x octet
 * for octet when x has zero padding, no trailing Ethernet padding and nothing ignored.
 */
import { MacsecError } from '../common/errors.js';
import {
  ALGORITHM_AGILITY_8021X_2010,
  CKN_MAX_LEN,
  EAPOL_TYPE_MKA,
  ETHERTYPE_EAPOL,
  ICV_LEN,
  MI_LEN,
  PS_ANNOUNCEMENT,
  PS_DISTRIBUTED_CAK,
  PS_DISTRIBUTED_SAK,
  PS_ICV_INDICATOR,
  PS_KMD,
  PS_LIVE_PEERS,
  PS_POTENTIAL_PEERS,
  PS_SAK_USE,
  PS_XPN,
  TLV_MACSEC_CIPHER_SUITES,
} from './constants.js';
import { computeIcv } from './crypto.js';
import type { AnnouncementTlv, BasicParamSet, CipherSuiteAnnouncement, DecodedMkpdu, IgnoredParamSet, MemberId, Mkpdu, ParamSet, SakUseKey } from './types.js';

const ETH_HDR = 14;
const VLAN_TPID = 0x8100;
const EAPOL_HDR = 4;
const PS_HDR = 4;
const BASIC_FIXED = 28; // body octets before the CKN
const SAK_USE_BODY = 40;
const MAX_BODY_12BIT = 0xfff;

export class MkpduError {
  constructor(
    /** Dotted name of the offending field, e.g. "distributedSak.bodyLength". */
    readonly field: string,
    readonly message: string,
    /** Octet offset in the frame where the problem was found. */
    readonly offset: number,
  ) {}
  toString(): string {
    return `${this.field}: ${this.message} (at octet ${this.offset})`;
  }
}

export type DecodeResult = { ok: true; value: DecodedMkpdu } | { ok: false; error: MkpduError };

export interface DecodeOptions {
  /**
   * Length of the CAK in use, to split a Distributed CAK body into key wrap and CKN. Default:
   * a 16-octet CAK when the body fits one, else a 32-octet CAK.
   */
  cakLength?: number;
}

const align4 = (n: number) => (n + 3) & ~3;

/** Unwinds the decoder to its one catch, which returns `detail`; never escapes it. */
class Fail extends MacsecError {
  constructor(readonly detail: MkpduError) {
    super('invalid_argument', detail.message);
  }
}
const fail = (field: string, message: string, offset: number): never => {
  throw new Fail(new MkpduError(field, message, offset));
};

/** A parameter set the decoder leaves out (see IgnoredParamSet), with the reason. */
interface Ignore {
  ignore: string;
}
const ignore = (field: string, message: string): Ignore => ({ ignore: `${field}: ${message}` });
const isIgnore = (r: object): r is Ignore => 'ignore' in r;

const SET_NAMES: Record<number, string> = {
  [PS_LIVE_PEERS]: 'livePeers',
  [PS_POTENTIAL_PEERS]: 'potentialPeers',
  [PS_SAK_USE]: 'sakUse',
  [PS_DISTRIBUTED_SAK]: 'distributedSak',
  [PS_DISTRIBUTED_CAK]: 'distributedCak',
  [PS_KMD]: 'kmd',
  [PS_ANNOUNCEMENT]: 'announcement',
  [PS_XPN]: 'xpn',
};

/** Decodes a whole Ethernet frame carrying an EAPOL-MKA packet. */
export function decodeMkpdu(frame: Uint8Array, opts: DecodeOptions = {}): DecodeResult {
  try {
    return { ok: true, value: decodeOrThrow(frame, opts) };
  } catch (e) {
    if (e instanceof Fail) return { ok: false, error: e.detail };
    // A bug in the decoder must not escape as an exception either.
    return { ok: false, error: new MkpduError('frame', `internal decoder error: ${(e as Error).message}`, 0) };
  }
}

function decodeOrThrow(frame: Uint8Array, opts: DecodeOptions): DecodedMkpdu {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (frame.length < ETH_HDR + EAPOL_HDR) fail('frame', `too short (${frame.length} octets)`, 0);
  let off = 12;
  let etherType = view.getUint16(off);
  if (etherType === VLAN_TPID) {
    off += 4;
    if (frame.length < off + 2 + EAPOL_HDR) fail('frame', 'too short after VLAN tag', off);
    etherType = view.getUint16(off);
  }
  if (etherType !== ETHERTYPE_EAPOL) fail('ethertype', `0x${etherType.toString(16)} is not EAPOL`, off);
  off += 2;
  const eapolStart = off;
  const eapolVersion = frame[off]!;
  if (eapolVersion === 0) fail('eapol.version', 'protocol version 0 is invalid', off);
  const packetType = frame[off + 1]!;
  if (packetType !== EAPOL_TYPE_MKA) fail('eapol.type', `packet type ${packetType} is not EAPOL-MKA (5)`, off + 1);
  const bodyLen = view.getUint16(off + 2);
  const bodyStart = off + EAPOL_HDR;
  if (bodyStart + bodyLen > frame.length) {
    fail('eapol.bodyLength', `${bodyLen} exceeds the ${frame.length - bodyStart} octets present`, eapolStart + 2);
  }
  if (bodyLen < PS_HDR + BASIC_FIXED + 1 + ICV_LEN) fail('eapol.bodyLength', `${bodyLen} is too short for an MKPDU`, eapolStart + 2);
  if (bodyLen % 4 !== 0) fail('eapol.bodyLength', `${bodyLen} is not a multiple of 4`, eapolStart + 2);
  const bodyEnd = bodyStart + bodyLen;
  let regionEnd = bodyEnd - ICV_LEN;
  const icv = frame.slice(regionEnd, bodyEnd);

  // Basic Parameter Set: octet 1 is the MKA version, not a type.
  const basic = decodeBasic(frame, view, bodyStart, regionEnd);
  let pos = bodyStart + PS_HDR + align4(basicBodyLen(frame, bodyStart));

  const sets: ParamSet[] = [];
  const ignored: IgnoredParamSet[] = [];
  const seen = new Set<number>();
  let icvIndicator = false;
  while (pos < regionEnd) {
    if (pos + PS_HDR > regionEnd) fail('parameterSet', 'truncated parameter set header', pos);
    const typeCode = frame[pos]!;
    const len = ((frame[pos + 2]! & 0x0f) << 8) | frame[pos + 3]!;
    if (typeCode === PS_ICV_INDICATOR) {
      // The indicator's body is the ICV itself, so the header must end where the ICV starts.
      if (len !== ICV_LEN) fail('icvIndicator.bodyLength', `${len}, expected ${ICV_LEN}`, pos + 2);
      if (pos + PS_HDR !== regionEnd) fail('icvIndicator', 'must be the last parameter set', pos);
      icvIndicator = true;
      regionEnd = pos; // the ICV indicator header is covered by the ICV like any other set
      pos += PS_HDR;
      break;
    }
    const name = SET_NAMES[typeCode] ?? `parameterSet[type ${typeCode}]`;
    const end = pos + PS_HDR + align4(len);
    if (end > regionEnd) fail(`${name}.bodyLength`, `${len} runs past the end of the MKPDU`, pos + 2);
    if (SET_NAMES[typeCode] !== undefined && seen.has(typeCode)) {
      // The first set of a type decides (even one that was ignored itself), as wpa_supplicant does.
      ignored.push({ type: typeCode, reason: `${name}: repeated (the first one is used)`, offset: pos });
    } else {
      seen.add(typeCode);
      const set = decodeSet(frame, view, pos, typeCode, len, name, opts);
      if (isIgnore(set)) ignored.push({ type: typeCode, reason: set.ignore, offset: pos });
      else sets.push(set);
    }
    pos = end;
  }
  const signedEnd = icvIndicator ? regionEnd + PS_HDR : regionEnd;
  return {
    dst: frame.slice(0, 6),
    src: frame.slice(6, 12),
    eapolVersion,
    basic,
    sets,
    icvIndicator,
    signed: frame.slice(0, signedEnd),
    icv,
    ignored,
  };
}

function basicBodyLen(frame: Uint8Array, at: number): number {
  return ((frame[at + 2]! & 0x0f) << 8) | frame[at + 3]!;
}

function decodeBasic(frame: Uint8Array, view: DataView, at: number, regionEnd: number): BasicParamSet {
  const version = frame[at]!;
  if (version === 0) fail('basic.version', 'MKA version 0 is invalid', at);
  const flags = frame[at + 2]!;
  const len = basicBodyLen(frame, at);
  const cknLen = len - BASIC_FIXED;
  if (cknLen < 1 || cknLen > CKN_MAX_LEN) {
    fail('basic.bodyLength', `${len} gives a CKN of ${cknLen} octets (must be 1..${CKN_MAX_LEN})`, at + 2);
  }
  if (at + PS_HDR + align4(len) > regionEnd) fail('basic.bodyLength', `${len} runs past the end of the MKPDU`, at + 2);
  const b = at + PS_HDR;
  return {
    type: 'basic',
    version,
    priority: frame[at + 1]!,
    keyServer: (flags & 0x80) !== 0,
    macsecDesired: (flags & 0x40) !== 0,
    macsecCapability: (flags >> 4) & 0x03,
    sci: { mac: frame.slice(b, b + 6), port: view.getUint16(b + 6) },
    actor: { mi: frame.slice(b + 8, b + 20), mn: view.getUint32(b + 20) },
    algorithmAgility: view.getUint32(b + 24),
    ckn: frame.slice(b + BASIC_FIXED, b + len),
  };
}

/**
 * One parameter set whose body lies within the MKPDU. A body we cannot use yields Ignore, never
 * a failure: longer bodies than we know (SAK Use, XPN) are read up to what we know.
 */
function decodeSet(frame: Uint8Array, view: DataView, at: number, typeCode: number, len: number, name: string, opts: DecodeOptions): ParamSet | Ignore {
  const b = at + PS_HDR;
  const octet2 = frame[at + 1]!;
  switch (typeCode) {
    case PS_LIVE_PEERS:
    case PS_POTENTIAL_PEERS: {
      // A list we cannot split is not used at all (no half-read member identifiers).
      if (len % 16 !== 0) return ignore(`${name}.bodyLength`, `${len} is not a multiple of 16`);
      const peers: MemberId[] = [];
      for (let p = b; p < b + len; p += 16) peers.push({ mi: frame.slice(p, p + MI_LEN), mn: view.getUint32(p + MI_LEN) });
      return { type: typeCode === PS_LIVE_PEERS ? 'livePeers' : 'potentialPeers', keyServerSsci: octet2, peers };
    }
    case PS_SAK_USE: {
      if (len !== 0 && len < SAK_USE_BODY) return ignore('sakUse.bodyLength', `${len}, expected 0 or at least ${SAK_USE_BODY}`);
      const o3 = frame[at + 2]!;
      const key = (an: number, tx: boolean, rx: boolean, p: number | null): SakUseKey => ({
        an,
        tx,
        rx,
        ki: { mi: p === null ? new Uint8Array(MI_LEN) : frame.slice(p, p + MI_LEN), kn: p === null ? 0 : view.getUint32(p + 12) },
        lowestPn: p === null ? 0 : view.getUint32(p + 16),
      });
      const has = len >= SAK_USE_BODY; // octets after the 40 we know are ignored
      return {
        type: 'sakUse',
        plainTx: (o3 & 0x80) !== 0,
        plainRx: (o3 & 0x40) !== 0,
        reservedBit: (o3 & 0x20) !== 0,
        delayProtect: (o3 & 0x10) !== 0,
        hasKeys: has,
        latest: key(octet2 >> 6, (octet2 & 0x20) !== 0, (octet2 & 0x10) !== 0, has ? b : null),
        old: key((octet2 >> 2) & 3, (octet2 & 0x02) !== 0, (octet2 & 0x01) !== 0, has ? b + 20 : null),
      };
    }
    case PS_DISTRIBUTED_SAK: {
      const an = octet2 >> 6;
      const confidentialityOffset = (octet2 >> 4) & 3;
      if (len === 0) {
        return { type: 'distributedSak', an, confidentialityOffset, plain: true, kn: 0, cipherSuite: null, wrappedSak: new Uint8Array(0) };
      }
      // KN (4), then the cipher suite (8) unless it is the default (a 28-octet body), then the wrapped SAK.
      const withSuite = len !== 28;
      if (withSuite && (len < 36 || (len - 12) % 8 !== 0))
        return ignore('distributedSak.bodyLength', `${len} is not 0, 28 or 12 + a key wrap (24, 32, 40 octets)`);
      return {
        type: 'distributedSak',
        an,
        confidentialityOffset,
        plain: false,
        kn: view.getUint32(b),
        cipherSuite: withSuite ? view.getBigUint64(b + 4) : null,
        wrappedSak: frame.slice(b + (withSuite ? 12 : 4), b + len),
      };
    }
    case PS_DISTRIBUTED_CAK: {
      const fits = (cakLen: number) => len >= cakLen + 8 + 1 && len <= cakLen + 8 + CKN_MAX_LEN;
      const cakLen = opts.cakLength ?? [16, 32].find(fits);
      if (cakLen === undefined || !fits(cakLen)) {
        const wraps = cakLen === undefined ? '24- or 40-octet' : `${cakLen + 8}-octet`;
        return ignore('distributedCak.bodyLength', `${len} does not hold a ${wraps} key wrap and a 1..32-octet CKN`);
      }
      const wrapLen = cakLen + 8;
      return { type: 'distributedCak', wrappedCak: frame.slice(b, b + wrapLen), ckn: frame.slice(b + wrapLen, b + len) };
    }
    case PS_KMD:
      return { type: 'kmd', kmd: frame.slice(b, b + len) };
    case PS_ANNOUNCEMENT: {
      const tlvs = decodeTlvs(frame, b, b + len);
      return isIgnore(tlvs) ? tlvs : { type: 'announcement', tlvs };
    }
    case PS_XPN:
      if (len < 8) return ignore('xpn.bodyLength', `${len}, expected at least 8`); // octets after 8 are ignored
      return { type: 'xpn', suspendedFor: octet2, latestLowestPnHigh: view.getUint32(b), oldLowestPnHigh: view.getUint32(b + 4) };
    default:
      // Unknown parameter sets are skipped by the KaY (forward compatibility) but kept here.
      return { type: 'unknown', typeCode, octet2, body: frame.slice(b, b + len) };
  }
}

function decodeTlvs(frame: Uint8Array, start: number, end: number): AnnouncementTlv[] | Ignore {
  const tlvs: AnnouncementTlv[] = [];
  let p = start;
  while (p < end) {
    if (p + 2 > end) return ignore('announcement.tlv', `truncated TLV header at octet ${p}`);
    const tlvType = frame[p]! >> 1;
    const len = ((frame[p]! & 1) << 8) | frame[p + 1]!;
    if (p + 2 + len > end) return ignore(`announcement.tlv[${tlvType}].length`, `${len} runs past the parameter set`);
    const value = frame.slice(p + 2, p + 2 + len);
    if (tlvType === TLV_MACSEC_CIPHER_SUITES && len % 10 !== 0) return ignore('announcement.cipherSuites.length', `${len} is not a multiple of 10`);
    tlvs.push({ tlvType, value });
    p += 2 + len;
  }
  return tlvs;
}

/** The cipher suites a MACsec Cipher Suites TLV announces. */
export function parseCipherSuitesTlv(value: Uint8Array): CipherSuiteAnnouncement[] {
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const out: CipherSuiteAnnouncement[] = [];
  for (let p = 0; p + 10 <= value.length; p += 10) out.push({ capability: view.getUint16(p) & 3, id: view.getBigUint64(p + 2) });
  return out;
}

export function cipherSuitesTlv(suites: readonly CipherSuiteAnnouncement[]): AnnouncementTlv {
  const value = new Uint8Array(suites.length * 10);
  const view = new DataView(value.buffer);
  suites.forEach((s, i) => {
    view.setUint16(i * 10, s.capability & 3);
    view.setBigUint64(i * 10 + 2, s.id);
  });
  return { tlvType: TLV_MACSEC_CIPHER_SUITES, value };
}

// ---------------------------------------------------------------------------------------------
// Encoding

export class Writer {
  buf = new Uint8Array(256);
  view = new DataView(this.buf.buffer);
  len = 0;
  private ensure(n: number) {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number) {
    this.ensure(1);
    this.buf[this.len++] = v & 0xff;
  }
  u16(v: number) {
    this.ensure(2);
    this.view.setUint16(this.len, v);
    this.len += 2;
  }
  u32(v: number) {
    this.ensure(4);
    this.view.setUint32(this.len, v >>> 0);
    this.len += 4;
  }
  u64(v: bigint) {
    this.ensure(8);
    this.view.setBigUint64(this.len, v);
    this.len += 8;
  }
  bytes(b: Uint8Array) {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  pad4(from: number) {
    while ((this.len - from) % 4 !== 0) this.u8(0);
  }
}

export class MkpduEncodeError extends MacsecError {
  constructor(message: string) {
    super('encode_failed', message);
  }
}

function check(cond: boolean, field: string, msg: string): void {
  if (!cond) throw new MkpduEncodeError(`${field}: ${msg}`);
}

/**
 * Encodes an MKPDU as an Ethernet frame and appends its ICV. Throws MkpduEncodeError for
 * values that cannot be represented (our own bug, never peer input).
 */
export function encodeMkpdu(pdu: Mkpdu, ick: Uint8Array): Uint8Array {
  const w = encodeUnsigned(pdu);
  const signedLen = w.len;
  w.bytes(computeIcv(ick, w.buf.subarray(0, signedLen)));
  return w.buf.slice(0, w.len);
}

/** The octets an ICV covers, with the EAPOL length already accounting for the ICV. */
export function encodeUnsigned(pdu: Mkpdu): Writer {
  const w = new Writer();
  check(pdu.dst.length === 6 && pdu.src.length === 6, 'address', 'MAC addresses must be 6 octets');
  w.bytes(pdu.dst);
  w.bytes(pdu.src);
  w.u16(ETHERTYPE_EAPOL);
  w.u8(pdu.eapolVersion);
  w.u8(EAPOL_TYPE_MKA);
  w.u16(0); // EAPOL body length (ICV included), patched once the sets are written
  encodeBasic(w, pdu.basic);
  for (const s of pdu.sets) encodeSet(w, s);
  if (pdu.icvIndicator) {
    w.u8(PS_ICV_INDICATOR);
    w.u8(0);
    w.u16(ICV_LEN);
  }
  w.view.setUint16(16, w.len - 18 + ICV_LEN);
  return w;
}

function header(w: Writer, typeOctet: number, octet2: number, octet3High: number, len: number, field: string) {
  check(len >= 0 && len <= MAX_BODY_12BIT, `${field}.bodyLength`, `${len} does not fit in 12 bits`);
  w.u8(typeOctet);
  w.u8(octet2);
  w.u8((octet3High & 0xf0) | (len >> 8));
  w.u8(len & 0xff);
}

function encodeBasic(w: Writer, b: BasicParamSet) {
  check(b.ckn.length >= 1 && b.ckn.length <= CKN_MAX_LEN, 'basic.ckn', 'must be 1..32 octets');
  check(b.actor.mi.length === MI_LEN, 'basic.actor.mi', 'must be 12 octets');
  const start = w.len;
  const flags = (b.keyServer ? 0x80 : 0) | (b.macsecDesired ? 0x40 : 0) | ((b.macsecCapability & 3) << 4);
  header(w, b.version, b.priority, flags, BASIC_FIXED + b.ckn.length, 'basic');
  w.bytes(b.sci.mac);
  w.u16(b.sci.port);
  w.bytes(b.actor.mi);
  w.u32(b.actor.mn);
  w.u32(b.algorithmAgility ?? ALGORITHM_AGILITY_8021X_2010);
  w.bytes(b.ckn);
  w.pad4(start);
}

function encodeSet(w: Writer, s: ParamSet) {
  const start = w.len;
  switch (s.type) {
    case 'livePeers':
    case 'potentialPeers':
      header(w, s.type === 'livePeers' ? PS_LIVE_PEERS : PS_POTENTIAL_PEERS, s.keyServerSsci, 0, s.peers.length * 16, s.type);
      for (const p of s.peers) {
        check(p.mi.length === MI_LEN, `${s.type}.mi`, 'must be 12 octets');
        w.bytes(p.mi);
        w.u32(p.mn);
      }
      break;
    case 'sakUse': {
      const l = s.latest;
      const o = s.old;
      const octet2 = (l.an << 6) | (l.tx ? 0x20 : 0) | (l.rx ? 0x10 : 0) | ((o.an & 3) << 2) | (o.tx ? 2 : 0) | (o.rx ? 1 : 0);
      const flags = (s.plainTx ? 0x80 : 0) | (s.plainRx ? 0x40 : 0) | (s.reservedBit ? 0x20 : 0) | (s.delayProtect ? 0x10 : 0);
      header(w, PS_SAK_USE, octet2, flags, s.hasKeys ? SAK_USE_BODY : 0, 'sakUse');
      if (s.hasKeys) {
        for (const k of [l, o]) {
          w.bytes(k.ki.mi);
          w.u32(k.ki.kn);
          w.u32(k.lowestPn);
        }
      }
      break;
    }
    case 'distributedSak': {
      const octet2 = ((s.an & 3) << 6) | ((s.confidentialityOffset & 3) << 4);
      if (s.plain) {
        header(w, PS_DISTRIBUTED_SAK, octet2, 0, 0, 'distributedSak');
        break;
      }
      const len = 4 + (s.cipherSuite === null ? 0 : 8) + s.wrappedSak.length;
      header(w, PS_DISTRIBUTED_SAK, octet2, 0, len, 'distributedSak');
      w.u32(s.kn);
      if (s.cipherSuite !== null) w.u64(s.cipherSuite);
      w.bytes(s.wrappedSak);
      break;
    }
    case 'distributedCak':
      header(w, PS_DISTRIBUTED_CAK, 0, 0, s.wrappedCak.length + s.ckn.length, 'distributedCak');
      w.bytes(s.wrappedCak);
      w.bytes(s.ckn);
      break;
    case 'kmd':
      header(w, PS_KMD, 0, 0, s.kmd.length, 'kmd');
      w.bytes(s.kmd);
      break;
    case 'announcement': {
      const len = s.tlvs.reduce((n, t) => n + 2 + t.value.length, 0);
      header(w, PS_ANNOUNCEMENT, 0, 0, len, 'announcement');
      for (const t of s.tlvs) {
        check(t.tlvType >= 0 && t.tlvType < 128 && t.value.length < 512, 'announcement.tlv', 'type or length out of range');
        w.u8((t.tlvType << 1) | (t.value.length >> 8));
        w.u8(t.value.length & 0xff);
        w.bytes(t.value);
      }
      break;
    }
    case 'xpn':
      header(w, PS_XPN, s.suspendedFor, 0, 8, 'xpn');
      w.u32(s.latestLowestPnHigh);
      w.u32(s.oldLowestPnHigh);
      break;
    case 'unknown':
      header(w, s.typeCode, s.octet2, 0, s.body.length, 'unknown');
      w.bytes(s.body);
      break;
  }
  w.pad4(start);
}

/** The parameter set interface whose `type` admits T (PeerListParamSet covers two types, so Extract would give never). */
export type ParamSetOfType<T extends ParamSet['type']> = ParamSet extends infer P ? (P extends ParamSet ? (T extends P['type'] ? P : never) : never) : never;

/** Finds the first parameter set of a given kind. */
export function findSet<T extends ParamSet['type']>(pdu: Mkpdu, type: T): ParamSetOfType<T> | undefined {
  return pdu.sets.find((s) => s.type === type) as ParamSetOfType<T> | undefined;
}
