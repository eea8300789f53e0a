import { fromHex } from '../../src/common/hex.js';
import type { KayConfig } from '../../src/mka/kay.js';
import { SimLan, makeBeforeBreak, secyErrors, seededRandom, type LanOptions } from '../../src/mka/sim/index.js';

export const CAK = fromHex('135bd758b0ee5c11c55ff6ab19fdb199');
export const CKN = fromHex('96437a93ccf10d9dfe347846cce52c7d6e2e7a5a3d1b2b5e0e4d1c6ab0f8f1e2');
export const CAK256 = fromHex('f68d2d5bf1f1d2b6a4fa6c7a0a3d5b1c9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b');
export const FALLBACK_CAK = fromHex('00112233445566778899aabbccddeeff');
export const FALLBACK_CKN = fromHex('fa11bacc');

export function mac(i: number): Uint8Array {
  return Uint8Array.of(0x02, 0, 0, 0, (i >> 8) & 0xff, i & 0xff);
}

export const NAMES = 'abcdefghijklmnopqrstuvwxyz'.split('');

/** Member i (1-based MAC suffix) of the default CA. */
export function cfg(i: number, over: Partial<KayConfig> = {}): KayConfig {
  return { sci: { mac: mac(i), port: 1 }, primary: { cak: CAK, ckn: CKN }, random: seededRandom(1000 + i), ...over };
}

/** A LAN of n members a, b, c... with MACs ...01, ...02, ... and the standard checkers. */
export function lan(n: number, over: Partial<KayConfig> | ((i: number) => Partial<KayConfig>) = {}, opts: LanOptions = {}): SimLan {
  const l = new SimLan(opts);
  for (let i = 1; i <= n; i++) l.add(NAMES[i - 1]!, cfg(i, typeof over === 'function' ? over(i) : over));
  l.addChecker(makeBeforeBreak);
  l.addChecker(secyErrors);
  return l;
}

/**
 * "Never a gap": each named member transmits protected frames and every other named member
 * accepts them. Enable once the group has converged.
 */
export function noGap(names: string[]) {
  return (l: SimLan): string[] => {
    const out: string[] = [];
    const ms = names.map((n) => l.member(n)).filter((m) => m.running && m.connected);
    for (const x of ms) {
      const tx = x.secy.transmitting();
      if (!tx) {
        out.push(`${x.name} is not transmitting protected frames`);
        continue;
      }
      for (const y of ms) if (y !== x && !y.secy.canReceive(x.sci, tx.an, tx.ki)) out.push(`${y.name} cannot receive ${x.name} (AN ${tx.an})`);
    }
    return out;
  };
}

export function rekeyEvents(l: SimLan, name: string) {
  return l.eventsOf(name, 'rekey') as { kind: 'rekey'; reason: string; kn: number }[];
}

/** After quiescence: one TX SA and one RX SA per peer SC, the old key deleted everywhere. */
export function expectOnlyCurrentKey(l: SimLan) {
  for (const m of l.active()) {
    const tx = m.secy.transmitting();
    if (!tx) throw new Error(`${m.name} not transmitting`);
    if (m.secy.txSas.size !== 1) throw new Error(`${m.name} has ${m.secy.txSas.size} TX SAs`);
    for (const [sci, sc] of m.secy.rxScs) {
      if (sc.size !== 1) throw new Error(`${m.name} has ${sc.size} RX SAs on ${sci}`);
      for (const sa of sc.values()) if (sa.ki !== tx.ki) throw new Error(`${m.name} RX SA on ${sci} has another key`);
    }
  }
}
