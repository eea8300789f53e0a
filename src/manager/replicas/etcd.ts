/**
 * Replica coordination in etcd, beside the store's prefix (`/macsec/` → `/macsec.live/`), every
 * key under this replica's lease so that what a dead replica held vanishes within the TTL:
 *   owners/<agent>          {replica, sinceMs, peer}   who serves the agent's stream
 *   status/<agent>          {ports: {id: PortStatus}}  its ports' statuses (counters left out)
 *   acks/<agent>            {revision}                 store revision the agent acknowledged
 *   cmds/<replica>/<id>     {agentId, cmd}             a command for the owner to run
 *   results/<id>            CommandResult              the owner's answer
 *   members/<replica>       {sinceMs}                  the replica is alive
 *   leader/…                etcd election              the one replica doing singleton work
 * Every replica reads the prefix once, then follows it with a watch (reloading after a broken one).
 * The leader prunes the shared event log (etcd-events.ts) and reports AGENT_DOWN for the agents
 * a dead replica served that no other replica took (a replica reports its own agents' ends).
 */
import type { Campaign, Etcd3, IKeyValue, Lease, Watcher } from 'etcd3';
import { Event, EventType } from '../../control/gen/macsec/v1/manager.js';
import { CommandResult } from '../../control/gen/macsec/v1/agent.js';
import { PortStatus } from '../../control/gen/macsec/v1/types.js';
import { deadlineExceeded, unavailable } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import type { AgentCommand } from '../sessions.js';
import { EtcdEventLog } from './etcd-events.js';
import type { RemoteOwner, Replicas } from './replicas.js';

/** Events the shared log keeps (as a single manager's replay buffer does). */
const EVENTS_KEPT = 10_000;
const PRUNE_EVERY_MS = 10_000;
const RECORDS = new Set(['owners', 'status', 'acks', 'cmds', 'results', 'members']);

export interface EtcdReplicasOptions {
  client: Etcd3;
  /** The store's prefix (ends with '/'). */
  storePrefix: string;
  id: string;
  /** Lease TTL in seconds: a dead replica's agents are unowned this long after its death at most. */
  ttlS?: number;
  log?: Logger;
}

interface Waiter {
  revision: number;
  resolve(): void;
  timer: NodeJS.Timeout;
}

/** Status without counters: what other replicas show and evaluate channels on. */
const shareable = (s: PortStatus): PortStatus => ({ ...s, counters: [], updatedMs: 0 });
/** What makes a status worth writing again: not the MKPDU counters, which move with every hello. */
const signature = (s: PortStatus) => JSON.stringify(PortStatus.toJSON({ ...shareable(s), mkpdusSent: 0, mkpdusReceived: 0, mkpdusDropped: 0, icvFailures: 0 }));

export class EtcdReplicas implements Replicas {
  readonly id: string;
  private readonly client: Etcd3;
  private readonly prefix: string;
  private readonly ttlS: number;
  private readonly log: Logger;
  private lease!: Lease;
  private leaseId = '';
  private watcher: Watcher | undefined;
  private closed = false;
  eventLog!: EtcdEventLog;
  private readonly members = new Set<string>();
  private campaign: Campaign | undefined;
  /** This replica won the election (does the singleton work). */
  leader = false;
  private pruneTimer: NodeJS.Timeout | undefined;
  /** Agents left unowned by a replica that died, not yet reported down (by the leader). */
  private readonly orphaned = new Map<string, string>();

  private readonly owners = new Map<string, RemoteOwner>();
  private readonly remoteStatus = new Map<string, Map<string, PortStatus>>();
  private readonly ackRev = new Map<string, number>();
  private readonly ackWaiters = new Map<string, Set<Waiter>>();
  private readonly resultWaiters = new Map<string, (r: CommandResult) => void>();
  /** Agents whose streams this replica serves, and what it last shared of them. */
  /** Agents connected here: what was last written for them (written again under a new lease). */
  private readonly mine = new Map<string, { peer: string; sinceMs: number; shared: Map<string, string>; status?: string; ackRev?: number }>();
  private renewing = false;
  private runCommand: ((agentId: string, cmd: AgentCommand) => Promise<CommandResult>) | undefined;
  private readonly changeListeners: Array<(agentId: string) => void> = [];
  private commandSeq = 0;

  private constructor(o: EtcdReplicasOptions) {
    this.id = o.id;
    this.client = o.client;
    this.prefix = `${o.storePrefix.slice(0, -1)}.live/`;
    this.ttlS = o.ttlS ?? 5;
    this.log = o.log ?? silentLogger;
  }

  static async start(o: EtcdReplicasOptions): Promise<EtcdReplicas> {
    const r = new EtcdReplicas(o);
    r.eventLog = await EtcdEventLog.start({ client: o.client, storePrefix: o.storePrefix, id: o.id, log: r.log });
    await r.newLease();
    await r.reload();
    r.campaignForLeader();
    return r;
  }

  // ------------------------------------------------------------------ singleton work

  private campaignForLeader(): void {
    if (this.closed) return;
    const c = this.client.namespace(this.prefix).election('leader', this.ttlS).campaign(this.id);
    this.campaign = c;
    c.on('elected', () => {
      if (c !== this.campaign || this.closed) return;
      this.leader = true;
      this.log.info('elected leader of the manager replicas (singleton work runs here)');
      for (const [agentId, replica] of this.orphaned) this.reportOrphaned(agentId, replica);
      for (const fn of this.leaderListeners) fn();
      this.pruneTimer = setInterval(() => {
        this.eventLog.prune(EVENTS_KEPT).catch((e: Error) => this.log.warn('shared event log not pruned', { error: e.message.slice(0, 200) }));
      }, PRUNE_EVERY_MS);
      this.pruneTimer.unref();
    });
    c.on('error', (e: Error) => {
      if (c !== this.campaign) return;
      if (this.leader) this.log.warn('no longer leader of the manager replicas', { error: e.message.slice(0, 200) });
      this.leader = false;
      clearInterval(this.pruneTimer);
      if (!this.closed) setTimeout(() => this.campaignForLeader(), 1000).unref();
    });
  }

  /** The agent's owner record went with its replica's lease: once that replica is gone too, it is down. */
  private ownerGone(agentId: string, replica: string): void {
    setTimeout(() => {
      if (this.closed || this.members.has(replica) || this.owners.has(agentId) || this.mine.has(agentId)) return;
      this.orphaned.set(agentId, replica);
      if (this.leader) this.reportOrphaned(agentId, replica);
    }, 300).unref();
  }

  private reportOrphaned(agentId: string, replica: string): void {
    this.orphaned.delete(agentId);
    if (this.owners.has(agentId) || this.mine.has(agentId)) return;
    this.eventLog.append(
      Event.fromPartial({
        type: EventType.EVENT_TYPE_AGENT_DOWN,
        timeMs: Date.now(),
        agentId,
        message: `agent ${agentId} disconnected: its manager replica ${replica} is gone and it is connected to no other`,
      }),
    );
  }

  private key = {
    owner: (a: string) => `${this.prefix}owners/${a}`,
    status: (a: string) => `${this.prefix}status/${a}`,
    ack: (a: string) => `${this.prefix}acks/${a}`,
    cmd: (replica: string, id: string) => `${this.prefix}cmds/${replica}/${id}`,
    result: (id: string) => `${this.prefix}results/${id}`,
    member: (id: string) => `${this.prefix}members/${id}`,
  };

  private async newLease(): Promise<void> {
    const lease = this.client.lease(this.ttlS, { autoKeepAlive: true });
    try {
      const id = await lease.grant();
      await this.client.kv.put({ key: Buffer.from(this.key.member(this.id)), value: Buffer.from(JSON.stringify({ sinceMs: Date.now() })), lease: id });
      this.leaseId = id;
    } catch (e) {
      lease.release();
      throw e;
    }
    this.lease = lease;
    lease.on('lost', (e) => {
      if (this.closed || lease !== this.lease) return;
      // Partitioned from etcd for longer than the TTL: every record of ours is gone; write them again.
      this.log.warn('replica lease lost; renewing it and recording our agents again', { error: e.message.slice(0, 200) });
      this.renewLease();
    });
  }

  /** Gets a new lease, retrying each second until etcd grants one (writes meanwhile fail and are written again after). */
  private renewLease(): void {
    if (this.renewing || this.closed) return;
    this.renewing = true;
    const attempt = () => {
      if (this.closed) return;
      this.newLease().then(
        () => {
          this.renewing = false;
          this.log.info('replica lease renewed; our agents are recorded again', { agents: this.mine.size });
          this.rewriteMine();
        },
        (err: Error) => {
          this.log.warn('replica lease not renewed yet; retrying in 1 s', { error: err.message.slice(0, 200) });
          setTimeout(attempt, 1000).unref();
        },
      );
    };
    attempt();
  }

  private put(key: string, value: string): Promise<unknown> {
    return this.client.kv.put({ key: Buffer.from(key), value: Buffer.from(value), lease: this.leaseId });
  }

  private logged(p: Promise<unknown>, what: string): void {
    p.catch((e: Error) => {
      if (!this.closed) this.log.warn(`replica coordination: ${what} failed`, { error: e.message.slice(0, 200) });
    });
  }

  private rewriteMine(): void {
    for (const [a, m] of this.mine) {
      this.logged(this.put(this.key.owner(a), JSON.stringify({ replica: this.id, sinceMs: m.sinceMs, peer: m.peer })), 'owner record');
      if (m.status) this.logged(this.put(this.key.status(a), m.status), 'status record');
      if (m.ackRev) this.logged(this.put(this.key.ack(a), JSON.stringify({ revision: m.ackRev })), 'acknowledgement record');
    }
  }

  // ------------------------------------------------------------------ reading the prefix

  private end(): Buffer {
    const p = this.prefix;
    return Buffer.from(p.slice(0, -1) + String.fromCharCode(p.charCodeAt(p.length - 1) + 1));
  }

  private async reload(): Promise<void> {
    const r = await this.client.kv.range({ key: Buffer.from(this.prefix), range_end: this.end() });
    this.owners.clear();
    this.remoteStatus.clear();
    this.members.clear();
    for (const kv of r.kvs) this.apply(kv, false);
    for (const a of new Set([...this.owners.keys(), ...this.mine.keys()])) this.changed(a);
    this.watch(Number(r.header.revision));
  }

  private watch(rev: number): void {
    const w0 = this.watcher;
    this.watcher = undefined;
    if (w0) void w0.cancel().catch(() => {});
    if (this.closed) return;
    const again = () => {
      if (!this.closed) setTimeout(() => void this.reload().catch(again), 1000).unref();
    };
    void this.client
      .watch()
      .prefix(this.prefix)
      .startRevision(String(rev + 1))
      .create()
      .then((w) => {
        if (this.closed) return void w.cancel().catch(() => {});
        this.watcher = w;
        w.on('put', (kv) => this.apply(kv, false));
        w.on('delete', (kv) => this.apply(kv, true));
        w.on('disconnected', (e: Error) => this.log.warn('replica records: etcd watch disconnected', { error: e.message.slice(0, 200) }));
        // After a reconnect etcd3 resumes from its own revision: read everything again.
        w.on('connected', () => {
          this.log.info('replica records: etcd watch reconnected; reading them again');
          this.reload().catch(again);
        });
        w.on('error', (e: Error) => {
          this.log.warn('replica records: etcd watch failed; reading them again', { error: e.message.slice(0, 200) });
          again();
        });
      })
      .catch(again);
  }

  private apply(kv: IKeyValue, deleted: boolean): void {
    const rest = kv.key.toString().slice(this.prefix.length);
    const slash = rest.indexOf('/');
    const kind = rest.slice(0, slash);
    const id = rest.slice(slash + 1);
    if (!RECORDS.has(kind)) return; // the election's keys
    try {
      const v = deleted ? undefined : JSON.parse(kv.value.toString());
      if (kind === 'members') {
        if (v) this.members.add(id);
        else this.members.delete(id);
      } else if (kind === 'owners') {
        if (!v || v.replica === this.id) {
          const ex = this.owners.get(id);
          if (!v && ex) this.ownerGone(id, ex.replica);
          else if (v) this.orphaned.delete(id);
          if (this.owners.delete(id) || v === undefined) this.changed(id);
          if (!v && this.mine.has(id)) this.rewriteMine(); // ours, deleted by a replica that lost it
        } else {
          this.orphaned.delete(id);
          this.owners.set(id, { replica: String(v.replica), sinceMs: Number(v.sinceMs), peer: String(v.peer ?? '') });
          this.changed(id);
        }
      } else if (kind === 'status') {
        if (!v) this.remoteStatus.delete(id);
        else if (!this.mine.has(id))
          this.remoteStatus.set(id, new Map(Object.entries(v.ports as Record<string, unknown>).map(([pid, s]) => [pid, PortStatus.fromJSON(s)])));
        this.changed(id);
      } else if (kind === 'acks') {
        if (!v) return;
        const rev = Number(v.revision);
        this.ackRev.set(id, Math.max(this.ackRev.get(id) ?? 0, rev));
        for (const w of this.ackWaiters.get(id) ?? []) if (rev >= w.revision) w.resolve();
      } else if (kind === 'cmds' && v && id.startsWith(`${this.id}/`)) {
        void this.runForwarded(id.slice(this.id.length + 1), kv.key, v.agentId, v.cmd);
      } else if (kind === 'results' && v) {
        this.resultWaiters.get(id)?.(CommandResult.fromJSON(v));
      }
    } catch (e) {
      this.log.warn('replica coordination: undecodable record ignored', { key: rest.slice(0, 120), error: (e as Error).message.slice(0, 100) });
    }
  }

  private changed(agentId: string): void {
    for (const l of this.changeListeners) l(agentId);
  }

  private async runForwarded(id: string, cmdKey: Buffer, agentId: string, cmd: AgentCommand): Promise<void> {
    let result: CommandResult;
    try {
      if (!this.runCommand || !this.mine.has(agentId)) throw unavailable(`agent '${agentId}' is not connected to replica ${this.id}`);
      result = await this.runCommand(agentId, cmd);
    } catch (e) {
      result = CommandResult.fromPartial({ requestId: id, ok: false, error: (e as Error).message });
    }
    this.logged(
      this.client.kv.txn({
        success: [
          { request_put: { key: Buffer.from(this.key.result(id)), value: Buffer.from(JSON.stringify(CommandResult.toJSON(result))), lease: this.leaseId } },
          { request_delete_range: { key: cmdKey } },
        ],
      }),
      'command result',
    );
  }

  // ------------------------------------------------------------------ Replicas

  own(agentId: string, peer: string): void {
    const m = { peer, sinceMs: Date.now(), shared: new Map<string, string>() };
    this.mine.set(agentId, m);
    this.owners.delete(agentId);
    this.remoteStatus.delete(agentId);
    this.logged(this.put(this.key.owner(agentId), JSON.stringify({ replica: this.id, sinceMs: m.sinceMs, peer })), 'owner record');
  }

  disown(agentId: string): void {
    if (!this.mine.delete(agentId)) return;
    // Delete the owner and status records only while they are still ours (the agent may already be at another replica).
    const owner = this.key.owner(agentId);
    this.logged(
      this.client.kv.range({ key: Buffer.from(owner) }).then((r) => {
        const kv = r.kvs[0];
        if (!kv || JSON.parse(kv.value.toString()).replica !== this.id) return;
        return this.client.kv.txn({
          compare: [{ key: Buffer.from(owner), target: 'Mod', result: 'Equal', mod_revision: kv.mod_revision }],
          success: [{ request_delete_range: { key: Buffer.from(owner) } }, { request_delete_range: { key: Buffer.from(this.key.status(agentId)) } }],
        });
      }),
      'owner release',
    );
  }

  ownerOf(agentId: string): RemoteOwner | undefined {
    return this.mine.has(agentId) ? undefined : this.owners.get(agentId);
  }

  statusOf(portId: string): PortStatus | undefined {
    const agentId = portId.slice(0, portId.indexOf('/'));
    return this.owners.has(agentId) ? this.remoteStatus.get(agentId)?.get(portId) : undefined;
  }

  shareStatuses(agentId: string, statuses: Array<[string, PortStatus]>): void {
    const m = this.mine.get(agentId);
    if (!m) return;
    const value = this.statusRecord(m, statuses);
    if (value) this.logged(this.put(this.key.status(agentId), value), 'status record');
  }

  /** The status record to write for these statuses, or undefined when nothing worth sharing changed. */
  private statusRecord(m: { shared: Map<string, string>; status?: string }, statuses: Array<[string, PortStatus]>): string | undefined {
    let changed = statuses.length !== m.shared.size;
    const sigs = new Map<string, string>();
    for (const [pid, s] of statuses) {
      const sig = signature(s);
      sigs.set(pid, sig);
      if (m.shared.get(pid) !== sig) changed = true;
    }
    if (!changed) return undefined;
    m.shared = sigs;
    const ports = Object.fromEntries(statuses.map(([pid, s]) => [pid, PortStatus.toJSON(shareable(s))]));
    m.status = JSON.stringify({ ports });
    return m.status;
  }

  acked(agentId: string, revision: number, statuses: Array<[string, PortStatus]>): void {
    const m = this.mine.get(agentId);
    if (!revision || !m) return;
    m.ackRev = Math.max(m.ackRev ?? 0, revision);
    const status = this.statusRecord(m, statuses);
    if (status) {
      // one transaction, the statuses first: a replica applies them before it sees the ack
      const put = (key: string, value: string) => ({ request_put: { key: Buffer.from(key), value: Buffer.from(value), lease: this.leaseId } });
      this.logged(
        this.client.kv.txn({ success: [put(this.key.status(agentId), status), put(this.key.ack(agentId), JSON.stringify({ revision: m.ackRev }))] }),
        'acknowledgement record',
      );
      return;
    }
    this.logged(this.put(this.key.ack(agentId), JSON.stringify({ revision })), 'acknowledgement record');
  }

  waitAck(agentId: string, revision: number, timeoutMs: number): Promise<void> {
    if ((this.ackRev.get(agentId) ?? 0) >= revision) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let set = this.ackWaiters.get(agentId);
      if (!set) this.ackWaiters.set(agentId, (set = new Set()));
      const w: Waiter = {
        revision,
        resolve: () => {
          clearTimeout(w.timer);
          set.delete(w);
          resolve();
        },
        timer: setTimeout(() => {
          set.delete(w);
          reject(deadlineExceeded(`agent '${agentId}' did not acknowledge store revision ${revision} within ${timeoutMs} ms (at any replica)`));
        }, timeoutMs),
      };
      set.add(w);
    });
  }

  async command(agentId: string, cmd: AgentCommand, timeoutMs: number): Promise<CommandResult> {
    const owner = this.ownerOf(agentId);
    if (!owner) throw unavailable(`agent '${agentId}' is not connected`);
    const id = `${this.id}-${Date.now().toString(36)}-${++this.commandSeq}`;
    let timer: NodeJS.Timeout | undefined;
    const answered = new Promise<CommandResult>((resolve, reject) => {
      timer = setTimeout(() => {
        this.resultWaiters.delete(id);
        reject(deadlineExceeded(`agent '${agentId}' did not answer command ${id} through replica ${owner.replica}`));
      }, timeoutMs);
      this.resultWaiters.set(id, (r) => {
        clearTimeout(timer);
        this.resultWaiters.delete(id);
        resolve(r);
      });
    });
    try {
      await this.put(this.key.cmd(owner.replica, id), JSON.stringify({ agentId, cmd }));
      return await answered;
    } finally {
      clearTimeout(timer);
      this.resultWaiters.delete(id);
      this.logged(this.client.kv.deleteRange({ key: Buffer.from(this.key.result(id)) }), 'command clean-up');
    }
  }

  onCommand(run: (agentId: string, cmd: AgentCommand) => Promise<CommandResult>): void {
    this.runCommand = run;
  }

  private readonly leaderListeners: Array<() => void> = [];
  onLeader(fn: () => void): void {
    this.leaderListeners.push(fn);
  }

  onRemoteChange(fn: (agentId: string) => void): void {
    this.changeListeners.push(fn);
  }

  /** Ends the watch and revokes the lease (our records go at once: agents move without waiting for the TTL). */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.eventLog.close();
    this.closed = true;
    clearInterval(this.pruneTimer);
    const c = this.campaign;
    this.campaign = undefined;
    if (c) await Promise.race([c.resign().catch(() => {}), new Promise((r) => setTimeout(r, 1000).unref())]);
    const w = this.watcher;
    if (w) void w.cancel().catch(() => {});
    for (const set of this.ackWaiters.values()) for (const w2 of set) clearTimeout(w2.timer);
    await Promise.race([this.lease.revoke().catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())]);
  }
}
