/**
 * Frame-by-frame checks for SimLan.
 *
 * Make-before-break: whenever a participant X transmits protected frames with the SA of key
 * ki, every other running KaY Y that counts X as a live peer (in any of its participants) and
 * is a member of ki
 * (the key server derived ki for Y's MI, or Y is that key server) has an enabled RX SA for
 * (X's SCI, AN, ki). Members that joined after ki was made, or that do not (yet) see X as live,
 * could never receive X's frames with any key and are not a key-change gap. When the key server
 * that made ki no longer runs with that MI (it restarted), only members that hold ki count.
 */
import type { Checker, SimLan, SimMember } from './lan.js';

function keyMembers(lan: SimLan, ki: string): { server: string; members: Set<string> } | null {
  for (const m of lan.members) {
    if (!m.running) continue;
    for (const p of m.kay.status().participants) {
      for (const k of [p.latestKey, p.oldKey]) {
        if (k && k.ki === ki && k.members.length > 0 && ki.startsWith(p.mi)) return { server: p.mi, members: new Set(k.members) };
      }
    }
  }
  return null;
}

export function makeBeforeBreakViolations(lan: SimLan): string[] {
  const out: string[] = [];
  const act = lan.members.filter((m) => m.running && m.connected);
  for (const x of act) {
    const tx = x.secy.transmitting();
    if (!tx) continue;
    const km = keyMembers(lan, tx.ki);
    for (const y of act) {
      if (y === x) continue;
      const ys = y.kay.status();
      // Several CAs (a CAK change): Y counts X live in any of its participants, and is a member
      // of ki through whichever participant the key was made for.
      if (!ys.participants.some((p) => p.livePeers.some((l) => l.sci === x.sci))) continue;
      if (km && !ys.participants.some((p) => p.mi === km.server || km.members.has(p.mi))) continue;
      // The key server that made ki is gone (e.g. restarted with a new MI): its members are
      // unknown, so only those that still hold ki count.
      if (!km && !ys.participants.some((p) => p.latestKey?.ki === tx.ki || p.oldKey?.ki === tx.ki)) continue;
      if (!y.secy.canReceive(x.sci, tx.an, tx.ki)) {
        out.push(`${x.name} transmits with AN ${tx.an} KI ${tx.ki.slice(0, 8)}…/${parseInt(tx.ki.slice(24), 16)} but ${y.name} has no RX SA for it`);
      }
    }
  }
  return out;
}

export const makeBeforeBreak: Checker = makeBeforeBreakViolations;

/** SecY misuse (SA on a missing SC, duplicate SC, deleting what is not there). */
export const secyErrors: Checker = (lan) => {
  const out: string[] = [];
  for (const m of lan.members as SimMember[]) {
    while (m.secy.errors.length > 0) out.push(`${m.name}: ${m.secy.errors.shift()}`);
  }
  return out;
};
