/**
 * An in-memory Ethernet segment for tests and simulations: every FrameLink
 * from connect() sees group-addressed frames from the others and unicast
 * frames addressed to its MAC. Delivery is asynchronous (setImmediate), in
 * order, like a wire; frames are copied.
 */
import { isGroupAddress, type FrameLink } from './frame-link.js';

export interface MemoryHubPort extends FrameLink {
  /** Frames sent through this port. */
  readonly sent: number;
}

export class MemoryHub {
  private readonly ports = new Set<HubPort>();

  /** Attach a station with this MAC. */
  connect(mac: Uint8Array): MemoryHubPort {
    const port = new HubPort(this, Uint8Array.from(mac));
    this.ports.add(port);
    return port;
  }

  /** @internal */
  forward(from: HubPort, frame: Uint8Array): void {
    const dst = frame.subarray(0, 6);
    const group = frame.length < 6 || isGroupAddress(dst);
    for (const p of this.ports) {
      if (p === from) continue;
      if (!group && !sameMac(p.mac, dst)) continue;
      const copy = Uint8Array.from(frame);
      setImmediate(() => p.deliver(copy));
    }
  }

  /** @internal */
  detach(p: HubPort): void {
    this.ports.delete(p);
  }
}

class HubPort implements MemoryHubPort {
  sent = 0;
  private readonly receivers: ((f: Uint8Array) => void)[] = [];
  private closed = false;

  constructor(
    private readonly hub: MemoryHub,
    readonly mac: Uint8Array,
  ) {}

  send(frame: Uint8Array): void {
    if (this.closed) return;
    this.sent++;
    this.hub.forward(this, frame);
  }

  onFrame(cb: (frame: Uint8Array) => void): void {
    this.receivers.push(cb);
  }

  deliver(frame: Uint8Array): void {
    if (this.closed) return;
    for (const cb of this.receivers) cb(frame);
  }

  close(): void {
    this.closed = true;
    this.hub.detach(this);
  }
}

function sameMac(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}
