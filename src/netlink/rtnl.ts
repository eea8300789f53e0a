/**
 * rtnetlink link operations: look up a link, set it up/down, delete it, and
 * create / change a macsec link (IFLA_LINKINFO kind "macsec" with IFLA_MACSEC_*).
 *
 * The `netlink` package's formatMacsec writes SCI and port in host byte order;
 * the kernel reads IFLA_MACSEC_SCI as opaque network-order bytes (MAC then
 * port) and IFLA_MACSEC_PORT as __be16, so these attributes are built here.
 */
import { endianness } from 'node:os';
import { createRtNetlink, type RtNetlinkSocket } from 'netlink';
import { CIPHER_SUITES, type CipherSuiteName } from '../mka/constants.js';
import type { SciHex } from '../mka/secy.js';
import { attrMap, be16, cstr, getCStr, getU32, nla, nlaNest, u32, u64, u8 } from './nla.js';
import { nlRequest } from './socket.js';
import * as U from './uapi.js';

const LE = endianness() === 'LE';

export type ValidateMode = 'disabled' | 'check' | 'strict';
export type OffloadMode = 'off' | 'phy' | 'mac';

/** Settings of a macsec link that can be given at creation. */
export interface MacsecLinkOptions {
  /** Interface name (default: the kernel picks macsec%d). */
  name?: string;
  /** Full SCI (16 hex digits, MAC then port). Default: parent MAC + `port`. */
  sci?: SciHex;
  /** Port part of the SCI when `sci` is not given (default 1). */
  port?: number;
  cipherSuite?: CipherSuiteName;
  /** ICV length in octets, 8..16 (default 16). */
  icvLen?: number;
  /** Confidentiality (default true); false = integrity only. */
  encrypt?: boolean;
  /** protectFrames (default true). */
  protect?: boolean;
  /** validateFrames (default strict). */
  validate?: ValidateMode;
  /** replayProtect (default true) and replayWindow (default 0). */
  replayProtect?: boolean;
  replayWindow?: number;
  /** Include the SCI in the SecTAG (send_sci, default true). */
  includeSci?: boolean;
  /** End station (ES) / single copy broadcast (SCB) bits (default false; exclusive with includeSci). */
  es?: boolean;
  scb?: boolean;
  /** AN used for transmission (default 0). */
  encodingSa?: number;
  /** Hardware offload (default off). */
  offload?: OffloadMode;
}

/** Settings changeable on an existing link (the kernel rejects SCI, port, cipher suite and ICV length changes). */
export type MacsecLinkChange = Pick<
  MacsecLinkOptions,
  'encrypt' | 'protect' | 'validate' | 'replayProtect' | 'replayWindow' | 'includeSci' | 'es' | 'scb' | 'encodingSa'
>;

export interface LinkInfo {
  index: number;
  name: string;
  /** Hardware address (6 octets for Ethernet). */
  mac: Uint8Array;
  flags: number;
  mtu?: number;
  /** IFLA_LINK (parent ifindex), if any. */
  parentIndex?: number;
  /** IFLA_INFO_KIND, e.g. "macsec", "veth". */
  kind?: string;
  /** IFLA_IFALIAS (`ip link set ... alias`), if set. */
  alias?: string;
}

export function sciBytes(sci: SciHex): Buffer {
  if (!/^[0-9a-fA-F]{16}$/.test(sci)) throw new TypeError(`invalid SCI ${JSON.stringify(sci)} (want 16 hex digits)`);
  return Buffer.from(sci, 'hex');
}

export function sciFromParts(mac: Uint8Array, port: number): SciHex {
  return Buffer.concat([Buffer.from(mac), be16(port)]).toString('hex');
}

function ifinfomsg(index: number, flags = 0, change = 0): Buffer {
  const b = Buffer.alloc(U.IFINFOMSG_LEN);
  // ifi_family = AF_UNSPEC, ifi_type = 0
  if (LE) {
    b.writeInt32LE(index, 4);
    b.writeUInt32LE(flags >>> 0, 8);
    b.writeUInt32LE(change >>> 0, 12);
  } else {
    b.writeInt32BE(index, 4);
    b.writeUInt32BE(flags >>> 0, 8);
    b.writeUInt32BE(change >>> 0, 12);
  }
  return b;
}

/** IFLA_MACSEC_* attributes for creation (all) or change (only what is set). */
export function macsecDataAttrs(o: MacsecLinkOptions, forCreate: boolean): Buffer[] {
  const a: Buffer[] = [];
  if (forCreate) {
    if (o.sci !== undefined) a.push(nla(U.IFLA_MACSEC_SCI, sciBytes(o.sci)));
    else a.push(nla(U.IFLA_MACSEC_PORT, be16(o.port ?? 1)));
    const cs = CIPHER_SUITES[o.cipherSuite ?? 'GCM-AES-128'];
    if (!cs) throw new TypeError(`unknown cipher suite ${String(o.cipherSuite)}`);
    a.push(nla(U.IFLA_MACSEC_CIPHER_SUITE, u64(cs.id)));
    a.push(nla(U.IFLA_MACSEC_ICV_LEN, u8(o.icvLen ?? 16)));
  }
  const d = forCreate
    ? {
        encrypt: true,
        protect: true,
        validate: 'strict' as ValidateMode,
        replayProtect: true,
        replayWindow: 0,
        includeSci: !(o.es || o.scb),
        es: false,
        scb: false,
        encodingSa: 0,
        ...stripUndefined(o),
      }
    : stripUndefined(o);
  if (d.encodingSa !== undefined) a.push(nla(U.IFLA_MACSEC_ENCODING_SA, u8(d.encodingSa)));
  if (d.encrypt !== undefined) a.push(nla(U.IFLA_MACSEC_ENCRYPT, u8(d.encrypt ? 1 : 0)));
  if (d.protect !== undefined) a.push(nla(U.IFLA_MACSEC_PROTECT, u8(d.protect ? 1 : 0)));
  if (d.includeSci !== undefined) a.push(nla(U.IFLA_MACSEC_INC_SCI, u8(d.includeSci ? 1 : 0)));
  if (d.es !== undefined) a.push(nla(U.IFLA_MACSEC_ES, u8(d.es ? 1 : 0)));
  if (d.scb !== undefined) a.push(nla(U.IFLA_MACSEC_SCB, u8(d.scb ? 1 : 0)));
  // The kernel wants the window whenever replay protection is switched on.
  if (d.replayProtect !== undefined) {
    a.push(nla(U.IFLA_MACSEC_REPLAY_PROTECT, u8(d.replayProtect ? 1 : 0)));
    a.push(nla(U.IFLA_MACSEC_WINDOW, u32(d.replayWindow ?? 0)));
  } else if (d.replayWindow !== undefined) {
    a.push(nla(U.IFLA_MACSEC_WINDOW, u32(d.replayWindow)));
  }
  if (d.validate !== undefined) a.push(nla(U.IFLA_MACSEC_VALIDATION, u8(U.MACSEC_VALIDATE[d.validate])));
  if (forCreate && o.offload !== undefined && o.offload !== 'off') {
    a.push(nla(U.IFLA_MACSEC_OFFLOAD, u8(U.MACSEC_OFFLOAD[o.offload])));
  }
  return a;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function linkinfo(kind: string, data: Buffer[]): Buffer {
  return nlaNest(U.IFLA_LINKINFO, [nla(U.IFLA_INFO_KIND, cstr(kind)), nlaNest(U.IFLA_INFO_DATA, data)]);
}

export function parseLinkMessage(data: Buffer): LinkInfo {
  const index = LE ? data.readInt32LE(4) : data.readInt32BE(4);
  const flags = LE ? data.readUInt32LE(8) : data.readUInt32BE(8);
  const attrs = attrMap(data.subarray(U.IFINFOMSG_LEN));
  const info: LinkInfo = {
    index,
    flags,
    name: getCStr(attrs.get(U.IFLA_IFNAME)) ?? '',
    mac: new Uint8Array(attrs.get(U.IFLA_ADDRESS) ?? []),
  };
  const mtu = getU32(attrs.get(U.IFLA_MTU));
  if (mtu !== undefined) info.mtu = mtu;
  const parent = getU32(attrs.get(U.IFLA_LINK));
  if (parent !== undefined) info.parentIndex = parent;
  const alias = getCStr(attrs.get(U.IFLA_IFALIAS));
  if (alias) info.alias = alias;
  const li = attrs.get(U.IFLA_LINKINFO);
  if (li) {
    const kind = getCStr(attrMap(li).get(U.IFLA_INFO_KIND));
    if (kind !== undefined) info.kind = kind;
  }
  return info;
}

/** An rtnetlink socket in the caller's network namespace. */
export class Rtnl {
  private constructor(private readonly rt: RtNetlinkSocket) {}

  static open(): Rtnl {
    return new Rtnl(createRtNetlink());
  }

  async getLink(name: string): Promise<LinkInfo> {
    const replies = await nlRequest(this.rt.socket, U.RTM_GETLINK, 0, [ifinfomsg(0), nla(U.IFLA_IFNAME, cstr(name))], `look up link ${name}`);
    const msg = replies.find((r) => r.type === U.RTM_NEWLINK);
    if (!msg) throw new Error(`look up link ${name}: no RTM_NEWLINK reply`);
    return parseLinkMessage(msg.data);
  }

  async getLinkByIndex(index: number): Promise<LinkInfo> {
    const replies = await nlRequest(this.rt.socket, U.RTM_GETLINK, 0, [ifinfomsg(index)], `look up link #${index}`);
    const msg = replies.find((r) => r.type === U.RTM_NEWLINK);
    if (!msg) throw new Error(`look up link #${index}: no RTM_NEWLINK reply`);
    return parseLinkMessage(msg.data);
  }

  /** Set or clear interface flags (IFF_UP, IFF_ALLMULTI, IFF_PROMISC) named in `mask`. */
  async setFlags(index: number, flags: number, mask: number, what = 'set link flags'): Promise<void> {
    await nlRequest(this.rt.socket, U.RTM_NEWLINK, 0, [ifinfomsg(index, flags, mask)], `${what} (ifindex ${index})`);
  }

  async setUp(index: number, up: boolean): Promise<void> {
    await this.setFlags(index, up ? U.IFF_UP : 0, U.IFF_UP, up ? 'set link up' : 'set link down');
  }

  /** Sets the link's alias (IFLA_IFALIAS): our mark on the macsec links we create. */
  async setAlias(index: number, alias: string): Promise<void> {
    await nlRequest(this.rt.socket, U.RTM_NEWLINK, 0, [ifinfomsg(index), nla(U.IFLA_IFALIAS, Buffer.from(alias, 'utf8'))], `set alias (ifindex ${index})`);
  }

  async deleteLink(index: number, label = `#${index}`): Promise<void> {
    await nlRequest(this.rt.socket, U.RTM_DELLINK, 0, [ifinfomsg(index)], `delete link ${label}`);
  }

  /** Create a macsec link on `parentIndex`; returns the new link. */
  async createMacsec(parentIndex: number, opts: MacsecLinkOptions): Promise<LinkInfo> {
    const attrs: Buffer[] = [nla(U.IFLA_LINK, u32(parentIndex))];
    if (opts.name) attrs.push(nla(U.IFLA_IFNAME, cstr(opts.name)));
    attrs.push(linkinfo('macsec', macsecDataAttrs(opts, true)));
    const what = `create macsec link ${opts.name ?? ''} on #${parentIndex} (${opts.cipherSuite ?? 'GCM-AES-128'}${opts.sci ? `, sci ${opts.sci}` : ''})`;
    await nlRequest(this.rt.socket, U.RTM_NEWLINK, U.NLM_F_CREATE | U.NLM_F_EXCL, [ifinfomsg(0), ...attrs], what);
    if (opts.name) return this.getLink(opts.name);
    // Without a name, find the newest macsec link on that parent.
    const all = await this.listLinks();
    const mine = all.filter((l) => l.kind === 'macsec' && l.parentIndex === parentIndex).sort((a, b) => b.index - a.index);
    if (!mine[0]) throw new Error(`${what}: created but not found`);
    return mine[0];
  }

  /** changelink on a macsec link (encoding SA, encrypt, protect, validate, replay...). */
  async changeMacsec(index: number, change: MacsecLinkChange, what = 'change macsec link'): Promise<void> {
    const data = macsecDataAttrs(change, false);
    if (data.length === 0) return;
    await nlRequest(this.rt.socket, U.RTM_NEWLINK, 0, [ifinfomsg(index), linkinfo('macsec', data)], `${what} (ifindex ${index})`);
  }

  async listLinks(): Promise<LinkInfo[]> {
    const replies = await nlRequest(this.rt.socket, U.RTM_GETLINK, U.NLM_F_DUMP, [ifinfomsg(0)], 'list links');
    return replies.filter((r) => r.type === U.RTM_NEWLINK).map((r) => parseLinkMessage(r.data));
  }

  close(): void {
    this.rt.socket.close();
  }
}
