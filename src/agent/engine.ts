/**
 * The per-port MKA runtime behind a small interface, so the agent does not depend on how a
 * KaY is built: `KayDriver` runs any object with the KaY API (src/mka/kay.ts) against a SecY and
 * a FrameLink. The driver applies SecY actions before sending the MKPDUs of the same step, so
 * an MKPDU never announces an SA the SecY does not have yet.
 */
import { EventEmitter } from 'node:events';
import type { KayConfig, KayCounters, KayEvent, KayOutput, KayStatus } from '../mka/kay-types.js';
import type { CipherSuiteName } from '../mka/constants.js';
import type { Secy, SecyAction, SecyPnStatus } from '../mka/secy.js';
import type { Logger } from '../control/log.js';
import type { FrameLink } from '../link/link.js';

/** The KaY API the agent drives (src/mka/kay.ts `Kay` satisfies it). */
export interface KayLike {
  start(now: number): KayOutput;
  receive(frame: Uint8Array, now: number): KayOutput;
  tick(now: number, pn?: SecyPnStatus): KayOutput;
  nextDeadline(): number;
  forceRekey(now: number): KayOutput;
  /** The SecY refused an action; returns the KaY's corrected output. */
  secyFailed(action: SecyAction, error: string, now: number): KayOutput;
  stop(now: number): KayOutput;
  status(): KayStatus;
  counters(): KayCounters;
}

export type KayFactory = (cfg: KayConfig) => KayLike;

/** A SecY plus what the agent needs to know about it. */
export interface SecyHandle {
  secy: Secy;
  /** Name of the macsec netdev (attached to OVS). */
  ifname: string;
  /** Optional SA/packet counters for metrics. */
  stats?(): Record<string, number> | Promise<Record<string, number>>;
}

/** What a SecY needs to be created with (the rest comes through SecyActions). */
export interface SecyPolicy {
  cipherSuite: CipherSuiteName;
  /** null: integrity only. */
  confidentialityOffset: 0 | 30 | 50 | null;
  replayWindow: number;
}

export type SecyFactory = (iface: string, portId: string, policy: SecyPolicy) => SecyHandle | Promise<SecyHandle>;

/** What a port needs from its MKA runtime. */
export interface MkaRuntime extends EventEmitter {
  start(): void;
  forceRekey(): KayEvent[];
  status(): KayStatus;
  counters(): KayCounters;
  /** `graceful`: leave the CA (last MKPDU, delete SAs). Otherwise just stop (crash-like). */
  stop(graceful?: boolean): Promise<void>;
}

function describe(a: SecyAction): Record<string, unknown> {
  const { kind, ...rest } = a as SecyAction & Record<string, unknown>;
  delete rest.sak;
  delete rest.salt;
  return { action: kind, ...rest };
}

export class KayDriver extends EventEmitter implements MkaRuntime {
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  secyErrors = 0;

  constructor(
    private readonly kay: KayLike,
    private readonly secy: Secy,
    private readonly link: FrameLink,
    private readonly log: Logger,
    private readonly clock: () => number = () => performance.now(),
  ) {
    super();
  }

  start(): void {
    this.link.onFrame((f) => {
      if (!this.stopped) this.handle(this.kay.receive(f, this.clock()));
    });
    this.handle(this.kay.start(this.clock()));
  }

  forceRekey(): KayEvent[] {
    const out = this.kay.forceRekey(this.clock());
    this.handle(out);
    return out.events;
  }

  status(): KayStatus {
    return this.kay.status();
  }
  counters(): KayCounters {
    return this.kay.counters();
  }

  async stop(graceful = true): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    if (graceful) {
      this.enqueue(this.kay.stop(this.clock()));
      await this.chain.catch(() => {});
    }
    await Promise.resolve(this.link.close()).catch(() => {});
    await this.secy.close().catch(() => {});
  }

  private handle(out: KayOutput): void {
    this.enqueue(out);
    this.schedule();
  }

  private enqueue(out: KayOutput): void {
    if (!out.actions.length && !out.frames.length && !out.events.length) return;
    this.chain = this.chain.then(() => this.apply(out));
  }

  private async apply(out: KayOutput): Promise<void> {
    const failed: { action: SecyAction; error: string }[] = [];
    for (const a of out.actions) {
      try {
        await this.secy.apply(a);
      } catch (e) {
        this.secyErrors++;
        failed.push({ action: a, error: (e as Error).message });
        this.log.error('secy action failed', { ...describe(a), error: (e as Error).message });
        this.emit('event', { kind: 'secyError', reason: `${a.kind}: ${(e as Error).message}` });
      }
    }
    if (failed.length > 0 && !this.stopped) {
      // This step's MKPDUs and events describe SAs the SecY does not have: drop them and apply
      // what the KaY does instead (it drops a refused key, and says so in its next MKPDU).
      const now = this.clock();
      for (const f of failed) await this.apply(this.kay.secyFailed(f.action, f.error, now));
      this.schedule();
      return;
    }
    if (!this.stopped || out.frames.length) {
      for (const f of out.frames) {
        try {
          await this.link.send(f);
        } catch (e) {
          this.log.warn('MKPDU send failed', { error: (e as Error).message });
        }
      }
    }
    for (const ev of out.events) this.emit('event', ev);
  }

  private schedule(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const dl = this.kay.nextDeadline();
    const delay = Number.isFinite(dl) ? Math.max(0, Math.min(dl - this.clock(), 60_000)) : 60_000;
    this.timer = setTimeout(() => void this.tick(), delay);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    let pn: SecyPnStatus | undefined;
    try {
      pn = await this.secy.readPn();
    } catch (e) {
      this.log.warn('reading PNs failed', { error: (e as Error).message });
    }
    if (this.stopped) return;
    this.handle(this.kay.tick(this.clock(), pn));
  }
}
