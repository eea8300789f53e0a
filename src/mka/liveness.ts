/**
 * Liveness bookkeeping (802.1X-2010 9.4.2-9.4.3): our MI and MN with the MNs sent recently, and
 * what a peer's MKPDU says about the peer (its Basic Parameter Set) and about us (whether it
 * lists our MI with an MN we sent). Pure: the participant acts on the answers.
 */
import { MI_LEN } from './constants.js';
import { bytesEqual, toHex } from '../common/hex.js';
import { MN_MAX } from './participant-env.js';
import type { Peer } from './peers.js';
import type { BasicParamSet, PeerListParamSet } from './types.js';

/** How a peer's MKPDU lists our current MI. */
export type Listing =
  /** Not at all, or with an MN older than a life time: no proof it hears us. */
  | { kind: 'none' }
  /** With an MN we never sent: another participant uses our MI. */
  | { kind: 'collision' }
  /**
   * With an acceptably recent MN; `live` when that was in its Live Peer List. `sentAt` is when we
   * sent the newest MN it confirmed: the peer stays live for one life time from then (9.4.3).
   */
  | { kind: 'listed'; live: boolean; sentAt: number };

/** Our member identity: the MI, the MN of our latest MKPDU and the MNs sent within a life time. */
export class Actor {
  mi: Uint8Array = new Uint8Array(MI_LEN);
  miHex = '';
  mn = 0;
  private sent: { mn: number; at: number }[] = [];

  constructor(
    private readonly lifeTimeMs: number,
    private readonly random: (n: number) => Uint8Array,
  ) {
    this.renew();
  }

  /** A fresh random MI; MNs start again at 1 and nothing sent before counts any more. */
  renew(): void {
    this.mi = this.random(MI_LEN).slice(0, MI_LEN);
    this.miHex = toHex(this.mi);
    this.mn = 0;
    this.sent = [];
  }

  /** The MN space of this MI is used up: renew() before the next MKPDU. */
  get spent(): boolean {
    return this.mn >= MN_MAX;
  }

  /** Takes the MN for an MKPDU sent now. */
  next(now: number): number {
    this.mn += 1;
    this.sent.push({ mn: this.mn, at: now });
    this.prune(now);
    return this.mn;
  }

  /** An MN we sent within the last life time (802.1X-2010 9.4.3 "acceptably recent"). */
  acceptable(mn: number, now: number): boolean {
    this.prune(now);
    if (this.sent.length === 0) return false;
    return mn >= this.sent[0]!.mn && mn <= this.mn;
  }

  /** MN listed for our current MI in a peer list, if any. */
  findIn(list: PeerListParamSet | undefined): number | undefined {
    if (!list) return undefined;
    for (const p of list.peers) if (bytesEqual(p.mi, this.mi)) return p.mn;
    return undefined;
  }

  listing(liveList: PeerListParamSet | undefined, potList: PeerListParamSet | undefined, now: number): Listing {
    const inLive = this.findIn(liveList);
    const listed = inLive ?? this.findIn(potList);
    if (listed === undefined) return { kind: 'none' };
    if (listed > this.mn) return { kind: 'collision' };
    if (!this.acceptable(listed, now)) return { kind: 'none' };
    const live = inLive !== undefined && this.acceptable(inLive, now);
    const newest = live && inLive !== undefined ? Math.max(inLive, listed) : listed;
    return { kind: 'listed', live, sentAt: this.sentAt(newest) ?? now };
  }

  /** When we sent the MKPDU with this MN (within the remembered window). */
  sentAt(mn: number): number | undefined {
    return this.sent.find((s) => s.mn === mn)?.at;
  }

  private prune(now: number): void {
    // Keep the last two regardless of age (wpa_supplicant accepts the last two it sent).
    while (this.sent.length > 2 && this.sent[0]!.at < now - this.lifeTimeMs) this.sent.shift();
  }
}

/** A potential peer from the first MKPDU of its MI. */
export function newPeer(b: BasicParamSet, sciHex: string, expiresAt: number, firstSeenAt = expiresAt): Peer {
  return {
    mi: Uint8Array.from(b.actor.mi),
    miHex: toHex(b.actor.mi),
    mn: b.actor.mn,
    sci: { mac: Uint8Array.from(b.sci.mac), port: b.sci.port },
    sciHex,
    priority: b.priority,
    keyServer: b.keyServer,
    macsecDesired: b.macsecDesired,
    macsecCapability: b.macsecCapability,
    live: false,
    expiresAt,
    listsUsLive: false,
    sakUse: null,
    xpn: null,
    lists: new Map(),
    firstSeenAt,
  };
}

/**
 * Takes a newer Basic Parameter Set of a known peer. Returns whether a live peer changed an input
 * of the key server election (then the election runs again).
 */
export function refreshPeer(peer: Peer, b: BasicParamSet, sciHex: string): boolean {
  const electionInputChanged = peer.live && (peer.priority !== b.priority || peer.keyServer !== b.keyServer || peer.sciHex !== sciHex);
  peer.mn = b.actor.mn;
  peer.priority = b.priority;
  peer.keyServer = b.keyServer;
  peer.macsecDesired = b.macsecDesired;
  peer.macsecCapability = b.macsecCapability;
  if (peer.sciHex !== sciHex) {
    peer.sci = { mac: Uint8Array.from(b.sci.mac), port: b.sci.port };
    peer.sciHex = sciHex;
  }
  return electionInputChanged;
}
