/**
 * SAs a KaY finds on its SecY at start: a previous run of the agent on this port (a planned
 * restart with in-service suspension, or a crash) left its kernel SecY in place, still
 * protecting traffic with keys this run cannot know. They stay in use until our own key
 * transmits (then they go after the retire time, as an old key would), and they hold their ANs
 * and RX SCs meanwhile so that no new key lands on them. Pure bookkeeping; the Kay decides when.
 */
import type { ShareUser, SecyShare } from './secy-share.js';
import type { SecyAction } from './secy.js';

/** What the SecY holds from an earlier run (see KayConfig.adopted). */
export interface AdoptedSecy {
  /** ANs of the TX SAs. */
  txAns: number[];
  /** RX SCs (SCI hex) with the ANs of their SAs. */
  rxScs: { sci: string; ans: number[] }[];
  /** The controlled port is up (traffic flows). */
  controlledPortEnabled: boolean;
}

export function adoptedIsEmpty(a: AdoptedSecy | undefined): boolean {
  return !a || (a.txAns.length === 0 && a.rxScs.every((sc) => sc.ans.length === 0));
}

export class AdoptedSas implements ShareUser {
  private readonly tx: Set<number>;
  private readonly rx: Map<string, Set<number>>;

  constructor(
    held: AdoptedSecy,
    private readonly share: SecyShare,
  ) {
    this.tx = new Set(held.txAns);
    this.rx = new Map(held.rxScs.map((sc) => [sc.sci, new Set(sc.ans)]));
    share.join(this);
    for (const sci of this.rx.keys()) share.acquireRxSc(this, sci);
  }

  ansInUse(): number[] {
    const out = new Set(this.tx);
    for (const ans of this.rx.values()) for (const an of ans) out.add(an);
    return [...out];
  }

  /** Deletes the SAs on `an` (a key of ours needs it). */
  yieldAn(an: number): SecyAction[] {
    const out: SecyAction[] = [];
    for (const [sci, ans] of this.rx) if (ans.delete(an)) out.push({ kind: 'deleteRxSa', sci, an });
    if (this.tx.delete(an)) out.push({ kind: 'deleteTxSa', an });
    return out;
  }

  /** Deletes every adopted SA, and each RX SC no participant uses. */
  release(): SecyAction[] {
    const out: SecyAction[] = [];
    for (const [sci, ans] of this.rx) {
      for (const an of ans) out.push({ kind: 'deleteRxSa', sci, an });
      if (this.share.releaseRxSc(this, sci)) out.push({ kind: 'deleteRxSc', sci });
    }
    for (const an of this.tx) out.push({ kind: 'deleteTxSa', an });
    this.rx.clear();
    this.tx.clear();
    this.share.leave(this);
    return out;
  }
}
