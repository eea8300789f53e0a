/** Peers, keys and SAK Use reports for unit tests of the participant's parts (no KaY, no LAN). */
import type { CipherSuiteName } from '../../src/mka/constants.js';
import { newPeer } from '../../src/mka/liveness.js';
import { type Peer, sciHex } from '../../src/mka/peers.js';
import { type KeyState, generateKey } from '../../src/mka/sak.js';
import { seededRandom } from '../../src/mka/sim/index.js';
import type { SakUseParamSet } from '../../src/mka/types.js';
import { CAK, CKN, mac } from '../mka/helpers.js';
import { peerMkpdu } from './mkpdu-fixtures.js';

/** Us: MAC suffix 5, priority 16, a fixed MI. */
export const ME = { priority: 16, sciHex: sciHex({ mac: mac(5), port: 1 }), mi: new Uint8Array(12).fill(0x55) };

/** A live peer with MAC suffix i and MI i i i ... */
export function livePeer(i: number, over: Partial<Peer> = {}): Peer {
  const sci = { mac: mac(i), port: 1 };
  const p = newPeer(peerMkpdu({ sci, actor: { mi: new Uint8Array(12).fill(i), mn: 1 }, ckn: CKN }).basic, sciHex(sci), Infinity);
  return Object.assign(p, { live: true }, over);
}

/** Our key (as key server, MI ME.mi) for the given members. */
export function ourKey(members: readonly Peer[], kn = 1, an = 0, cipherSuite: CipherSuiteName = 'GCM-AES-128', now = 0): KeyState {
  return generateKey({
    cak: CAK,
    keyServerMi: ME.mi,
    memberMis: members.map((p) => p.mi),
    memberMiHex: members.map((p) => p.miHex),
    memberScis: [ME.sciHex, ...members.map((p) => p.sciHex)],
    kn,
    an,
    cipherSuite,
    confidentialityOffset: 0,
    random: seededRandom(kn),
    now,
  });
}

/** A SAK Use reporting the key as latest (receiving unless told otherwise), nothing as old. */
export function reporting(k: KeyState, o: { rx?: boolean; tx?: boolean; lowestPn?: number } = {}): SakUseParamSet {
  return {
    type: 'sakUse',
    plainTx: false,
    plainRx: false,
    delayProtect: false,
    reservedBit: false,
    hasKeys: true,
    latest: { an: k.an, tx: o.tx ?? false, rx: o.rx ?? true, ki: k.ki, lowestPn: o.lowestPn ?? 1 },
    old: { an: 0, tx: false, rx: false, ki: { mi: new Uint8Array(12), kn: 0 }, lowestPn: 0 },
  };
}
