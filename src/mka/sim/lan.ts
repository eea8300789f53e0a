/**
 * A simulated LAN joining N KaYs, each with a SimulatedSecy, under a controllable clock.
 * Frames go to every other connected member after `latencyMs` (optionally lost or delayed per
 * link); each member's tick() is called at its nextDeadline() with its SecY's PN status.
 * Time advances in instants: all deliveries and ticks due at the same time form one step, after
 * which the registered checkers run.
 */
import { Kay, type KayConfig, type KayEvent, type KayOutput, type KayStatus } from '../kay.js';
import { sciHex } from '../peers.js';
import { SimulatedSecy } from '../../secy/simulated.js';

export interface SimMember {
  name: string;
  cfg: KayConfig;
  kay: Kay;
  secy: SimulatedSecy;
  sci: string;
  /** Frames to and from it are delivered. */
  connected: boolean;
  /** It gets ticks and frames (false after crash() or stop()). */
  running: boolean;
  events: { at: number; event: KayEvent }[];
  framesSent: number;
}

export interface FrameRecord {
  at: number;
  from: string;
  frame: Uint8Array;
}

export interface LanOptions {
  /** Delivery delay, default 1 ms. */
  latencyMs?: number;
  /** Return true to lose the frame on this link; a number to deliver it with that delay instead. */
  link?: (from: SimMember, to: SimMember, frame: Uint8Array) => boolean | number;
  /** Called just before a frame is handed to its receiver (its state is still the one before). */
  onDeliver?: (from: SimMember, to: SimMember, frame: Uint8Array) => void;
}

export type Checker = (lan: SimLan) => string[];

interface Delivery {
  at: number;
  seq: number;
  from: SimMember;
  to: SimMember;
  frame: Uint8Array;
}

export class SimLan {
  now = 0;
  readonly members: SimMember[] = [];
  readonly frames: FrameRecord[] = [];
  readonly violations: { at: number; message: string }[] = [];
  private readonly queue: Delivery[] = [];
  private readonly checkers: Checker[] = [];
  private seq = 0;
  latencyMs: number;
  link: LanOptions['link'];
  onDeliver: LanOptions['onDeliver'];

  constructor(opts: LanOptions = {}) {
    this.latencyMs = opts.latencyMs ?? 1;
    this.link = opts.link;
    this.onDeliver = opts.onDeliver;
  }

  add(name: string, cfg: KayConfig): SimMember {
    const m: SimMember = {
      name,
      cfg,
      kay: new Kay(cfg),
      secy: new SimulatedSecy(),
      sci: sciHex({ mac: cfg.sci.mac, port: cfg.sci.port ?? 1 }),
      connected: true,
      running: false,
      events: [],
      framesSent: 0,
    };
    this.members.push(m);
    return m;
  }

  member(name: string): SimMember {
    const m = this.members.find((x) => x.name === name);
    if (!m) throw new Error(`no member ${name}`);
    return m;
  }

  addChecker(c: Checker): void {
    this.checkers.push(c);
  }

  start(m: SimMember): void {
    m.running = true;
    this.process(m, m.kay.start(this.now));
  }

  startAll(): void {
    for (const m of this.members) if (!m.running) this.start(m);
  }

  /** Orderly leave: kay.stop(). */
  stop(m: SimMember): void {
    this.process(m, m.kay.stop(this.now));
    m.running = false;
  }

  /** Silent disappearance (power loss): no more frames, ticks or deliveries; its SecY keeps its state. */
  crash(m: SimMember): void {
    m.running = false;
    m.connected = false;
  }

  /**
   * The process dies but its SecY (the kernel) goes on: no more MKPDUs, ticks or deliveries to
   * the KaY, while protected frames still flow with the SAs installed (an agent SIGKILLed, or
   * stopped after kay.suspend()).
   */
  kill(m: SimMember): void {
    m.running = false;
  }

  /**
   * A fresh KaY (new MI) with the same configuration, started now. `adopt`: on the same SecY,
   * which it adopts (an agent restarted over its kernel state); otherwise on a fresh SecY.
   */
  restart(m: SimMember, cfg: KayConfig = m.cfg, opts: { adopt?: boolean } = {}): void {
    const { adopted: _earlier, ...base } = cfg;
    if (opts.adopt) {
      m.cfg = { ...base, adopted: m.secy.adoptedState() };
    } else {
      m.cfg = base;
      m.secy = new SimulatedSecy();
    }
    m.kay = new Kay(m.cfg);
    m.connected = true;
    this.start(m);
  }

  disconnect(m: SimMember): void {
    m.connected = false;
  }

  reconnect(m: SimMember): void {
    m.connected = true;
  }

  /** Processes the next instant. Returns false when nothing is scheduled. */
  step(limit = Infinity): boolean {
    let t = Infinity;
    for (const d of this.queue) t = Math.min(t, d.at);
    for (const m of this.members) if (m.running) t = Math.min(t, m.kay.nextDeadline());
    if (t === Infinity || t > limit) return false;
    this.now = Math.max(this.now, t);
    const due = this.queue.filter((d) => d.at <= this.now).sort((a, b) => a.at - b.at || a.seq - b.seq);
    for (const d of due) this.queue.splice(this.queue.indexOf(d), 1);
    for (const d of due) {
      if (!d.to.running || !d.to.connected) continue;
      this.onDeliver?.(d.from, d.to, d.frame);
      this.process(d.to, d.to.kay.receive(d.frame, this.now));
    }
    for (const m of this.members) {
      if (m.running && m.kay.nextDeadline() <= this.now) this.process(m, m.kay.tick(this.now, m.secy.readPnSync()));
    }
    for (const c of this.checkers) for (const message of c(this)) this.violations.push({ at: this.now, message });
    return true;
  }

  /** Runs for `ms` of simulated time. */
  runFor(ms: number): void {
    const end = this.now + ms;
    while (this.step(end)) {
      /* keep going */
    }
    this.now = Math.max(this.now, end);
  }

  /** Runs until `pred` holds (checked after every instant) or `maxMs` pass; returns whether it held. */
  runUntil(pred: (lan: SimLan) => boolean, maxMs: number): boolean {
    const end = this.now + maxMs;
    if (pred(this)) return true;
    while (this.step(end)) if (pred(this)) return true;
    this.now = Math.max(this.now, end);
    return pred(this);
  }

  /** Runs until every running member is secured with one common key (see converged()). */
  runUntilConverged(maxMs = 60_000): boolean {
    return this.runUntil((l) => l.converged(), maxMs);
  }

  /** Converged and no key change in progress (every key server's latest key retired to old). */
  runUntilQuiescent(maxMs = 60_000): boolean {
    return this.runUntil((l) => l.converged() && l.active().every((m) => m.kay.status().latestKey === null), maxMs);
  }

  active(): SimMember[] {
    return this.members.filter((m) => m.running && m.connected);
  }

  /**
   * Every running, connected member transmits protected frames with the same SAK, every other
   * such member can receive them, and all agree on one key server.
   */
  converged(): boolean {
    const act = this.active();
    if (act.length < 2) return false;
    const tx = act.map((m) => m.secy.transmitting());
    const ki = tx[0]?.ki;
    if (!ki || tx.some((t) => t?.ki !== ki)) return false;
    for (let i = 0; i < act.length; i++) {
      for (let j = 0; j < act.length; j++) {
        if (i !== j && !act[j]!.secy.canReceive(act[i]!.sci, tx[i]!.an, ki)) return false;
      }
    }
    const servers = new Set(act.map((m) => m.kay.status().keyServer?.sci));
    return servers.size === 1 && !servers.has(undefined);
  }

  status(name: string): KayStatus {
    return this.member(name).kay.status();
  }

  eventsOf(name: string, kind?: KayEvent['kind']): KayEvent[] {
    return this.member(name)
      .events.map((e) => e.event)
      .filter((e) => !kind || e.kind === kind);
  }

  /** Calls the member's KaY (e.g. forceRekey) and processes the output like any other. */
  command(m: SimMember, fn: (kay: Kay, now: number) => KayOutput): KayOutput {
    const out = fn(m.kay, this.now);
    this.process(m, out);
    return out;
  }

  /** Delivers a frame now to one member (e.g. a forged or replayed one) and returns its output. */
  inject(to: SimMember, frame: Uint8Array): KayOutput {
    const out = to.kay.receive(frame, this.now);
    this.process(to, out);
    return out;
  }

  private process(m: SimMember, out: KayOutput): void {
    for (const a of out.actions) m.secy.applySync(a);
    for (const e of out.events) m.events.push({ at: this.now, event: e });
    for (const f of out.frames) {
      m.framesSent++;
      this.frames.push({ at: this.now, from: m.name, frame: f });
      if (!m.connected) continue;
      for (const to of this.members) {
        if (to === m) continue;
        let delay = this.latencyMs;
        if (this.link) {
          const r = this.link(m, to, f);
          if (r === true) continue;
          if (typeof r === 'number') delay = r;
        }
        this.queue.push({ at: this.now + delay, seq: this.seq++, from: m, to, frame: f });
      }
    }
  }
}
