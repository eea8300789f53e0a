/**
 * Public types of the KaY (re-exported by kay.ts). Kept in their own module so the
 * participant and the Kay can share them without an import cycle.
 */
import type { CipherSuiteName } from './constants.js';
import type { AdoptedSecy } from './adopted.js';
import type { SecyAction } from './secy.js';
import type { Mac, Sci } from './types.js';

export interface CakConfig {
  /** 16- or 32-octet CAK. */
  cak: Uint8Array;
  /** CKN, 1..32 octets. */
  ckn: Uint8Array;
}

export type MacsecPolicy = 'must-secure' | 'should-secure';

export interface KayConfig {
  /** Own MAC + port (port 1 by default). */
  sci: Sci;
  primary: CakConfig;
  fallback?: CakConfig;
  /** Key server priority, default 16 (lower wins). */
  priority?: number;
  /** Default 'GCM-AES-128'. */
  cipherSuite?: CipherSuiteName;
  /** Default must-secure. */
  policy?: MacsecPolicy;
  /** null = integrity only; default 0. */
  confidentialityOffset?: 0 | 30 | 50 | null;
  /**
   * What the SecY can do (802.1X-2010 Table 11-6): 1 integrity only, 2 confidentiality with
   * offset 0, 3 offsets 0, 30 and 50. Default 2, the Linux SecY. We announce it (1 when configured
   * integrity-only) and refuse offsets and Distributed SAKs beyond it.
   */
  macsecCapability?: 1 | 2 | 3;
  /** False: never key server (Key Server flag clear, never elected). Default true. */
  canBeKeyServer?: boolean;
  /** Default 2000. */
  helloTimeMs?: number;
  /** Default 6000. */
  lifeTimeMs?: number;
  /** 0/undefined = no periodic rekey. */
  rekeyPeriodMs?: number;
  /** Default three quarters of the PN space: 0xC0000000n (non-XPN), 0xC000000000000000n (XPN). */
  pnExhaustionThreshold?: bigint;
  /** Default PAE group address. */
  destination?: Mac;
  /** Default 3. */
  eapolVersion?: number;
  /**
   * Default: 1 without XPN (802.1X-2010), 3 with XPN (802.1Xbx XPN and in-service suspension of
   * peers honoured, SSCI-ordered Live Peer List). wpa_supplicant 2.10 sends 1 and accepts any value.
   */
  mkaVersion?: number;
  /** Injectable RNG for deterministic tests; default crypto.randomBytes. */
  random?: (n: number) => Uint8Array;
  /**
   * SAs an earlier run of this port left on the SecY (agent restart): they keep protecting
   * traffic until our own first key transmits, then go after the retire time (or after
   * ADOPTED_LIMIT_MS without one). start() then leaves the port as it is.
   */
  adopted?: AdoptedSecy;
}

export interface KayOutput {
  frames: Uint8Array[];
  actions: SecyAction[];
  events: KayEvent[];
}

export type KayEvent =
  | { kind: 'peerLive'; sci: string; mi: string }
  | { kind: 'peerLost'; sci: string; mi: string }
  | { kind: 'keyServerElected'; sci: string; self: boolean }
  | { kind: 'sakInstalled'; ki: string; an: number; role: 'rx' | 'tx' }
  | { kind: 'secured'; ki: string }
  | { kind: 'unsecured'; reason: string }
  | { kind: 'rekey'; reason: 'period' | 'pn-exhaustion' | 'peer-change' | 'forced'; kn: number }
  | { kind: 'dropped'; reason: string }
  /** The SecY refused to install a key (e.g. the kernel rejected the SA); the key was dropped. */
  | { kind: 'keyRefused'; ki: string; action: string; reason: string }
  | { kind: 'principalChanged'; ckn: string };

export type RekeyReason = Extract<KayEvent, { kind: 'rekey' }>['reason'];

export interface KayCounters {
  /** Frames handed to receive(). */
  mkpdusReceived: number;
  /** Frames that passed every check and were processed. */
  mkpdusAccepted: number;
  /** Frames dropped for any reason (the sum of the specific counters below and a few rarer reasons). */
  mkpdusDropped: number;
  mkpdusSent: number;
  malformed: number;
  unknownCkn: number;
  badAlgorithmAgility: number;
  icvFailures: number;
  replays: number;
  ownMi: number;
  peerTableFull: number;
  /** SAKs this KaY generated as key server (first key and rekeys). */
  saksGenerated: number;
  /** SAKs received from a key server and installed. */
  saksReceived: number;
  /** Generated SAKs that replaced an earlier one. */
  rekeys: number;
  peersLost: number;
  keyServerChanges: number;
  miChanges: number;
}

export interface KayPeerStatus {
  sci: string;
  mi: string;
  mn: number;
  priority: number;
  keyServer: boolean;
  macsecDesired: boolean;
  macsecCapability: number;
}

export interface KayKeyStatus {
  /** Key identifier, hex of key server MI || KN. */
  ki: string;
  kn: number;
  an: number;
  tx: boolean;
  rx: boolean;
  cipherSuite: CipherSuiteName;
  confidentialityOffset: number | null;
  /** MIs (hex) of the members the key was derived for; empty when we received the key. */
  members: string[];
  /** XPN: SSCI per SCI hex. */
  ssci?: Record<string, number>;
}

export interface KayParticipantStatus {
  ckn: string;
  principal: boolean;
  /** principal: drives the SecY; successor: a newer CA installing its keys beside it; retiring: the former principal, still receiving; standby: no SA. */
  role: 'principal' | 'successor' | 'retiring' | 'standby';
  mi: string;
  mn: number;
  keyServer: { sci: string; mi: string; self: boolean; priority: number } | null;
  livePeers: KayPeerStatus[];
  potentialPeers: KayPeerStatus[];
  latestKey: KayKeyStatus | null;
  oldKey: KayKeyStatus | null;
}

export interface KayStatus {
  sci: string;
  running: boolean;
  policy: MacsecPolicy;
  principalCkn: string | null;
  /** Own MI/MN of the principal participant. */
  mi: string;
  mn: number;
  keyServer: KayParticipantStatus['keyServer'];
  livePeers: KayPeerStatus[];
  potentialPeers: KayPeerStatus[];
  latestKey: KayKeyStatus | null;
  oldKey: KayKeyStatus | null;
  /**
   * The key this SecY transmits with: the latest key once it transmits, else the old one.
   * (After the switch, the CP's RETIRE step files the transmitting key as "old", so operators
   * and metrics should read this field rather than latestKey.)
   */
  txKey: KayKeyStatus | null;
  secured: boolean;
  controlledPortEnabled: boolean;
  protectFrames: boolean;
  cipherSuite: CipherSuiteName;
  confidentialityOffset: number | null;
  participants: KayParticipantStatus[];
  counters: KayCounters;
}

export function newCounters(): KayCounters {
  return {
    mkpdusReceived: 0,
    mkpdusAccepted: 0,
    mkpdusDropped: 0,
    mkpdusSent: 0,
    malformed: 0,
    unknownCkn: 0,
    badAlgorithmAgility: 0,
    icvFailures: 0,
    replays: 0,
    ownMi: 0,
    peerTableFull: 0,
    saksGenerated: 0,
    saksReceived: 0,
    rekeys: 0,
    peersLost: 0,
    keyServerChanges: 0,
    miChanges: 0,
  };
}

/** Collects what one call produces. */
export class OutputSink implements KayOutput {
  frames: Uint8Array[] = [];
  actions: SecyAction[] = [];
  events: KayEvent[] = [];
}
