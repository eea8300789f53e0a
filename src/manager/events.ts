/**
 * Operator-facing events: a bounded replay buffer plus live subscribers. Alone, a manager numbers
 * its events itself (blocks of numbers reserved in the store); replicas sharing a store append
 * them to one shared log instead (replicas/replicas.ts `EventLog`), which numbers them in one
 * order and delivers every replica's events to every replica.
 */
import type { Event, EventType } from '../control/gen/macsec/v1/manager.js';
import type { EventLog } from './replicas/replicas.js';
import type { Store } from './store/store.js';

export type EventInput = Omit<Event, 'seq' | 'timeMs' | 'agentId' | 'portId' | 'channelId' | 'message' | 'attributes'> & Partial<Event> & { type: EventType };

export interface EventFilter {
  sinceSeq?: number;
  agentId?: string;
  channelId?: string;
  types?: EventType[];
}

export function matches(e: Event, f: EventFilter): boolean {
  if (f.agentId && e.agentId !== f.agentId) return false;
  if (f.channelId && e.channelId !== f.channelId) return false;
  if (f.types?.length && !f.types.includes(e.type)) return false;
  return true;
}

const BLOCK = 1000;

export class EventBus {
  private readonly buffer: Event[] = [];
  private readonly subs = new Set<(e: Event) => void>();
  private next = 0;
  private limit = 0;
  /** Highest seq dropped from the buffer (0: nothing dropped yet). */
  private evicted = 0;

  constructor(
    private readonly store: Store,
    private readonly capacity = 10_000,
    private readonly log?: EventLog,
  ) {
    if (log) {
      for (const e of log.backlog(capacity)) this.deliver(e);
      log.onEvent((e) => this.deliver(e));
    }
  }

  private seq(): number {
    if (this.next >= this.limit) {
      this.next = this.store.reserveSeq(BLOCK);
      this.limit = this.next + BLOCK;
    }
    return this.next++;
  }

  /** The event as published; on a shared log its seq is 0 until the log numbers it (it is then delivered to subscribers). */
  publish(input: EventInput): Event {
    const e: Event = {
      seq: 0,
      timeMs: Date.now(),
      agentId: '',
      portId: '',
      channelId: '',
      message: '',
      attributes: {},
      ...input,
    };
    if (this.log) {
      this.log.append(e);
      return e;
    }
    e.seq = this.seq();
    this.deliver(e);
    return e;
  }

  /** Appends a numbered event (seq above every one before it) and tells the subscribers. */
  private deliver(e: Event): void {
    const last = this.buffer[this.buffer.length - 1];
    if (last && e.seq <= last.seq) return; // a replayed part of the shared log
    this.buffer.push(e);
    if (this.buffer.length > this.capacity) {
      const gone = this.buffer.splice(0, this.buffer.length - this.capacity);
      this.evicted = gone[gone.length - 1]!.seq;
    }
    for (const s of this.subs) s(e);
  }

  replay(f: EventFilter): Event[] {
    const since = f.sinceSeq ?? 0;
    return this.buffer.filter((e) => e.seq > since && matches(e, f));
  }

  /** Events up to this seq may be gone from the buffer: a reader behind it has missed some. */
  get evictedThrough(): number {
    return this.evicted;
  }

  /** Index of the first retained event with seq > `seq` (buffer.length if none). */
  private indexAfter(seq: number): number {
    let lo = 0;
    let hi = this.buffer.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.buffer[mid]!.seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * The first retained event after `cursor` that matches `f`, looking at no more than `maxScan`
   * events; `cursor` in the answer is how far it looked (the seq to continue after), so a reader
   * walks the buffer incrementally without copying it.
   */
  nextAfter(cursor: number, f: EventFilter, maxScan = 1000): { event?: Event; cursor: number } {
    const start = this.indexAfter(cursor);
    const end = Math.min(this.buffer.length, start + maxScan);
    for (let i = start; i < end; i++) {
      const e = this.buffer[i]!;
      if (matches(e, f)) return { event: e, cursor: e.seq };
      cursor = e.seq;
    }
    return { cursor };
  }

  subscribe(cb: (e: Event) => void): () => void {
    this.subs.add(cb);
    return () => this.subs.delete(cb);
  }

  get subscriberCount(): number {
    return this.subs.size;
  }
}
