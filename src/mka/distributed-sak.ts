/**
 * Non key server: opening a Distributed SAK from our key server (802.1X-2010 9.8.2, 802.1X-2020
 * XPN SSCIs) into a key ready for RECEIVE. Pure apart from the key unwrap; the participant
 * decides what to do with the outcome.
 */
import { CIPHER_SUITES, type CipherSuiteName, CONF_OFFSET_BY_CODE, cipherSuiteById } from './constants.js';
import { unwrapKey, zeroize } from './crypto.js';
import { bytesEqual, toHex } from '../common/hex.js';
import type { Peer, PeerTable } from './peers.js';
import { type KeyState, isXpn, newKeyState, ssciOfListPosition } from './sak.js';
import type { DistributedSakParamSet, KeyIdentifier, PeerListParamSet } from './types.js';

export type DistributedSakOutcome =
  /** A new key for RECEIVE. */
  | { kind: 'key'; key: KeyState }
  /** The key server advises not to use MACsec. */
  | { kind: 'plain' }
  /** Nothing to do; `reason` says why when the set was unusable (reported as a drop). */
  | { kind: 'ignored'; reason?: string };

export interface SakReceiver {
  kek: Uint8Array;
  mi: Uint8Array;
  sciHex: string;
  /** Our SecY's MACsec Capability: an offset beyond it cannot be used. */
  capability: number;
  peers: PeerTable;
  /** A key we hold already or the SecY refused: never taken again. */
  known(ki: KeyIdentifier): boolean;
}

/** Opens `set`, carried with the key server's Live Peer List `liveList` in an MKPDU of `from`. */
export function openDistributedSak(
  set: DistributedSakParamSet,
  liveList: PeerListParamSet | undefined,
  from: Peer,
  r: SakReceiver,
  now: number,
): DistributedSakOutcome {
  if (set.plain) return { kind: 'plain' };
  const suite: CipherSuiteName | undefined = set.cipherSuite === null ? 'GCM-AES-128' : cipherSuiteById(set.cipherSuite);
  if (!suite) return { kind: 'ignored', reason: `Distributed SAK with unsupported cipher suite 0x${set.cipherSuite!.toString(16)}` };
  if (r.known({ mi: from.mi, kn: set.kn })) return { kind: 'ignored' };
  // Not distributed to us: the key server and its members install no RX SA for our frames with it.
  if (!liveList?.peers.some((e) => bytesEqual(e.mi, r.mi))) {
    return { kind: 'ignored', reason: 'Distributed SAK not addressed to us (our MI is not in the key server Live Peer List)' };
  }
  const offset = CONF_OFFSET_BY_CODE[set.confidentialityOffset] ?? null;
  const needs = offset === null ? 1 : offset === 0 ? 2 : 3;
  if (needs > r.capability) {
    return { kind: 'ignored', reason: `Distributed SAK asks for confidentiality offset ${offset}, beyond our MACsec capability ${r.capability}` };
  }
  const keyLen = CIPHER_SUITES[suite].keyLen;
  if (set.wrappedSak.length !== keyLen + 8) {
    return { kind: 'ignored', reason: `Distributed SAK wrap of ${set.wrappedSak.length} octets does not fit ${suite}` };
  }
  const sak = unwrapKey(r.kek, set.wrappedSak);
  if (!sak) return { kind: 'ignored', reason: 'Distributed SAK failed to unwrap' };
  const ssci = new Map<string, number>();
  if (isXpn(suite)) {
    const why = xpnSscis(ssci, liveList, from, r);
    if (why) {
      zeroize(sak);
      return { kind: 'ignored', reason: why };
    }
  }
  const key = newKeyState({
    ki: { mi: Uint8Array.from(from.mi), kn: set.kn },
    an: set.an,
    sak,
    cipherSuite: suite,
    confidentialityOffset: offset,
    members: new Set(),
    // The MIs it was distributed to: the key server's Live Peer List in this MKPDU.
    holders: (liveList?.peers ?? []).map((e) => toHex(e.mi)),
    ssci,
    now,
  });
  return { kind: 'key', key };
}

/**
 * XPN: SSCIs by SCI from the key server's Live Peer List order and its own SSCI (octet 2).
 * Returns why the key is unusable, if it is.
 */
function xpnSscis(ssci: Map<string, number>, liveList: PeerListParamSet | undefined, from: Peer, r: SakReceiver): string | null {
  const ksSsci = liveList?.keyServerSsci ?? 0;
  if (ksSsci === 0 || !liveList) return 'XPN Distributed SAK without a key server SSCI';
  ssci.set(from.sciHex, ksSsci);
  liveList.peers.forEach((e, i) => {
    const s = ssciOfListPosition(i, ksSsci);
    if (bytesEqual(e.mi, r.mi)) ssci.set(r.sciHex, s);
    else {
      const p = r.peers.get(toHex(e.mi));
      if (p) ssci.set(p.sciHex, s);
    }
  });
  return ssci.has(r.sciHex) ? null : 'XPN Distributed SAK: our MI is not in the key server Live Peer List';
}
