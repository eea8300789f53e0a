/**
 * "Be conservative in what we send": wpa_supplicant 2.10 selects a new MI whenever an MKPDU
 * carries SAK Use but no Distributed SAK and comes from a sender it does not count live. It
 * counts a sender live once that sender listed it in a Live or Potential Peer List with its
 * current MN (checked before the parameter sets), or from earlier. This test models that rule at
 * every member and checks that none of our MKPDUs would trigger it, across joins, once the sender
 * has heard the member (an MKPDU already on its way when a member starts cannot know better).
 */
import { describe, expect, it } from 'vitest';
import { toHex } from '../../src/common/hex.js';
import { decodeMkpdu, findSet } from '../../src/mka/mkpdu.js';
import type { SimMember } from '../../src/mka/sim/index.js';
import { lan } from './helpers.js';

function wpaResetWatch() {
  const triggers: string[] = [];
  const onDeliver = (from: SimMember, to: SimMember, frame: Uint8Array) => {
    const r = decodeMkpdu(frame);
    if (!r.ok) return;
    const pdu = r.value;
    if (!findSet(pdu, 'sakUse') || findSet(pdu, 'distributedSak')) return;
    const st = to.kay.status();
    const senderMi = toHex(pdu.basic.actor.mi);
    if (st.livePeers.some((p) => p.mi === senderMi)) return;
    const lists = [findSet(pdu, 'livePeers'), findSet(pdu, 'potentialPeers')].flatMap((l) => l?.peers ?? []);
    const mine = lists.filter((e) => toHex(e.mi) === st.mi);
    // Sent before the sender heard this member at all (e.g. a hello already on its way when the
    // member started): nobody can avoid that one.
    if (mine.length === 0) return;
    if (mine.some((e) => e.mn === st.mn)) return;
    triggers.push(`${from.name} -> ${to.name} at ${to.kay.status().mn}`);
  };
  return { triggers, onDeliver };
}

describe('no MKPDU of ours would make a wpa_supplicant member select a new MI', () => {
  for (const pattern of ['simultaneous', 'staggered', 'late joiner'] as const) {
    for (const ks of [1, 4]) {
      it(`4 members, ${pattern}, key server member ${ks}`, () => {
        const w = wpaResetWatch();
        const l = lan(4, (i) => ({ priority: i === ks ? 1 : 16 }), { onDeliver: w.onDeliver });
        const ms = l.members;
        if (pattern === 'simultaneous') l.startAll();
        else if (pattern === 'staggered') {
          for (const m of ms) {
            l.start(m);
            l.runFor(700);
          }
        } else {
          for (const m of ms.slice(0, 3)) l.start(m);
          expect(l.runUntilQuiescent(15_000)).toBe(true);
          l.start(ms[3]!);
        }
        expect(l.runUntilQuiescent(20_000)).toBe(true);
        l.runFor(10_000);
        expect(w.triggers).toEqual([]);
        expect(l.violations).toEqual([]);
      });
    }
  }

  it('a restart (new MI, same SCI) in a secured group triggers nothing either', () => {
    const w = wpaResetWatch();
    const l = lan(3, (i) => ({ priority: i === 1 ? 1 : 16 }), { onDeliver: w.onDeliver });
    l.startAll();
    expect(l.runUntilQuiescent(15_000)).toBe(true);
    l.crash(l.member('c'));
    l.runFor(500);
    l.restart(l.member('c'));
    expect(l.runUntilQuiescent(20_000)).toBe(true);
    expect(w.triggers).toEqual([]);
  });
});
