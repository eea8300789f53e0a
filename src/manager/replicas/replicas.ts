/**
 * What a manager replica needs from the others sharing its store: who owns each agent's stream,
 * the port statuses their agents report, their agents' acknowledgements, and commands forwarded
 * to the owner. `soloReplicas` is the single-manager case (SQLite): nobody else owns anything.
 * replicas/etcd.ts keeps it in etcd under the replica's lease.
 */
import type { CommandResult } from '../../control/gen/macsec/v1/agent.js';
import type { Event } from '../../control/gen/macsec/v1/manager.js';
import type { PortStatus } from '../../control/gen/macsec/v1/types.js';
import type { AgentCommand } from '../sessions.js';

export interface RemoteOwner {
  replica: string;
  sinceMs: number;
  peer: string;
}

/** One log of every replica's events, numbered in one order (see events.ts). */
export interface EventLog {
  /** Appends an event (its seq is ignored: the log numbers it and delivers it to every replica). */
  append(e: Event): void;
  /** The newest `n` events read before onEvent was called. */
  backlog(n: number): Event[];
  /** Each event of the log as it is numbered, in order, this replica's own included. */
  onEvent(fn: (e: Event) => void): void;
}

export interface Replicas {
  readonly id: string;
  /** The shared event log; none when this manager is alone (it numbers its events itself). */
  readonly eventLog?: EventLog;
  /**
   * This replica does the singleton work: the events every replica derives alike (channel
   * transitions, keys in use or expired) are published by it alone, and key expiry runs here.
   */
  readonly leader: boolean;
  /** This replica serves the agent's stream now (recorded under its lease). */
  own(agentId: string, peer: string): void;
  /** The agent's stream here ended (the record is removed unless another replica took it). */
  disown(agentId: string): void;
  /** Another replica serving the agent's stream, if one does. */
  ownerOf(agentId: string): RemoteOwner | undefined;
  /** The statuses another replica shares for this port (its agent is connected there). */
  statusOf(portId: string): PortStatus | undefined;
  /** Shares the statuses of an agent connected here (only what changed is written). */
  shareStatuses(agentId: string, statuses: Array<[string, PortStatus]>): void;
  /**
   * The agent connected here acknowledged desired state built at store revision `revision`,
   * reporting these statuses (shared with the ack, so that whoever sees the ack sees them too).
   */
  acked(agentId: string, revision: number, statuses: Array<[string, PortStatus]>): void;
  /** Resolves once the agent (at whichever replica) acknowledged a state of store revision ≥ `revision`. */
  waitAck(agentId: string, revision: number, timeoutMs: number): Promise<void>;
  /** Runs a command on the agent through the replica owning its stream. */
  command(agentId: string, cmd: AgentCommand, timeoutMs: number): Promise<CommandResult>;
  /** How this replica runs commands forwarded to it (on agents connected here). */
  onCommand(run: (agentId: string, cmd: AgentCommand) => Promise<CommandResult>): void;
  /** This replica was elected leader (it then catches up on the singleton work). */
  onLeader(fn: () => void): void;
  /** Another replica's agent came, went or changed statuses. */
  onRemoteChange(fn: (agentId: string) => void): void;
  close(): void | Promise<void>;
}

/** One manager, no replicas. */
export const soloReplicas = (id: string): Replicas => ({
  id,
  leader: true,
  own: () => {},
  disown: () => {},
  ownerOf: () => undefined,
  statusOf: () => undefined,
  shareStatuses: () => {},
  acked: () => {},
  waitAck: () => Promise.resolve(),
  command: (agentId) => Promise.reject(new Error(`agent '${agentId}' is not connected`)),
  onCommand: () => {},
  onRemoteChange: () => {},
  onLeader: () => {},
  close: () => {},
});
