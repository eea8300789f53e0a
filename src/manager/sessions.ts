/**
 * Live agent sessions: one per connected agent, holding what the manager waits for on its stream
 * (StateAck of a pushed desired state, results of commands). Transport-free: an AgentStream is
 * anything that can write ManagerMessages (a grpc ServerDuplexStream fits, tests use a fake).
 *
 * Every change of an agent's desired state is pushed as a new full DesiredState (it is small: one
 * agent's ports) with a higher revision; a StateAck for revision r answers every push up to r.
 */
import type { AgentMessage, CommandResult, DesiredState, Hello, ManagerMessage } from '../control/gen/macsec/v1/agent.js';
import { deadlineExceeded, unavailable } from '../common/errors.js';

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

export type AgentCommand = Omit<NonNullable<ManagerMessage['command']>, 'requestId'>;

export class AgentSession {
  revision = 0;
  ackedRevision = 0;
  private readonly ackWaiters = new Map<number, Waiter<void>[]>();
  private readonly commandWaiters = new Map<string, Waiter<CommandResult>>();
  /** Store revision each unanswered push was built at (replicas wait for it: replicas/). */
  private readonly storeRevisions = new Map<number, number>();
  /** Called with the highest store revision an acknowledgement answered. */
  onAcked: ((storeRevision: number) => void) | undefined;
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

  /** Sends a desired state (built for the next revision) and resolves when the agent acknowledges it. */
  push(build: (revision: number) => DesiredState, timeoutMs: number, storeRevision = 0): Promise<void> {
    const revision = ++this.revision;
    if (storeRevision) this.storeRevisions.set(revision, storeRevision);
    const desired = build(revision);
    const acked = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.ackWaiters.delete(revision);
        reject(deadlineExceeded(`agent '${this.agentId}' did not acknowledge desired state ${revision} within ${timeoutMs} ms`));
      }, timeoutMs);
      const list = this.ackWaiters.get(revision) ?? [];
      list.push({ resolve, reject, timer });
      this.ackWaiters.set(revision, list);
    });
    this.send({ desired });
    return acked;
  }

  /** The agent converged to `revision`: every push up to it is answered. */
  acknowledge(revision: number): void {
    if (revision > this.revision) return; // not a revision of this stream's (never sent on it)
    this.ackedRevision = Math.max(this.ackedRevision, revision);
    let storeRev = 0;
    for (const [rev, sr] of this.storeRevisions)
      if (rev <= revision) {
        storeRev = Math.max(storeRev, sr);
        this.storeRevisions.delete(rev);
      }
    if (storeRev) this.onAcked?.(storeRev);
    for (const [rev, ws] of this.ackWaiters) {
      if (rev > revision) continue;
      this.ackWaiters.delete(rev);
      for (const w of ws) {
        clearTimeout(w.timer);
        w.resolve();
      }
    }
  }

  command(requestId: string, cmd: AgentCommand, timeoutMs: number): Promise<CommandResult> {
    return new Promise<CommandResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.commandWaiters.delete(requestId);
        reject(deadlineExceeded(`agent '${this.agentId}' did not answer command ${requestId}`));
      }, timeoutMs);
      this.commandWaiters.set(requestId, { resolve, reject, timer });
      this.send({ command: { requestId, ...cmd } });
    });
  }

  /** A result for a command nobody waits for (answered late, or never sent) is ignored. */
  result(r: CommandResult): void {
    const w = this.commandWaiters.get(r.requestId);
    if (!w) return;
    this.commandWaiters.delete(r.requestId);
    clearTimeout(w.timer);
    w.resolve(r);
  }

  /** Fails everything still waiting: the stream is gone. */
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

/** The connected agents, by id, and the request/response traffic the manager starts on their streams. */
export class Sessions {
  private readonly byAgent = new Map<string, AgentSession>();
  private commandSeq = 0;

  constructor(
    private readonly managerId: string,
    private readonly ackTimeoutMs: number,
    private readonly desired: (agentId: string, revision: number) => DesiredState,
    private readonly storeRevision: () => number = () => 0,
  ) {}

  get(agentId: string): AgentSession | undefined {
    return this.byAgent.get(agentId);
  }
  has(agentId: string): boolean {
    return this.byAgent.has(agentId);
  }
  ids(): string[] {
    return [...this.byAgent.keys()];
  }
  all(): AgentSession[] {
    return [...this.byAgent.values()];
  }
  add(s: AgentSession): void {
    this.byAgent.set(s.agentId, s);
  }
  /** Removes `s` unless a newer session of the same agent replaced it; true when removed. */
  remove(s: AgentSession): boolean {
    if (this.byAgent.get(s.agentId) !== s) return false;
    this.byAgent.delete(s.agentId);
    return true;
  }
  clear(): void {
    this.byAgent.clear();
  }

  /** Sends the agent its desired state and waits for the acknowledgement. */
  push(agentId: string): Promise<void> {
    const s = this.byAgent.get(agentId);
    if (!s) return Promise.reject(unavailable(`agent '${agentId}' is not connected`));
    return s.push((rev) => this.desired(agentId, rev), this.ackTimeoutMs, this.storeRevision());
  }

  command(s: AgentSession, cmd: AgentCommand): Promise<CommandResult> {
    return s.command(`${this.managerId}-${++this.commandSeq}`, cmd, this.ackTimeoutMs);
  }
}
