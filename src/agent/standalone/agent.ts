/**
 * Standalone agent: the ports of a configuration file (PSK or 802.1X), each started with
 * startPort on the kernel (a macsec link on the parent interface over netlink, EAPOL through
 * libpcap). It reports state changes in the log (never keys) and in an optional JSON status
 * file, and removes the macsec links it created when it stops.
 */
import { renameSync, writeFileSync } from 'node:fs';
import type { Logger } from '../../common/log.js';
import type { EapLogger } from '../../eap/decode.js';
import type { KayCounters, KayStatus } from '../../mka/kay-types.js';
import type { EapMkaPortStatus } from '../../port/eap-mka-port.js';
import type { PortIo } from '../../port/io.js';
import { kernelIo } from '../../port/kernel-io.js';
import { SciPorts } from '../../port/sci-ports.js';
import { startPort, type RunningPort } from '../../port/start.js';
import { isEapPort, type AgentPortConfig, type EapPortConfig, type PskAgentConfig } from './config.js';
import { portSpec } from './spec.js';

export interface PskPortStatus {
  name: string;
  interface: string;
  macsec: string;
  kay: KayStatus;
  counters: KayCounters;
  /** Events seen so far, by kind. */
  events: Record<string, number>;
}

export interface EapAgentPortStatus extends EapMkaPortStatus {
  mode: EapPortConfig['mode'];
  interface: string;
  macsec: string;
  counters: KayCounters | null;
}

interface Port {
  cfg: AgentPortConfig;
  running: RunningPort;
}

export class StandaloneAgent {
  private readonly ports: Port[] = [];
  /** SCI port identifiers of this agent's ports (ports sharing a MAC get distinct ones). */
  private readonly sciPorts = new SciPorts();
  private statusTimer: NodeJS.Timeout | undefined;
  private writeQueued = false;

  constructor(
    private readonly config: PskAgentConfig,
    private readonly log: Logger,
    private readonly statusFile?: string,
    private readonly io: PortIo = kernelIo,
  ) {}

  /** Brings every port up; a port that fails is reported and the others still run. */
  async start(): Promise<void> {
    for (const p of this.config.ports) {
      try {
        this.ports.push({ cfg: p, running: await this.startPort(p) });
      } catch (e) {
        this.log.error('port failed to start', { port: p.name, interface: p.interface, error: (e as Error).message });
      }
    }
    if (this.ports.length === 0) throw new Error('no port could be started');
    this.writeStatus();
    // Keep the status file fresh for counters that change without events.
    if (this.statusFile) this.statusTimer = setInterval(() => this.writeStatus(), 1000);
  }

  private async startPort(p: AgentPortConfig): Promise<RunningPort> {
    const log = this.log.child(isEapPort(p) ? { port: p.name, mode: p.mode } : { port: p.name });
    const eapLog: EapLogger = (level, msg, fields) => log[level](`eap: ${msg}`, fields);
    const running = await startPort(portSpec(p, eapLog), { io: this.io, log, sciPorts: this.sciPorts });
    running.on('event', () => this.queueWrite());
    if (p.mode === 'eap-authenticator') {
      const e = p.eap;
      log.info('802.1X authenticator', {
        backend: e.radius ? 'radius' : 'embedded-eap-tls',
        ...(e.radius ? { radiusServers: e.radius.servers.map((s) => `${s.host}:${s.port}`) } : { tls: `${e.tlsMinVersion}..${e.tlsMaxVersion}` }),
        reauthPeriodS: e.reAuthPeriodMs / 1000,
      });
    } else if (p.mode === 'eap-supplicant') {
      log.info('802.1X supplicant (EAP-TLS)', { identity: p.eap.identity, tls: `${p.eap.tlsMinVersion}..${p.eap.tlsMaxVersion}` });
    }
    log.info('port started', { interface: p.interface, macsec: p.macsecName, cipherSuite: p.cipherSuite, priority: p.priority, policy: p.policy });
    return running;
  }

  /** Forces a new SAK on every port where we are the key server. */
  forceRekey(): void {
    for (const p of this.ports) void p.running.forceRekey();
  }

  status(): (PskPortStatus | EapAgentPortStatus)[] {
    return this.ports.map(({ cfg, running }) => {
      const st = running.status();
      const where = { interface: cfg.interface, macsec: cfg.macsecName };
      if (isEapPort(cfg)) return { ...st.eap!, mode: cfg.mode, ...where, counters: st.counters };
      return { name: cfg.name, ...where, kay: st.kay!, counters: st.counters!, events: st.mkaEvents };
    });
  }

  /** Events come in bursts (one KaY step); one write per burst. */
  private queueWrite(): void {
    if (this.writeQueued) return;
    this.writeQueued = true;
    queueMicrotask(() => {
      this.writeQueued = false;
      this.writeStatus();
    });
  }

  private writeStatus(): void {
    if (!this.statusFile) return;
    try {
      const tmp = `${this.statusFile}.tmp`;
      writeFileSync(tmp, JSON.stringify({ time: Date.now(), ports: this.status() }, null, 2));
      renameSync(tmp, this.statusFile);
    } catch (e) {
      this.log.warn('cannot write status file', { path: this.statusFile, error: (e as Error).message });
    }
  }

  /**
   * Planned restart: PSK ports announce in-service suspension for `seconds` and stop leaving
   * their macsec links and SAs in place, which the next run adopts; EAP ports stop as in stop().
   */
  async suspend(seconds: number): Promise<void> {
    clearInterval(this.statusTimer);
    await Promise.all(
      this.ports.map((p) => p.running.suspend(seconds).catch((e: Error) => this.log.warn('port suspend failed', { port: p.cfg.name, error: e.message }))),
    );
    this.writeStatus();
    this.ports.length = 0;
  }

  /** Leaves every CA, deletes our SAs and macsec links. */
  async stop(): Promise<void> {
    clearInterval(this.statusTimer);
    await Promise.all(
      this.ports.map((p) => p.running.stop(true).catch((e: Error) => this.log.warn('port stop failed', { port: p.cfg.name, error: e.message }))),
    );
    this.writeStatus();
    this.ports.length = 0;
  }
}
