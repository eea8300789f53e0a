/**
 * The I/O side of a KaY: `KayDriver` runs any object with the KaY API (src/mka/kay.ts, pure
 * protocol logic) against a SecY and a FrameLink, and is the only path from a KaY to its SecY.
 * It applies SecY actions before sending the MKPDUs of the same step, so an MKPDU never
 * announces an SA the SecY does not have yet.
 */
import { EventEmitter } from 'node:events';
import { Kay } from '../mka/kay.js';
import type { CakConfig, KayConfig, KayCounters, KayEvent, KayOutput, KayStatus } from '../mka/kay-types.js';
import type { Secy, SecyAction, SecyPnStatus } from '../mka/secy.js';
import type { Logger } from '../common/log.js';
import type { FrameLink } from '../link/link.js';

/** The KaY API the driver runs (src/mka/kay.ts `Kay` satisfies it). */
export interface KayLike {
  start(now: number): KayOutput;
  receive(frame: Uint8Array, now: number): KayOutput;
  tick(now: number, pn?: SecyPnStatus): KayOutput;
  nextDeadline(): number;
  forceRekey(now: number): KayOutput;
  /** Adds a CA that takes over without a gap (make before break); throws on a bad or running CKN. */
  addCak?(c: CakConfig, now: number, opts?: { replace?: boolean }): KayOutput;
  /** Removes a CA (after the handover when a successor is ready). */
  removeCak?(ckn: Uint8Array, now: number): KayOutput;
  /** The SecY refused an action; returns the KaY's corrected output. */
  secyFailed(action: SecyAction, error: string, now: number): KayOutput;
  stop(now: number): KayOutput;
  /** In-service suspension: a last MKPDU, nothing deleted. */
  suspend?(now: number, seconds: number): KayOutput;
  status(): KayStatus;
  counters(): KayCounters;
}

export type KayFactory = (cfg: KayConfig) => KayLike;

/** The KaY of this code base; tests substitute their own. */
export const defaultKayFactory: KayFactory = (cfg) => new Kay(cfg);

/** What the driver reports besides the KaY's own events. */
export type DriverEvent = KayEvent | { kind: 'secyError'; reason: string };

function describe(a: SecyAction): Record<string, unknown> {
  const { kind, ...rest } = a as SecyAction & Record<string, unknown>;
  delete rest.sak;
  delete rest.salt;
  return { action: kind, ...rest };
}

type StepTrigger = 'start' | 'rx' | 'tick' | 'rekey' | 'cak';
/** When a KaY step ran (`at`) and was queued for the SecY and the link (`queued`), driver clock. */
interface StepTiming {
  trigger: StepTrigger;
  at: number;
  queued: number;
}

export class KayDriver extends EventEmitter {
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private firstSent = false;
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
      if (this.stopped) return;
      const t = this.clock();
      this.handle(this.kay.receive(f, t), 'rx', t);
    });
    const t = this.clock();
    this.handle(this.kay.start(t), 'start', t);
  }

  forceRekey(): KayEvent[] {
    const t = this.clock();
    const out = this.kay.forceRekey(t);
    this.handle(out, 'rekey', t);
    return out.events;
  }

  /**
   * A new CAK beside the running ones (EAP re-authentication, a key chain's next key); false when
   * the KaY cannot add CAs (then the caller restarts it). Throws KayConfigError on a bad CAK/CKN.
   */
  addCak(c: CakConfig, opts: { replace?: boolean } = {}): boolean {
    if (!this.kay.addCak || this.stopped) return false;
    const t = this.clock();
    this.handle(this.kay.addCak(c, t, opts), 'cak', t);
    return true;
  }

  removeCak(ckn: Uint8Array): boolean {
    if (!this.kay.removeCak || this.stopped) return false;
    const t = this.clock();
    this.handle(this.kay.removeCak(ckn, t), 'cak', t);
    return true;
  }

  /** Resolves once the SecY actions and MKPDUs of every step so far are applied and sent. */
  settled(): Promise<void> {
    return this.chain.catch(() => undefined);
  }

  status(): KayStatus {
    return this.kay.status();
  }
  counters(): KayCounters {
    return this.kay.counters();
  }

  /**
   * Planned restart: announces in-service suspension for `seconds` (when the KaY can), then lets
   * go of the link and the SecY leaving every SA in place for the next run to adopt.
   */
  async suspend(seconds: number): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.kay.suspend) {
      this.enqueue(this.kay.suspend(this.clock(), seconds));
      await this.chain.catch(() => {});
    }
    await Promise.resolve(this.link.close()).catch(() => {});
    await (this.secy.detach ? this.secy.detach() : this.secy.close()).catch(() => {});
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

  private handle(out: KayOutput, trigger: StepTrigger, at: number): void {
    this.enqueue(out, { trigger, at, queued: this.clock() });
    this.schedule();
  }

  private enqueue(out: KayOutput, step?: StepTiming): void {
    if (!out.actions.length && !out.frames.length && !out.events.length) return;
    this.chain = this.chain.then(() => this.apply(out, step));
  }

  private async apply(out: KayOutput, step?: StepTiming): Promise<void> {
    const begin = this.clock();
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
    const secyDone = this.clock();
    let sent = 0;
    if (!this.stopped || out.frames.length) {
      for (const f of out.frames) {
        try {
          await this.link.send(f);
          sent++;
        } catch (e) {
          this.log.warn('MKPDU send failed', { error: (e as Error).message });
        }
      }
    }
    if (sent && !this.firstSent) {
      this.firstSent = true;
      this.log.info('first MKPDU sent');
    }
    if (step && (out.actions.length || out.frames.length)) {
      const ms = (x: number) => Math.round(x * 10) / 10;
      // Where a step's time goes: the KaY, waiting for earlier steps, the SecY (netlink), the link.
      this.log.debug('mka step', {
        trigger: step.trigger,
        kayMs: ms(step.queued - step.at),
        waitMs: ms(begin - step.queued),
        secyMs: ms(secyDone - begin),
        sendMs: ms(this.clock() - secyDone),
        actions: out.actions.map((a) => a.kind),
        frames: sent,
      });
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
    const t = this.clock();
    this.handle(this.kay.tick(t, pn), 'tick', t);
  }
}

/**
 * Starts a KaY on a driver with the logging and event counting every port uses (never keys:
 * KaY events carry KIs, SCIs and reasons only). `counts` accumulates across sessions.
 */
export function driveKay(
  kay: KayLike,
  secy: Secy,
  link: FrameLink,
  log: Logger,
  counts: Record<string, number>,
  onEvent: (ev: DriverEvent) => void,
  clock?: () => number,
): KayDriver {
  const driver = new KayDriver(kay, secy, link, log, clock);
  driver.on('event', (ev: DriverEvent) => {
    counts[ev.kind] = (counts[ev.kind] ?? 0) + 1;
    if (ev.kind === 'dropped') log.debug('mka dropped', ev);
    else if (ev.kind === 'peerLost' || ev.kind === 'unsecured' || ev.kind === 'secyError') log.warn(`mka ${ev.kind}`, ev);
    else log.info(`mka ${ev.kind}`, ev);
    onEvent(ev);
  });
  driver.start();
  return driver;
}
