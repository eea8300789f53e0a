/**
 * One port of the managed agent: a DesiredPort turned into a PortSpec and run with startPort,
 * its OVS attachment, and the status and events the agent reports for it. A different
 * fingerprint means a new ManagedPort, the same fingerprint means "leave it running"; a PSK port
 * whose desired state changed in its key chain alone is updated in place (updateKeys): each next
 * key joins the running KaY at its start time (addCak, make before break), a key the manager
 * retired leaves it (removeCak).
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { AgentEvent, DesiredPort } from '../../control/gen/macsec/v1/agent.js';
import { PortState, type PortStatus } from '../../control/gen/macsec/v1/types.js';
import type { Logger } from '../../common/log.js';
import type { FrameLinkFactory, MacFrameLink } from '../../link/link.js';
import type { KayFactory } from '../../port/driver.js';
import type { PortIo } from '../../port/io.js';
import type { SciPorts } from '../../port/sci-ports.js';
import { startPort, type PortEvent, type RunningPort } from '../../port/start.js';
import type { OvsClient } from './ovs.js';
import { desiredSpec, isEapMode, keyChain, sameExceptKeys, type EapAgentSettings } from './spec.js';

export type { EapAgentSettings } from './spec.js';

export type SecyFactory = PortIo['openSecy'];

export interface PortDeps {
  agentId: string;
  log: Logger;
  /** Absent: this agent cannot run MKA (no KaY in this build). */
  kayFactory?: KayFactory;
  secyFactory: SecyFactory;
  linkFactory: FrameLinkFactory;
  /** LAN (segment) the interface's frames go to; the simulated link uses it. */
  lanOf(iface: string): string;
  /** The interface's MAC when its link does not know it (simulated links). */
  macOf(iface: string): Uint8Array;
  /** Name of the macsec link created on an interface. */
  macsecName?(iface: string): string;
  ovs?: OvsClient;
  /** Test/lab knobs for MKA timers. */
  mka?: { helloTimeMs?: number; lifeTimeMs?: number };
  /** 802.1X authenticator settings; each EAP mode is available only when configured. */
  eap?: EapAgentSettings;
  /** The agent's SCI port identifiers, shared by all its ports (the Agent makes one). */
  sciPorts?: SciPorts;
}

/** Port events forwarded to the manager (others are visible through counters). */
const FORWARD = new Set(['peerLive', 'peerLost', 'keyServerElected', 'rekey', 'secured', 'unsecured', 'principalChanged', 'secyError', 'authenticated']);

/** Longest key chain timer; a later start re-arms it. */
const MAX_KEY_TIMER_MS = 3_600_000;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

export class ManagedPort extends EventEmitter {
  readonly runtimeId = randomBytes(6).toString('hex');
  readonly id: string;
  private running: RunningPort | undefined;
  private state = PortState.PORT_STATE_PENDING;
  private detail = '';
  private securedSince = 0;
  private readonly txKis = new Set<string>();
  private ovsAttached = false;
  private stopped = false;
  private statusQueued = false;
  private readonly log: Logger;
  /** PSK key chain: CKNs (hex) of the CAs the port's KaY runs, and the timer of the next start. */
  private readonly cas = new Set<string>();
  private keyTimer: NodeJS.Timeout | undefined;

  constructor(
    public desired: DesiredPort,
    private readonly deps: PortDeps,
  ) {
    super();
    this.id = desired.portId;
    this.log = deps.log.child({ port: desired.portId });
  }

  get fingerprint(): string {
    return this.desired.fingerprint;
  }

  private get eap(): boolean {
    return isEapMode(this.desired);
  }

  async start(): Promise<void> {
    const d = this.desired;
    const out = desiredSpec(d, {
      canRunMka: !!this.deps.kayFactory,
      ...(this.deps.eap ? { eap: this.deps.eap } : {}),
      ...(this.deps.mka ? { mka: this.deps.mka } : {}),
      macsecName: this.deps.macsecName ?? ((iface) => iface),
      log: this.log,
    });
    if ('fail' in out) return this.fail(out.fail);
    if ('ready' in out) {
      this.state = PortState.PORT_STATE_READY;
      this.detail = out.ready;
      return;
    }
    const io: PortIo = {
      openSecy: (spec, log) => this.deps.secyFactory(spec, log),
      openLink: async (spec) => withMac(await this.deps.linkFactory(this.deps.lanOf(spec.interface), spec.name), () => this.deps.macOf(spec.interface)),
    };
    if (this.eap) {
      this.state = PortState.PORT_STATE_READY;
      this.detail = `authenticator ready; admitting ${d.allowedVnfIds.join(', ')}`;
    } else {
      this.state = PortState.PORT_STATE_AUTHENTICATING;
      this.detail = 'MKA running; waiting for peers';
    }
    try {
      const running = await startPort(out.spec, {
        io,
        log: this.log,
        ...(this.deps.kayFactory ? { kayFactory: this.deps.kayFactory } : {}),
        ...(this.deps.sciPorts ? { sciPorts: this.deps.sciPorts } : {}),
      });
      this.running = running;
      running.on('event', (ev) => this.onPortEvent(ev));
      if (this.eap)
        this.onPortEvent({ kind: 'changed' }); // the PAE started before we listened
      else {
        this.cas.add(hex(d.psk!.ckn)); // the KaY's primary: the chain's first key
        this.applyKeys();
      }
    } catch (e) {
      this.fail(`${this.eap ? 'starting the 802.1X authenticator' : 'starting MKA'} failed: ${(e as Error).message}`);
    }
  }

  private fail(why: string): void {
    this.state = PortState.PORT_STATE_FAILED;
    this.detail = why;
    this.log.warn('port failed', { reason: why });
  }

  private onPortEvent(ev: PortEvent): void {
    const r = this.running;
    if (this.stopped || !r) return;
    const was = this.state;
    if (ev.kind === 'sakInstalled' && ev.role === 'tx') this.txKis.add(ev.ki);
    if (ev.kind === 'unsecured' && !this.eap) this.detail = `not secured: ${ev.reason}`;
    if (r.secured) {
      this.state = PortState.PORT_STATE_SECURED;
      if (was !== PortState.PORT_STATE_SECURED) this.securedSince = Date.now();
    } else this.securedSince = 0;
    if (this.eap) this.eapState();
    else if (r.secured) this.detail = 'secured';
    else this.state = PortState.PORT_STATE_AUTHENTICATING;
    if (r.secured) void this.attachOvs(); // after the detail: it may say why OVS is not attached
    if (FORWARD.has(ev.kind)) this.emit('event', agentEvent(this.id, ev));
    this.queueStatus();
  }

  /** State and detail of an 802.1X port between its secured periods come from its PAE. */
  private eapState(): void {
    const st = this.running!.status();
    const e = st.eap!;
    if (st.kay?.txKey) this.txKis.add(st.kay.txKey.ki);
    if (this.running!.secured) this.detail = `secured; supplicant ${e.identity ?? '?'}`;
    else if (e.authorized) {
      this.state = PortState.PORT_STATE_AUTHENTICATING;
      this.detail = `authenticated ${e.identity ?? '?'}; MKA running`;
    } else {
      this.state = PortState.PORT_STATE_READY;
      this.detail = e.lastReason ? `not authorized: ${e.lastReason}` : `authenticator ${e.paeState}`;
    }
  }

  private queueStatus(): void {
    if (this.statusQueued) return;
    this.statusQueued = true;
    queueMicrotask(() => {
      this.statusQueued = false;
      if (!this.stopped) this.emit('status', this.status());
    });
  }

  private async attachOvs(): Promise<void> {
    const bridge = this.desired.ovsBridge;
    const ifname = this.running?.secy.ifname;
    if (!bridge || this.ovsAttached || !ifname) return;
    if (!this.deps.ovs) {
      this.detail = `secured; OVS bridge '${bridge}' requested but OVS is not configured on this agent`;
      return;
    }
    try {
      await this.deps.ovs.addPort(bridge, ifname);
      this.ovsAttached = true;
      this.log.info('attached to OVS bridge', { bridge, ifname });
    } catch (e) {
      this.emit('event', {
        portId: this.id,
        kind: 'error',
        message: `OVS attach to ${bridge} failed: ${(e as Error).message}`,
        attributes: {},
        timeMs: Date.now(),
      });
    }
    this.queueStatus();
  }

  /**
   * Applies a desired state that differs from this port's in its PSK key chain alone (a next key
   * added, a key retired) to the running KaY; its sessions stay up. False when it differs
   * otherwise or the port runs no PSK KaY: then the agent replaces the runtime.
   */
  updateKeys(w: DesiredPort): boolean {
    if (this.stopped || !this.running || this.eap || !w.psk?.cak.length || !sameExceptKeys(this.desired, w)) return false;
    this.desired = w;
    this.applyKeys();
    this.queueStatus();
    return true;
  }

  /**
   * Brings the KaY's CAs to the key chain: the first key and every next key whose start time has
   * come run (added without replace: the KaY hands over to the newest once every peer receives
   * its SAK), keys no longer in the chain are removed once the others are added (so the KaY is
   * never without a CA), and a timer waits for the next start.
   */
  private applyKeys(): void {
    clearTimeout(this.keyTimer);
    this.keyTimer = undefined;
    const r = this.running;
    if (this.stopped || !r || this.eap) return;
    const chain = keyChain(this.desired);
    const now = Date.now();
    let next = Infinity;
    chain.forEach((k, i) => {
      const ckn = hex(k.ckn);
      if (this.cas.has(ckn)) return;
      if (i > 0 && k.startTimeMs > now) {
        next = Math.min(next, k.startTimeMs);
        return;
      }
      try {
        if (r.addCak({ cak: new Uint8Array(k.cak), ckn: new Uint8Array(k.ckn) })) {
          this.cas.add(ckn);
          this.log.info('key chain: CA added', { ckn, start: k.startTimeMs });
        } else this.log.warn('key chain: the KaY cannot run another CA; the key is used once the port restarts', { ckn });
      } catch (e) {
        this.log.warn('key chain: CA not added', { ckn, error: (e as Error).message });
        this.emit('event', {
          portId: this.id,
          kind: 'error',
          message: `${this.id}: key ${ckn} not added: ${(e as Error).message}`,
          attributes: {},
          timeMs: now,
        });
      }
    });
    const wanted = new Set(chain.map((k) => hex(k.ckn)));
    for (const ckn of [...this.cas]) {
      if (wanted.has(ckn)) continue;
      if (r.removeCak(new Uint8Array(Buffer.from(ckn, 'hex')))) {
        this.cas.delete(ckn);
        this.log.info('key chain: CA removed', { ckn });
      }
    }
    if (Number.isFinite(next)) {
      this.keyTimer = setTimeout(() => this.applyKeys(), Math.max(0, Math.min(MAX_KEY_TIMER_MS, next - now)));
      this.keyTimer.unref();
    }
  }

  async forceRekey(): Promise<{ ok: boolean; error: string }> {
    if (!this.running) return { ok: false, error: `port ${this.id} runs no MKA session (${PortState[this.state]})` };
    return this.running.forceRekey();
  }

  status(): PortStatus {
    const base: PortStatus = {
      state: this.state,
      detail: this.detail,
      livePeers: [],
      keyServer: false,
      keyNumber: 0,
      keyIdentifier: '',
      ckn: this.desired.psk ? Buffer.from(this.desired.psk.ckn).toString('hex') : '',
      rekeys: Math.max(0, this.txKis.size - 1),
      mkpdusSent: 0,
      mkpdusReceived: 0,
      mkpdusDropped: 0,
      icvFailures: 0,
      counters: [],
      macsecInterface: this.running?.secy.ifname ?? '',
      ovsBridge: this.desired.ovsBridge,
      ovsAttached: this.ovsAttached,
      securedSinceMs: this.securedSince,
      updatedMs: Date.now(),
      fingerprint: this.desired.fingerprint,
      runtimeId: this.runtimeId,
    };
    const snap = this.running?.status();
    const st = snap?.kay;
    const c = snap?.counters;
    if (!st || !c) return base;
    // The CA the port transmits with (with a key chain: the current key until the next took over).
    if (st.principalCkn) base.ckn = st.principalCkn;
    base.livePeers = st.livePeers.map((p) => ({ sci: p.sci, mi: p.mi }));
    base.keyServer = !!st.keyServer?.self;
    base.keyNumber = st.txKey?.kn ?? 0;
    base.keyIdentifier = st.txKey?.ki ?? '';
    base.mkpdusSent = c.mkpdusSent;
    base.mkpdusReceived = c.mkpdusReceived;
    base.mkpdusDropped = c.mkpdusDropped;
    base.icvFailures = c.icvFailures;
    base.counters = Object.entries(c).map(([name, value]) => ({ name: `mka_${snake(name)}`, value: Number(value) }));
    const s = this.running?.secy.stats?.();
    if (s && !(s instanceof Promise)) for (const [name, value] of Object.entries(s)) base.counters.push({ name, value });
    return base;
  }

  /**
   * Planned restart: a PSK port announces in-service suspension and stops leaving its macsec
   * link, SAs and OVS attachment in place for the next run to adopt; others stop gracefully.
   */
  async suspend(seconds: number): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.keyTimer);
    await this.running?.suspend(seconds).catch((e) => this.log.warn('suspending the port failed', { error: (e as Error).message }));
  }

  async stop(graceful = true): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.keyTimer);
    await this.running?.stop(graceful).catch((e) => this.log.warn('stopping the port failed', { error: (e as Error).message }));
    const ifname = this.running?.secy.ifname;
    if (this.ovsAttached && this.deps.ovs && ifname) {
      await this.deps.ovs.delPort(this.desired.ovsBridge, ifname).catch((e) => this.log.warn('OVS detach failed', { error: (e as Error).message }));
      this.ovsAttached = false;
    }
  }
}

/** A simulated link knows no MAC: give it the interface's. */
function withMac(link: Awaited<ReturnType<FrameLinkFactory>>, macOf: () => Uint8Array): MacFrameLink {
  if (link.mac) return link as MacFrameLink;
  return { mac: macOf(), send: (f) => link.send(f), onFrame: (cb) => link.onFrame(cb), close: () => link.close() };
}

function agentEvent(port: string, ev: PortEvent): AgentEvent {
  const attributes: Record<string, string> = {};
  for (const [k, v] of Object.entries(ev)) if (k !== 'kind') attributes[k] = String(v);
  return { portId: port, kind: ev.kind, message: eventMessage(port, ev), attributes, timeMs: Date.now() };
}

function snake(s: string): string {
  return s.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
}

function eventMessage(port: string, ev: PortEvent): string {
  switch (ev.kind) {
    case 'peerLive':
      return `${port}: peer ${ev.sci} live`;
    case 'peerLost':
      return `${port}: peer ${ev.sci} lost`;
    case 'keyServerElected':
      return `${port}: key server ${ev.self ? 'is this port' : ev.sci}`;
    case 'rekey':
      return `${port}: new SAK KN ${ev.kn} (${ev.reason})`;
    case 'secured':
      return `${port}: secured`;
    case 'unsecured':
      return `${port}: unsecured (${ev.reason})`;
    case 'principalChanged':
      return `${port}: principal CA ${ev.ckn}`;
    case 'secyError':
      return `${port}: SecY error ${ev.reason}`;
    case 'authenticated':
      return `${port}: 802.1X authenticated ${ev.identity || '?'} (${ev.peer || '?'})`;
    default:
      return `${port}: ${ev.kind}`;
  }
}
