/**
 * What a participant shares with its KaY (resolved configuration, the SecY port state, counters,
 * the output sink), in a module of its own so the participant's parts can use it without
 * importing the participant.
 */
import type { CipherSuiteName } from './constants.js';
import type { KayCounters, MacsecPolicy, OutputSink } from './kay-types.js';
import type { SecyShare } from './secy-share.js';
import type { Mac, Sci } from './types.js';

/** MNs and KNs are 32-bit; at this value the MN space is spent and a new MI is chosen. */
export const MN_MAX = 0xffffffff;

export interface ResolvedConfig {
  sci: Sci;
  sciHex: string;
  priority: number;
  cipherSuite: CipherSuiteName;
  policy: MacsecPolicy;
  confidentialityOffset: number | null;
  /** MACsec Capability we announce: the SecY's, or 1 when configured integrity-only. */
  macsecCapability: number;
  /** What the SecY can do (refuses Distributed SAKs beyond it). */
  secyCapability: number;
  canBeKeyServer: boolean;
  helloTimeMs: number;
  lifeTimeMs: number;
  rekeyPeriodMs: number;
  pnExhaustionThreshold: bigint;
  destination: Mac;
  eapolVersion: number;
  mkaVersion: number;
  random: (n: number) => Uint8Array;
}

/** State of the SecY's controlled port as driven by the principal participant. */
export interface PortState {
  enabled: boolean;
  protectFrames: boolean;
  validate: 'disabled' | 'check' | 'strict';
  cipherSuite: CipherSuiteName;
  confidentialityOffset: number | null;
  /** The SecY refused the last setCipherSuite: send it again with the next key. */
  suiteRefused: boolean;
  secured: boolean;
}

export interface Env {
  cfg: ResolvedConfig;
  port: PortState;
  counters: KayCounters;
  out: OutputSink;
  /** RX SCs and ANs, shared by the KaY's participants. */
  share: SecyShare;
}
