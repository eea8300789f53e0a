/** Operator-facing events: a bounded replay buffer plus live subscribers. */
import type { Event, EventType } from '../control/gen/macsec/v1/manager.js';
import type { Store } from './store.js';

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
  if (f.types && f.types.length && !f.types.includes(e.type)) return false;
  return true;
}

const BLOCK = 1000;

export class EventBus {
  private readonly buffer: Event[] = [];
  private readonly subs = new Set<(e: Event) => void>();
  private next = 0;
  private limit = 0;

  constructor(
    private readonly store: Store,
    private readonly capacity = 10_000,
  ) {}

  private seq(): number {
    if (this.next >= this.limit) {
      this.next = this.store.reserveSeq(BLOCK);
      this.limit = this.next + BLOCK;
    }
    return this.next++;
  }

  publish(input: EventInput): Event {
    const e: Event = {
      seq: this.seq(),
      timeMs: Date.now(),
      agentId: '',
      portId: '',
      channelId: '',
      message: '',
      attributes: {},
      ...input,
    };
    this.buffer.push(e);
    if (this.buffer.length > this.capacity) this.buffer.splice(0, this.buffer.length - this.capacity);
    for (const s of this.subs) s(e);
    return e;
  }

  replay(f: EventFilter): Event[] {
    const since = f.sinceSeq ?? 0;
    return this.buffer.filter((e) => e.seq > since && matches(e, f));
  }

  subscribe(cb: (e: Event) => void): () => void {
    this.subs.add(cb);
    return () => this.subs.delete(cb);
  }

  get subscriberCount(): number {
    return this.subs.size;
  }
}
