/**
 * SAK state held by a participant (one "latest" and one "old" key, 802.1X-2010 9.8 and the CP
 * state machine of Figure 12-2) and the helpers to create one.
 */
import { CIPHER_SUITES, type CipherSuiteName, MI_LEN } from './constants.js';
import { deriveSak, deriveXpnSalt, zeroize } from './crypto.js';
import { toHex } from '../common/hex.js';
import type { KayKeyStatus } from './kay-types.js';
import { compareSciHex } from './peers.js';
import type { KeyIdentifier } from './types.js';

export interface KeyState {
  ki: KeyIdentifier;
  kiHex: string;
  an: number;
  sak: Uint8Array;
  cipherSuite: CipherSuiteName;
  confidentialityOffset: number | null;
  /** MIs (hex) the key was derived for (key server only). */
  members: Set<string>;
  /**
   * MIs (hex) known to hold the key: the key server's and those it was distributed to (key
   * server: `members`; others: the key server's Live Peer List in the MKPDU that carried it).
   * An RX SA for a peer is installed only for a key its current MI holds (or reports in its SAK
   * Use), so a restarted peer (same SCI, new MI) never gets a key of its former incarnation.
   */
  holders: Set<string>;
  /** XPN: SSCI by SCI hex of every member (key server included). */
  ssci: Map<string, number>;
  /** XPN salt (12 octets). */
  salt: Uint8Array | null;
  /** RX SAs installed for it (lrx). */
  rx: boolean;
  /** Transmitting with it (ltx / otx). */
  tx: boolean;
  /** SCIs (hex) on which an RX SA for this key is installed. */
  rxScs: Set<string>;
  createdAt: number;
  txAt: number | null;
  /** When an MKPDU of ours first showed it as the Latest Key with Tx set. */
  txShownAt: number | null;
  /** Our TX SA's next PN as last read from the SecY. */
  pnCur: bigint;
  /** Next PN read at least a hello time ago: every frame sent since had at least this PN. */
  pnLow: bigint;
  /** Reads of the next PN within the last hello time, and the newest one before it. */
  pnSamples: { at: number; pn: bigint }[];
  /** Key server: a rekey for PN exhaustion was already requested for this key. */
  exhausted: boolean;
  /** Key server: made while some live member did not list every other (see meshComplete). */
  meshIncomplete?: boolean;
}

export const ZERO_KI: KeyIdentifier = { mi: new Uint8Array(MI_LEN), kn: 0 };

export function kiHex(ki: KeyIdentifier): string {
  return toHex(ki.mi) + (ki.kn >>> 0).toString(16).padStart(8, '0');
}

export function kiEqual(a: KeyIdentifier, b: KeyIdentifier): boolean {
  if (a.kn !== b.kn || a.mi.length !== b.mi.length) return false;
  for (let i = 0; i < a.mi.length; i++) if (a.mi[i] !== b.mi[i]) return false;
  return true;
}

export function isXpn(cs: CipherSuiteName): boolean {
  return CIPHER_SUITES[cs].xpn;
}

/**
 * SSCI assignment (802.1X-2020 XPN): every member of the key, the key server included, sorted by
 * ascending SCI gets SSCI 1, 2, 3, ... The key server sends its own SSCI in octet 2 of its Live
 * Peer List and lists the other members in ascending SCI order, so each member can work out the
 * SSCI of every listed MI from its position (see ssciFromLivePeerList).
 */
export function assignSsci(memberScis: readonly string[]): Map<string, number> {
  const sorted = [...new Set(memberScis)].sort(compareSciHex);
  return new Map(sorted.map((s, i) => [s, i + 1]));
}

/** SSCI of the i-th (0-based) entry of a key server's Live Peer List, given the key server's SSCI. */
export function ssciOfListPosition(i: number, keyServerSsci: number): number {
  return i + 1 < keyServerSsci ? i + 1 : i + 2;
}

export interface NewKeyParams {
  cak: Uint8Array;
  keyServerMi: Uint8Array;
  memberMis: readonly Uint8Array[];
  memberMiHex: readonly string[];
  memberScis: readonly string[];
  kn: number;
  an: number;
  cipherSuite: CipherSuiteName;
  confidentialityOffset: number | null;
  random: (n: number) => Uint8Array;
  now: number;
}

/** Key server: a fresh SAK = KDF(CAK, KS-nonce | MIs | KN) (9.8.1). */
export function generateKey(p: NewKeyParams): KeyState {
  const keyLen = CIPHER_SUITES[p.cipherSuite].keyLen;
  const nonce = p.random(keyLen);
  const sak = deriveSak(p.cak, nonce, [p.keyServerMi, ...p.memberMis], p.kn, keyLen * 8);
  zeroize(nonce);
  const ki = { mi: Uint8Array.from(p.keyServerMi), kn: p.kn };
  const xpn = isXpn(p.cipherSuite);
  return newKeyState({
    ki,
    an: p.an,
    sak,
    cipherSuite: p.cipherSuite,
    confidentialityOffset: p.confidentialityOffset,
    members: new Set(p.memberMiHex),
    ssci: xpn ? assignSsci(p.memberScis) : new Map(),
    now: p.now,
  });
}

export function newKeyState(p: {
  ki: KeyIdentifier;
  an: number;
  sak: Uint8Array;
  cipherSuite: CipherSuiteName;
  confidentialityOffset: number | null;
  members: Set<string>;
  /** Further MIs (hex) that hold the key besides the key server's and `members`. */
  holders?: Iterable<string>;
  ssci: Map<string, number>;
  now: number;
}): KeyState {
  return {
    ki: p.ki,
    kiHex: kiHex(p.ki),
    an: p.an & 3,
    sak: p.sak,
    cipherSuite: p.cipherSuite,
    confidentialityOffset: p.confidentialityOffset,
    members: p.members,
    holders: new Set([toHex(p.ki.mi), ...p.members, ...(p.holders ?? [])]),
    ssci: p.ssci,
    salt: isXpn(p.cipherSuite) ? deriveXpnSalt(p.ki.mi, p.ki.kn) : null,
    rx: false,
    tx: false,
    rxScs: new Set(),
    createdAt: p.now,
    txAt: null,
    txShownAt: null,
    pnCur: 0n,
    pnLow: 0n,
    pnSamples: [],
    exhausted: false,
  };
}

/** Takes a read of the key's next TX PN at `now`; `pnLow` is then the newest read at least `helloTimeMs` old. */
export function samplePn(k: KeyState, pn: bigint, now: number, helloTimeMs: number): void {
  k.pnCur = pn;
  k.pnSamples.push({ at: now, pn });
  while (k.pnSamples.length > 1 && k.pnSamples[1]!.at <= now - helloTimeMs) k.pnSamples.shift();
  const first = k.pnSamples[0]!;
  // Younger than a hello time: the key's first frames (PN 1) were sent within it.
  k.pnLow = first.at <= now - helloTimeMs ? first.pn : 0n;
}

export function keyStatus(k: KeyState | null): KayKeyStatus | null {
  if (!k) return null;
  const s: KayKeyStatus = {
    ki: k.kiHex,
    kn: k.ki.kn,
    an: k.an,
    tx: k.tx,
    rx: k.rx,
    cipherSuite: k.cipherSuite,
    confidentialityOffset: k.confidentialityOffset,
    members: [...k.members].sort(),
  };
  if (isXpn(k.cipherSuite)) s.ssci = Object.fromEntries(k.ssci);
  return s;
}

/** Confidentiality offset (octets or null) to the Distributed SAK code. */
export function confOffsetCode(offset: number | null): number {
  switch (offset) {
    case null:
      return 0;
    case 0:
      return 1;
    case 30:
      return 2;
    case 50:
      return 3;
    default:
      return 1;
  }
}
