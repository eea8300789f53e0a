/**
 * Replica coordination in etcd, beside the store's prefix (`/macsec/` → `/macsec.live/`), every
 * key under this replica's lease so that what a dead replica held vanishes within the TTL:
 *   owners/<agent>          {replica, sinceMs, peer}   who serves the agent's stream
 *   status/<agent>          {ports: {id: PortStatus}}  its ports' statuses (counters left out)
 *   acks/<agent>            {revision}                 store revision the agent acknowledged
 *   cmds/<replica>/<id>     {agentId, cmd}             a command for the owner to run
 *   results/<id>            CommandResult              the owner's answer
 * Every replica reads the prefix once, then follows it with a watch (reloading after a broken one).
 */
import type { Etcd3, IKeyValue, Lease, Watcher } from 'etcd3';
import { CommandResult } from '../../control/gen/macsec/v1/agent.js';
import { PortStatus } from '../../control/gen/macsec/v1/types.js';
import { deadlineExceeded, unavailable } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import type { AgentCommand } from '../sessions.js';
import type { RemoteOwner, Replicas } from './replicas.js';

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
const signature = (s: PortStatus) => JSON.stringify(PortStatus.toJSON(shareable(s)));

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

  private readonly owners = new Map<string, RemoteOwner>();
  private readonly remoteStatus = new Map<string, Map<string, PortStatus>>();
  private readonly ackRev = new Map<string, number>();
  private readonly ackWaiters = new Map<string, Set<Waiter>>();
  private readonly resultWaiters = new Map<string, (r: CommandResult) => void>();
  /** Agents whose streams this replica serves, and what it last shared of them. */
  private readonly mine = new Map<string, { peer: string; sinceMs: number; shared: Map<string, string> }>();
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
    await r.newLease();
    await r.reload();
    return r;
  }

  private key = {
    owner: (a: string) => `${this.prefix}owners/${a}`,
    status: (a: string) => `${this.prefix}status/${a}`,
    ack: (a: string) => `${this.prefix}acks/${a}`,
    cmd: (replica: string, id: string) => `${this.prefix}cmds/${replica}/${id}`,
    result: (id: string) => `${this.prefix}results/${id}`,
  };

  private async newLease(): Promise<void> {
    const lease = this.client.lease(this.ttlS, { autoKeepAlive: true });
    this.leaseId = await lease.grant();
    this.lease = lease;
    lease.on('lost', (e) => {
      if (this.closed || lease !== this.lease) return;
      // Partitioned from etcd for longer than the TTL: every record of ours is gone; write them again.
      this.log.warn('replica lease lost; renewing it and recording our agents again', { error: e.message.slice(0, 200) });
      void this.newLease()
        .then(() => this.rewriteMine())
        .catch((err: Error) => this.log.error('replica lease not renewed', { error: err.message.slice(0, 200) }));
    });
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
      m.shared.clear();
      this.logged(this.put(this.key.owner(a), JSON.stringify({ replica: this.id, sinceMs: m.sinceMs, peer: m.peer })), 'owner record');
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
    for (const kv of r.kvs) this.apply(kv, false);
    for (const a of new Set([...this.owners.keys(), ...this.mine.keys()])) this.changed(a);
    this.watch(Number(r.header.revision));
  }

  private watch(rev: number): void {
    const w0 = this.watcher;
    this.watcher = undefined;
    if (w0) void w0.cancel().catch(() => {});
    if (this.closed) return;
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
        // After a reconnect etcd3 resumes from its own revision: read everything again.
        w.on('connected', () => void this.reload().catch(() => {}));
        w.on('error', () => setTimeout(() => void this.reload().catch(() => {}), 1000).unref());
      })
      .catch(() => setTimeout(() => void this.reload().catch(() => {}), 1000).unref());
  }

  private apply(kv: IKeyValue, deleted: boolean): void {
    const rest = kv.key.toString().slice(this.prefix.length);
    const slash = rest.indexOf('/');
    const kind = rest.slice(0, slash);
    const id = rest.slice(slash + 1);
    try {
      const v = deleted ? undefined : JSON.parse(kv.value.toString());
      if (kind === 'owners') {
        if (!v || v.replica === this.id) {
          if (this.owners.delete(id) || v === undefined) this.changed(id);
          if (!v && this.mine.has(id)) this.rewriteMine(); // ours, deleted by a replica that lost it
        } else {
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
    let changed = statuses.length !== m.shared.size;
    const sigs = new Map<string, string>();
    for (const [pid, s] of statuses) {
      const sig = signature(s);
      sigs.set(pid, sig);
      if (m.shared.get(pid) !== sig) changed = true;
    }
    if (!changed) return;
    m.shared = sigs;
    const ports = Object.fromEntries(statuses.map(([pid, s]) => [pid, PortStatus.toJSON(shareable(s))]));
    this.logged(this.put(this.key.status(agentId), JSON.stringify({ ports })), 'status record');
  }

  acked(agentId: string, revision: number): void {
    if (!revision || !this.mine.has(agentId)) return;
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

  onRemoteChange(fn: (agentId: string) => void): void {
    this.changeListeners.push(fn);
  }

  /** Ends the watch and revokes the lease (our records go at once: agents move without waiting for the TTL). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const w = this.watcher;
    if (w) void w.cancel().catch(() => {});
    for (const set of this.ackWaiters.values()) for (const w2 of set) clearTimeout(w2.timer);
    await Promise.race([this.lease.revoke().catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())]);
  }
}
