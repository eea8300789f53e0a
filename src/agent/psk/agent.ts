/**
 * Standalone PSK agent: for every configured port, a macsec link on the parent interface
 * (kernel SecY over netlink), EAPOL I/O on the parent (pcap), and a KaY driven by KayDriver.
 * It reports state changes in the log (never keys) and in an optional JSON status file, and
 * removes the macsec links it created when it stops.
 */
import { renameSync, writeFileSync } from 'node:fs';
import type { Logger } from '../../control/log.js';
import { Kay } from '../../mka/kay.js';
import type { KayConfig, KayStatus, KayCounters } from '../../mka/kay-types.js';
import type { EapolLink } from '../../link/pcap.js';
import type { KernelSecy } from '../../netlink/kernel-secy.js';
import { openPortIo } from '../../port/port-io.js';
import { KayDriver } from '../engine.js';
import { isEapPort, type PskAgentConfig, type PskPortConfig } from './config.js';
import { startEapAgentPort, type EapAgentPortStatus, type RunningEapPort } from '../../port/agent-port.js';

export interface PskPortStatus {
  name: string;
  interface: string;
  macsec: string;
  kay: KayStatus;
  counters: KayCounters;
  /** Events seen so far, by kind. */
  events: Record<string, number>;
}

interface RunningPort {
  cfg: PskPortConfig;
  driver: KayDriver;
  secy: KernelSecy;
  link: EapolLink;
  kay: Kay;
  events: Record<string, number>;
}

export class PskAgent {
  private readonly ports: RunningPort[] = [];
  /** Ports in mode eap-authenticator / eap-supplicant (src/port/). */
  private readonly eapPorts: RunningEapPort[] = [];
  private statusTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: PskAgentConfig,
    private readonly log: Logger,
    private readonly statusFile?: string,
  ) {}

  /** Brings every port up; a port that fails is reported and the others still run. */
  async start(): Promise<void> {
    for (const p of this.config.ports) {
      try {
        if (isEapPort(p)) {
          this.eapPorts.push(await startEapAgentPort(p, this.log, () => this.writeStatus()));
          continue;
        }
        this.ports.push(await this.startPort(p));
      } catch (e) {
        this.log.error('port failed to start', { port: p.name, interface: p.interface, error: (e as Error).message });
      }
    }
    if (this.ports.length + this.eapPorts.length === 0) throw new Error('no port could be started');
    this.writeStatus();
    // Keep the status file fresh for counters that change without events.
    if (this.statusFile) this.statusTimer = setInterval(() => this.writeStatus(), 1000);
  }

  private async startPort(p: PskPortConfig): Promise<RunningPort> {
    const log = this.log.child({ port: p.name });
    const { secy, link } = await openPortIo(p, log);
    const cfg: KayConfig = {
      sci: { mac: link.mac, port: 1 },
      primary: { cak: p.cak, ckn: p.ckn },
      ...(p.fallback ? { fallback: p.fallback } : {}),
      priority: p.priority,
      cipherSuite: p.cipherSuite,
      policy: p.policy,
      confidentialityOffset: p.confidentialityOffset,
      helloTimeMs: p.helloTimeMs,
      rekeyPeriodMs: p.rekeyPeriodMs,
      destination: p.destination,
    };
    const kay = new Kay(cfg);
    const driver = new KayDriver(kay, secy, link, log);
    const port: RunningPort = { cfg: p, driver, secy, link, kay, events: {} };
    driver.on('event', (ev: { kind: string } & Record<string, unknown>) => {
      port.events[ev.kind] = (port.events[ev.kind] ?? 0) + 1;
      if (ev.kind === 'dropped') log.debug('mka dropped', ev);
      else if (ev.kind === 'peerLost' || ev.kind === 'unsecured' || ev.kind === 'secyError') log.warn(`mka ${ev.kind}`, ev);
      else log.info(`mka ${ev.kind}`, ev);
      this.writeStatus();
    });
    driver.start();
    log.info('port started', { interface: p.interface, macsec: p.macsecName, cipherSuite: p.cipherSuite, priority: p.priority, policy: p.policy });
    return port;
  }

  /** Forces a new SAK on every port where we are the key server. */
  forceRekey(): void {
    for (const p of this.ports) p.driver.forceRekey();
    for (const p of this.eapPorts) p.forceRekey();
  }

  status(): (PskPortStatus | EapAgentPortStatus)[] {
    return [
      ...this.ports.map((p) => ({
        name: p.cfg.name,
        interface: p.cfg.interface,
        macsec: p.cfg.macsecName,
        kay: p.kay.status(),
        counters: p.kay.counters(),
        events: { ...p.events },
      })),
      ...this.eapPorts.map((p) => p.status()),
    ];
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

  /** Leaves every CA, deletes our SAs and macsec links. */
  async stop(): Promise<void> {
    clearInterval(this.statusTimer);
    await Promise.all(this.eapPorts.map((p) => p.stop().catch((e: Error) => this.log.warn('port stop failed', { port: p.cfg.name, error: e.message }))));
    await Promise.all(
      this.ports.map(async (p) => {
        try {
          await p.driver.stop(true);
        } catch (e) {
          this.log.warn('port stop failed', { port: p.cfg.name, error: (e as Error).message });
        }
      }),
    );
    this.writeStatus();
    this.ports.length = 0;
    this.eapPorts.length = 0;
  }
}
