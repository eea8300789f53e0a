/**
 * What the participants of one KaY share on their one SecY (802.1X-2010 clause 9: several
 * participants, one principal actor): the RX SC of a peer's SCI and the four ANs. A participant
 * that is getting ready to take over (successor) installs its keys beside the principal's, so
 * an RX SC goes only when its last user lets it go, and a new key never takes an AN that
 * another participant's key holds. Pure bookkeeping; the participants emit the SecY actions.
 */
import type { SecyAction } from './secy.js';

/** A participant's key use, as the share sees it. */
export interface ShareUser {
  /** ANs of the keys this user has SAs for. */
  ansInUse(): number[];
  /** Gives up an AN another user needs (adopted SAs do; participants never). */
  yieldAn?(an: number): SecyAction[];
}

export class SecyShare {
  private readonly rxScUsers = new Map<string, Set<ShareUser>>();
  private readonly users = new Set<ShareUser>();

  join(u: ShareUser): void {
    this.users.add(u);
  }

  leave(u: ShareUser): void {
    this.users.delete(u);
    for (const [sci, set] of this.rxScUsers) {
      set.delete(u);
      if (set.size === 0) this.rxScUsers.delete(sci);
    }
  }

  /** Returns true when the SC does not exist yet (the caller creates it). */
  acquireRxSc(u: ShareUser, sci: string): boolean {
    let set = this.rxScUsers.get(sci);
    const fresh = !set;
    if (!set) {
      set = new Set();
      this.rxScUsers.set(sci, set);
    }
    set.add(u);
    return fresh;
  }

  /** Returns true when nobody else uses the SC (the caller deletes it). */
  releaseRxSc(u: ShareUser, sci: string): boolean {
    const set = this.rxScUsers.get(sci);
    if (!set?.delete(u)) return false;
    if (set.size > 0) return false;
    this.rxScUsers.delete(sci);
    return true;
  }

  /** The principal's new key takes `an`: users that can give it up do (their delete actions). */
  claimAn(u: ShareUser, an: number): SecyAction[] {
    const out: SecyAction[] = [];
    for (const o of this.users) if (o !== u && o.yieldAn) out.push(...o.yieldAn(an));
    return out;
  }

  /** ANs that users other than `u` hold SAs for. */
  ansOfOthers(u: ShareUser): Set<number> {
    const out = new Set<number>();
    for (const o of this.users) if (o !== u) for (const an of o.ansInUse()) out.add(an);
    return out;
  }
}
