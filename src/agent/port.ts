/**
 * One authenticator port on the agent: its MKA runtime (PSK mode), its SecY, its OVS attachment,
 * and the status the agent reports for it. Created from a DesiredPort; a different fingerprint
 * means a new ManagedPort, the same fingerprint means "leave it running".
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { CipherSuiteName } from '../mka/constants.js';
import type { KayEvent, KayConfig } from '../mka/kay-types.js';
import type { AgentEvent, DesiredPort } from '../control/gen/macsec/v1/agent.js';
import { CipherSuite, ConfidentialityOffset, PortMode, PortState, SecurePolicy, type PortStatus } from '../control/gen/macsec/v1/types.js';
import type { Logger } from '../control/log.js';
import { KayDriver, type KayFactory, type MkaRuntime, type SecyFactory, type SecyHandle } from './engine.js';
import type { FrameLinkFactory } from '../link/link.js';
import type { OvsClient } from './ovs.js';
import { EapMkaPort } from '../port/eap-mka-port.js';
import { EapTlsServer } from '../eap/eaptls-server.js';
import { createEapBackend } from '../eap/select-backend.js';
import type { EapBackend } from '../eap/backend.js';

export interface EapAgentSettings {
  /** Embedded EAP-TLS server: CA for supplicant certificates, server certificate and key (PEM). */
  embedded?: { ca: string; cert: string; key: string };
  /** RADIUS shared secrets by name (DesiredPort.radius.shared_secret_ref). Secret. */
  radiusSecrets?: Record<string, string>;
  /** PAE timer overrides (tests). */
  pae?: { txPeriodMs?: number; quietPeriodMs?: number; reAuthPeriodMs?: number };
}

export interface PortDeps {
  agentId: string;
  log: Logger;
  /** Absent: this agent cannot run MKA (no KaY in this build). */
  kayFactory?: KayFactory;
  secyFactory: SecyFactory;
  linkFactory: FrameLinkFactory;
  /** LAN (segment) the interface's frames go to; the simulated link uses it. */
  lanOf(iface: string): string;
  macOf(iface: string): Uint8Array;
  ovs?: OvsClient;
  /** Test/lab knobs for MKA timers. */
  mka?: { helloTimeMs?: number; lifeTimeMs?: number };
  /** 802.1X authenticator settings; each EAP mode is available only when configured. */
  eap?: EapAgentSettings;
}

const SUITES: Record<number, CipherSuiteName> = {
  [CipherSuite.CIPHER_SUITE_GCM_AES_128]: 'GCM-AES-128',
  [CipherSuite.CIPHER_SUITE_GCM_AES_256]: 'GCM-AES-256',
  [CipherSuite.CIPHER_SUITE_GCM_AES_XPN_128]: 'GCM-AES-XPN-128',
  [CipherSuite.CIPHER_SUITE_GCM_AES_XPN_256]: 'GCM-AES-XPN-256',
};
const OFFSETS: Record<number, 0 | 30 | 50 | null> = {
  [ConfidentialityOffset.CONFIDENTIALITY_OFFSET_0]: 0,
  [ConfidentialityOffset.CONFIDENTIALITY_OFFSET_30]: 30,
  [ConfidentialityOffset.CONFIDENTIALITY_OFFSET_50]: 50,
  [ConfidentialityOffset.CONFIDENTIALITY_OFFSET_NONE]: null,
};

/** KaY events forwarded to the manager (others are visible through counters). */
const FORWARD = new Set(['peerLive', 'peerLost', 'keyServerElected', 'rekey', 'secured', 'unsecured', 'principalChanged', 'secyError']);

export class ManagedPort extends EventEmitter {
  readonly runtimeId = randomBytes(6).toString('hex');
  readonly id: string;
  private runtime: MkaRuntime | undefined;
  private eapPort: EapMkaPort | undefined;
  private eapAuthorized = false;
  private secyHandle: SecyHandle | undefined;
  private state = PortState.PORT_STATE_PENDING;
  private detail = '';
  private securedSince = 0;
  private readonly txKis = new Set<string>();
  private ovsAttached = false;
  private stopped = false;
  private statusQueued = false;
  private readonly log: Logger;

  constructor(
    readonly desired: DesiredPort,
    private readonly deps: PortDeps,
  ) {
    super();
    this.id = desired.portId;
    this.log = deps.log.child({ port: desired.portId });
  }

  get fingerprint(): string {
    return this.desired.fingerprint;
  }

  async start(): Promise<void> {
    const d = this.desired;
    if (d.mode === PortMode.PORT_MODE_EAP_RADIUS || d.mode === PortMode.PORT_MODE_EAP_EMBEDDED) return this.startEap();
    if (d.mode !== PortMode.PORT_MODE_PSK) return this.fail(`unknown mode ${d.mode}`);
    if (!d.psk || d.psk.cak.length === 0) {
      this.state = PortState.PORT_STATE_READY;
      this.detail = 'authenticator ready; no secure channel (no CAK) yet';
      return;
    }
    if (!this.deps.kayFactory) return this.fail('MKA (KaY) is not available in this agent build');
    try {
      const pol = d.policy!;
      const cipherSuite = SUITES[pol.cipherSuite] ?? 'GCM-AES-128';
      const confidentialityOffset = OFFSETS[pol.confidentialityOffset] ?? 0;
      this.secyHandle = await this.deps.secyFactory(d.interface, d.portId, { cipherSuite, confidentialityOffset, replayWindow: pol.replayWindow });
      let link;
      try {
        link = await this.deps.linkFactory(this.deps.lanOf(d.interface), d.portId);
      } catch (e) {
        await this.secyHandle.secy.close().catch(() => {});
        this.secyHandle = undefined;
        throw e;
      }
      const cfg: KayConfig = {
        sci: { mac: link.mac ?? this.deps.macOf(d.interface), port: 1 },
        primary: { cak: new Uint8Array(d.psk.cak), ckn: new Uint8Array(d.psk.ckn) },
        priority: pol.keyServerPriority ?? 16,
        cipherSuite,
        policy: pol.securePolicy === SecurePolicy.SECURE_POLICY_SHOULD_SECURE ? 'should-secure' : 'must-secure',
        confidentialityOffset,
        ...(pol.rekeyPeriodSeconds ? { rekeyPeriodMs: pol.rekeyPeriodSeconds * 1000 } : {}),
        ...(this.deps.mka?.helloTimeMs ? { helloTimeMs: this.deps.mka.helloTimeMs } : {}),
        ...(this.deps.mka?.lifeTimeMs ? { lifeTimeMs: this.deps.mka.lifeTimeMs } : {}),
      };
      const kay = this.deps.kayFactory(cfg);
      const rt = new KayDriver(kay, this.secyHandle.secy, link, this.log);
      this.runtime = rt;
      rt.on('event', (ev: KayEvent | { kind: 'secyError'; reason: string }) => this.onKayEvent(ev));
      this.state = PortState.PORT_STATE_AUTHENTICATING;
      this.detail = 'MKA running; waiting for peers';
      rt.start();
    } catch (e) {
      this.fail(`starting MKA failed: ${(e as Error).message}`);
    }
  }

  /**
   * 802.1X authenticator port: EAP (embedded EAP-TLS server or RADIUS relay) derives the CAK and an
   * MKA session starts per authorization (src/port EapMkaPort). Only runs inside a secure channel,
   * and only admits the channel endpoint's VNF id (the supplicant certificate's CN, or the RADIUS
   * server's decision for RADIUS ports); outside a channel nobody is admitted.
   */
  private async startEap(): Promise<void> {
    const d = this.desired;
    const embedded = d.mode === PortMode.PORT_MODE_EAP_EMBEDDED;
    const eap = this.deps.eap;
    if (embedded ? !eap?.embedded : !eap?.radiusSecrets) return this.fail(`${PortMode[d.mode]} is not configured on this agent`);
    if (!this.deps.kayFactory) return this.fail('MKA (KaY) is not available in this agent build');
    if (!d.channelId) {
      this.state = PortState.PORT_STATE_READY;
      this.detail = 'authenticator ready; no secure channel (no admitted VNF) yet';
      return;
    }
    try {
      let backend: EapBackend;
      if (embedded) {
        const allowed = d.allowedVnfIds.map((v) => v.replace(/\*/g, ''));
        backend = new EapTlsServer({
          ...eap!.embedded!,
          identityPolicy: { subjectCn: allowed },
          logger: (level, msg, fields) => this.log[level](`eap: ${msg}`, fields),
        });
      } else {
        const r = d.radius!;
        const secret = eap!.radiusSecrets![r.sharedSecretRef];
        if (!secret) return this.fail(`RADIUS shared secret '${r.sharedSecretRef}' is not configured on this agent`);
        backend = createEapBackend({
          radius: {
            servers: r.servers.map((hp) => {
              const i = hp.lastIndexOf(':');
              return { host: hp.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(hp.slice(i + 1)), secret };
            }),
            ...(r.nasIdentifier ? { nasIdentifier: r.nasIdentifier } : {}),
          },
        });
      }
      const pol = d.policy!;
      const cipherSuite = SUITES[pol.cipherSuite] ?? 'GCM-AES-128';
      const confidentialityOffset = OFFSETS[pol.confidentialityOffset] ?? 0;
      this.secyHandle = await this.deps.secyFactory(d.interface, d.portId, { cipherSuite, confidentialityOffset, replayWindow: pol.replayWindow });
      const link = await this.deps.linkFactory(this.deps.lanOf(d.interface), d.portId);
      const mac = link.mac ?? this.deps.macOf(d.interface);
      const macLink = {
        mac,
        send: (f: Uint8Array) => void link.send(f),
        onFrame: (cb: (f: Uint8Array) => void) => link.onFrame(cb),
        close: () => void link.close(),
      };
      const port = new EapMkaPort({
        name: d.portId,
        link: macLink,
        secy: this.secyHandle.secy,
        role: 'authenticator',
        authenticator: { backend, pae: { ...(eap!.pae ?? {}) } },
        mka: {
          priority: pol.keyServerPriority ?? 16,
          cipherSuite,
          policy: pol.securePolicy === SecurePolicy.SECURE_POLICY_SHOULD_SECURE ? 'should-secure' : 'must-secure',
          confidentialityOffset,
          ...(pol.rekeyPeriodSeconds ? { rekeyPeriodMs: pol.rekeyPeriodSeconds * 1000 } : {}),
          ...(this.deps.mka?.helloTimeMs ? { helloTimeMs: this.deps.mka.helloTimeMs } : {}),
          ...(this.deps.mka?.lifeTimeMs ? { lifeTimeMs: this.deps.mka.lifeTimeMs } : {}),
        },
        log: this.log,
        kayFactory: this.deps.kayFactory,
      });
      this.eapPort = port;
      port.on('change', () => this.onEapChange());
      this.state = PortState.PORT_STATE_READY;
      this.detail = `authenticator ready; admitting ${d.allowedVnfIds.join(', ')}`;
      await port.start();
    } catch (e) {
      this.fail(`starting the 802.1X authenticator failed: ${(e as Error).message}`);
    }
  }

  private onEapChange(): void {
    const p = this.eapPort;
    if (!p || this.stopped) return;
    const st = p.status();
    const was = this.state;
    if (st.authorized && !this.eapAuthorized) {
      this.emit('event', {
        portId: this.id,
        kind: 'authenticated',
        message: `${this.id}: 802.1X authenticated ${st.identity ?? '?'} (${st.peer ?? '?'})`,
        attributes: { identity: st.identity ?? '', peer: st.peer ?? '', ckn: st.ckn ?? '' },
        timeMs: Date.now(),
      } satisfies AgentEvent);
    }
    this.eapAuthorized = st.authorized;
    if (st.kay?.secured) {
      this.state = PortState.PORT_STATE_SECURED;
      this.detail = `secured; supplicant ${st.identity ?? '?'}`;
      if (was !== PortState.PORT_STATE_SECURED) this.securedSince = Date.now();
      void this.attachOvs();
    } else if (st.authorized) {
      this.state = PortState.PORT_STATE_AUTHENTICATING;
      this.detail = `authenticated ${st.identity ?? '?'}; MKA running`;
      this.securedSince = 0;
    } else {
      this.state = PortState.PORT_STATE_READY;
      this.detail = st.lastReason ? `not authorized: ${st.lastReason}` : `authenticator ${st.paeState}`;
      this.securedSince = 0;
    }
    if (st.kay?.txKey) this.txKis.add(st.kay.txKey.ki);
    if (was !== this.state && (this.state === PortState.PORT_STATE_SECURED || was === PortState.PORT_STATE_SECURED)) {
      const kind = this.state === PortState.PORT_STATE_SECURED ? 'secured' : 'unsecured';
      this.emit('event', { portId: this.id, kind, message: `${this.id}: ${kind}`, attributes: {}, timeMs: Date.now() } satisfies AgentEvent);
    }
    this.queueStatus();
  }

  private fail(why: string): void {
    this.state = PortState.PORT_STATE_FAILED;
    this.detail = why;
    this.log.warn('port failed', { reason: why });
  }

  private onKayEvent(ev: KayEvent | { kind: 'secyError'; reason: string }): void {
    if (this.stopped) return;
    switch (ev.kind) {
      case 'secured':
        if (this.state !== PortState.PORT_STATE_SECURED) this.securedSince = Date.now();
        this.state = PortState.PORT_STATE_SECURED;
        this.detail = 'secured';
        void this.attachOvs();
        break;
      case 'unsecured':
        this.state = PortState.PORT_STATE_AUTHENTICATING;
        this.detail = `not secured: ${ev.reason}`;
        this.securedSince = 0;
        break;
      case 'sakInstalled':
        if (ev.role === 'tx') this.txKis.add(ev.ki);
        break;
    }
    if (FORWARD.has(ev.kind)) {
      const attributes: Record<string, string> = {};
      for (const [k, v] of Object.entries(ev)) if (k !== 'kind') attributes[k] = String(v);
      const e: AgentEvent = { portId: this.id, kind: ev.kind, message: eventMessage(this.id, ev), attributes, timeMs: Date.now() };
      this.emit('event', e);
    }
    this.queueStatus();
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
    if (!bridge || this.ovsAttached || !this.secyHandle) return;
    if (!this.deps.ovs) {
      this.detail = `secured; OVS bridge '${bridge}' requested but OVS is not configured on this agent`;
      return;
    }
    try {
      await this.deps.ovs.addPort(bridge, this.secyHandle.ifname);
      this.ovsAttached = true;
      this.log.info('attached to OVS bridge', { bridge, ifname: this.secyHandle.ifname });
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

  forceRekey(): { ok: boolean; error: string } {
    if (this.eapPort) {
      const st = this.eapPort.status();
      if (!st.kay) return { ok: false, error: `port ${this.id}: no authenticated MKA session` };
      this.eapPort.forceRekey();
      return { ok: true, error: '' };
    }
    if (!this.runtime) return { ok: false, error: `port ${this.id} runs no MKA session (${PortState[this.state]})` };
    const events = this.runtime.forceRekey();
    const ignored = events.find((e): e is Extract<KayEvent, { kind: 'dropped' }> => e.kind === 'dropped' && e.reason.startsWith('forceRekey ignored'));
    if (!ignored) return { ok: true, error: '' };
    // Only the key server distributes SAKs: for the other members a forced rekey is a no-op, not an error.
    if (ignored.reason.includes('not the key server')) return { ok: true, error: '' };
    return { ok: false, error: ignored.reason };
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
      macsecInterface: this.secyHandle?.ifname ?? '',
      ovsBridge: this.desired.ovsBridge,
      ovsAttached: this.ovsAttached,
      securedSinceMs: this.securedSince,
      updatedMs: Date.now(),
      fingerprint: this.desired.fingerprint,
      runtimeId: this.runtimeId,
    };
    const st = this.runtime ? this.runtime.status() : this.eapPort?.status().kay;
    const c = this.runtime ? this.runtime.counters() : this.eapPort?.counters();
    if (!st || !c) return base;
    base.livePeers = st.livePeers.map((p) => ({ sci: p.sci, mi: p.mi }));
    base.keyServer = !!st.keyServer?.self;
    base.keyNumber = st.txKey?.kn ?? 0;
    base.keyIdentifier = st.txKey?.ki ?? '';
    base.mkpdusSent = c.mkpdusSent;
    base.mkpdusReceived = c.mkpdusReceived;
    base.mkpdusDropped = c.mkpdusDropped;
    base.icvFailures = c.icvFailures;
    base.counters = Object.entries(c).map(([name, value]) => ({ name: `mka_${snake(name)}`, value: Number(value) }));
    const s = this.secyHandle?.stats?.();
    if (s && !(s instanceof Promise)) for (const [name, value] of Object.entries(s)) base.counters.push({ name, value });
    return base;
  }

  async stop(graceful = true): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.runtime?.stop(graceful);
    if (this.eapPort) await this.eapPort.stop().catch((e) => this.log.warn('stopping the authenticator failed', { error: (e as Error).message }));
    if (!this.runtime) await this.secyHandle?.secy.close().catch(() => {});
    if (this.ovsAttached && this.deps.ovs && this.secyHandle) {
      await this.deps.ovs
        .delPort(this.desired.ovsBridge, this.secyHandle.ifname)
        .catch((e) => this.log.warn('OVS detach failed', { error: (e as Error).message }));
      this.ovsAttached = false;
    }
  }
}

function snake(s: string): string {
  return s.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
}

function eventMessage(port: string, ev: KayEvent | { kind: 'secyError'; reason: string }): string {
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
    default:
      return `${port}: ${ev.kind}`;
  }
}
