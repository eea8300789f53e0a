/**
 * Peer bookkeeping of one MKA participant (802.1X-2010 9.4.2-9.4.3): the live and potential
 * peer lists, keyed by member identifier, with a hard bound on their size.
 */
import { toHex } from '../common/hex.js';
import type { SakUseParamSet, Sci, XpnParamSet } from './types.js';
import type { KayPeerStatus } from './kay-types.js';

/** At most this many peers (live + potential) per participant; MKPDUs from further MIs are dropped. */
export const MAX_PEERS = 64;

export function sciHex(sci: Sci): string {
  return toHex(sci.mac) + (sci.port & 0xffff).toString(16).padStart(4, '0');
}

/** Orders SCIs as 8-octet big-endian numbers (MAC, then port). Works on SCI hex strings. */
export function compareSciHex(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface Peer {
  mi: Uint8Array;
  miHex: string;
  /** Last accepted message number. */
  mn: number;
  sci: Sci;
  sciHex: string;
  priority: number;
  keyServer: boolean;
  macsecDesired: boolean;
  macsecCapability: number;
  live: boolean;
  /** When the peer leaves the list it is in, absent news. */
  expiresAt: number;
  /** Whether its latest MKPDU listed our MI (recent MN) in its Live Peer List (not just potential). */
  listsUsLive: boolean;
  /** Its latest MACsec SAK Use parameter set (only kept for live peers). */
  sakUse: SakUseParamSet | null;
  xpn: XpnParamSet | null;
  /** The members (MI hex -> MN) its latest MKPDU listed in its Live Peer List (live peers only). */
  lists: Map<string, { mi: Uint8Array; mn: number }>;
  /** When its MI was first heard (it may not count us live for a while after). */
  firstSeenAt: number;
}

export class PeerTable {
  private readonly byMi = new Map<string, Peer>();

  constructor(readonly max = MAX_PEERS) {}

  get size(): number {
    return this.byMi.size;
  }

  get(miHex: string): Peer | undefined {
    return this.byMi.get(miHex);
  }

  add(peer: Peer): boolean {
    if (this.byMi.size >= this.max) return false;
    this.byMi.set(peer.miHex, peer);
    return true;
  }

  delete(miHex: string): void {
    this.byMi.delete(miHex);
  }

  all(): Peer[] {
    return [...this.byMi.values()];
  }

  /** Live peers in ascending SCI order (the order of our Live Peer List, see docs/mka.md). */
  live(): Peer[] {
    return this.all()
      .filter((p) => p.live)
      .sort((a, b) => compareSciHex(a.sciHex, b.sciHex) || (a.miHex < b.miHex ? -1 : 1));
  }

  potential(): Peer[] {
    return this.all()
      .filter((p) => !p.live)
      .sort((a, b) => compareSciHex(a.sciHex, b.sciHex) || (a.miHex < b.miHex ? -1 : 1));
  }

  bySci(sciHexValue: string): Peer[] {
    return this.all().filter((p) => p.sciHex === sciHexValue);
  }

  clear(): void {
    this.byMi.clear();
  }
}

export function peerStatus(p: Peer): KayPeerStatus {
  return {
    sci: p.sciHex,
    mi: p.miHex,
    mn: p.mn,
    priority: p.priority,
    keyServer: p.keyServer,
    macsecDesired: p.macsecDesired,
    macsecCapability: p.macsecCapability,
  };
}
