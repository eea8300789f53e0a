/**
 * What the manager's parts share: the store, the live sessions, the last status of every port,
 * the orphaned ports and event publishing. One instance per Manager; ports.ts, channels.ts and
 * agent-stream.ts each work on it.
 */
import { EventType } from '../control/gen/macsec/v1/manager.js';
import { PortState, type InterfaceInfo, type PortStatus } from '../control/gen/macsec/v1/types.js';
import type { Actor } from '../control/authz.js';
import { hasCode, notFound, permissionDenied, unavailable } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { desiredState, type Orphan } from './desired.js';
import { EventBus, type EventInput } from './events.js';
import { emptyStatus } from './model.js';
import { checkPortId } from './requests.js';
import { type AgentCommand, Sessions } from './sessions.js';
import { soloReplicas, type Replicas } from './replicas/replicas.js';
import type { CommandResult } from '../control/gen/macsec/v1/agent.js';
import type { Store, StoredPort } from './store/store.js';

export class ManagerState {
  readonly events: EventBus;
  readonly sessions: Sessions;
  /** Last status reported for each port (kept while the agent is away, marked disconnected). */
  readonly statuses = new Map<string, PortStatus>();
  /** Ports agents run for another store (or an unknown one), by port id; see desired.ts. */
  readonly orphans = new Map<string, Orphan>();
  /** Agent reports dropped because they were about another agent's ports, or malformed, by reason. */
  readonly droppedReports = new Map<string, number>();
  stopped = false;

  constructor(
    readonly id: string,
    readonly store: Store,
    readonly log: Logger,
    readonly ackTimeoutMs: number,
    readonly replicas: Replicas = soloReplicas(id),
  ) {
    this.events = new EventBus(store, 10_000, this.replicas.eventLog);
    this.sessions = new Sessions(
      id,
      ackTimeoutMs,
      (agentId, revision) => desiredState(agentId, revision, store.listPorts(agentId), store.listChannels(agentId), this.orphans),
      () => store.revision?.() ?? 0,
    );
  }

  statusOf(pid: string): PortStatus {
    return this.replicas.statusOf(pid) ?? this.statuses.get(pid) ?? emptyStatus(PortState.PORT_STATE_PENDING);
  }

  /** The statuses of an agent's ports, as they are shared with the other replicas. */
  statusesOf(agentId: string): Array<[string, PortStatus]> {
    return this.store.listPorts(agentId).map((p) => [p.id, this.statusOf(p.id)]);
  }

  private readonly toShare = new Set<string>();
  private shareTimer: NodeJS.Timeout | undefined;
  /** Shares the statuses of an agent connected here with the other replicas (batched: one write per agent per 50 ms). */
  shareStatuses(agentId: string): void {
    if (!this.store.shared) return;
    this.toShare.add(agentId);
    this.shareTimer ??= setTimeout(() => {
      this.shareTimer = undefined;
      const ids = [...this.toShare];
      this.toShare.clear();
      for (const id of ids) if (this.sessions.has(id)) this.replicas.shareStatuses(id, this.statusesOf(id));
    }, 50);
    this.shareTimer.unref();
  }

  /** Connected here or at another replica. */
  connected(agentId: string): boolean {
    return this.sessions.has(agentId) || !!this.replicas.ownerOf(agentId);
  }

  /** What the agent said in its Hello: from its session here, or its record (connected at another replica). */
  helloOf(agentId: string): { interfaces: InterfaceInfo[]; capabilities: string[]; version: string } | undefined {
    const s = this.sessions.get(agentId);
    if (s) return s.hello;
    return this.replicas.ownerOf(agentId) ? this.store.getAgent(agentId) : undefined;
  }

  /**
   * Sends the agent its desired state and waits for its acknowledgement; for an agent connected
   * at another replica, waits until that replica's push of the current store revision was acknowledged.
   */
  async push(agentId: string): Promise<void> {
    if (this.sessions.has(agentId) || !this.replicas.ownerOf(agentId)) return this.sessions.push(agentId);
    await this.store.flush();
    await this.replicas.waitAck(agentId, this.store.revisionFor?.(agentId) ?? this.store.revision?.() ?? 0, this.ackTimeoutMs);
  }

  /** Runs a command on the agent, here or through the replica its stream is at. */
  command(agentId: string, cmd: AgentCommand): Promise<CommandResult> {
    const s = this.sessions.get(agentId);
    if (s) return this.sessions.command(s, cmd);
    return this.replicas.command(agentId, cmd, this.ackTimeoutMs);
  }

  /**
   * Publishes an event. Reserving sequence numbers writes to the store; when that fails (disk
   * full) the event is lost and logged, but the operation or stream handling that raised it goes on.
   */
  publish(e: EventInput): void {
    try {
      this.events.publish(e);
    } catch (err) {
      this.log.error('event not published (store error)', { type: EventType[e.type], error: (err as Error).message });
    }
  }

  /** An orchestrator changes only what it owns; admins (and in-process callers) anything. */
  checkOwner(actor: Actor, owner: string, what: string): void {
    if (actor.scoped && owner !== actor.label) {
      throw permissionDenied(`${what} is owned by ${owner || 'an administrator'}; ${actor.label} may only change ports it opened and channels it created`);
    }
  }

  requireConnected(field: string, agentId: string): { interfaces: InterfaceInfo[]; capabilities: string[]; version: string } {
    if (!this.store.getAgent(agentId)) throw notFound(field, `agent '${agentId}' is not known`);
    const h = this.helloOf(agentId);
    if (!h) throw unavailable(`${field}: agent '${agentId}' is not connected`);
    return h;
  }

  lookupPort(field: string, pid: string): StoredPort {
    checkPortId(field, pid);
    const p = this.store.getPort(pid);
    if (!p) throw notFound(field, `port '${pid}' is not open`);
    return p;
  }

  /** A port id of this agent's (the agent id comes from its certificate). */
  ownPort(agentId: string, pid: string): boolean {
    const stored = this.store.getPort(pid);
    return stored ? stored.agentId === agentId : pid.startsWith(`${agentId}/`);
  }

  /** An agent reported on a port that is not its own, or something malformed: drop, count, log with its identity. */
  dropReport(log: Logger, reason: string, pid: string): void {
    for (const r of reason.split(',')) this.droppedReports.set(r, (this.droppedReports.get(r) ?? 0) + 1);
    log.warn('agent report dropped', { reason, port: pid.slice(0, 140) });
  }

  /**
   * Runs a write computed from the current view until it is durable. When another replica wrote
   * first (`aborted`, etcd only), the view is reloaded and the write computed again on it.
   */
  async rewrite(fn: () => void, attempts = 5): Promise<void> {
    for (let i = 1; ; i++) {
      try {
        fn();
        await this.store.flush();
        return;
      } catch (e) {
        if (i >= attempts || !hasCode(e, 'aborted')) throw e;
        await new Promise((r) => setTimeout(r, 20 * i));
      }
    }
  }

  /** A rollback or clean-up write: a failure is logged, never thrown (the store then reloads its view). */
  bestEffort(what: string, fn: () => void): void {
    try {
      fn();
      this.store.flush().catch((e) => this.log.warn(`${what}: not stored`, { error: (e as Error).message }));
    } catch (e) {
      this.log.warn(`${what}: not stored`, { error: (e as Error).message });
    }
  }

  /** Pushes to the agent when it is connected (an away agent gets everything at its next Hello). */
  async pushIfConnected(agentId: string): Promise<void> {
    if (this.connected(agentId)) await this.push(agentId);
  }
}
