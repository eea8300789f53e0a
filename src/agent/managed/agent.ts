/**
 * The agent: dials the manager over mTLS, keeps one bidirectional stream, converges its ports to
 * the desired state it receives, and reports acknowledgements, status and events.
 *
 * Reconcile rule: a desired port whose fingerprint equals the running port's is left alone (its
 * MKA session stays up through reconnects and manager restarts); a changed fingerprint replaces
 * the runtime, unless only the PSK key chain changed (then the running KaY adds and removes CAs,
 * ManagedPort.updateKeys); a running port that is no longer desired is stopped. While the manager is
 * unreachable the ports keep running and the agent retries with exponential backoff and jitter.
 */
import { randomBytes } from 'node:crypto';
import { status as Status, type ChannelCredentials, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { AgentServiceClient, type AgentMessage, type DesiredState, type ManagerMessage, type Command } from '../../control/gen/macsec/v1/agent.js';
import type { InterfaceInfo, PortStatus } from '../../control/gen/macsec/v1/types.js';
import type { Logger } from '../../common/log.js';
import { silentLogger } from '../../common/log.js';
import { MacsecError } from '../../common/errors.js';
import { SciPorts } from '../../port/sci-ports.js';
import { ManagedPort, type PortDeps } from './port.js';
import { channelOptionsFor } from '../../control/client.js';
import { KEY_CHAIN_CAPABILITY } from '../../control/vocabulary.js';

export const AGENT_VERSION = '0.1.0';

/**
 * The agent pings the manager (HTTP/2 PING) every AGENT_KEEPALIVE_TIME_MS and drops the
 * connection when a ping is not answered within AGENT_KEEPALIVE_TIMEOUT_MS, so a stopped or hung
 * manager is noticed within their sum (then the agent reconnects with backoff). The manager
 * allows client pings every 5 s (grpc.http2.min_ping_interval_without_data_ms).
 */
export const AGENT_KEEPALIVE_TIME_MS = 10_000;
export const AGENT_KEEPALIVE_TIMEOUT_MS = 5_000;

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor: number;
  jitter: number;
}

export function backoffDelay(attempt: number, o: BackoffOptions, rnd: () => number = Math.random): number {
  const base = Math.min(o.maxMs, o.initialMs * o.factor ** attempt);
  return Math.round(base * (1 - o.jitter + 2 * o.jitter * rnd()));
}

export interface AgentOptions extends Omit<PortDeps, 'agentId' | 'log'> {
  id: string;
  /**
   * host:port of the manager, or of several manager replicas separated by commas: when the
   * stream to one is lost the agent moves to the next (sessions keep running meanwhile).
   */
  managerAddress: string;
  credentials: ChannelCredentials;
  interfaces: InterfaceInfo[];
  log?: Logger;
  backoff?: Partial<BackoffOptions>;
  /** How often full port status (counters) is sent; events are sent immediately. */
  statusIntervalMs?: number;
  /** Extra capabilities to advertise. */
  capabilities?: string[];
  /** Override the server name checked against the manager certificate. */
  serverNameOverride?: string;
  /** How long the manager has to answer Hello with Welcome before the stream is retried. */
  welcomeTimeoutMs?: number;
}

export type AgentConnState = 'idle' | 'connecting' | 'connected' | 'backoff' | 'stopped';

export class Agent {
  readonly bootId = randomBytes(8).toString('hex');
  readonly ports = new Map<string, ManagedPort>();
  state: AgentConnState = 'idle';
  /** Times the stream was (re)established. */
  connects = 0;
  lastError = '';
  private client: AgentServiceClient | undefined;
  private call: ClientDuplexStream<AgentMessage, ManagerMessage> | undefined;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private work: Promise<void> = Promise.resolve();
  private readonly log: Logger;
  private readonly backoff: BackoffOptions;
  private readonly deps: PortDeps;
  /** Store identity of the manager we are bound to (from Welcome). */
  private storeId = '';
  /** Store identity each running port was started under (reported in Hello.running). */
  private readonly portStore = new Map<string, string>();

  constructor(private readonly opts: AgentOptions) {
    this.log = (opts.log ?? silentLogger).child({ agent: opts.id });
    this.backoff = { initialMs: 200, maxMs: 15_000, factor: 2, jitter: 0.2, ...opts.backoff };
    this.addresses = opts.managerAddress
      .split(',')
      .map((a) => a.trim())
      .filter(Boolean);
    if (!this.addresses.length) throw new MacsecError('config_invalid', '--manager: no address');
    this.deps = { ...opts, agentId: opts.id, log: this.log, sciPorts: opts.sciPorts ?? new SciPorts() };
  }

  get id(): string {
    return this.opts.id;
  }

  capabilities(): string[] {
    const caps = new Set<string>(this.opts.capabilities ?? []);
    if (this.opts.kayFactory) caps.add('psk').add(KEY_CHAIN_CAPABILITY);
    if (this.opts.kayFactory && this.opts.eap?.radiusSecrets) caps.add('eap-radius');
    if (this.opts.kayFactory && this.opts.eap?.embedded) caps.add('eap-embedded');
    if (this.opts.ovs) caps.add('ovs');
    return [...caps].sort();
  }

  /** The manager replicas' addresses, and the one dialled now. */
  private readonly addresses: string[];
  private addressIndex = 0;
  /** Address moves since the last Welcome (a full round of the list without one backs off). */
  private moves = 0;

  get managerAddress(): string {
    return this.addresses[this.addressIndex]!;
  }

  private dial(): AgentServiceClient {
    const address = this.managerAddress;
    return (this.client ??= new AgentServiceClient(address, this.opts.credentials, {
      'grpc.keepalive_time_ms': AGENT_KEEPALIVE_TIME_MS,
      'grpc.keepalive_timeout_ms': AGENT_KEEPALIVE_TIMEOUT_MS,
      'grpc.keepalive_permit_without_calls': 1,
      // Our own backoff governs stream retries; keep the channel's reconnects quick.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2_000,
      ...channelOptionsFor(address),
      ...(this.opts.serverNameOverride
        ? { 'grpc.ssl_target_name_override': this.opts.serverNameOverride, 'grpc.default_authority': this.opts.serverNameOverride }
        : {}),
    }));
  }

  start(): void {
    if (this.state !== 'idle' && this.state !== 'backoff') return;
    this.dial();
    this.connect();
    this.statusTimer ??= setInterval(() => this.sendAllStatus(), this.opts.statusIntervalMs ?? 5_000);
    this.statusTimer.unref();
  }

  private connect(): void {
    this.state = 'connecting';
    const call = this.dial().connect();
    this.call = call;
    let welcomed = false;
    // A manager that takes the stream but never binds it (store failure, overload) must not
    // strand us: retry like any lost stream. Each whole round without a Welcome doubles the wait
    // (up to 8x): an overloaded manager is given the time to answer instead of a retry storm.
    const welcomeMs = (this.opts.welcomeTimeoutMs ?? 15_000) * 2 ** Math.min(this.attempt, 3);
    const welcomeTimer = setTimeout(() => {
      if (this.call !== call || welcomed) return;
      lost(`no Welcome within ${welcomeMs} ms`);
      call.cancel();
    }, welcomeMs);
    welcomeTimer.unref();
    call.on('data', (m: ManagerMessage) => {
      if (this.call !== call) return;
      if (m.welcome) {
        welcomed = true;
        clearTimeout(welcomeTimer);
        this.storeId = m.welcome.storeId;
        this.state = 'connected';
        this.connects++;
        this.attempt = 0;
        this.moves = 0;
        this.lastError = '';
        this.log.info('connected to manager', { manager: m.welcome.managerId });
      } else if (m.desired) {
        const d = m.desired;
        this.enqueue(() => this.reconcile(d, call));
      } else if (m.command) {
        const c = m.command;
        this.enqueue(() => this.execute(c));
      }
    });
    const lost = (why: string, code?: number) => {
      clearTimeout(welcomeTimer);
      if (this.call !== call) return;
      this.call = undefined;
      if (this.state === 'stopped') return;
      this.lastError = why;
      const level = code === Status.PERMISSION_DENIED || code === Status.UNAUTHENTICATED ? 'error' : 'warn';
      this.log[level]('manager stream lost', { reason: why, code, welcomed, manager: this.managerAddress });
      this.scheduleReconnect();
    };
    call.on('error', (e: ServiceError) => lost(`${Status[e.code] ?? e.code}: ${e.details || e.message}`, e.code));
    call.on('end', () => lost('stream ended by manager'));
    call.write({ hello: this.hello() });
  }

  private hello(): AgentMessage['hello'] {
    return {
      agentId: this.opts.id,
      version: AGENT_VERSION,
      capabilities: this.capabilities(),
      interfaces: this.opts.interfaces,
      running: [...this.ports.values()].map((p) => ({
        portId: p.id,
        fingerprint: p.fingerprint,
        status: p.status(),
        storeId: this.portStore.get(p.id) ?? '',
      })),
      bootId: this.bootId,
    };
  }

  private scheduleReconnect(): void {
    this.state = 'backoff';
    let delay: number;
    if (this.addresses.length > 1 && this.moves < this.addresses.length - 1) {
      // Another replica may be up: move to it at once (a short jitter spreads the agents of a
      // failed replica over the time the others take to admit them).
      this.moves++;
      this.client?.close();
      this.client = undefined;
      this.addressIndex = (this.addressIndex + 1) % this.addresses.length;
      delay = Math.round(50 + Math.random() * 450);
    } else {
      // A whole round without a Welcome: back off, then try the next one.
      this.moves = 0;
      if (this.addresses.length > 1) {
        this.client?.close();
        this.client = undefined;
        this.addressIndex = (this.addressIndex + 1) % this.addresses.length;
      }
      delay = backoffDelay(this.attempt++, this.backoff);
    }
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (this.state === 'backoff') this.connect();
    }, delay);
  }

  private enqueue(fn: () => Promise<void>): void {
    this.work = this.work.then(fn).catch((e) => this.log.error('agent work failed', { error: (e as Error).message }));
  }

  private send(m: AgentMessage): void {
    try {
      this.call?.write(m);
    } catch (e) {
      this.log.warn('send to manager failed', { error: (e as Error).message });
    }
  }

  /**
   * Converges to `d` and acknowledges it on the stream it came on (`via`): a stream that was
   * replaced meanwhile (the agent moved to another replica) gets no ack, since revisions are per
   * stream and the new manager would take it for one of its own.
   */
  async reconcile(d: DesiredState, via: unknown = this.call): Promise<void> {
    const wanted = new Map(d.ports.map((p) => [p.portId, p]));
    let kept = 0;
    let started = 0;
    let stopped = 0;
    let rekeyed = 0;
    for (const [id, p] of [...this.ports]) {
      const w = wanted.get(id);
      if (w && w.fingerprint !== p.fingerprint && p.updateKeys(w)) rekeyed++;
      else if (!w || w.fingerprint !== p.fingerprint) {
        this.ports.delete(id);
        this.portStore.delete(id);
        await p.stop(true);
        stopped++;
      }
    }
    for (const w of d.ports) {
      if (this.ports.has(w.portId)) {
        // An orphan kept as is stays tagged with the store that made it; a port the current
        // store declares (adopted with the same fingerprint) now belongs to that store.
        if (!w.keepAsIs) this.portStore.set(w.portId, this.storeId);
        kept++;
        continue;
      }
      if (w.keepAsIs) continue; // an orphan that is no longer running is not restarted
      const p = new ManagedPort(w, this.deps);
      p.on('status', (st: PortStatus) => {
        if (this.ports.get(p.id) === p) this.send({ status: { portId: p.id, status: st } });
      });
      p.on('event', (ev) => {
        if (this.ports.get(p.id) === p) this.send({ event: ev });
      });
      this.ports.set(w.portId, p);
      this.portStore.set(w.portId, this.storeId);
      await p.start();
      started++;
    }
    if (started || stopped || rekeyed) this.log.info('reconciled', { revision: d.revision, kept, started, stopped, rekeyed });
    if (this.call !== via) return;
    this.send({ ack: { revision: d.revision, ports: [...this.ports.values()].map((p) => ({ portId: p.id, status: p.status() })) } });
  }

  private async execute(c: Command): Promise<void> {
    if (c.forceRekey) {
      const p = this.ports.get(c.forceRekey.portId);
      if (!p) {
        this.send({
          result: { requestId: c.requestId, ok: false, error: `port ${c.forceRekey.portId} is not running`, code: Status.NOT_FOUND, status: undefined },
        });
        return;
      }
      const r = await p.forceRekey(); // resolves once the new SAK's actions and MKPDUs are out
      this.send({ result: { requestId: c.requestId, ok: r.ok, error: r.error, code: r.ok ? Status.OK : Status.FAILED_PRECONDITION, status: p.status() } });
      return;
    }
    this.send({ result: { requestId: c.requestId, ok: false, error: 'unknown command', code: Status.UNIMPLEMENTED, status: undefined } });
  }

  private sendAllStatus(): void {
    if (this.state !== 'connected') return;
    for (const p of this.ports.values()) this.send({ status: { portId: p.id, status: p.status() } });
  }

  /** Graceful stop: leaves every CA, closes ports, ends the stream. */
  stop(): Promise<void> {
    return this.shutdown((p) => p.stop(true));
  }

  /**
   * Planned restart (upgrade): PSK ports announce in-service suspension and keep their kernel
   * state and OVS attachment, which the next run adopts; the stream ends.
   */
  suspend(seconds: number): Promise<void> {
    return this.shutdown((p) => p.suspend(seconds));
  }

  private async shutdown(each: (p: ManagedPort) => Promise<void>): Promise<void> {
    this.state = 'stopped';
    clearTimeout(this.retryTimer);
    clearInterval(this.statusTimer);
    await this.work;
    for (const p of this.ports.values()) await each(p);
    this.ports.clear();
    const call = this.call;
    this.call = undefined;
    call?.end();
    call?.cancel();
    this.client?.close();
  }

  /** Crash-like stop for tests: nothing more is sent, ports just stop. */
  async kill(): Promise<void> {
    this.state = 'stopped';
    clearTimeout(this.retryTimer);
    clearInterval(this.statusTimer);
    const call = this.call;
    this.call = undefined;
    call?.cancel();
    this.client?.close();
    for (const p of this.ports.values()) await p.stop(false);
    this.ports.clear();
  }
}
