/**
 * A per-authentication view of the port's SecY. The macsec link lives as long as the port; each
 * authorized session runs its own KaY against a SessionSecy. Closing the session (KayDriver.stop
 * calls close()) does not delete the link: it removes every SA and RX SC the kernel still has and
 * disables the controlled port, so no macsec SA survives an unauthorized port even if the KaY's
 * own cleanup failed or was skipped.
 */
import type { SecyDump } from '../netlink/macsec-genl.js';
import type { Secy, SecyAction, SecyPnStatus } from '../mka/secy.js';

/** What the session needs from the port's SecY (KernelSecy satisfies it). */
export interface SweepableSecy extends Secy {
  /** Current kernel state (SAs, RX SCs); optional: without it, close() only disables the port. */
  dump?(): Promise<SecyDump>;
}

export interface SweepResult {
  txSas: number;
  rxSas: number;
  rxScs: number;
  errors: string[];
}

export class SessionSecy implements Secy {
  private closed = false;
  private closing: Promise<SweepResult> | undefined;
  /**
   * apply(), readPn() and the sweep are serialized here: KernelSecy queues its actions but not its
   * dumps, and a GET_TXSC dump running while an SA is being added on the same generic-netlink
   * socket failed in the lab with ETIMEDOUT ("Multipart message not terminated properly").
   */
  private queue: Promise<unknown> = Promise.resolve();
  constructor(private readonly secy: SweepableSecy) {}

  get macsecCapability(): Secy['macsecCapability'] {
    return this.secy.macsecCapability;
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  apply(action: SecyAction): Promise<void> {
    if (this.closed) return Promise.reject(new Error('session SecY closed'));
    return this.serial(() => this.secy.apply(action));
  }

  readPn(): Promise<SecyPnStatus> {
    return this.serial(() => this.secy.readPn());
  }

  /** Removes what the session left (see sweepSecy). Idempotent. */
  async close(): Promise<void> {
    await this.sweep();
  }

  sweep(): Promise<SweepResult> {
    this.closed = true;
    this.closing ??= this.serial(() => sweepSecy(this.secy));
    return this.closing;
  }
}

/** Deletes every TX SA, RX SA and RX SC the kernel reports, and disables the controlled port. */
export async function sweepSecy(secy: SweepableSecy): Promise<SweepResult> {
  const res: SweepResult = { txSas: 0, rxSas: 0, rxScs: 0, errors: [] };
  const run = async (a: SecyAction) => {
    try {
      await secy.apply(a);
      return true;
    } catch (e) {
      res.errors.push(`${a.kind}: ${(e as Error).message}`);
      return false;
    }
  };
  await run({ kind: 'setControlledPortEnabled', enabled: false });
  if (!secy.dump) return res;
  let d: SecyDump;
  try {
    d = await secy.dump();
  } catch (e) {
    res.errors.push(`dump: ${(e as Error).message}`);
    return res;
  }
  for (const sa of d.txSas) if (await run({ kind: 'deleteTxSa', an: sa.an })) res.txSas++;
  for (const sc of d.rxScs) {
    for (const sa of sc.sas) if (await run({ kind: 'deleteRxSa', sci: sc.sci, an: sa.an })) res.rxSas++;
    if (await run({ kind: 'deleteRxSc', sci: sc.sci })) res.rxScs++;
  }
  return res;
}
