/**
 * Store on an etcd v3 cluster (etcd 3.4+, npm etcd3), for managers that share one desired state.
 * The key layout, the guards and the key file are documented in docs/etcd-store.md.
 *
 * Reads are served from an in-memory view: loaded in pages at one revision on open, then kept
 * current by a watch from the next revision. Writes update the view at once (the Store interface
 * is synchronous, like SQLite's) and are queued; `flush()` resolves once everything queued before
 * it is committed. A write is committed as an etcd transaction guarded by the revision the view
 * had when the change was made: ports by their own key, channels all by one key (`meta/channels`,
 * bumped by every channel write, so two replicas can never both put a port into two channels or
 * create one name twice). When another replica changed the same thing first, the guard fails:
 * `flush()` rejects with `aborted` (the operator retries), and the view is reloaded from etcd.
 * Agent records (last seen, interfaces) are unguarded: the replica owning the agent's stream is
 * their only writer. A store transaction is one etcd transaction.
 *
 * Channels (CAKs, key chains) are sealed with the replicas' keyring (keyring.ts): etcd stores
 * values in clear, on disk and in its history.
 */
import { randomUUID } from 'node:crypto';
import { Etcd3, type IKeyValue, type IOptions, type IRequestOp, type ICompare, type Watcher } from 'etcd3';
import { MacsecError } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import { channelOfPort } from '../desired.js';
import type { Endpoint } from '../model.js';
import { Keyring } from './keyring.js';
import type { Store, StoreChange, StoredAgent, StoredChannel, StoredChannelKey, StoredPort } from './store.js';

export interface EtcdStoreOptions {
  /** etcd client URLs: http://host:port or https://host:port (TLS then needs `tls.ca`). */
  endpoints: string[];
  /** Key prefix of this manager store in etcd (default /macsec/); ends with '/'. */
  prefix?: string;
  tls?: { ca: Buffer; cert?: Buffer; key?: Buffer };
  keyring: Keyring;
  /** Initialise an empty prefix (else a prefix without a store is an error, as with SQLite). */
  create?: boolean;
  /** Bound of one etcd call (default 5000 ms). */
  timeoutMs?: number;
  log?: Logger;
}

/** Values a page of the initial load and of a resync reads at once. */
const PAGE = 500;
/** etcd refuses transactions of more than 128 operations (--max-txn-ops default). */
const MAX_BATCH_OPS = 120;
/** Event sequence numbers one replica reserves in etcd at a time. */
const SEQ_BLOCK = 10_000;

type Base = number | 'chain';
interface Op {
  key: string;
  /** undefined: delete */
  value: string | undefined;
  base: Base;
  guarded: boolean;
  /** A channel's write: the agents of its endpoints before and after (whose desired state it changes). */
  agents?: string[];
}
interface Unit {
  ops: Op[];
  /** Undoes the unit's changes of the view (applied when etcd is unreachable). */
  undo: Undo[];
  resolve: () => void;
  reject: (e: Error) => void;
  done: Promise<void>;
}
interface Undo {
  undo: () => void;
}

// Key material is converted without copies left behind in Node's shared buffer pool.
const hexOf = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
function bytes(h: string): Uint8Array {
  const pooled = Buffer.from(h, 'hex');
  const out = new Uint8Array(pooled);
  pooled.fill(0);
  return out;
}

function unit(ops: Op[], undo: Undo[] = []): Unit {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  done.catch(() => {}); // a caller that never flushes must not cause an unhandled rejection
  return { ops, undo, resolve, reject, done };
}

/** Parses `etcd://h1:p1,h2:p2` (or `etcds://` for TLS) into client URLs. */
export function etcdEndpoints(spec: string): string[] {
  const m = /^(etcds?):\/\/(.+)$/.exec(spec);
  if (!m) throw new MacsecError('config_invalid', `--store: expected etcd://host:port[,host:port...] or etcds://... (got '${spec.slice(0, 64)}')`);
  const scheme = m[1] === 'etcds' ? 'https' : 'http';
  return m[2]!.split(',').map((hp, i) => {
    if (!/^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(hp))
      throw new MacsecError('config_invalid', `--store: endpoint ${i + 1} is not host:port`);
    return `${scheme}://${hp}`;
  });
}

export class EtcdStore implements Store {
  private readonly client: Etcd3;
  private readonly prefix: string;
  private readonly keyring: Keyring;
  private readonly timeoutMs: number;
  private readonly log: Logger;
  private watcher: Watcher | undefined;
  private closed = false;

  private agents = new Map<string, StoredAgent>();
  private ports = new Map<string, StoredPort>();
  private channels = new Map<string, StoredChannel>();
  /** Keys whose value in etcd this replica cannot read (see decodeInto). */
  private readonly undecodable = new Set<string>();
  /** Key id each channel's value is sealed with. */
  private readonly sealedWith = new Map<string, string>();
  /** Mod revision of every key the view holds. */
  private modRev = new Map<string, number>();
  /** Revision of the last change applied per key, deletes included (drops stale watch events). */
  private lastRev = new Map<string, number>();
  /** Keys with a local write not yet committed (watch events on them wait for the outcome). */
  private localOps = new Map<string, number>();
  private pending: Unit[] = [];
  private inflight: Unit[] | undefined;
  private building: { ops: Op[]; undo: Undo[] } | undefined;
  private commitTimer: NodeJS.Immediate | undefined;
  private listeners: Array<(c: StoreChange) => void> = [];
  private seqBlocks: Array<[next: number, limit: number]> = [];
  private seqReserving = false;
  storeId = '';
  readonly shared = true;
  /** Highest etcd revision whose changes of this prefix the view holds. */
  private viewRev = 0;

  private constructor(opts: EtcdStoreOptions) {
    const prefix = opts.prefix ?? '/macsec/';
    if (!prefix.endsWith('/') || prefix.length > 128) throw new MacsecError('config_invalid', `--etcd-prefix: must end with '/' (at most 128 characters)`);
    this.prefix = prefix;
    this.keyring = opts.keyring;
    // Long enough to ride out a member's death (etcd3 moves to another member after 4–6 s here).
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.log = opts.log ?? silentLogger;
    const tlsHosts = opts.endpoints.some((e) => e.startsWith('https://'));
    if (tlsHosts && !opts.tls) throw new MacsecError('config_invalid', '--etcd-ca: required for etcds:// endpoints');
    // A dead member must fail its dial well within a call's timeout, so that the client's retry
    // on another member (etcd3's default policy) still answers in time.
    const o: IOptions = { hosts: opts.endpoints, dialTimeout: Math.min(2000, Math.floor(this.timeoutMs / 3)) };
    if (opts.tls) o.credentials = { rootCertificate: opts.tls.ca, privateKey: opts.tls.key, certChain: opts.tls.cert };
    this.client = new Etcd3(o);
  }

  /** The etcd client, shared with the replica coordination (replicas/etcd.ts). */
  get etcd(): Etcd3 {
    return this.client;
  }
  get keyPrefix(): string {
    return this.prefix;
  }
  revision(): number {
    return this.viewRev;
  }

  /** Connects, loads the view and starts the watch. */
  static async open(opts: EtcdStoreOptions): Promise<EtcdStore> {
    const s = new EtcdStore(opts);
    try {
      await s.init(!!opts.create);
    } catch (e) {
      s.client.close();
      if (e instanceof MacsecError) throw e;
      throw new MacsecError('unavailable', `etcd at ${opts.endpoints.join(',')}: ${(e as Error).message.slice(0, 200)}`, { cause: e });
    }
    return s;
  }

  private k = {
    storeId: () => `${this.prefix}meta/store-id`,
    seq: () => `${this.prefix}meta/event-seq`,
    channelsGuard: () => `${this.prefix}meta/channels`,
    changed: () => `${this.prefix}meta/changed`,
    agent: (id: string) => `${this.prefix}agents/${id}`,
    port: (id: string) => `${this.prefix}ports/${id}`,
    channel: (id: string) => `${this.prefix}channels/${id}`,
  };

  private call<T>(p: Promise<T>, what: string): Promise<T> {
    let t: NodeJS.Timeout;
    return Promise.race([
      p,
      new Promise<T>((_, rej) => {
        t = setTimeout(() => rej(new MacsecError('unavailable', `etcd: ${what} timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
      }),
    ]).finally(() => clearTimeout(t));
  }

  private async init(create: boolean): Promise<void> {
    const idKey = this.k.storeId();
    if (create) {
      await this.call(
        this.client.kv.txn({
          compare: [{ key: Buffer.from(idKey), target: 'Create', result: 'Equal', create_revision: 0 }],
          success: [{ request_put: { key: Buffer.from(idKey), value: Buffer.from(randomUUID()) } }],
        }),
        'initialising the store',
      );
    }
    const rev = await this.load();
    if (!this.storeId) {
      throw new MacsecError(
        'store_missing',
        `etcd prefix '${this.prefix}' holds no manager store; refusing to start with an empty desired state (that would stop every running port). ` +
          'Pass --init-db to create one, or check --etcd-prefix.',
      );
    }
    await this.reserveSeqBlock();
    await this.reserveSeqBlock(); // one spare
    this.startWatch(rev);
    await this.reseal();
  }

  /** Channels sealed with an older key of the ring are written again, sealed with the first. */
  private async reseal(): Promise<void> {
    const stale = [...this.channels.keys()].filter((id) => this.sealedWith.get(id) !== this.keyring.activeId);
    if (!stale.length) return;
    for (const id of stale) this.putChannel(this.channels.get(id)!);
    try {
      await this.flush();
      this.log.info('channels re-sealed with the first key of the key ring', { channels: stale.length, key: this.keyring.activeId });
    } catch (e) {
      // another replica re-sealed (or wrote) them first: the view was reloaded
      this.log.info('re-sealing left to another replica', { error: (e as Error).message });
    }
  }

  /** Reads the whole prefix at one revision, in pages, into a fresh view. Returns the revision. */
  private async load(): Promise<number> {
    const agents = new Map<string, StoredAgent>();
    const ports = new Map<string, StoredPort>();
    const channels = new Map<string, StoredChannel>();
    const modRev = new Map<string, number>();
    let storeId = '';
    const end = Buffer.from(this.prefix.slice(0, -1) + String.fromCharCode(this.prefix.charCodeAt(this.prefix.length - 1) + 1));
    let from = Buffer.from(this.prefix);
    let revision: string | undefined;
    for (;;) {
      const r = await this.call(this.client.kv.range({ key: from, range_end: end, limit: PAGE, ...(revision ? { revision } : {}) }), 'reading the store');
      revision ??= r.header.revision;
      for (const kv of r.kvs) {
        const key = kv.key.toString();
        modRev.set(key, Number(kv.mod_revision));
        if (key === this.k.storeId()) storeId = kv.value.toString();
        else this.decodeInto(key, kv, { agents, ports, channels });
      }
      if (!r.more || !r.kvs.length) break;
      from = Buffer.concat([r.kvs[r.kvs.length - 1]!.key, Buffer.from([0])]);
    }
    if (this.undecodable.size) {
      const n = this.undecodable.size;
      const keys = [...this.undecodable].slice(0, 5).map((k) => k.slice(this.prefix.length, this.prefix.length + 80));
      this.undecodable.clear();
      throw new MacsecError(
        'config_invalid',
        `etcd store: ${keys.join(', ')}${n > 5 ? `, and ${n - 5} more` : ''} do not decode (sealed with a key --store-key-file lacks, or altered); ` +
          'refusing to run on a partial desired state',
      );
    }
    this.agents = agents;
    this.ports = ports;
    this.channels = channels;
    this.modRev = modRev;
    // per agent: its newest key's revision (a deletion missed while the watch was down is not known: lower is safe)
    for (const [key, rev] of modRev) if (!key.startsWith(this.k.channel(''))) this.touch(key, rev);
    for (const c of channels.values()) this.touch(this.k.channel(c.id), modRev.get(this.k.channel(c.id)) ?? 0, this.channelAgents(c, undefined));
    this.lastRev = new Map(modRev);
    this.storeId ||= storeId;
    // The view's revision is that of its newest change, not etcd's (which moves with every write
    // anywhere, the replicas' records included): replicas holding the same view then agree on its
    // revision, and a call waiting at one for an agent's ack at another waits for what the agent has.
    const seqKey = this.k.seq(); // event numbers are not desired state
    for (const [key, rev] of modRev) if (rev > this.viewRev && key !== seqKey) this.viewRev = rev;
    return Number(revision);
  }

  /** Decodes one value into the maps; for a value that does not decode (altered, or sealed with a key we lack) see the catch. */
  private decodeInto(
    key: string,
    kv: Pick<IKeyValue, 'value'>,
    m: { agents: Map<string, StoredAgent>; ports: Map<string, StoredPort>; channels: Map<string, StoredChannel> },
  ): void {
    const rest = key.slice(this.prefix.length);
    try {
      if (rest.startsWith('agents/')) m.agents.set(rest.slice(7), JSON.parse(kv.value.toString()) as StoredAgent);
      else if (rest.startsWith('ports/')) m.ports.set(rest.slice(6), JSON.parse(kv.value.toString()) as StoredPort);
      else if (rest.startsWith('channels/')) {
        m.channels.set(rest.slice(9), this.openChannel(key, kv.value.toString()));
        this.sealedWith.set(rest.slice(9), Keyring.keyIdOf(kv.value.toString()));
      }
    } catch (e) {
      // Never drop a record for a value we cannot read (a sealing key this replica lacks would
      // otherwise look like deleted channels, and free their ports): keep the last good one,
      // refuse channel writes until a reload reads everything, and say so.
      this.undecodable.add(key);
      this.log.error('store value does not decode; kept the last good one', {
        key: key.slice(0, 200),
        error: e instanceof SyntaxError ? 'not JSON' : (e as Error).message,
      });
      return;
    }
    this.undecodable.delete(key);
  }

  private sealChannel(c: StoredChannel): string {
    const keyJson = (k: StoredChannelKey) => ({ ...k, cak: hexOf(k.cak), ckn: hexOf(k.ckn) });
    const plain = Buffer.from(JSON.stringify({ ...c, cak: hexOf(c.cak), ckn: hexOf(c.ckn), nextKeys: (c.nextKeys ?? []).map(keyJson) }));
    try {
      return this.keyring.seal(this.k.channel(c.id), plain);
    } finally {
      plain.fill(0);
    }
  }
  private openChannel(key: string, sealed: string): StoredChannel {
    const plain = this.keyring.open(key, sealed);
    try {
      const j = JSON.parse(new TextDecoder().decode(plain)) as Record<string, unknown> & { cak: string; ckn: string; nextKeys: Array<Record<string, unknown>> };
      const next = j.nextKeys.map((k) => ({ ...k, cak: bytes(k.cak as string), ckn: bytes(k.ckn as string) }) as StoredChannelKey);
      const c = { ...j, cak: bytes(j.cak), ckn: bytes(j.ckn) } as unknown as StoredChannel;
      if (next.length) c.nextKeys = next;
      else delete c.nextKeys;
      return c;
    } finally {
      plain.fill(0);
    }
  }

  // ------------------------------------------------------------------ watch

  private startWatch(rev: number): void {
    const gen = ++this.watchGen;
    let wasDown = false;
    void this.client
      .watch()
      .prefix(this.prefix)
      .startRevision(String(rev + 1))
      .create()
      .then((w) => {
        if (this.closed || gen !== this.watchGen) return void w.cancel().catch(() => {});
        this.watcher = w;
        const live = () => gen === this.watchGen;
        w.on('put', (kv) => live() && this.applyRemote(kv, false));
        w.on('delete', (kv) => live() && this.applyRemote(kv, true));
        w.on('disconnected', (e) => {
          wasDown = true;
          this.log.warn('etcd watch disconnected', { error: e.message.slice(0, 200) });
        });
        w.on('connected', () => {
          if (!wasDown || !live()) return;
          // etcd3 resumes from the revision of its reconnect, not of the last event delivered:
          // what happened in between may be missed, so read everything again.
          this.log.info('etcd watch reconnected; reloading the store');
          void this.resync();
        });
        w.on('error', (e) => {
          if (!live()) return;
          // Compacted past our revision, or cancelled by etcd: read everything again.
          this.log.warn('etcd watch failed; reloading the store', { error: e.message.slice(0, 200) });
          void this.resync();
        });
      })
      .catch((e) => {
        if (gen !== this.watchGen) return;
        this.log.error('etcd watch could not start; retrying', { error: (e as Error).message.slice(0, 200) });
        if (!this.closed) setTimeout(() => void this.resync(), 1000).unref();
      });
  }

  private applyRemote(kv: IKeyValue, deleted: boolean): void {
    const key = kv.key.toString();
    const rev = Number(kv.mod_revision);
    if ((this.lastRev.get(key) ?? 0) >= rev) return; // our own commit, already applied
    if (this.localOps.has(key)) {
      // Our write of this key is not settled yet: an older event makes it fail (and the view is
      // reloaded); a newer one (another replica wrote after our commit) is applied after it.
      const d = this.deferred.get(key);
      if (!d || Number(d.kv.mod_revision) < rev) this.deferred.set(key, { kv, deleted });
      return;
    }
    this.lastRev.set(key, rev);
    if (key !== this.k.seq()) this.viewRev = Math.max(this.viewRev, rev);
    if (deleted) this.modRev.delete(key);
    else this.modRev.set(key, rev);
    const rest = key.slice(this.prefix.length);
    const maps = { agents: this.agents, ports: this.ports, channels: this.channels };
    let change: StoreChange | undefined;
    if (rest.startsWith('agents/')) change = { kind: 'agent', id: rest.slice(7) };
    else if (rest.startsWith('ports/')) change = { kind: 'port', id: rest.slice(6) };
    else if (rest.startsWith('channels/')) change = { kind: 'channel', id: rest.slice(9) };
    if (!change || change.kind === 'reset') return;
    const before = change.kind === 'channel' ? this.channels.get(change.id) : undefined;
    if (deleted) ({ agent: this.agents, port: this.ports, channel: this.channels })[change.kind].delete(change.id);
    else this.decodeInto(key, kv, maps);
    this.touch(key, rev, change.kind === 'channel' ? this.channelAgents(before, this.channels.get(change.id)) : undefined);
    this.emit(change);
  }

  // ------------------------------------------------------------------ revisions per agent

  /** Agent id → revision of the newest change to its desired state (its record, its ports, its channels). */
  private agentRev = new Map<string, number>();

  private channelAgents(before: StoredChannel | undefined, after: StoredChannel | undefined): string[] {
    return [...new Set([...(before?.endpoints ?? []), ...(after?.endpoints ?? [])].map((e) => e.agentId))];
  }

  /** A change of `key` at `rev`: the agents whose desired state it changes are at least at `rev`. */
  private touch(key: string, rev: number, channelAgents?: string[]): void {
    const rest = key.slice(this.prefix.length);
    const bump = (a: string) => {
      if ((this.agentRev.get(a) ?? 0) < rev) this.agentRev.set(a, rev);
    };
    if (rest.startsWith('agents/')) bump(rest.slice(7));
    else if (rest.startsWith('ports/')) bump(rest.slice(6, rest.indexOf('/', 6) >>> 0));
    else for (const a of channelAgents ?? []) bump(a);
  }

  /**
   * The revision of the newest change to this agent's desired state the view holds: what an
   * agent connected at another replica must have acknowledged for a call here to be done (the
   * view's revision moves with every other agent's changes, which that agent is not sent).
   */
  revisionFor(agentId: string): number {
    return this.agentRev.get(agentId) ?? 0;
  }

  private resyncing = false;
  /** Why the last write failed when etcd could not be reached (cleared by a reload). */
  private unreachable: string | undefined;
  private reloading: Promise<void> | undefined;
  /** Unguarded writes (agent records) that failed with others: written again after the reload. */
  private readonly rewriteAfterReload = new Map<string, string>();
  /** Watch events for keys with a local write in flight, applied once it settles (the newest per key). */
  private readonly deferred = new Map<string, { kv: IKeyValue; deleted: boolean }>();
  /** Bumped per watch started: events of an older watcher are ignored. */
  private watchGen = 0;
  /** Replaces the view with etcd's (after a conflict, an etcd error or a broken watch). */
  private resync(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return (this.reloading ??= this.reload().finally(() => (this.reloading = undefined)));
  }

  private async reload(): Promise<void> {
    this.resyncing = true;
    try {
      for (let delay = 200; !this.closed; delay = Math.min(delay * 2, 5000)) {
        try {
          if (this.inflight || this.pending.length) {
            // wait for what is queued to settle first (it is rejected on failure)
            await Promise.allSettled([...(this.inflight ?? []), ...this.pending].map((u) => u.done));
          }
          this.stopWatch();
          const rev = await this.load();
          this.localOps.clear();
          this.deferred.clear();
          for (const [key, value] of this.rewriteAfterReload) {
            this.agents.set(key.slice(this.k.agent('').length), JSON.parse(value) as StoredAgent);
            this.write(key, value);
          }
          this.rewriteAfterReload.clear();
          this.unreachable = undefined;
          this.emit({ kind: 'reset' });
          this.startWatch(rev);
          this.log.info('store reloaded from etcd', { revision: rev });
          return;
        } catch (e) {
          this.log.warn('etcd reload failed; retrying', { error: (e as Error).message.slice(0, 200), retry_ms: delay });
          await new Promise((r) => setTimeout(r, delay).unref());
        }
      }
    } finally {
      this.resyncing = false;
    }
  }

  /** Ends the current watch without waiting for etcd (an unreachable member never answers a cancel). */
  private stopWatch(): void {
    this.watchGen++;
    const w = this.watcher;
    this.watcher = undefined;
    if (w) void this.call(w.cancel(), 'cancelling the watch').catch(() => {});
  }

  onChange(fn: (c: StoreChange) => void): void {
    this.listeners.push(fn);
  }
  private emit(c: StoreChange): void {
    for (const l of this.listeners) l(c);
  }

  // ------------------------------------------------------------------ writes

  /** Writes wait for a reload to finish: the view they would change is about to be replaced. */
  private writable(channel = false): void {
    if (this.closed) throw new MacsecError('unavailable', 'store closed');
    if (channel && this.undecodable.size)
      throw new MacsecError(
        'unavailable',
        "etcd store: some channel records do not decode with this replica's key ring; channel writes are refused (see the log)",
      );
    if (this.resyncing && this.unreachable) throw new MacsecError('unavailable', `etcd store unreachable, reconnecting (${this.unreachable})`);
    if (this.resyncing) throw new MacsecError('aborted', 'the store is reloading from etcd after a refused or failed write; retry');
  }

  private write(key: string, value: string | undefined, guardKey?: string, agents?: string[]): void {
    const ops: Op[] = [];
    const op = (k: string, v: string | undefined, guarded: boolean): Op => {
      const local = this.localOps.get(k) ?? 0;
      this.localOps.set(k, local + 1);
      return { key: k, value: v, guarded, base: local ? 'chain' : (this.modRev.get(k) ?? 0) };
    };
    ops.push({ ...op(key, value, key.startsWith(this.k.port(''))), ...(agents ? { agents } : {}) });
    if (guardKey) ops.push(op(guardKey, randomUUID(), true));
    if (this.building) {
      // one guard op per transaction is enough
      for (const o of ops) {
        const same = this.building.ops.find((b) => b.key === o.key);
        if (same) {
          same.value = o.value;
          same.guarded ||= o.guarded;
          if (o.agents) same.agents = [...new Set([...(same.agents ?? []), ...o.agents])];
          this.releaseLocal(o.key);
        } else this.building.ops.push(o);
      }
      return;
    }
    this.enqueue(unit(ops, this.looseUndo.splice(0)));
  }
  /** View changes of the write being made outside a transaction (setView comes before write). */
  private looseUndo: Undo[] = [];

  private releaseLocal(k: string): void {
    const n = (this.localOps.get(k) ?? 1) - 1;
    if (n > 0) this.localOps.set(k, n);
    else this.localOps.delete(k);
  }

  private enqueue(u: Unit): void {
    this.pending.push(u);
    this.commitTimer ??= setImmediate(() => {
      this.commitTimer = undefined;
      void this.commitNext();
    });
  }

  private async commitNext(): Promise<void> {
    if (this.inflight || !this.pending.length || this.closed) return;
    const batch: Unit[] = [];
    const keys = new Set<string>();
    let n = 0;
    while (this.pending.length) {
      const u = this.pending[0]!;
      if (batch.length && (n + u.ops.length > MAX_BATCH_OPS || u.ops.some((o) => keys.has(o.key) || o.base === 'chain'))) break;
      this.pending.shift();
      batch.push(u);
      n += u.ops.length;
      for (const o of u.ops) keys.add(o.key);
    }
    this.inflight = batch;
    const ops = batch.flatMap((u) => u.ops);
    const compare: ICompare[] = ops
      .filter((o) => o.guarded)
      .map((o) => ({ key: Buffer.from(o.key), target: 'Mod', result: 'Equal', mod_revision: o.base === 'chain' ? 0 : o.base }));
    const success: IRequestOp[] = ops.map((o) =>
      o.value === undefined ? { request_delete_range: { key: Buffer.from(o.key) } } : { request_put: { key: Buffer.from(o.key), value: Buffer.from(o.value) } },
    );
    // A deletion leaves no key behind: this one carries its revision, so that a view read later
    // (a reload) ends at the same revision as one that followed the watch (see reload()).
    const deletes = ops.some((o) => o.value === undefined);
    if (deletes) success.push({ request_put: { key: Buffer.from(this.k.changed()), value: Buffer.alloc(0) } });
    let failure: MacsecError | undefined;
    try {
      const r = await this.call(this.client.kv.txn({ compare, success }), 'writing the store (outcome unknown)');
      if (r.succeeded) {
        const rev = Number(r.header.revision);
        this.viewRev = Math.max(this.viewRev, rev);
        if (deletes) this.lastRev.set(this.k.changed(), rev);
        for (const o of ops) this.touch(o.key, rev, o.agents);
        for (const o of ops) {
          this.lastRev.set(o.key, rev);
          if (o.value === undefined) this.modRev.delete(o.key);
          else this.modRev.set(o.key, rev);
          this.releaseLocal(o.key);
          const d = this.localOps.has(o.key) ? undefined : this.deferred.get(o.key);
          if (d) {
            this.deferred.delete(o.key);
            if (Number(d.kv.mod_revision) > rev) this.applyRemote(d.kv, d.deleted);
          }
          // the next write of this key, queued meanwhile, is based on this one (and the one after on that)
          const nextOp = this.pending.flatMap((p) => p.ops).find((q) => q.key === o.key);
          if (nextOp && nextOp.base === 'chain') nextOp.base = o.value === undefined ? 0 : rev;
        }
        for (const u of batch) u.resolve();
      } else {
        failure = new MacsecError('aborted', 'the desired state was changed concurrently (by another manager replica); retry');
      }
    } catch (e) {
      failure = e instanceof MacsecError ? e : new MacsecError('unavailable', `etcd: ${(e as Error).message.slice(0, 200)}`, { cause: e });
    }
    this.inflight = undefined;
    if (failure) {
      // Everything queued was applied to the view on top of this: it all fails, once the view is
      // etcd's again (so a caller that retries computes on the reloaded view). Agent records are
      // not guarded (last writer wins): they are written again after the reload.
      const failed = [...batch, ...this.pending];
      this.pending = [];
      for (const o of failed.flatMap((u) => u.ops))
        if (!o.guarded && o.value !== undefined && o.key.startsWith(this.k.agent(''))) this.rewriteAfterReload.set(o.key, o.value);
      this.log.warn('store write failed; reloading from etcd', { error: failure.message, writes: failed.length });
      this.unreachable = failure.code === 'unavailable' ? failure.message : undefined;
      if (this.unreachable) {
        // etcd cannot be reached: the reload may take long (until quorum is back). Fail fast, and
        // take the writes out of the view now, newest first, so that reads show the durable state.
        for (const u of [...failed].reverse()) for (const x of [...u.undo].reverse()) x.undo();
        for (const o of failed.flatMap((u) => u.ops)) this.releaseLocal(o.key);
        this.emit({ kind: 'reset' });
        for (const u of failed) u.reject(failure);
        void this.resync();
        return;
      }
      const reloaded = this.resync();
      void Promise.race([reloaded, new Promise((r) => setTimeout(r, this.timeoutMs).unref())]).then(() => {
        for (const u of failed) u.reject(failure);
      });
      return;
    }
    if (this.pending.length) void this.commitNext();
  }

  flush(): Promise<void> {
    const all = [...(this.inflight ?? []), ...this.pending];
    if (this.commitTimer === undefined && this.pending.length) void this.commitNext();
    return Promise.all(all.map((u) => u.done)).then(() => undefined);
  }

  transaction<T>(fn: () => T): T {
    if (this.building) return fn();
    const b = (this.building = { ops: [] as Op[], undo: [] as Undo[] });
    try {
      const r = fn();
      this.building = undefined;
      if (b.ops.length) this.enqueue(unit(b.ops, b.undo));
      return r;
    } catch (e) {
      this.building = undefined;
      for (const o of b.ops) this.releaseLocal(o.key);
      for (const u of b.undo.reverse()) u.undo();
      throw e;
    }
  }

  /** Sets a view entry, remembering how to undo it if the enclosing transaction throws. */
  private setView<V>(m: Map<string, V>, id: string, v: V | undefined): void {
    const had = m.has(id);
    const old = m.get(id);
    if (v === undefined) m.delete(id);
    else m.set(id, v);
    (this.building?.undo ?? this.looseUndo).push({ undo: () => (had ? m.set(id, old as V) : m.delete(id)) });
  }

  // ------------------------------------------------------------------ Store

  getAgent(id: string): StoredAgent | undefined {
    return this.agents.get(id);
  }
  listAgents(): StoredAgent[] {
    return [...this.agents.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
  putAgent(a: StoredAgent): void {
    this.writable();
    this.setView(this.agents, a.id, a);
    this.write(this.k.agent(a.id), JSON.stringify(a));
  }

  getPort(id: string): StoredPort | undefined {
    return this.ports.get(id);
  }
  listPorts(agentId?: string): StoredPort[] {
    return [...this.ports.values()].filter((p) => agentId === undefined || p.agentId === agentId).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
  putPort(p: StoredPort): void {
    this.writable();
    this.setView(this.ports, p.id, p);
    this.write(this.k.port(p.id), JSON.stringify(p));
  }
  deletePort(id: string): boolean {
    this.writable();
    if (!this.ports.has(id)) return false;
    this.setView(this.ports, id, undefined);
    // also guarded by the channels' key: a channel written meanwhile at another replica could use it
    this.write(this.k.port(id), undefined, this.k.channelsGuard());
    return true;
  }

  getChannel(idOrName: string): StoredChannel | undefined {
    return this.channels.get(idOrName) ?? [...this.channels.values()].find((c) => c.name === idOrName);
  }
  listChannels(agentId?: string): StoredChannel[] {
    return [...this.channels.values()]
      .filter((c) => agentId === undefined || c.endpoints.some((e) => e.agentId === agentId))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
  channelOfPort(portId: string): StoredChannel | undefined {
    return channelOfPort([...this.channels.values()], portId);
  }
  putChannel(c: StoredChannel): void {
    this.writable(true);
    const agents = this.channelAgents(this.channels.get(c.id), c);
    this.setView(this.channels, c.id, c);
    this.write(this.k.channel(c.id), this.sealChannel(c), this.k.channelsGuard(), agents);
    this.sealedWith.set(c.id, this.keyring.activeId);
  }
  setChannelEndpoints(id: string, endpoints: Endpoint[]): boolean {
    const c = this.channels.get(id);
    if (!c) return false;
    this.putChannel({ ...c, endpoints });
    return true;
  }
  deleteChannel(id: string): boolean {
    this.writable(true);
    if (!this.channels.has(id)) return false;
    const agents = this.channelAgents(this.channels.get(id), undefined);
    this.setView(this.channels, id, undefined);
    this.write(this.k.channel(id), undefined, this.k.channelsGuard(), agents);
    return true;
  }

  /** etcd keeps old values until compaction (sealed, see the doc); nothing to do here. */
  wipeDeleted(): void {}

  reserveSeq(n: number): number {
    const b = this.seqBlocks[0];
    if (!b || b[0] + n > b[1]) {
      this.seqBlocks.shift();
      void this.reserveSeqBlock();
      const c = this.seqBlocks[0];
      if (!c || c[0] + n > c[1]) throw new MacsecError('unavailable', 'etcd: no event sequence numbers reserved yet (etcd unreachable?)');
      return this.reserveSeq(n);
    }
    const first = b[0];
    b[0] += n;
    if (this.seqBlocks.length < 2) void this.reserveSeqBlock(); // one block spare, always
    return first;
  }

  /** Takes the next SEQ_BLOCK numbers from meta/event-seq (the high-water mark of all replicas). */
  private async reserveSeqBlock(): Promise<void> {
    if (this.seqReserving || this.closed) return;
    this.seqReserving = true;
    try {
      const key = Buffer.from(this.k.seq());
      for (let i = 0; i < 20; i++) {
        const r = await this.call(this.client.kv.range({ key }), 'reserving event numbers');
        const kv = r.kvs[0];
        const high = kv ? Number(kv.value.toString()) : 0;
        const t = await this.call(
          this.client.kv.txn({
            compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: kv ? kv.mod_revision : 0 }],
            success: [{ request_put: { key, value: Buffer.from(String(high + SEQ_BLOCK)) } }],
          }),
          'reserving event numbers',
        );
        if (t.succeeded) {
          this.seqBlocks.push([high + 1, high + SEQ_BLOCK + 1]);
          return;
        }
      }
      this.log.warn('event sequence numbers: too many concurrent reservations');
    } catch (e) {
      this.log.warn('event sequence numbers not reserved', { error: (e as Error).message.slice(0, 200) });
    } finally {
      this.seqReserving = false;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopWatch();
    this.client.close();
    this.keyring.wipe();
    for (const c of this.channels.values()) for (const k of [c, ...(c.nextKeys ?? [])]) k.cak.fill(0);
    const closed = new MacsecError('unavailable', 'store closed');
    for (const u of [...(this.inflight ?? []), ...this.pending]) u.reject(closed);
    this.pending = [];
  }
}
