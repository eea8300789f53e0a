/**
 * Key server election (802.1X-2010 9.5), as wpa_supplicant 2.10 does it
 * (ieee802_1x_kay_elect_key_server):
 *
 * - only live peers whose latest Basic Parameter Set has the Key Server flag set are candidates;
 * - the best candidate has the numerically lowest Key Server Priority, ties broken by the lowest
 *   SCI (wpa_supplicant compares the 6-octet MAC only; we compare MAC then port, which gives the
 *   same order whenever MACs differ);
 * - we compete with that candidate with our own priority and SCI when we can be key server;
 * - a complete tie (same priority and SCI) elects nobody (a duplicate SCI).
 *
 * Priority 0xff gets no special treatment: it is simply the least preferred value, as in
 * wpa_supplicant (a participant with priority 0xff is still elected if nobody better is live).
 */
import { compareSciHex } from './peers.js';

export interface Candidate {
  priority: number;
  sciHex: string;
  /** Key Server flag of its latest MKPDU. */
  keyServer: boolean;
  miHex: string;
}

export type ElectionResult = { self: true } | { self: false; winner: Candidate } | null;

export function compareCandidates(a: Pick<Candidate, 'priority' | 'sciHex'>, b: Pick<Candidate, 'priority' | 'sciHex'>): number {
  if (a.priority !== b.priority) return a.priority - b.priority;
  return compareSciHex(a.sciHex, b.sciHex);
}

export function electKeyServer(self: { priority: number; sciHex: string; canBeKeyServer: boolean }, livePeers: readonly Candidate[]): ElectionResult {
  let best: Candidate | undefined;
  for (const p of livePeers) {
    if (!p.keyServer) continue;
    if (!best || compareCandidates(p, best) < 0) best = p;
  }
  if (!self.canBeKeyServer) return best ? { self: false, winner: best } : null;
  if (!best) return { self: true };
  const c = compareCandidates(self, best);
  if (c < 0) return { self: true };
  if (c === 0) return null; // duplicate SCI with equal priority: nobody can be elected
  return { self: false, winner: best };
}
