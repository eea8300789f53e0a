/**
 * The MKPDU data model (IEEE 802.1X-2010 clause 11.11, with 802.1X-2020 additions).
 * Pure data: the codec in mkpdu.ts turns these into bytes and back.
 * Byte strings are Uint8Array; 32-bit counters are numbers (unsigned).
 */

/** 48-bit MAC address, 6 octets. */
export type Mac = Uint8Array;

/** Secure Channel Identifier: 6-octet MAC + 2-octet port identifier. */
export interface Sci {
  mac: Mac;
  port: number;
}

/** Member identifier (12 random octets) and the message number it last used. */
export interface MemberId {
  mi: Uint8Array; // 12 octets
  mn: number; // uint32
}

/** MACsec capability (Basic Parameter Set, 2 bits). */
export const enum MacsecCapability {
  NotImplemented = 0,
  IntegrityOnly = 1,
  ConfidentialityNoOffset = 2,
  ConfidentialityWithOffset = 3,
}

/** Confidentiality offset as carried in Distributed SAK (2 bits). */
export const enum ConfOffsetCode {
  NotUsed = 0,
  Offset0 = 1,
  Offset30 = 2,
  Offset50 = 3,
}

export interface BasicParamSet {
  type: 'basic';
  version: number; // MKA Version Identifier 1..3
  priority: number; // Key Server Priority, 0..255 (lower = preferred)
  keyServer: boolean;
  macsecDesired: boolean;
  macsecCapability: number; // 0..3
  sci: Sci;
  actor: MemberId;
  algorithmAgility: number; // 0x0080c201 for the IEEE 802.1X-2010 suite
  ckn: Uint8Array; // 1..32 octets
}

export interface PeerListParamSet {
  type: 'livePeers' | 'potentialPeers';
  /** Octet 2. Reserved in 802.1X-2010; Key Server SSCI (XPN) in the Live Peer List of 802.1X-2020. */
  keyServerSsci: number;
  peers: MemberId[];
}

export interface KeyIdentifier {
  /** Key server's MI (12 octets). */
  mi: Uint8Array;
  /** Key number. */
  kn: number;
}

export interface SakUseKey {
  an: number; // 0..3
  tx: boolean;
  rx: boolean;
  ki: KeyIdentifier;
  /** Lowest acceptable PN, low 32 bits (the XPN set carries the high 32). */
  lowestPn: number;
}

export interface SakUseParamSet {
  type: 'sakUse';
  plainTx: boolean;
  plainRx: boolean;
  delayProtect: boolean;
  /** The reserved bit ("X"); kept for exact round trips. */
  reservedBit: boolean;
  /**
   * False when the body length is 0 (no key fields on the wire: KI and lowest PN are then
   * zero here, while AN and flags come from octet 2). True when the 40-octet body is present;
   * an unused slot then carries a zero KI.
   */
  hasKeys: boolean;
  latest: SakUseKey;
  old: SakUseKey;
}

export interface DistributedSakParamSet {
  type: 'distributedSak';
  an: number; // 0..3 (Distributed AN)
  confidentialityOffset: number; // ConfOffsetCode 0..3
  /** Body length 0: the key server says MACsec is not to be used ("plain text"). */
  plain: boolean;
  kn: number;
  /** Present for every suite other than the default GCM-AES-128 (body length 28). */
  cipherSuite: bigint | null;
  /** AES key wrap of the SAK with the KEK: 24 (128-bit) or 40 (256-bit) octets. */
  wrappedSak: Uint8Array;
}

export interface DistributedCakParamSet {
  type: 'distributedCak';
  /** AES key wrap of the CAK with the current KEK: 24 (128-bit CAK) or 40 (256-bit) octets. */
  wrappedCak: Uint8Array;
  ckn: Uint8Array;
}

export interface KmdParamSet {
  type: 'kmd';
  kmd: Uint8Array;
}

export interface AnnouncementTlv {
  /** 7-bit TLV type (802.1X-2010 Table 11-8, e.g. 111 access info, 112 cipher suites, 113 KMD, 114 NID). */
  tlvType: number;
  value: Uint8Array;
}

export interface CipherSuiteAnnouncement {
  capability: number; // MACsec capability for this suite, 0..3
  id: bigint;
}

export interface AnnouncementParamSet {
  type: 'announcement';
  tlvs: AnnouncementTlv[];
}

export interface XpnParamSet {
  type: 'xpn';
  /** Octet 2 ("Suspended For" in 802.1X-2020); 0 normally. */
  suspendedFor: number;
  latestLowestPnHigh: number; // most significant 32 bits of the latest key's lowest acceptable PN
  oldLowestPnHigh: number;
}

export interface UnknownParamSet {
  type: 'unknown';
  typeCode: number;
  octet2: number;
  body: Uint8Array;
}

export type ParamSet =
  | PeerListParamSet
  | SakUseParamSet
  | DistributedSakParamSet
  | DistributedCakParamSet
  | KmdParamSet
  | AnnouncementParamSet
  | XpnParamSet
  | UnknownParamSet;

/** A decoded or to-be-encoded MKPDU, including the Ethernet addresses the ICV covers. */
export interface Mkpdu {
  dst: Mac;
  src: Mac;
  /** EAPOL protocol version, 1..3. */
  eapolVersion: number;
  basic: BasicParamSet;
  /** Parameter sets after the Basic Parameter Set, in wire order. */
  sets: ParamSet[];
  /** Whether an explicit ICV Indicator parameter set precedes the ICV. */
  icvIndicator: boolean;
}

/**
 * A parameter set of a known type that the decoder left out of `sets` (forward compatibility:
 * a set we cannot use is ignored, the rest of the MKPDU still counts).
 */
export interface IgnoredParamSet {
  /** Parameter set type (octet 1 of its header). */
  type: number;
  /** Why, naming the field: e.g. "sakUse.bodyLength: 20, expected 0 or at least 40". */
  reason: string;
  /** Octet offset of the set's header in the frame. */
  offset: number;
}

/** A parsed MKPDU together with what is needed to check its ICV. */
export interface DecodedMkpdu extends Mkpdu {
  /** Octets covered by the ICV (destination MAC up to the ICV). */
  signed: Uint8Array;
  icv: Uint8Array;
  /**
   * Known parameter sets that were not decoded into `sets` (impossible lengths, repeats), in
   * wire order; empty for a well-formed MKPDU. Unknown types are in `sets` as `unknown`.
   */
  ignored: IgnoredParamSet[];
}
