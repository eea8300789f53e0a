/**
 * What a manager replica needs from the others sharing its store: who owns each agent's stream,
 * the port statuses their agents report, their agents' acknowledgements, and commands forwarded
 * to the owner. `soloReplicas` is the single-manager case (SQLite): nobody else owns anything.
 * replicas/etcd.ts keeps it in etcd under the replica's lease.
 */
import type { CommandResult } from '../../control/gen/macsec/v1/agent.js';
import type { PortStatus } from '../../control/gen/macsec/v1/types.js';
import type { AgentCommand } from '../sessions.js';

export interface RemoteOwner {
  replica: string;
  sinceMs: number;
  peer: string;
}

export interface Replicas {
  readonly id: string;
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
  /** The agent connected here acknowledged desired state built at store revision `revision`. */
  acked(agentId: string, revision: number): void;
  /** Resolves once the agent (at whichever replica) acknowledged a state of store revision ≥ `revision`. */
  waitAck(agentId: string, revision: number, timeoutMs: number): Promise<void>;
  /** Runs a command on the agent through the replica owning its stream. */
  command(agentId: string, cmd: AgentCommand, timeoutMs: number): Promise<CommandResult>;
  /** How this replica runs commands forwarded to it (on agents connected here). */
  onCommand(run: (agentId: string, cmd: AgentCommand) => Promise<CommandResult>): void;
  /** Another replica's agent came, went or changed statuses. */
  onRemoteChange(fn: (agentId: string) => void): void;
  close(): void | Promise<void>;
}

/** One manager, no replicas. */
export const soloReplicas = (id: string): Replicas => ({
  id,
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
  close: () => {},
});
