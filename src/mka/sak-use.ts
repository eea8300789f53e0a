/**
 * The MACsec SAK Use parameter set, both ways: what peers report about a key (receiving,
 * transmitting, lowest PN) and the set we report. Key server and key use both decide on these
 * reports, so they live here rather than in either. Pure.
 */
import type { PortState } from './participant-env.js';
import type { Peer } from './peers.js';
import { type KeyState, ZERO_KI, isXpn, kiEqual } from './sak.js';
import type { KeyIdentifier, SakUseKey, SakUseParamSet, XpnParamSet } from './types.js';

/** The SAK Use reports an RX SA for the key (as latest or old). */
export function reportsRx(su: SakUseParamSet | null, ki: KeyIdentifier): boolean {
  if (!su?.hasKeys) return false;
  return (su.latest.rx && kiEqual(su.latest.ki, ki)) || (su.old.rx && kiEqual(su.old.ki, ki));
}

/** The SAK Use reports transmitting with the key (as latest, or already retired to old). */
export function reportsTx(su: SakUseParamSet | null, ki: KeyIdentifier): boolean {
  if (!su?.hasKeys) return false;
  return (su.latest.tx && kiEqual(su.latest.ki, ki)) || (su.old.tx && kiEqual(su.old.ki, ki));
}

/** Every given peer that is a member of the key reports receiving it. */
export function membersReceiving(capable: readonly Peer[], key: KeyState): boolean {
  return capable.every((p) => !key.members.has(p.miHex) || reportsRx(p.sakUse, key.ki));
}

/** Every given peer reports an RX SA for the key, members or not. */
export function allReceiving(capable: readonly Peer[], key: KeyState): boolean {
  return capable.every((p) => reportsRx(p.sakUse, key.ki));
}

/** Some given peer still transmits with the key. */
export function anyTransmitting(peers: readonly Peer[], key: KeyState): boolean {
  return peers.some((p) => reportsTx(p.sakUse, key.ki));
}

/** The peer's current MI holds the key: distributed to it, or reported in its SAK Use. */
export function holdsKey(p: Peer, key: KeyState): boolean {
  return key.holders.has(p.miHex) || reportsRx(p.sakUse, key.ki);
}

/** The lowest PN a peer reports for the key (XPN: with the high half from its XPN set). */
export function peerLowestPn(p: Peer, ki: KeyIdentifier): bigint | null {
  const su = p.sakUse;
  if (!su?.hasKeys) return null;
  if (kiEqual(su.latest.ki, ki)) return (BigInt(p.xpn?.latestLowestPnHigh ?? 0) << 32n) | BigInt(su.latest.lowestPn >>> 0);
  if (kiEqual(su.old.ki, ki)) return (BigInt(p.xpn?.oldLowestPnHigh ?? 0) << 32n) | BigInt(su.old.lowestPn >>> 0);
  return null;
}

/**
 * The Lowest Acceptable PN we report: one below the next PN read a hello time ago (802.1X 9.10:
 * the lowest PN used within the last hello time; never 0). With Delay Protect off receivers only
 * use it for PN exhaustion; it must never exceed a PN still in flight.
 */
export function lowestPn(k: KeyState | null): bigint {
  if (!k) return 0n;
  return k.pnLow > 1n ? k.pnLow - 1n : 1n;
}

export function sakUseSet(latest: KeyState | null, old: KeyState | null, port: PortState): SakUseParamSet {
  const key = (k: KeyState | null): SakUseKey =>
    k ? { an: k.an, tx: k.tx, rx: k.rx, ki: k.ki, lowestPn: Number(lowestPn(k) & 0xffffffffn) } : { an: 0, tx: false, rx: false, ki: ZERO_KI, lowestPn: 0 };
  return {
    type: 'sakUse',
    plainTx: !port.protectFrames,
    plainRx: port.validate !== 'strict',
    delayProtect: false,
    reservedBit: false,
    hasKeys: true,
    latest: key(latest),
    old: key(old),
  };
}

/** The XPN set carrying the high halves of our lowest PNs, when a key uses an XPN suite. */
export function xpnSet(latest: KeyState | null, old: KeyState | null): XpnParamSet | null {
  if (!(latest && isXpn(latest.cipherSuite)) && !(old && isXpn(old.cipherSuite))) return null;
  return {
    type: 'xpn',
    suspendedFor: 0,
    latestLowestPnHigh: Number((lowestPn(latest) >> 32n) & 0xffffffffn),
    oldLowestPnHigh: Number((lowestPn(old) >> 32n) & 0xffffffffn),
  };
}
