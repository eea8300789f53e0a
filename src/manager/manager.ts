/**
 * The manager core: desired state (Store), live agent sessions, the operator operations and the
 * agent stream protocol, over domain types (model.ts). Transport-free: server.ts binds it to gRPC
 * (converting messages in convert.ts), tests may call it directly. The parts:
 *   ports.ts, channels.ts, rekey.ts  operator operations
 *   agent-stream.ts, sessions.ts     agent protocol, pushes and commands
 *   desired.ts, channel-state.ts     pure: what agents run, what a channel's state is
 *   requests.ts                      pure: request checks
 * A port whose fingerprint did not change keeps running on the agent, so reconnects and manager
 * restarts never tear down sessions that are already right.
 */
import type { DesiredPort } from '../control/gen/macsec/v1/agent.js';
import { PortState, type PortStatus } from '../control/gen/macsec/v1/types.js';
import { SYSTEM_ACTOR, type Actor } from '../control/authz.js';
import { notFound, permissionDenied, type MacsecError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { silentLogger } from '../common/log.js';
import { AgentStreams } from './agent-stream.js';
import { Channels } from './channels.js';
import { desiredFor } from './desired.js';
import { KeyChains } from './key-chain.js';
import type { EventBus } from './events.js';
import {
  emptyStatus,
  type AgentView,
  type ChannelView,
  type ClosePortInput,
  type CreateChannelInput,
  type CreatedChannel,
  type DeleteChannelInput,
  type ForceRekeyInput,
  type AddKeyInput,
  type AddedKey,
  type RetireKeyInput,
  type RetiredKey,
  type OpenPortInput,
  type OrphanView,
  type PortView,
  type RekeyOutcome,
  type UpdateChannelInput,
  type UpdatedChannel,
} from './model.js';
import { Ports } from './ports.js';
import { forceRekey } from './rekey.js';
import { checkAgentId } from './requests.js';
import type { AgentStream } from './sessions.js';
import { ManagerState } from './state.js';
import { CachedStore } from './store/cached.js';
import { type Page, page } from './paging.js';
import type { Store, StoredPort } from './store/store.js';
import type { Replicas } from './replicas/replicas.js';

export interface ManagerOptions {
  id?: string;
  log?: Logger;
  /** How long a push waits for the agent's StateAck. */
  ackTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** How long an agent has to send Hello after opening its stream. */
  helloTimeoutMs?: number;
  /** The other replicas sharing the store (etcd); none by default. */
  replicas?: Replicas;
}

export class Manager {
  readonly id: string;
  readonly store: Store;
  private readonly st: ManagerState;
  private readonly ports: Ports;
  private readonly channels: Channels;
  private readonly keys: KeyChains;
  private readonly agents: AgentStreams;
  private readonly heartbeatTimer: NodeJS.Timeout;
  private readonly ackTimeoutMs: number;

  constructor(backing: Store, opts: ManagerOptions = {}) {
    // The manager is its store's only writer, so reads can be served from memory.
    this.store = backing instanceof CachedStore ? backing : new CachedStore(backing);
    this.id = opts.id ?? 'manager';
    this.ackTimeoutMs = opts.ackTimeoutMs ?? 10_000;
    this.st = new ManagerState(this.id, this.store, opts.log ?? silentLogger, this.ackTimeoutMs, opts.replicas);
    this.ports = new Ports(this.st);
    this.channels = new Channels(this.st);
    this.keys = new KeyChains(this.st, this.channels);
    const heartbeatIntervalMs = opts.heartbeatIntervalMs ?? 15_000;
    this.agents = new AgentStreams(this.st, {
      heartbeatIntervalMs,
      helloTimeoutMs: opts.helloTimeoutMs ?? 10_000,
      statusesChanged: (agentId) => {
        this.channels.evaluate(agentId);
        this.keys.evaluate(agentId);
      },
    });
    this.st.replicas.onRemoteChange((agentId) => this.followRemoteAgent(agentId));
    this.st.replicas.onLeader(() => {
      this.channels.evaluate();
      this.keys.evaluate();
    });
    this.st.replicas.onCommand((agentId, cmd) => {
      const s = this.st.sessions.get(agentId);
      if (!s) return Promise.reject(new Error(`agent '${agentId}' is not connected to replica ${this.id}`));
      return this.st.sessions.command(s, cmd);
    });
    this.rollBackUncommitted();
    this.keys.evaluate(); // arms the expiry timer of stored key chains
    this.store.onChange?.((_, agents) => this.followChange(agents));
    for (const p of this.store.listPorts())
      this.st.statuses.set(p.id, emptyStatus(PortState.PORT_STATE_AGENT_DISCONNECTED, 'agent not connected since manager start'));
    this.heartbeatTimer = setInterval(() => {
      for (const s of this.st.sessions.all()) s.send({ heartbeat: { timeMs: Date.now() } });
    }, heartbeatIntervalMs);
    this.heartbeatTimer.unref();
  }

  private readonly changedAgents = new Set<string>();
  private followAll = false;
  private followTimer: NodeJS.Immediate | undefined;
  /**
   * Another manager replica changed the shared store: the agents connected here whose desired
   * state it may alter get the new one (once per agent for a burst of changes).
   */
  private followChange(agents: string[] | undefined): void {
    if (this.st.stopped) return;
    if (agents) for (const a of agents) this.changedAgents.add(a);
    else this.followAll = true;
    this.followTimer ??= setImmediate(() => {
      this.followTimer = undefined;
      const all = this.followAll;
      const ids = all ? this.st.sessions.ids() : [...this.changedAgents];
      this.changedAgents.clear();
      this.followAll = false;
      for (const id of ids)
        if (this.st.sessions.has(id))
          this.st.sessions
            .push(id)
            .catch((e) => this.st.log.warn('desired state changed by another replica: not acknowledged', { agent: id, error: (e as Error).message }));
      if (all) this.channels.evaluate();
      else for (const id of ids) this.channels.evaluate(id);
    });
  }

  /** An agent at another replica came, went or reported: its channels are evaluated on what that replica shares. */
  private followRemoteAgent(agentId: string): void {
    if (this.st.stopped || this.st.sessions.has(agentId)) return;
    if (!this.st.replicas.ownerOf(agentId))
      for (const p of this.store.listPorts(agentId)) {
        const last = this.st.statuses.get(p.id);
        if (last?.state !== PortState.PORT_STATE_AGENT_DISCONNECTED)
          this.st.statuses.set(p.id, emptyStatus(PortState.PORT_STATE_AGENT_DISCONNECTED, 'agent not connected to any manager replica'));
      }
    this.channels.evaluate(agentId);
    this.keys.evaluate(agentId);
  }

  get events(): EventBus {
    return this.st.events;
  }

  /** Agent reports dropped because they were about another agent's ports, by reason. */
  get droppedReports(): Map<string, number> {
    return this.st.droppedReports;
  }

  /**
   * Channels stored by a create call that never returned (the manager died before the agents
   * acknowledged) and that the client cannot retry idempotently (no request id): nobody ever
   * received their result, so they are removed. Those with a request id wait for the retry.
   */
  private rollBackUncommitted(): void {
    // On a store shared with other replicas, a young uncommitted channel may be one another
    // replica is creating right now: only those older than any creation can take are rolled back,
    // the others are looked at again once they are.
    const settleMs = this.store.shared ? this.ackTimeoutMs * 2 + 30_000 : 0;
    let young = false;
    for (const c of this.store.listChannels()) {
      if (c.committed || c.requestId) continue;
      if (Date.now() - c.createdMs < settleMs) {
        young = true;
        continue;
      }
      this.st.bestEffort('rollback of an uncommitted channel', () => this.store.deleteChannel(c.id));
      this.st.log.warn('rolled back a secure channel whose creation never completed', { channel: c.name, id: c.id });
    }
    if (young && !this.st.stopped) setTimeout(() => this.rollBackUncommitted(), settleMs).unref();
  }

  stop(): void {
    this.st.stopped = true;
    clearInterval(this.heartbeatTimer);
    if (this.followTimer) clearImmediate(this.followTimer);
    this.keys.stop();
    for (const s of this.st.sessions.all()) {
      s.close('manager stopping');
      try {
        s.stream.end();
      } catch {
        /* already gone */
      }
    }
    this.st.sessions.clear();
  }

  // ---------------------------------------------------------------- agents

  connectedAgentIds(): string[] {
    return this.st.sessions.ids();
  }

  private agentView(id: string): AgentView | undefined {
    const a = this.store.getAgent(id);
    if (!a) return undefined;
    const s = this.st.sessions.get(id);
    const remote = s ? undefined : this.st.replicas.ownerOf(id);
    return {
      id: a.id,
      version: a.version,
      connected: !!s || !!remote,
      connectedSinceMs: s?.connectedSinceMs ?? remote?.sinceMs ?? 0,
      lastSeenMs: s ? s.lastSeenMs : remote ? Date.now() : a.lastSeenMs,
      capabilities: a.capabilities,
      interfaces: a.interfaces,
      portIds: this.store.listPorts(id).map((p) => p.id),
      peerAddress: s?.peer ?? remote?.peer ?? '',
      firstSeenMs: a.firstSeenMs,
    };
  }

  listAgents(connectedOnly: boolean): AgentView[] {
    return this.store
      .listAgents()
      .map((a) => this.agentView(a.id)!)
      .filter((a) => !connectedOnly || a.connected);
  }

  getAgent(agentId: string): AgentView {
    checkAgentId('agent_id', agentId);
    const a = this.agentView(agentId);
    if (!a) throw notFound('agent_id', `agent '${agentId}' is not known`);
    return a;
  }

  /**
   * Serves one agent stream. `agentId` is the identity from the verified client certificate
   * (authz.requireAgent); the Hello must claim the same identity (agent-stream.ts).
   */
  attachAgent(agentId: string, stream: AgentStream): void {
    this.agents.attach(agentId, stream);
  }

  /** Rejects agent streams from certificates that are not agents (server.ts calls authz first). */
  static refuseNonAgent(kind: string): MacsecError {
    return permissionDenied(`${kind} certificates may not open an agent stream`);
  }

  /** Live statuses for metrics. */
  portStatuses(): Array<{ port: StoredPort; status: PortStatus; connected: boolean }> {
    return this.store.listPorts().map((p) => ({ port: p, status: this.st.statusOf(p.id), connected: this.st.connected(p.agentId) }));
  }

  /** One agent's full desired state (without its orphans). */
  desiredFor(agentId: string): DesiredPort[] {
    return desiredFor(agentId, this.store.listPorts(agentId), this.store.listChannels(agentId));
  }

  // ---------------------------------------------------------------- operator operations

  listPorts(agentId: string): PortView[] {
    return this.ports.list(agentId);
  }
  /** One page of ListPorts: views are built for that page only. */
  listPortsPage(agentId: string, pageSize: number, pageToken: string): Page<PortView> {
    if (agentId) checkAgentId('agent_id', agentId);
    const p = page(this.store.listPorts(agentId || undefined), (x) => x.id, pageSize, pageToken);
    return { items: p.items.map((x) => this.ports.view(x)), nextPageToken: p.nextPageToken };
  }
  listChannelsPage(pageSize: number, pageToken: string): Page<ChannelView> {
    const p = page(this.store.listChannels(), (c) => c.name, pageSize, pageToken);
    return { items: p.items.map((c) => this.channels.view(c)), nextPageToken: p.nextPageToken };
  }
  listAgentsPage(connectedOnly: boolean, pageSize: number, pageToken: string): Page<AgentView> {
    const agents = this.store.listAgents();
    const p = page(connectedOnly ? agents.filter((a) => this.st.connected(a.id)) : agents, (a) => a.id, pageSize, pageToken);
    return { items: p.items.map((a) => this.agentView(a.id)!), nextPageToken: p.nextPageToken };
  }
  getPort(pid: string): PortView {
    return this.ports.get(pid);
  }
  openPort(req: OpenPortInput, actor: Actor = SYSTEM_ACTOR): Promise<PortView> {
    return this.ports.open(req, actor);
  }
  /** True when there was something to close. */
  closePort(req: ClosePortInput, actor: Actor = SYSTEM_ACTOR): Promise<boolean> {
    return this.ports.close(req, actor);
  }
  listOrphanedPorts(): OrphanView[] {
    return this.ports.listOrphaned();
  }

  listChannels(): ChannelView[] {
    return this.channels.list();
  }
  getChannel(idOrName: string): ChannelView {
    return this.channels.get(idOrName);
  }
  createChannel(req: CreateChannelInput, deadlineMs?: number, actor: Actor = SYSTEM_ACTOR): Promise<CreatedChannel> {
    return this.channels.create(req, deadlineMs, actor);
  }
  /** Adds and removes endpoints; the endpoints that stay keep their sessions. */
  updateChannel(req: UpdateChannelInput, deadlineMs?: number, actor: Actor = SYSTEM_ACTOR): Promise<UpdatedChannel> {
    return this.channels.update(req, deadlineMs, actor);
  }
  /** True when there was something to delete. */
  deleteChannel(req: DeleteChannelInput, actor: Actor = SYSTEM_ACTOR): Promise<boolean> {
    return this.channels.delete(req, actor);
  }
  forceRekey(req: ForceRekeyInput, actor: Actor = SYSTEM_ACTOR): Promise<RekeyOutcome[]> {
    return forceRekey(this.st, this.channels, req, actor);
  }

  // CAK key chains (key-chain.ts)
  addChannelKey(req: AddKeyInput, actor: Actor = SYSTEM_ACTOR): Promise<AddedKey> {
    return this.keys.add(req, actor);
  }
  retireChannelKey(req: RetireKeyInput, actor: Actor = SYSTEM_ACTOR): Promise<RetiredKey> {
    return this.keys.retire(req, actor);
  }
}
