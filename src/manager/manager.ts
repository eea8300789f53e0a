/**
 * The manager core: desired state (Store), live agent sessions, the operator operations and the
 * agent stream protocol. Transport-free: server.ts binds it to gRPC, tests may call it directly.
 *
 * Agent protocol (agent.proto):
 *   agent → Hello (identity must equal the certificate's) → manager: Welcome, DesiredState{rev}
 *   agent converges and answers StateAck{rev, port statuses}; it then streams status and events.
 *   Every change of an agent's desired state is pushed as a new full DesiredState (it is small:
 *   one agent's ports) and awaited through its StateAck; commands (force rekey) are request/result.
 *   A port whose fingerprint did not change keeps running on the agent, so reconnects and manager
 *   restarts never tear down sessions that are already right.
 */
import { createHash, randomBytes } from 'node:crypto';
import { status as Status } from '@grpc/grpc-js';
import type { DesiredPort, DesiredState, AgentMessage, ManagerMessage, Hello, CommandResult } from '../control/gen/macsec/v1/agent.js';
import {
  ChannelState,
  EventType,
  type Agent,
  type ClosePortRequest,
  type ClosePortResponse,
  type CreateSecureChannelRequest,
  type CreateSecureChannelResponse,
  type DeleteSecureChannelRequest,
  type DeleteSecureChannelResponse,
  type Endpoint,
  type EndpointStatus,
  type ForceRekeyRequest,
  type ForceRekeyResponse,
  type OpenPortRequest,
  type ListOrphanedPortsResponse,
  type Port,
  type SecureChannel,
} from '../control/gen/macsec/v1/manager.js';
import { SYSTEM_ACTOR, type Actor } from '../control/authz.js';
import { PortMode, PortState, type PortStatus } from '../control/gen/macsec/v1/types.js';
import {
  hasCode,
  type MacsecError,
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  notFound,
  permissionDenied,
  unavailable,
  deadlineExceeded,
  echo,
} from '../common/errors.js';
import { normalizePolicy, normalizeRadius, parseHexField, requireId, requireIfname, requireMode } from '../control/validate.js';
import { NAME_RE, NAME_RULE, REQUEST_ID_RE, REQUEST_ID_RULE } from '../common/names.js';
import type { Logger } from '../common/log.js';
import { silentLogger } from '../common/log.js';
import { EventBus, type EventInput } from './events.js';
import { LIMITS, boundEvent, boundHello, boundStatus } from './agent-input.js';
import { CachedStore } from './cached-store.js';
import { portId, type Store, type StoredChannel, type StoredPort } from './store.js';

export const MODE_CAPABILITY: Record<number, string> = {
  [PortMode.PORT_MODE_PSK]: 'psk',
  [PortMode.PORT_MODE_EAP_RADIUS]: 'eap-radius',
  [PortMode.PORT_MODE_EAP_EMBEDDED]: 'eap-embedded',
};

export interface ManagerOptions {
  id?: string;
  log?: Logger;
  /** How long a push waits for the agent's StateAck. */
  ackTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** How long an agent has to send Hello after opening its stream. */
  helloTimeoutMs?: number;
}

/** What the manager needs from an agent stream (a grpc ServerDuplexStream fits). */
export interface AgentStream {
  write(msg: ManagerMessage): unknown;
  end(): void;
  emit(event: 'error', err: { code: number; details: string }): unknown;
  on(event: 'data', cb: (m: AgentMessage) => void): unknown;
  on(event: 'end' | 'close' | 'cancelled', cb: () => void): unknown;
  on(event: 'error', cb: (e: Error) => void): unknown;
  getPeer(): string;
}

interface Waiter<T> {
  resolve(v: T): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

class AgentSession {
  revision = 0;
  ackedRevision = 0;
  readonly ackWaiters = new Map<number, Waiter<void>[]>();
  readonly commandWaiters = new Map<string, Waiter<CommandResult>>();
  closed = false;
  lastSeenMs = Date.now();
  constructor(
    readonly agentId: string,
    readonly stream: AgentStream,
    readonly hello: Hello,
    readonly connectedSinceMs: number,
    readonly peer: string,
  ) {}

  send(m: ManagerMessage): void {
    if (!this.closed) this.stream.write(m);
  }

  close(reason: string): void {
    this.closed = true;
    const err = unavailable(`agent ${this.agentId} disconnected (${reason})`);
    for (const ws of this.ackWaiters.values())
      for (const w of ws) {
        clearTimeout(w.timer);
        w.reject(err);
      }
    this.ackWaiters.clear();
    for (const w of this.commandWaiters.values()) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.commandWaiters.clear();
  }
}

const TERMINAL_READY = new Set([PortState.PORT_STATE_READY, PortState.PORT_STATE_AUTHENTICATING, PortState.PORT_STATE_SECURED]);

export function emptyStatus(state: PortState, detail = ''): PortStatus {
  return {
    state,
    detail,
    livePeers: [],
    keyServer: false,
    keyNumber: 0,
    keyIdentifier: '',
    ckn: '',
    rekeys: 0,
    mkpdusSent: 0,
    mkpdusReceived: 0,
    mkpdusDropped: 0,
    icvFailures: 0,
    counters: [],
    macsecInterface: '',
    ovsBridge: '',
    ovsAttached: false,
    securedSinceMs: 0,
    updatedMs: Date.now(),
    fingerprint: '',
    runtimeId: '',
  };
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as object)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

const endpointKey = (e: Endpoint) => `${e.agentId}/${e.switchPort}`;
const pskOf = (c: StoredChannel) => ({ cakHex: Buffer.from(c.cak).toString('hex'), cknHex: Buffer.from(c.ckn).toString('hex') });

export class Manager {
  readonly id: string;
  readonly events: EventBus;
  private readonly log: Logger;
  private readonly sessions = new Map<string, AgentSession>();
  /** Last status reported for each port (kept while the agent is away, marked disconnected). */
  private readonly statuses = new Map<string, PortStatus>();
  /** Channel id → whether it was SECURED at the last evaluation, and since when. */
  private readonly channelSecured = new Map<string, number>();
  private readonly channelReady = new Set<string>();
  private readonly channelWaiters = new Set<() => void>();
  private readonly ackTimeoutMs: number;
  private readonly heartbeatMs: number;
  private readonly helloTimeoutMs: number;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private commandSeq = 0;
  private stopped = false;
  /**
   * Ports agents run for another store (or an unknown one), by port id. They are kept running
   * as they are until an operator adopts (OpenPort) or closes (ClosePort) them; rebuilt from
   * each agent's Hello, so nothing about them needs storing.
   */
  private readonly orphans = new Map<string, { agentId: string; storeId: string; fingerprint: string; status: PortStatus }>();
  /** Agent reports dropped because they were about another agent's ports, by reason. */
  readonly droppedReports = new Map<string, number>();

  readonly store: Store;

  constructor(backing: Store, opts: ManagerOptions = {}) {
    this.store = backing instanceof CachedStore ? backing : new CachedStore(backing);
    const store = this.store;
    this.id = opts.id ?? 'manager';
    this.log = opts.log ?? silentLogger;
    this.ackTimeoutMs = opts.ackTimeoutMs ?? 10_000;
    this.heartbeatMs = opts.heartbeatIntervalMs ?? 15_000;
    this.helloTimeoutMs = opts.helloTimeoutMs ?? 10_000;
    this.events = new EventBus(store);
    this.rollBackUncommitted();
    for (const p of store.listPorts()) this.statuses.set(p.id, emptyStatus(PortState.PORT_STATE_AGENT_DISCONNECTED, 'agent not connected since manager start'));
    this.heartbeatTimer = setInterval(() => {
      for (const s of this.sessions.values()) s.send({ heartbeat: { timeMs: Date.now() } });
    }, this.heartbeatMs);
    this.heartbeatTimer.unref();
  }

  /**
   * Channels stored by a create call that never returned (the manager died before the agents
   * acknowledged) and that the client cannot retry idempotently (no request id): nobody ever
   * received their result, so they are removed. Those with a request id wait for the retry.
   */
  private rollBackUncommitted(): void {
    for (const c of this.store.listChannels()) {
      if (c.committed || c.requestId) continue;
      this.store.deleteChannel(c.id);
      this.log.warn('rolled back a secure channel whose creation never completed', { channel: c.name, id: c.id });
    }
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.heartbeatTimer);
    for (const s of this.sessions.values()) {
      s.close('manager stopping');
      try {
        s.stream.end();
      } catch {
        /* already gone */
      }
    }
    this.sessions.clear();
  }

  // ---------------------------------------------------------------- agents

  connectedAgentIds(): string[] {
    return [...this.sessions.keys()];
  }

  private agentView(id: string): Agent | undefined {
    const a = this.store.getAgent(id);
    if (!a) return undefined;
    const s = this.sessions.get(id);
    return {
      id: a.id,
      version: a.version,
      connected: !!s,
      connectedSinceMs: s?.connectedSinceMs ?? 0,
      lastSeenMs: s ? s.lastSeenMs : a.lastSeenMs,
      capabilities: a.capabilities,
      interfaces: a.interfaces,
      portIds: this.store.listPorts(id).map((p) => p.id),
      peerAddress: s?.peer ?? '',
      firstSeenMs: a.firstSeenMs,
    };
  }

  listAgents(connectedOnly: boolean): Agent[] {
    return this.store
      .listAgents()
      .map((a) => this.agentView(a.id)!)
      .filter((a) => !connectedOnly || a.connected);
  }

  getAgent(agentId: string): Agent {
    requireId('agent_id', agentId, 'an agent id');
    const a = this.agentView(agentId);
    if (!a) throw notFound('agent_id', `agent '${agentId}' is not known`);
    return a;
  }

  // ---------------------------------------------------------------- ports

  private channelOfPort(pid: string): StoredChannel | undefined {
    return this.store.listChannels().find((c) => c.endpoints.some((e) => endpointKey(e) === pid));
  }

  private portView(p: StoredPort, channels = this.store.listChannels()): Port {
    const ch = channels.find((c) => c.endpoints.some((e) => endpointKey(e) === p.id));
    return {
      id: p.id,
      agentId: p.agentId,
      interface: p.interface,
      mode: p.mode,
      policy: p.policy,
      ovsBridge: p.ovsBridge,
      radius: p.radius,
      channelId: ch?.id ?? '',
      status: this.statusOf(p.id),
      createdMs: p.createdMs,
      owner: p.owner,
    };
  }

  private statusOf(pid: string): PortStatus {
    return this.statuses.get(pid) ?? emptyStatus(PortState.PORT_STATE_PENDING);
  }

  listPorts(agentId: string): Port[] {
    if (agentId) requireId('agent_id', agentId, 'an agent id');
    const channels = this.store.listChannels();
    return this.store.listPorts(agentId || undefined).map((p) => this.portView(p, channels));
  }

  getPort(pid: string): Port {
    const p = this.lookupPort('port_id', pid);
    return this.portView(p);
  }

  private lookupPort(field: string, pid: string): StoredPort {
    if (!pid) throw invalidArgument(field, 'is required');
    const [agent, iface, extra] = pid.split('/', 3);
    if (!agent || !iface || extra !== undefined) throw invalidArgument(field, `${echo(pid, "'")} is not <agent_id>/<interface>`);
    requireId(field, agent, 'an agent id');
    requireIfname(field, iface);
    const p = this.store.getPort(pid);
    if (!p) throw notFound(field, `port '${pid}' is not open`);
    return p;
  }

  private requireConnected(field: string, agentId: string): AgentSession {
    if (!this.store.getAgent(agentId)) throw notFound(field, `agent '${agentId}' is not known`);
    const s = this.sessions.get(agentId);
    if (!s) throw unavailable(`${field}: agent '${agentId}' is not connected`);
    return s;
  }

  /** An orchestrator changes only what it owns; admins (and in-process callers) anything. */
  private checkOwner(actor: Actor, owner: string, what: string): void {
    if (actor.scoped && owner !== actor.label) {
      throw permissionDenied(`${what} is owned by ${owner || 'an administrator'}; ${actor.label} may only change ports it opened and channels it created`);
    }
  }

  async openPort(req: OpenPortRequest, actor: Actor = SYSTEM_ACTOR): Promise<Port> {
    const agentId = requireId('agent_id', req.agentId, 'an agent id');
    const iface = requireIfname('interface', req.interface);
    const mode = requireMode('mode', req.mode);
    const policy = normalizePolicy('policy', req.policy);
    if (req.ovsBridge) requireIfname('ovs_bridge', req.ovsBridge);
    const radius = normalizeRadius('radius', mode, req.radius);
    const session = this.requireConnected('agent_id', agentId);
    const ifaces = session.hello.interfaces;
    if (ifaces.length && !ifaces.some((i) => i.name === iface)) {
      throw notFound('interface', `agent '${agentId}' has no interface '${iface}' (has: ${echo(ifaces.map((i) => i.name).join(', '), '', 200)})`);
    }
    const cap = MODE_CAPABILITY[mode]!;
    if (!session.hello.capabilities.includes(cap)) {
      throw failedPrecondition(
        `mode: ${PortMode[mode]} is not available on agent '${agentId}'` +
          (mode === PortMode.PORT_MODE_EAP_EMBEDDED
            ? ' (the agent has no embedded EAP-TLS server configured: --eap-server-cert/--eap-server-key/--eap-ca)'
            : mode === PortMode.PORT_MODE_EAP_RADIUS
              ? ' (the agent has no RADIUS shared secrets configured: --radius-secrets)'
              : ' (the agent has no MKA implementation)'),
      );
    }
    if (req.ovsBridge && !session.hello.capabilities.includes('ovs')) {
      throw failedPrecondition(`ovs_bridge: agent '${agentId}' has no Open vSwitch configured (start it with --ovsdb)`);
    }
    const id = portId(agentId, iface);
    const spec: StoredPort = { id, agentId, interface: iface, mode, policy, ovsBridge: req.ovsBridge, radius, createdMs: Date.now(), owner: actor.label };
    const existing = this.store.getPort(id);
    if (existing) this.checkOwner(actor, existing.owner, `port '${id}'`);
    // Opening an orphaned port adopts it: with the same configuration its session keeps running.
    if (!existing && this.orphans.has(id)) this.checkOwner(actor, '', `orphaned port '${id}'`);
    if (existing) {
      const same = stableJson({ ...existing, createdMs: 0, owner: '' }) === stableJson({ ...spec, createdMs: 0, owner: '' });
      if (!same) throw alreadyExists('interface', `port '${id}' is already open with a different configuration (close it first)`);
    } else {
      this.store.putPort(spec);
      const orphan = this.orphans.get(id);
      this.orphans.delete(id);
      this.statuses.set(id, orphan?.status ?? emptyStatus(PortState.PORT_STATE_PENDING));
      if (orphan) this.log.info('orphaned port adopted', { port: id, by: actor.label, from_store: orphan.storeId });
    }
    // A rollback is pushed in the background: the caller is answered after one ack timeout, not
    // two (an agent that did not acknowledge the change will not acknowledge its undoing either;
    // it converges to the desired state, without the port, when it answers or reconnects).
    const rollback = () => {
      this.store.deletePort(id);
      this.statuses.delete(id);
      this.push(agentId).catch((e) => this.log.warn('rollback not acknowledged', { port: id, error: (e as Error).message }));
    };
    try {
      await this.push(agentId);
    } catch (e) {
      if (!existing) rollback();
      throw e;
    }
    const st = this.statusOf(id);
    if (st.state === PortState.PORT_STATE_FAILED) {
      if (!existing) rollback();
      throw failedPrecondition(`agent '${agentId}' could not open port '${iface}': ${echo(st.detail, '', 200)}`);
    }
    if (!existing) this.publish({ type: EventType.EVENT_TYPE_PORT_OPENED, agentId, portId: id, message: `port ${id} opened (${PortMode[mode]})` });
    return this.portView(this.store.getPort(id)!);
  }

  async closePort(req: ClosePortRequest, actor: Actor = SYSTEM_ACTOR): Promise<ClosePortResponse> {
    const orphan = req.portId ? this.orphans.get(req.portId) : undefined;
    if (orphan && !this.store.getPort(req.portId)) {
      // The explicit operator action that lets an orphan go: the agent stops it.
      this.checkOwner(actor, '', `orphaned port '${req.portId}'`);
      this.orphans.delete(req.portId);
      this.log.warn('orphaned port closed', { port: req.portId, by: actor.label, from_store: orphan.storeId });
      this.publish({ type: EventType.EVENT_TYPE_PORT_CLOSED, agentId: orphan.agentId, portId: req.portId, message: `orphaned port ${req.portId} closed` });
      if (this.sessions.has(orphan.agentId)) await this.push(orphan.agentId);
      return { existed: true };
    }
    let p: StoredPort;
    try {
      p = this.lookupPort('port_id', req.portId);
    } catch (e) {
      if (req.allowMissing && hasCode(e, 'not_found')) return { existed: false };
      throw e;
    }
    this.checkOwner(actor, p.owner, `port '${p.id}'`);
    const ch = this.channelOfPort(p.id);
    if (ch) throw failedPrecondition(`port_id: port '${p.id}' is used by secure channel '${ch.name}' (${ch.id}); delete the channel first`);
    this.store.deletePort(p.id);
    this.statuses.delete(p.id);
    this.publish({ type: EventType.EVENT_TYPE_PORT_CLOSED, agentId: p.agentId, portId: p.id, message: `port ${p.id} closed` });
    if (this.sessions.has(p.agentId)) await this.push(p.agentId);
    return { existed: true };
  }

  // ---------------------------------------------------------------- channels

  private channelView(c: StoredChannel): SecureChannel {
    const endpointStatus: EndpointStatus[] = c.endpoints.map((e) => {
      const pid = endpointKey(e);
      return { endpoint: e, portId: pid, agentConnected: this.sessions.has(e.agentId), status: this.statusOf(pid) };
    });
    return {
      id: c.id,
      name: c.name,
      endpoints: c.endpoints,
      state: this.channelState(c, endpointStatus),
      endpointStatus,
      createdMs: c.createdMs,
      securedSinceMs: this.channelSecured.get(c.id) ?? 0,
      ckn: Buffer.from(c.ckn).toString('hex'),
      owner: c.owner,
    };
  }

  private channelState(c: StoredChannel, es: EndpointStatus[]): ChannelState {
    const states = es.map((e) => (e.agentConnected ? e.status!.state : PortState.PORT_STATE_AGENT_DISCONNECTED));
    if (states.every((s) => s === PortState.PORT_STATE_SECURED)) return ChannelState.CHANNEL_STATE_SECURED;
    if (states.some((s) => s === PortState.PORT_STATE_FAILED)) return ChannelState.CHANNEL_STATE_FAILED;
    if (this.channelSecured.has(c.id) || states.some((s) => s === PortState.PORT_STATE_AGENT_DISCONNECTED)) {
      return this.channelReady.has(c.id) ? ChannelState.CHANNEL_STATE_DEGRADED : ChannelState.CHANNEL_STATE_PENDING;
    }
    if (states.every((s) => TERMINAL_READY.has(s))) return ChannelState.CHANNEL_STATE_READY;
    return this.channelReady.has(c.id) ? ChannelState.CHANNEL_STATE_DEGRADED : ChannelState.CHANNEL_STATE_PENDING;
  }

  /** Re-evaluates channel states after status changes and publishes transitions. */
  private evaluateChannels(agentId?: string): void {
    for (const c of this.store.listChannels()) {
      if (agentId && !c.endpoints.some((e) => e.agentId === agentId)) continue;
      const v = this.channelView(c);
      const wasSecured = this.channelSecured.has(c.id);
      if (v.state === ChannelState.CHANNEL_STATE_SECURED && !wasSecured) {
        this.channelSecured.set(c.id, Date.now());
        this.channelReady.add(c.id);
        this.publish({
          type: EventType.EVENT_TYPE_CHANNEL_SECURED,
          channelId: c.id,
          message: `channel ${c.name} secured on all ${c.endpoints.length} endpoints`,
        });
      } else if (v.state !== ChannelState.CHANNEL_STATE_SECURED && wasSecured) {
        this.channelSecured.delete(c.id);
        const bad = v.endpointStatus.filter((e) => !e.agentConnected || e.status!.state !== PortState.PORT_STATE_SECURED).map((e) => e.portId);
        this.publish({
          type: EventType.EVENT_TYPE_CHANNEL_DEGRADED,
          channelId: c.id,
          message: `channel ${c.name} degraded: ${bad.join(', ')} not secured`,
          attributes: { ports: bad.join(',') },
        });
      }
    }
    for (const w of [...this.channelWaiters]) w();
  }

  listChannels(): SecureChannel[] {
    return this.store.listChannels().map((c) => this.channelView(c));
  }

  getChannel(idOrName: string): SecureChannel {
    if (!idOrName) throw invalidArgument('channel_id', 'is required');
    if (!NAME_RE.test(idOrName)) throw invalidArgument('channel_id', `${echo(idOrName, "'")} is not a channel id or name`);
    const c = this.store.getChannel(idOrName);
    if (!c) throw notFound('channel_id', `secure channel '${idOrName}' does not exist`);
    return this.channelView(c);
  }

  async createChannel(req: CreateSecureChannelRequest, deadlineMs?: number, actor: Actor = SYSTEM_ACTOR): Promise<CreateSecureChannelResponse> {
    if (!req.name) throw invalidArgument('name', 'is required');
    if (req.requestId && !REQUEST_ID_RE.test(req.requestId)) throw invalidArgument('request_id', `must match ${REQUEST_ID_RULE}`);
    const requestId = req.requestId;
    if (!NAME_RE.test(req.name)) throw invalidArgument('name', `${echo(req.name, "'")} must match ${NAME_RULE}`);
    if (req.endpoints.length === 0) throw invalidArgument('endpoints', 'at least one endpoint is required');
    if (req.endpoints.length > 64) throw invalidArgument('endpoints', 'at most 64 endpoints');
    const seen = new Set<string>();
    const endpoints: Endpoint[] = req.endpoints.map((e, i) => {
      const f = `endpoints[${i}]`;
      requireId(`${f}.agent_id`, e.agentId, 'an agent id');
      requireIfname(`${f}.switch_port`, e.switchPort);
      requireId(`${f}.vnf_id`, e.vnfId, 'a VNF id');
      requireIfname(`${f}.vnf_interface`, e.vnfInterface);
      const k = endpointKey(e);
      if (seen.has(k)) throw invalidArgument(`${f}.switch_port`, `port '${k}' appears twice`);
      seen.add(k);
      return { agentId: e.agentId, switchPort: e.switchPort, vnfId: e.vnfId, vnfInterface: e.vnfInterface };
    });
    let cak: Uint8Array | undefined;
    let ckn: Uint8Array | undefined;
    if (req.psk && (req.psk.cakHex || req.psk.cknHex)) {
      cak = parseHexField('psk.cak_hex', req.psk.cakHex, 16, 32, [16, 32]);
      ckn = parseHexField('psk.ckn_hex', req.psk.cknHex, 1, 32);
    }

    const existing = this.store.getChannel(req.name);
    if (existing) {
      this.checkOwner(actor, existing.owner, `secure channel '${req.name}'`);
      const same = stableJson(existing.endpoints) === stableJson(endpoints) && (!cak || Buffer.from(cak).equals(Buffer.from(existing.cak)));
      if (!same) throw alreadyExists('name', `secure channel '${req.name}' exists with different endpoints or key`);
      // A retry of the very call that created it gets that call's result, the generated key
      // included: the first answer may never have reached the client.
      const retry = !!requestId && existing.requestId === requestId;
      if (retry && !existing.committed) await this.commitChannel(existing);
      await this.waitChannel(existing.id, req.waitSecured, req.waitTimeoutMs, deadlineMs);
      return { channel: this.channelView(existing), generatedPsk: retry && existing.generatedPsk ? pskOf(existing) : undefined, created: retry };
    }

    // Check every endpoint before changing anything.
    const used = new Map<string, StoredChannel>();
    for (const c of this.store.listChannels()) for (const e of c.endpoints) used.set(endpointKey(e), c);
    endpoints.forEach((e, i) => {
      const f = `endpoints[${i}]`;
      if (!this.store.getAgent(e.agentId)) throw notFound(`${f}.agent_id`, `agent '${e.agentId}' is not known`);
      const p = this.store.getPort(endpointKey(e));
      if (!p) throw failedPrecondition(`${f}.switch_port: no open port '${e.switchPort}' on agent '${e.agentId}' (open it with OpenPort first)`);
      this.checkOwner(actor, p.owner, `${f}.switch_port: port '${p.id}'`);
      const other = used.get(endpointKey(e));
      if (other) throw failedPrecondition(`${f}.switch_port: port '${p.id}' already belongs to secure channel '${other.name}'`);
      if (!this.sessions.has(e.agentId)) throw unavailable(`${f}.agent_id: agent '${e.agentId}' is not connected`);
    });

    const anyPsk = endpoints.some((e) => this.store.getPort(endpointKey(e))!.mode === PortMode.PORT_MODE_PSK);
    const generated = !cak && anyPsk;
    if (!cak) cak = new Uint8Array(randomBytes(16));
    if (!ckn) ckn = new Uint8Array(randomBytes(16));
    const ch: StoredChannel = {
      id: `ch-${randomBytes(6).toString('hex')}`,
      name: req.name,
      endpoints,
      cak,
      ckn,
      keyId: randomBytes(8).toString('hex'),
      createdMs: Date.now(),
      owner: actor.label,
      requestId,
      generatedPsk: generated,
      committed: false,
    };
    this.store.putChannel(ch);
    await this.commitChannel(ch);
    this.publish({
      type: EventType.EVENT_TYPE_CHANNEL_CREATED,
      channelId: ch.id,
      message: `channel ${ch.name} created with ${endpoints.length} endpoints`,
    });
    this.publish({ type: EventType.EVENT_TYPE_CHANNEL_READY, channelId: ch.id, message: `every authenticator of channel ${ch.name} is ready` });
    this.evaluateChannels();
    await this.waitChannel(ch.id, req.waitSecured, req.waitTimeoutMs, deadlineMs);
    return {
      channel: this.channelView(ch),
      generatedPsk: generated ? pskOf(ch) : undefined,
      created: true,
    };
  }

  /** Pushes a stored, uncommitted channel to its agents; committed once all acknowledged, removed otherwise. */
  private async commitChannel(ch: StoredChannel): Promise<void> {
    const agents = [...new Set(ch.endpoints.map((e) => e.agentId))];
    try {
      await Promise.all(agents.map((a) => this.push(a)));
      const failed = ch.endpoints.map(endpointKey).filter((pid) => this.statusOf(pid).state === PortState.PORT_STATE_FAILED);
      if (failed.length) throw failedPrecondition(`endpoints: ${failed.map((f) => `${f}: ${this.statusOf(f).detail}`).join('; ')}`);
      this.store.putChannel({ ...ch, committed: true });
    } catch (e) {
      this.store.deleteChannel(ch.id);
      // Roll back in the background: the caller gets its answer after one ack timeout, and an
      // agent that answers late (or reconnects) converges to the state without the channel.
      for (const a of agents.filter((x) => this.sessions.has(x))) this.push(a).catch(() => {});
      throw e;
    }
  }

  private async waitChannel(id: string, secured: boolean, timeoutMs: number, deadlineMs?: number): Promise<void> {
    if (!secured) return;
    const limit = Math.min(timeoutMs || 30_000, deadlineMs !== undefined ? Math.max(0, deadlineMs - Date.now() - 50) : Infinity);
    await new Promise<void>((resolve) => {
      const check = () => {
        const c = this.store.getChannel(id);
        if (!c || this.channelView(c).state === ChannelState.CHANNEL_STATE_SECURED) done();
      };
      const done = () => {
        clearTimeout(timer);
        this.channelWaiters.delete(check);
        resolve();
      };
      const timer = setTimeout(done, limit);
      this.channelWaiters.add(check);
      check();
    });
  }

  async deleteChannel(req: DeleteSecureChannelRequest, actor: Actor = SYSTEM_ACTOR): Promise<DeleteSecureChannelResponse> {
    let c: SecureChannel;
    try {
      c = this.getChannel(req.channelId);
    } catch (e) {
      if (req.allowMissing && hasCode(e, 'not_found')) return { existed: false };
      throw e;
    }
    this.checkOwner(actor, c.owner, `secure channel '${c.name}'`);
    this.store.deleteChannel(c.id);
    this.channelSecured.delete(c.id);
    this.channelReady.delete(c.id);
    const agents = [...new Set(c.endpoints.map((e) => e.agentId))].filter((a) => this.sessions.has(a));
    await Promise.all(agents.map((a) => this.push(a)));
    this.publish({ type: EventType.EVENT_TYPE_CHANNEL_DELETED, channelId: c.id, message: `channel ${c.name} deleted` });
    return { existed: true };
  }

  async forceRekey(req: ForceRekeyRequest, actor: Actor = SYSTEM_ACTOR): Promise<ForceRekeyResponse> {
    if (!!req.channelId === !!req.portId) throw invalidArgument('channel_id', 'exactly one of channel_id or port_id is required');
    let pids: string[];
    if (req.channelId) {
      const c = this.getChannel(req.channelId);
      this.checkOwner(actor, c.owner, `secure channel '${c.name}'`);
      pids = c.endpointStatus.map((e) => e.portId);
    } else {
      const p = this.lookupPort('port_id', req.portId);
      this.checkOwner(actor, p.owner, `port '${p.id}'`);
      pids = [p.id];
    }
    const results = await Promise.all(
      pids.map(async (pid) => {
        const agentId = pid.split('/')[0]!;
        const s = this.sessions.get(agentId);
        if (!s) return { portId: pid, ok: false, error: `agent '${agentId}' is not connected`, keyServer: false, keyNumber: 0 };
        try {
          const r = await this.command(s, { forceRekey: { portId: pid } });
          return { portId: pid, ok: r.ok, error: r.error, keyServer: r.status?.keyServer ?? false, keyNumber: r.status?.keyNumber ?? 0 };
        } catch (e) {
          return { portId: pid, ok: false, error: (e as Error).message, keyServer: false, keyNumber: 0 };
        }
      }),
    );
    if (req.portId && !results[0]!.ok) throw failedPrecondition(`port_id: ${echo(results[0]!.error, '', 200)}`);
    if (req.channelId && !results.some((r) => r.ok && r.keyServer)) {
      throw failedPrecondition(
        `channel_id: no key server accepted the rekey (${results.map((r) => `${r.portId}: ${r.error ? echo(r.error, '', 200) : 'not key server'}`).join('; ')})`,
      );
    }
    return { results };
  }

  // ---------------------------------------------------------------- agent protocol

  /** Builds one agent's full desired state. */
  desiredFor(agentId: string): DesiredPort[] {
    const channels = this.store.listChannels();
    return this.store.listPorts(agentId).map((p) => {
      const ch = channels.find((c) => c.endpoints.some((e) => endpointKey(e) === p.id));
      const allowed = ch ? ch.endpoints.filter((e) => endpointKey(e) === p.id).map((e) => e.vnfId) : [];
      const psk = ch && p.mode === PortMode.PORT_MODE_PSK ? { cak: Buffer.from(ch.cak), ckn: Buffer.from(ch.ckn) } : undefined;
      const fp = createHash('sha256')
        .update(stableJson({ i: p.interface, m: p.mode, p: p.policy, o: p.ovsBridge, r: p.radius ?? null, c: ch?.id ?? '', k: ch?.keyId ?? '', a: allowed }))
        .digest('hex')
        .slice(0, 32);
      return {
        portId: p.id,
        interface: p.interface,
        mode: p.mode,
        policy: p.policy,
        ovsBridge: p.ovsBridge,
        radius: p.radius,
        channelId: ch?.id ?? '',
        psk,
        allowedVnfIds: allowed,
        fingerprint: fp,
        keepAsIs: false,
      };
    });
  }

  /** The desired state pushed to an agent: its ports, plus its orphans pinned as they run. */
  private desiredState(agentId: string, revision: number): DesiredState {
    const ports = this.desiredFor(agentId);
    for (const [pid, o] of this.orphans) {
      if (o.agentId !== agentId) continue;
      ports.push({
        portId: pid,
        interface: pid.slice(agentId.length + 1),
        mode: PortMode.PORT_MODE_UNSPECIFIED,
        policy: undefined,
        ovsBridge: '',
        radius: undefined,
        channelId: '',
        psk: undefined,
        allowedVnfIds: [],
        fingerprint: o.fingerprint,
        keepAsIs: true,
      });
    }
    return { revision, ports };
  }

  listOrphanedPorts(): ListOrphanedPortsResponse {
    return {
      storeId: this.store.storeId,
      ports: [...this.orphans].map(([portId, o]) => ({ portId, agentId: o.agentId, storeId: o.storeId, status: o.status })),
    };
  }

  /** Sends the agent its desired state and waits for the acknowledgement. */
  private push(agentId: string): Promise<void> {
    const s = this.sessions.get(agentId);
    if (!s) return Promise.reject(unavailable(`agent '${agentId}' is not connected`));
    const revision = ++s.revision;
    const desired = this.desiredState(agentId, revision);
    const p = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const ws = s.ackWaiters.get(revision);
        if (ws) s.ackWaiters.delete(revision);
        reject(deadlineExceeded(`agent '${agentId}' did not acknowledge desired state ${revision} within ${this.ackTimeoutMs} ms`));
      }, this.ackTimeoutMs);
      const list = s.ackWaiters.get(revision) ?? [];
      list.push({ resolve, reject, timer });
      s.ackWaiters.set(revision, list);
    });
    s.send({ desired });
    return p;
  }

  private command(s: AgentSession, cmd: Omit<NonNullable<ManagerMessage['command']>, 'requestId'>): Promise<CommandResult> {
    const requestId = `${this.id}-${++this.commandSeq}`;
    return new Promise<CommandResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        s.commandWaiters.delete(requestId);
        reject(deadlineExceeded(`agent '${s.agentId}' did not answer command ${requestId}`));
      }, this.ackTimeoutMs);
      s.commandWaiters.set(requestId, { resolve, reject, timer });
      s.send({ command: { requestId, ...cmd } });
    });
  }

  /**
   * Serves one agent stream. `agentId` is the identity from the verified client certificate
   * (authz.requireAgent); the Hello must claim the same identity or the stream is refused
   * with PERMISSION_DENIED before anything is recorded.
   */
  attachAgent(agentId: string, stream: AgentStream): void {
    let session: AgentSession | undefined;
    const peer = stream.getPeer();
    const log = this.log.child({ agent: agentId, peer });
    const refuse = (code: number, details: string) => {
      log.warn('agent stream refused', { code, details });
      try {
        stream.emit('error', { code, details });
      } catch {
        /* stream already closed */
      }
    };
    if (this.stopped) return refuse(Status.UNAVAILABLE, 'manager is stopping');
    const helloTimer = setTimeout(() => refuse(Status.DEADLINE_EXCEEDED, `no Hello within ${this.helloTimeoutMs} ms`), this.helloTimeoutMs);

    stream.on('data', (m: AgentMessage) => {
      try {
        if (!session) {
          if (!m.hello) return refuse(Status.FAILED_PRECONDITION, 'the first message on an agent stream must be Hello');
          clearTimeout(helloTimer);
          if (m.hello.agentId !== agentId) {
            return refuse(Status.PERMISSION_DENIED, `hello.agent_id ${echo(m.hello.agentId, "'")} does not match the certificate identity '${agentId}'`);
          }
          try {
            const h = boundHello(m.hello);
            if (h.cut) this.dropReport(log, h.cut, '');
            session = this.bind(agentId, stream, h.value, peer, log);
          } catch (e) {
            // Typically the store (disk full): refuse so the agent retries; nothing is bound.
            log.error('agent bind failed', { error: (e as Error).message });
            return refuse(Status.UNAVAILABLE, `manager could not record the agent: ${(e as Error).message}`);
          }
          return;
        }
        this.onAgentMessage(session, m, log);
      } catch (e) {
        log.error('agent message handling failed', { error: (e as Error).message });
      }
    });
    const gone = (why: string) => () => {
      clearTimeout(helloTimer);
      try {
        if (session && !session.closed) this.unbind(session, why, log);
      } catch (e) {
        // A stream listener must never throw (it would take the process down).
        log.error('agent unbind failed', { error: (e as Error).message });
      }
    };
    stream.on('end', gone('stream ended'));
    stream.on('cancelled', gone('cancelled'));
    stream.on('close', gone('closed'));
    stream.on('error', (e: Error) => gone(`error: ${e.message}`)());
  }

  private bind(agentId: string, stream: AgentStream, hello: Hello, peer: string, log: Logger): AgentSession {
    const old = this.sessions.get(agentId);
    if (old) {
      log.warn('agent reconnected while an older stream was open; replacing it');
      old.close('superseded by a new connection');
      this.sessions.delete(agentId);
      try {
        old.stream.emit('error', { code: Status.ABORTED, details: 'superseded by a newer stream of the same agent' });
      } catch {
        /* gone */
      }
    }
    const now = Date.now();
    const prev = this.store.getAgent(agentId);
    // Store first: if it fails (disk full) nothing in memory has changed and the caller refuses the stream.
    this.store.putAgent({
      id: agentId,
      version: hello.version,
      capabilities: hello.capabilities,
      interfaces: hello.interfaces,
      firstSeenMs: prev?.firstSeenMs ?? now,
      lastSeenMs: now,
    });
    const s = new AgentSession(agentId, stream, hello, now, peer);
    this.sessions.set(agentId, s);
    for (const [pid, o] of this.orphans) if (o.agentId === agentId) this.orphans.delete(pid);
    for (const r of hello.running.slice(0, LIMITS.interfaces)) {
      const stored = this.store.getPort(r.portId);
      if (r.status) r.status = boundStatus(r.status).value;
      r.fingerprint = r.fingerprint.slice(0, LIMITS.shortText);
      if (!this.ownPort(agentId, r.portId)) {
        this.dropReport(log, 'hello_foreign_port', r.portId);
      } else if (stored) {
        if (r.status) this.statuses.set(r.portId, r.status);
      } else if (r.storeId !== this.store.storeId) {
        // Running for another (or an unknown) store: a new or restored database must never
        // tear sessions down by itself. Kept as is until an operator adopts or closes it.
        this.orphans.set(r.portId, { agentId, storeId: r.storeId, fingerprint: r.fingerprint, status: r.status ?? emptyStatus(PortState.PORT_STATE_PENDING) });
        log.warn('port of another store kept running as orphaned', { port: r.portId, port_store: r.storeId || 'unknown', store: this.store.storeId });
      }
    }
    for (const p of this.store.listPorts(agentId)) {
      if (!hello.running.some((r) => r.portId === p.id)) this.statuses.set(p.id, emptyStatus(PortState.PORT_STATE_PENDING, 'agent connected; converging'));
    }
    log.info('agent bound', { version: hello.version, capabilities: hello.capabilities, running: hello.running.length, boot: hello.bootId });
    s.send({ welcome: { managerId: this.id, heartbeatIntervalMs: this.heartbeatMs, storeId: this.store.storeId } });
    this.publish({
      type: EventType.EVENT_TYPE_AGENT_UP,
      agentId,
      message: `agent ${agentId} connected from ${peer}`,
      attributes: { version: hello.version, running_ports: String(hello.running.length), boot_id: hello.bootId },
    });
    this.push(agentId).catch((e) => log.warn('initial desired state not acknowledged', { error: (e as Error).message }));
    this.evaluateChannels(agentId);
    return s;
  }

  private unbind(s: AgentSession, why: string, log: Logger): void {
    s.close(why);
    if (this.sessions.get(s.agentId) !== s) return; // superseded
    this.sessions.delete(s.agentId);
    const a = this.store.getAgent(s.agentId);
    try {
      if (a) this.store.putAgent({ ...a, lastSeenMs: Date.now() });
    } catch (e) {
      // Only a timestamp: never let a store error (disk full) escape a stream listener.
      log.error('could not record agent last-seen time', { error: (e as Error).message });
    }
    for (const p of this.store.listPorts(s.agentId)) {
      const st = this.statusOf(p.id);
      this.statuses.set(p.id, {
        ...st,
        state: PortState.PORT_STATE_AGENT_DISCONNECTED,
        detail: `agent disconnected (${why}); last state ${PortState[st.state]}`,
        updatedMs: Date.now(),
      });
    }
    log.warn('agent disconnected', { reason: why });
    if (!this.stopped) {
      this.publish({ type: EventType.EVENT_TYPE_AGENT_DOWN, agentId: s.agentId, message: `agent ${s.agentId} disconnected: ${why}` });
      this.evaluateChannels(s.agentId);
    }
  }

  /**
   * Publishes an event. Reserving sequence numbers writes to the store; when that fails (disk
   * full) the event is lost and logged, but the operation or stream handling that raised it goes on.
   */
  private publish(e: EventInput): void {
    try {
      this.events.publish(e);
    } catch (err) {
      this.log.error('event not published (store error)', { type: EventType[e.type], error: (err as Error).message });
    }
  }

  /** A port id of this agent's (the agent id comes from its certificate). */
  private ownPort(agentId: string, pid: string): boolean {
    const stored = this.store.getPort(pid);
    return stored ? stored.agentId === agentId : pid.startsWith(`${agentId}/`);
  }

  /** An agent reported on a port that is not its own, or something malformed: drop, count, log with its identity. */
  private dropReport(log: Logger, reason: string, pid: string): void {
    for (const r of reason.split(',')) this.droppedReports.set(r, (this.droppedReports.get(r) ?? 0) + 1);
    log.warn('agent report dropped', { reason, port: pid.slice(0, 140) });
  }

  /** Records a port status; true when its state changed. */
  private setStatus(s: AgentSession, pid: string, st: PortStatus): boolean {
    if (!this.ownPort(s.agentId, pid)) {
      this.dropReport(this.log.child({ agent: s.agentId }), 'status_foreign_port', pid);
      return false;
    }
    if (!this.store.getPort(pid)) return false; // stale: closed meanwhile
    const b = boundStatus(st);
    if (b.cut) this.dropReport(this.log.child({ agent: s.agentId }), b.cut, pid);
    st = b.value;
    const prev = this.statuses.get(pid);
    this.statuses.set(pid, st);
    if (prev?.state !== st.state) {
      if (st.state === PortState.PORT_STATE_SECURED)
        this.publish({
          type: EventType.EVENT_TYPE_PORT_SECURED,
          agentId: s.agentId,
          portId: pid,
          channelId: this.channelOfPort(pid)?.id ?? '',
          message: `port ${pid} secured`,
          attributes: { key_number: String(st.keyNumber), peers: String(st.livePeers.length) },
        });
      else if (prev?.state === PortState.PORT_STATE_SECURED)
        this.publish({
          type: EventType.EVENT_TYPE_PORT_UNSECURED,
          agentId: s.agentId,
          portId: pid,
          channelId: this.channelOfPort(pid)?.id ?? '',
          message: `port ${pid} no longer secured: ${st.detail}`,
        });
      if (st.state === PortState.PORT_STATE_FAILED)
        this.publish({ type: EventType.EVENT_TYPE_ERROR, agentId: s.agentId, portId: pid, message: `port ${pid} failed: ${st.detail}` });
      return true;
    }
    return false;
  }

  private onAgentMessage(s: AgentSession, m: AgentMessage, log: Logger): void {
    s.lastSeenMs = Date.now();
    if (m.ack) {
      let changed = false;
      for (const r of m.ack.ports) if (r.status && this.setStatus(s, r.portId, r.status)) changed = true;
      s.ackedRevision = Math.max(s.ackedRevision, m.ack.revision);
      for (const [rev, ws] of s.ackWaiters) {
        if (rev <= m.ack.revision) {
          s.ackWaiters.delete(rev);
          for (const w of ws) {
            clearTimeout(w.timer);
            w.resolve();
          }
        }
      }
      if (changed) this.evaluateChannels(s.agentId);
    } else if (m.status) {
      if (m.status.status && this.setStatus(s, m.status.portId, m.status.status)) this.evaluateChannels(s.agentId);
    } else if (m.event) {
      this.onAgentEvent(s, m.event);
    } else if (m.result) {
      const w = s.commandWaiters.get(m.result.requestId);
      if (w) {
        s.commandWaiters.delete(m.result.requestId);
        clearTimeout(w.timer);
        w.resolve(m.result);
      }
    } else if (m.hello) {
      log.warn('duplicate Hello ignored');
    }
  }

  private onAgentEvent(s: AgentSession, raw: NonNullable<AgentMessage['event']>): void {
    if (raw.portId && !this.ownPort(s.agentId, raw.portId)) return this.dropReport(this.log.child({ agent: s.agentId }), 'event_foreign_port', raw.portId);
    if (raw.portId && !this.store.getPort(raw.portId)) return;
    const { value: ev, cut } = boundEvent(raw);
    if (cut) this.dropReport(this.log.child({ agent: s.agentId }), cut, raw.portId);
    const map: Record<string, EventType> = {
      peerLive: EventType.EVENT_TYPE_PEER_LIVE,
      peerLost: EventType.EVENT_TYPE_PEER_LOST,
      rekey: EventType.EVENT_TYPE_PORT_REKEYED,
      keyServerElected: EventType.EVENT_TYPE_KEY_SERVER_ELECTED,
      authenticated: EventType.EVENT_TYPE_PORT_AUTHENTICATED,
      principalChanged: EventType.EVENT_TYPE_PORT_AUTHENTICATED,
      error: EventType.EVENT_TYPE_ERROR,
      secyError: EventType.EVENT_TYPE_ERROR,
    };
    const type = map[ev.kind];
    if (type === undefined) return; // secured/unsecured come through status changes; dropped etc. are counters
    this.publish({
      type,
      agentId: s.agentId,
      portId: ev.portId,
      channelId: ev.portId ? (this.channelOfPort(ev.portId)?.id ?? '') : '',
      message: ev.message || `${ev.kind} on ${ev.portId}`,
      attributes: ev.attributes,
    });
  }

  /** Rejects agent streams from certificates that are not agents (server.ts calls authz first). */
  static refuseNonAgent(kind: string): MacsecError {
    return permissionDenied(`${kind} certificates may not open an agent stream`);
  }

  /** Live statuses for metrics. */
  portStatuses(): Array<{ port: StoredPort; status: PortStatus; connected: boolean }> {
    return this.store.listPorts().map((p) => ({ port: p, status: this.statusOf(p.id), connected: this.sessions.has(p.agentId) }));
  }
}
