/**
 * The event log replicas share, in etcd beside the store's prefix (`/macsec/` → `/macsec.events/`):
 *   <replica>/<boot>-<n>.<place>    Event without its seq (place: its index in its transaction)
 * Each replica appends its events in batches (one transaction at a time, so its own events keep
 * their order); every replica follows the prefix with a watch. An event's number is where etcd
 * put it, `mod_revision × 1024 + its place in the transaction`, the same at every replica: a
 * WatchEvents stream resumes with one since_seq at any of them. Keys carry no lease (a dead
 * replica's events stay); the replica elected leader prunes the log to its newest entries.
 */
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import { Event } from '../../control/gen/macsec/v1/manager.js';
import { silentLogger, type Logger } from '../../common/log.js';
import type { EventLog } from './replicas.js';

/** Events per transaction: below etcd's default --max-txn-ops (128). */
const BATCH = 100;
/** Places per revision in an event's number (a transaction holds at most BATCH events). */
const PER_REVISION = 1024;
/** Events kept while etcd does not answer; beyond, the oldest unsent ones are dropped (and counted). */
const QUEUE_LIMIT = 10_000;

/** An entry's number: its revision, then its place in its transaction (the key's suffix). */
function seqOf(kv: IKeyValue): number {
  const key = kv.key.toString();
  const place = Number.parseInt(key.slice(key.lastIndexOf('.') + 1), 36);
  return Number(kv.mod_revision) * PER_REVISION + (place >= 0 && place < PER_REVISION ? place : 0);
}

export interface EtcdEventLogOptions {
  client: Etcd3;
  storePrefix: string;
  id: string;
  log?: Logger;
}

export class EtcdEventLog implements EventLog {
  private readonly client: Etcd3;
  private readonly prefix: string;
  private readonly id: string;
  private readonly boot = Date.now().toString(36);
  private readonly log: Logger;
  private n = 0;
  private readonly queue: Event[] = [];
  private sending = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private watcher: Watcher | undefined;
  private closed = false;
  /** Events read before a listener came (handed over by backlog()). */
  private early: Event[] | undefined = [];
  private listener: ((e: Event) => void) | undefined;
  /** Number of the last event delivered. */
  private lastSeq = 0;
  /** Unsent events dropped because etcd did not answer for too long. */
  dropped = 0;

  private constructor(o: EtcdEventLogOptions) {
    this.client = o.client;
    this.prefix = `${o.storePrefix.slice(0, -1)}.events/`;
    this.id = o.id;
    this.log = o.log ?? silentLogger;
  }

  static async start(o: EtcdEventLogOptions): Promise<EtcdEventLog> {
    const l = new EtcdEventLog(o);
    await l.reload();
    return l;
  }

  private end(): Buffer {
    const p = this.prefix;
    return Buffer.from(p.slice(0, -1) + String.fromCharCode(p.charCodeAt(p.length - 1) + 1));
  }

  // ------------------------------------------------------------------ reading

  /** Reads the whole log and delivers, in order, what is new. */
  private async reload(): Promise<void> {
    const r = await this.client.kv.range({ key: Buffer.from(this.prefix), range_end: this.end() });
    const kvs = [...r.kvs].sort((a, b) => seqOf(a) - seqOf(b));
    for (const kv of kvs) this.number(kv);
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
        w.on('put', (kv) => this.number(kv));
        // After a reconnect etcd3 resumes from its own revision: read the log again (what was seen is skipped).
        w.on('connected', () => void this.reload().catch(again));
        w.on('error', again);
      })
      .catch(again);
  }

  private number(kv: IKeyValue): void {
    const seq = seqOf(kv);
    if (seq <= this.lastSeq) return;
    let e: Event;
    try {
      e = Event.fromJSON(JSON.parse(kv.value.toString()));
    } catch {
      this.log.warn('shared event log: undecodable entry skipped', { key: kv.key.toString().slice(0, 120) });
      return;
    }
    e.seq = seq;
    this.lastSeq = seq;
    if (this.early) this.early.push(e);
    else this.listener?.(e);
  }

  backlog(n: number): Event[] {
    const got = this.early ?? [];
    return got.slice(Math.max(0, got.length - n));
  }

  onEvent(fn: (e: Event) => void): void {
    this.listener = fn;
    this.early = undefined;
  }

  // ------------------------------------------------------------------ appending

  append(e: Event): void {
    if (this.closed) return;
    this.queue.push(e);
    if (this.queue.length > QUEUE_LIMIT) {
      this.dropped += this.queue.length - QUEUE_LIMIT;
      this.queue.splice(0, this.queue.length - QUEUE_LIMIT);
    }
    this.send();
  }

  private send(): void {
    if (this.sending || this.retryTimer || !this.queue.length || this.closed) return;
    this.sending = true;
    const batch = this.queue.slice(0, BATCH);
    const pad = (k: number) => k.toString(36).padStart(8, '0');
    const first = this.n;
    this.client.kv
      .txn({
        success: batch.map((e, i) => ({
          request_put: {
            key: Buffer.from(`${this.prefix}${this.id}/${this.boot}-${pad(first + i)}.${i.toString(36)}`),
            value: Buffer.from(JSON.stringify(Event.toJSON({ ...e, seq: 0 }))),
          },
        })),
      })
      .then(() => {
        this.n = first + batch.length;
        this.queue.splice(0, batch.length);
      })
      .catch((err: Error) => {
        if (this.closed) return;
        this.log.warn('shared event log: events not appended yet (retrying)', { queued: this.queue.length, error: err.message.slice(0, 200) });
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.send();
        }, 1000);
        this.retryTimer.unref();
      })
      .finally(() => {
        this.sending = false;
        this.send();
      });
  }

  /** Resolves once every event appended so far is in etcd (or `ms` passed). */
  async drain(ms = 2000): Promise<void> {
    const until = Date.now() + ms;
    while ((this.queue.length || this.sending) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  }

  // ------------------------------------------------------------------ pruning (leader)

  /** Deletes the oldest entries beyond the newest `keep`. */
  async prune(keep: number): Promise<number> {
    const range = { key: Buffer.from(this.prefix), range_end: this.end() };
    const c = await this.client.kv.range({ ...range, count_only: true });
    const excess = Number(c.count) - keep;
    if (excess <= 0) return 0;
    const old = await this.client.kv.range({ ...range, keys_only: true, sort_order: 'Ascend', sort_target: 'Mod', limit: excess });
    for (let i = 0; i < old.kvs.length; i += BATCH)
      await this.client.kv.txn({ success: old.kvs.slice(i, i + BATCH).map((kv) => ({ request_delete_range: { key: kv.key } })) });
    return old.kvs.length;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.drain();
    this.closed = true;
    clearTimeout(this.retryTimer);
    const w = this.watcher;
    if (w) void w.cancel().catch(() => {});
  }
}
