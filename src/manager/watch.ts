/**
 * WatchEvents streams with bounded cost.
 *
 *  - at most `maxStreamsPerPrincipal` open streams per certificate identity and `maxStreams` in
 *    total; over either, the new stream ends at once with RESOURCE_EXHAUSTED;
 *  - no per-stream copy of the replay: each stream is a cursor (the last seq it looked at) into
 *    the EventBus buffer, and events are written only while the stream takes them (the gRPC
 *    writable is below its high-water mark and less than `maxQueuedBytes` are written but not
 *    yet sent), so replay and live events go out at the reader's pace;
 *  - a reader that takes nothing for `stallTimeoutMs` while events wait, or that falls so far
 *    behind that the buffer dropped events it had not been sent, is cut off: the stream ends with
 *    RESOURCE_EXHAUSTED "…; resume with since_seq=N", queued behind at most `maxQueuedBytes`, so
 *    the client receives it as soon as it reads again, and N is exactly the last event it got
 *    (or looked past), so resuming from N loses nothing that is still retained.
 */
import { status, type ServerWritableStream } from '@grpc/grpc-js';
import type { Event, WatchEventsRequest } from '../control/gen/macsec/v1/manager.js';
import { invalidArgument, resourceExhausted } from '../common/errors.js';
import { requireId } from '../control/validate.js';
import { NAME_RE } from '../common/names.js';
import type { Logger } from '../common/log.js';
import type { EventBus, EventFilter } from './events.js';

export interface WatchLimits {
  /** Open WatchEvents streams per certificate identity (default 8). */
  maxStreamsPerPrincipal?: number;
  /** Open WatchEvents streams in total (default 256). */
  maxStreams?: number;
  /** Bytes written to one stream and not yet sent (default 64 KiB). */
  maxQueuedBytes?: number;
  /** A stream that takes nothing for this long while events wait is cut off (default 30 s). */
  stallTimeoutMs?: number;
}

export const WATCH_DEFAULTS: Required<WatchLimits> = {
  maxStreamsPerPrincipal: 8,
  maxStreams: 256,
  maxQueuedBytes: 64 * 1024,
  stallTimeoutMs: 30_000,
};

export interface WatchStats {
  streams: number;
  queuedMessages: number;
  queuedBytes: number;
  cutOff: number;
  refused: number;
}

/** grpc-js server streams are object-mode writables with the default high-water mark (16). */
const HIGH_WATER = 16;
/** Events looked at per turn of one stream before yielding to the event loop. */
const SCAN_PER_TURN = 512;

const sizeOf = (e: Event) => {
  let n = 48 + e.agentId.length + e.portId.length + e.channelId.length + e.message.length;
  for (const [k, v] of Object.entries(e.attributes)) n += k.length + v.length + 4;
  return n;
};

class WatchStream {
  cursor: number;
  queued = 0;
  queuedBytes = 0;
  lastProgress = Date.now();
  done = false;
  private released = false;
  private scheduled = false;
  private readonly unsub: () => void;

  constructor(
    private readonly hub: WatchHub,
    private readonly bus: EventBus,
    private readonly call: ServerWritableStream<WatchEventsRequest, Event>,
    private readonly filter: EventFilter,
    readonly who: string,
  ) {
    this.cursor = Math.max(filter.sinceSeq ?? 0, bus.evictedThrough);
    this.unsub = bus.subscribe(() => this.schedule());
    call.on('drain', () => this.schedule());
    call.on('close', () => this.release());
    call.on('cancelled', () => this.release());
    call.on('error', () => this.stop());
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.done) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    let budget = SCAN_PER_TURN;
    while (!this.done && this.queuedBytes < this.hub.limits.maxQueuedBytes && this.call.writableLength < HIGH_WATER) {
      if (this.cursor < this.bus.evictedThrough) {
        this.cut(`it fell behind the replay buffer, which dropped events up to seq ${this.bus.evictedThrough} before they were sent`);
        return;
      }
      const r = this.bus.nextAfter(this.cursor, this.filter, budget);
      const looked = r.cursor !== this.cursor;
      this.cursor = r.cursor;
      if (r.event) this.write(r.event);
      else if (!looked) return; // caught up: woken by the next publish
      budget -= r.event ? 1 : SCAN_PER_TURN;
      if (budget <= 0) {
        this.schedule();
        return;
      }
    }
  }

  private write(e: Event): void {
    const size = sizeOf(e);
    if (this.queued === 0) this.lastProgress = Date.now();
    this.queued++;
    this.queuedBytes += size;
    this.call.write(e, () => {
      this.queued--;
      this.queuedBytes -= size;
      this.lastProgress = Date.now();
      this.schedule();
    });
  }

  checkStall(now: number): void {
    if (!this.done && this.queued > 0 && now - this.lastProgress > this.hub.limits.stallTimeoutMs) {
      this.cut(`it took no event for ${this.hub.limits.stallTimeoutMs} ms`);
    }
  }

  /** Ends the stream with RESOURCE_EXHAUSTED; it stays counted until the client has it (or goes). */
  private cut(why: string): void {
    if (this.done) return;
    this.stop();
    this.hub.cutOff++;
    const details = `event consumer too slow: ${why}; resume with since_seq=${this.cursor}`;
    this.hub.log.info('WatchEvents stream cut off', { caller: this.who, details });
    // grpc-js: the status goes out after what is already written (bounded above).
    this.call.emit('error', { code: status.RESOURCE_EXHAUSTED, details });
  }

  private stop(): void {
    this.done = true;
    this.unsub();
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.stop();
    this.hub.forget(this);
  }
}

export class WatchHub {
  readonly limits: Required<WatchLimits>;
  cutOff = 0;
  private refused = 0;
  private readonly streams = new Set<WatchStream>();
  private readonly perPrincipal = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly bus: EventBus,
    limits: WatchLimits,
    readonly log: Logger,
  ) {
    this.limits = { ...WATCH_DEFAULTS, ...Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)) };
    this.timer = setInterval(
      () => {
        const now = Date.now();
        for (const s of this.streams) s.checkStall(now);
      },
      Math.max(100, Math.floor(this.limits.stallTimeoutMs / 4)),
    );
    this.timer.unref();
  }

  /** Serves an authorized stream for `who`; throws RESOURCE_EXHAUSTED / INVALID_ARGUMENT to refuse it. */
  serve(call: ServerWritableStream<WatchEventsRequest, Event>, who: string): void {
    const r = call.request;
    if (r.agentId) requireId('agent_id', r.agentId, 'an agent id');
    if (r.channelId && !NAME_RE.test(r.channelId)) throw invalidArgument('channel_id', 'is not a channel id or name');
    const types = [...new Set(r.types)];
    if (types.length > 64) throw invalidArgument('types', `at most 64 event types (got ${types.length})`);
    const mine = this.perPrincipal.get(who) ?? 0;
    if (mine >= this.limits.maxStreamsPerPrincipal) {
      this.refused++;
      throw resourceExhausted(
        `${who} already has ${mine} WatchEvents streams open (limit ${this.limits.maxStreamsPerPrincipal} per identity); close one first`,
      );
    }
    if (this.streams.size >= this.limits.maxStreams) {
      this.refused++;
      throw resourceExhausted(`the manager serves ${this.streams.size} WatchEvents streams (limit ${this.limits.maxStreams}); retry later`);
    }
    this.perPrincipal.set(who, mine + 1);
    const filter: EventFilter = { sinceSeq: r.sinceSeq, agentId: r.agentId, channelId: r.channelId, types };
    this.streams.add(new WatchStream(this, this.bus, call, filter, who));
  }

  forget(s: WatchStream): void {
    if (!this.streams.delete(s)) return;
    const left = (this.perPrincipal.get(s.who) ?? 1) - 1;
    if (left <= 0) this.perPrincipal.delete(s.who);
    else this.perPrincipal.set(s.who, left);
  }

  stats(): WatchStats {
    let queuedMessages = 0;
    let queuedBytes = 0;
    for (const s of this.streams) {
      queuedMessages += s.queued;
      queuedBytes += s.queuedBytes;
    }
    return { streams: this.streams.size, queuedMessages, queuedBytes, cutOff: this.cutOff, refused: this.refused };
  }

  close(): void {
    clearInterval(this.timer);
  }
}
