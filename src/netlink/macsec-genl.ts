/**
 * The kernel's "macsec" generic netlink family: RX SC, RX SA and TX SA
 * management and the GET_TXSC dump. Messages are built here (the `netlink`
 * package has no helpers for this family); the family id is resolved with
 * CTRL_CMD_GETFAMILY.
 */
import { createGenericNetlink, genl, type GenericNetlinkSocket } from 'netlink';
import { cipherSuiteById, type CipherSuiteName } from '../mka/constants.js';
import type { SciHex } from '../mka/secy.js';
import { MacsecNetlinkError } from './errors.js';
import { attrMap, be32, getU32, getU8, getUint, nla, nlaNest, parseAttrs, u32, u64, u8 } from './nla.js';
import { sciBytes } from './rtnl.js';
import { nlRequest } from './socket.js';
import * as U from './uapi.js';

/** An SA to install. `key` and `salt` are copied into the message and the copies are zeroed after sending. */
export interface SaConfig {
  an: number;
  /** Next PN (TX) or lowest acceptable PN (RX). */
  pn: bigint;
  /** XPN SecY: the PN attribute is 64-bit and SSCI + salt are required. */
  xpn: boolean;
  key: Uint8Array;
  /** 16 octets: the MKA Key Identifier MI||KN (as wpa_supplicant's macsec_linux passes it). */
  keyId: Uint8Array;
  active: boolean;
  ssci?: number;
  salt?: Uint8Array;
}

export interface SaUpdate {
  an: number;
  xpn: boolean;
  active?: boolean;
  pn?: bigint;
}

export type SaStats = Partial<Record<(typeof U.SA_STATS_NAMES)[number], number>>;
export type RxScStats = Partial<Record<(typeof U.RXSC_STATS_NAMES)[number], bigint>>;
export type TxScStats = Partial<Record<(typeof U.TXSC_STATS_NAMES)[number], bigint>>;
export type SecyStats = Partial<Record<(typeof U.SECY_STATS_NAMES)[number], bigint>>;

export interface SaDump {
  an: number;
  active: boolean;
  /** Next PN to send (TX) / next PN expected (RX). */
  nextPn: bigint;
  /** Key identifier, hex (32 digits). */
  keyId: string;
  ssci?: number;
  stats: SaStats;
}

export interface RxScDump {
  sci: SciHex;
  active: boolean;
  stats: RxScStats;
  sas: SaDump[];
}

export interface SecyDump {
  ifindex: number;
  sci: SciHex;
  cipherSuiteId: bigint;
  cipherSuite: CipherSuiteName | 'unknown';
  icvLen: number;
  encodingSa: number;
  replayWindow: number;
  protect: boolean;
  replayProtect: boolean;
  operational: boolean;
  validate: 'disabled' | 'check' | 'strict';
  encrypt: boolean;
  includeSci: boolean;
  es: boolean;
  scb: boolean;
  offload?: number;
  txSas: SaDump[];
  rxScs: RxScDump[];
  txScStats: TxScStats;
  secyStats: SecyStats;
}

function keyIdBytes(keyId: Uint8Array): Buffer {
  if (keyId.length !== U.MACSEC_KEYID_LEN) throw new TypeError(`key id must be ${U.MACSEC_KEYID_LEN} octets, got ${keyId.length}`);
  return Buffer.from(keyId);
}

function pnAttr(pn: bigint, xpn: boolean): Buffer {
  if (xpn) return nla(U.MACSEC_SA_ATTR_PN, u64(pn));
  if (pn < 0n || pn > 0xffffffffn) throw new RangeError(`PN ${pn} does not fit a non-XPN SA (32 bits)`);
  return nla(U.MACSEC_SA_ATTR_PN, u32(Number(pn)));
}

export function sciLabel(sci: SciHex): string {
  return `sci ${sci.toLowerCase()}`;
}

/** Attributes of MACSEC_ATTR_SA_CONFIG for an add; returns the buffers holding key material too. */
export function saConfigAttrs(sa: SaConfig): { attrs: Buffer[]; secret: Buffer[] } {
  const keyAttr = nla(U.MACSEC_SA_ATTR_KEY, sa.key);
  const secret = [keyAttr];
  const attrs = [
    nla(U.MACSEC_SA_ATTR_AN, u8(sa.an)),
    nla(U.MACSEC_SA_ATTR_ACTIVE, u8(sa.active ? 1 : 0)),
    pnAttr(sa.pn, sa.xpn),
    nla(U.MACSEC_SA_ATTR_KEYID, keyIdBytes(sa.keyId)),
    keyAttr,
  ];
  if (sa.xpn) {
    if (sa.ssci === undefined || !sa.salt) throw new TypeError('XPN SA needs ssci and salt');
    if (sa.salt.length !== U.MACSEC_SALT_LEN) throw new TypeError(`salt must be ${U.MACSEC_SALT_LEN} octets`);
    // SSCI is used as-is in the IV: network byte order (iproute2 does the same).
    attrs.push(nla(U.MACSEC_SA_ATTR_SSCI, be32(sa.ssci)));
    const saltAttr = nla(U.MACSEC_SA_ATTR_SALT, sa.salt);
    attrs.push(saltAttr);
    secret.push(saltAttr);
  }
  return { attrs, secret };
}

function zero(bufs: Buffer[]): void {
  for (const b of bufs) b.fill(0);
}

export class MacsecGenl {
  private constructor(
    private readonly sock: GenericNetlinkSocket,
    readonly familyId: number,
  ) {}

  /** Open a generic netlink socket and resolve the "macsec" family (ENOENT if the module is not loaded). */
  static async open(): Promise<MacsecGenl> {
    const sock = createGenericNetlink();
    try {
      const replies = await nlRequest(
        sock.socket,
        0x10, // GENL_ID_CTRL
        0,
        [genlHeader(3 /* CTRL_CMD_GETFAMILY */, 1), nla(2 /* CTRL_ATTR_FAMILY_NAME */, Buffer.from(`${U.MACSEC_GENL_NAME}\0`))],
        'resolve generic netlink family "macsec"',
      );
      const msg = replies[0];
      if (!msg) throw new MacsecNetlinkError('resolve generic netlink family "macsec"', 0, 'ENOENT', 'no reply');
      const parsed = genl.parseMessage(msg.data.subarray(U.GENL_HDRLEN));
      if (parsed.familyId === undefined) throw new MacsecNetlinkError('resolve generic netlink family "macsec"', 0, 'EPROTO', 'no family id');
      return new MacsecGenl(sock, parsed.familyId);
    } catch (err) {
      sock.socket.close();
      throw err;
    }
  }

  private async cmd(cmd: number, attrs: Buffer[], operation: string, flags = 0) {
    return nlRequest(this.sock.socket, this.familyId, flags, [genlHeader(cmd, U.MACSEC_GENL_VERSION), ...attrs], operation);
  }

  private rxsc(sci: SciHex, active?: boolean): Buffer {
    const children = [nla(U.MACSEC_RXSC_ATTR_SCI, sciBytes(sci))];
    if (active !== undefined) children.push(nla(U.MACSEC_RXSC_ATTR_ACTIVE, u8(active ? 1 : 0)));
    return nlaNest(U.MACSEC_ATTR_RXSC_CONFIG, children);
  }

  async addRxSc(ifindex: number, sci: SciHex, active = true): Promise<void> {
    await this.cmd(U.MACSEC_CMD_ADD_RXSC, [ifidx(ifindex), this.rxsc(sci, active)], `add RX SC (${sciLabel(sci)})`);
  }

  async updRxSc(ifindex: number, sci: SciHex, active: boolean): Promise<void> {
    await this.cmd(U.MACSEC_CMD_UPD_RXSC, [ifidx(ifindex), this.rxsc(sci, active)], `update RX SC (${sciLabel(sci)})`);
  }

  async delRxSc(ifindex: number, sci: SciHex): Promise<void> {
    await this.cmd(U.MACSEC_CMD_DEL_RXSC, [ifidx(ifindex), this.rxsc(sci)], `delete RX SC (${sciLabel(sci)})`);
  }

  async addRxSa(ifindex: number, sci: SciHex, sa: SaConfig): Promise<void> {
    const { attrs, secret } = saConfigAttrs(sa);
    const nest = nlaNest(U.MACSEC_ATTR_SA_CONFIG, attrs);
    try {
      await this.cmd(U.MACSEC_CMD_ADD_RXSA, [ifidx(ifindex), this.rxsc(sci), nest], `add RX SA (${sciLabel(sci)}, an ${sa.an})`);
    } finally {
      zero([...secret, nest]);
    }
  }

  async updRxSa(ifindex: number, sci: SciHex, upd: SaUpdate): Promise<void> {
    await this.cmd(U.MACSEC_CMD_UPD_RXSA, [ifidx(ifindex), this.rxsc(sci), updNest(upd)], `update RX SA (${sciLabel(sci)}, an ${upd.an})`);
  }

  async delRxSa(ifindex: number, sci: SciHex, an: number): Promise<void> {
    await this.cmd(
      U.MACSEC_CMD_DEL_RXSA,
      [ifidx(ifindex), this.rxsc(sci), nlaNest(U.MACSEC_ATTR_SA_CONFIG, [nla(U.MACSEC_SA_ATTR_AN, u8(an))])],
      `delete RX SA (${sciLabel(sci)}, an ${an})`,
    );
  }

  async addTxSa(ifindex: number, sa: SaConfig): Promise<void> {
    const { attrs, secret } = saConfigAttrs(sa);
    const nest = nlaNest(U.MACSEC_ATTR_SA_CONFIG, attrs);
    try {
      await this.cmd(U.MACSEC_CMD_ADD_TXSA, [ifidx(ifindex), nest], `add TX SA (an ${sa.an})`);
    } finally {
      zero([...secret, nest]);
    }
  }

  async updTxSa(ifindex: number, upd: SaUpdate): Promise<void> {
    await this.cmd(U.MACSEC_CMD_UPD_TXSA, [ifidx(ifindex), updNest(upd)], `update TX SA (an ${upd.an})`);
  }

  async delTxSa(ifindex: number, an: number): Promise<void> {
    await this.cmd(U.MACSEC_CMD_DEL_TXSA, [ifidx(ifindex), nlaNest(U.MACSEC_ATTR_SA_CONFIG, [nla(U.MACSEC_SA_ATTR_AN, u8(an))])], `delete TX SA (an ${an})`);
  }

  /** GET_TXSC dump of every macsec SecY in this namespace (or only `ifindex`). */
  async dump(ifindex?: number): Promise<SecyDump[]> {
    const replies = await this.cmd(U.MACSEC_CMD_GET_TXSC, [], `dump SecY${ifindex ? ` (ifindex ${ifindex})` : 's'}`, U.NLM_F_DUMP);
    const out: SecyDump[] = [];
    for (const r of replies) {
      if (r.type !== this.familyId) continue;
      const d = parseSecyDump(r.data.subarray(U.GENL_HDRLEN));
      if (d && (ifindex === undefined || d.ifindex === ifindex)) out.push(d);
    }
    return out;
  }

  close(): void {
    this.sock.socket.close();
  }
}

function genlHeader(cmd: number, version: number): Buffer {
  return Buffer.of(cmd, version, 0, 0);
}

function ifidx(ifindex: number): Buffer {
  return nla(U.MACSEC_ATTR_IFINDEX, u32(ifindex));
}

function updNest(upd: SaUpdate): Buffer {
  const c = [nla(U.MACSEC_SA_ATTR_AN, u8(upd.an))];
  if (upd.active !== undefined) c.push(nla(U.MACSEC_SA_ATTR_ACTIVE, u8(upd.active ? 1 : 0)));
  if (upd.pn !== undefined) c.push(pnAttr(upd.pn, upd.xpn));
  return nlaNest(U.MACSEC_ATTR_SA_CONFIG, c);
}

// --- dump parsing ---------------------------------------------------------------------------

function statsOf<K extends string, V>(buf: Buffer | undefined, names: readonly K[], read: (b: Buffer) => V | undefined): Partial<Record<K, V>> {
  const out: Partial<Record<K, V>> = {};
  if (!buf) return out;
  for (const a of parseAttrs(buf)) {
    const name = names[a.type - 1];
    if (!name) continue; // PAD or newer attribute
    const v = read(a.data);
    if (v !== undefined) out[name] = v;
  }
  return out;
}

function parseSa(buf: Buffer): SaDump {
  const m = attrMap(buf);
  const sa: SaDump = {
    an: getU8(m.get(U.MACSEC_SA_ATTR_AN)) ?? -1,
    active: (getU8(m.get(U.MACSEC_SA_ATTR_ACTIVE)) ?? 0) !== 0,
    nextPn: getUint(m.get(U.MACSEC_SA_ATTR_PN)) ?? 0n,
    keyId: (m.get(U.MACSEC_SA_ATTR_KEYID) ?? Buffer.alloc(0)).toString('hex'),
    stats: statsOf(m.get(U.MACSEC_SA_ATTR_STATS), U.SA_STATS_NAMES, getU32),
  };
  const ssci = m.get(U.MACSEC_SA_ATTR_SSCI);
  if (ssci && ssci.length >= 4) sa.ssci = ssci.readUInt32BE(0);
  return sa;
}

/** Parse one GET_TXSC dump message (attributes after the genl header). */
export function parseSecyDump(buf: Buffer): SecyDump | undefined {
  const top = attrMap(buf);
  const ifindex = getU32(top.get(U.MACSEC_ATTR_IFINDEX));
  const secyBuf = top.get(U.MACSEC_ATTR_SECY);
  if (ifindex === undefined || !secyBuf) return undefined;
  const s = attrMap(secyBuf);
  const csid = getUint(s.get(U.MACSEC_SECY_ATTR_CIPHER_SUITE)) ?? 0n;
  const validate = getU8(s.get(U.MACSEC_SECY_ATTR_VALIDATE)) ?? 2;
  const flag = (t: number): boolean => (getU8(s.get(t)) ?? 0) !== 0;
  const dump: SecyDump = {
    ifindex,
    sci: (s.get(U.MACSEC_SECY_ATTR_SCI) ?? Buffer.alloc(8)).toString('hex'),
    cipherSuiteId: csid,
    cipherSuite: cipherSuiteById(csid) ?? 'unknown',
    icvLen: getU8(s.get(U.MACSEC_SECY_ATTR_ICV_LEN)) ?? 0,
    encodingSa: getU8(s.get(U.MACSEC_SECY_ATTR_ENCODING_SA)) ?? 0,
    replayWindow: getU32(s.get(U.MACSEC_SECY_ATTR_WINDOW)) ?? 0,
    protect: flag(U.MACSEC_SECY_ATTR_PROTECT),
    replayProtect: flag(U.MACSEC_SECY_ATTR_REPLAY),
    operational: flag(U.MACSEC_SECY_ATTR_OPER),
    validate: (['disabled', 'check', 'strict'] as const)[validate] ?? 'strict',
    encrypt: flag(U.MACSEC_SECY_ATTR_ENCRYPT),
    includeSci: flag(U.MACSEC_SECY_ATTR_INC_SCI),
    es: flag(U.MACSEC_SECY_ATTR_ES),
    scb: flag(U.MACSEC_SECY_ATTR_SCB),
    txSas: [],
    rxScs: [],
    txScStats: statsOf(top.get(U.MACSEC_ATTR_TXSC_STATS), U.TXSC_STATS_NAMES, getUint),
    secyStats: statsOf(top.get(U.MACSEC_ATTR_SECY_STATS), U.SECY_STATS_NAMES, getUint),
  };
  const off = top.get(U.MACSEC_ATTR_OFFLOAD);
  if (off) {
    const t = getU8(attrMap(off).get(U.MACSEC_OFFLOAD_ATTR_TYPE));
    if (t !== undefined) dump.offload = t;
  }
  for (const item of parseAttrs(top.get(U.MACSEC_ATTR_TXSA_LIST) ?? Buffer.alloc(0))) dump.txSas.push(parseSa(item.data));
  for (const item of parseAttrs(top.get(U.MACSEC_ATTR_RXSC_LIST) ?? Buffer.alloc(0))) {
    const m = attrMap(item.data);
    dump.rxScs.push({
      sci: (m.get(U.MACSEC_RXSC_ATTR_SCI) ?? Buffer.alloc(8)).toString('hex'),
      active: (getU8(m.get(U.MACSEC_RXSC_ATTR_ACTIVE)) ?? 0) !== 0,
      stats: statsOf(m.get(U.MACSEC_RXSC_ATTR_STATS), U.RXSC_STATS_NAMES, getUint),
      sas: parseAttrs(m.get(U.MACSEC_RXSC_ATTR_SA_LIST) ?? Buffer.alloc(0)).map((a) => parseSa(a.data)),
    });
  }
  return dump;
}
