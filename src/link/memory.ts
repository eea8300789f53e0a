/**
 * A simulated LAN inside one process. Frames are copied and delivered in order on a microtask,
 * like a wire; a link never sees its own. A link opened with a MAC (connect) is a station: it
 * gets group-addressed frames and unicast frames to that MAC. A link without one (link) gets
 * every frame of its LAN, as the agents' simulated LANs always did.
 */
import { isGroupAddress, type FrameLink, type FrameLinkFactory, type MacFrameLink } from './link.js';

export class MemoryHub {
  private readonly lans = new Map<string, Set<MemoryLink>>();

  /** A link on `lan` that receives everything the others send there. */
  link(lan: string): FrameLink {
    return this.attach(lan, undefined);
  }

  /** A station with this MAC on the hub's default LAN. */
  connect(mac: Uint8Array, lan = ''): MacFrameLink {
    return this.attach(lan, Uint8Array.from(mac)) as MacFrameLink;
  }

  factory(): FrameLinkFactory {
    return (lan) => this.link(lan);
  }

  private attach(lan: string, station: Uint8Array | undefined): MemoryLink {
    let members = this.lans.get(lan);
    if (!members) this.lans.set(lan, (members = new Set()));
    const l = new MemoryLink(members, station);
    members.add(l);
    return l;
  }
}

class MemoryLink implements FrameLink {
  private cb: ((f: Uint8Array) => void) | undefined;
  private closed = false;
  // Set at attach time only: tests that add a `mac` property later keep a receive-all link.
  private readonly station: Uint8Array | undefined;
  readonly mac?: Uint8Array;

  constructor(
    private readonly members: Set<MemoryLink>,
    station: Uint8Array | undefined,
  ) {
    this.station = station;
    if (station) this.mac = station;
  }

  send(frame: Uint8Array): void {
    if (this.closed) return;
    const copy = Uint8Array.from(frame);
    for (const m of this.members)
      if (m !== this && m.cb && m.accepts(copy)) {
        const cb = m.cb;
        queueMicrotask(() => !m.closed && cb(Uint8Array.from(copy)));
      }
  }

  onFrame(cb: (f: Uint8Array) => void): void {
    this.cb = cb;
  }

  close(): void {
    this.closed = true;
    this.members.delete(this);
  }

  private accepts(frame: Uint8Array): boolean {
    const s = this.station;
    if (!s || frame.length < 6 || isGroupAddress(frame)) return true;
    for (let i = 0; i < 6; i++) if (frame[i] !== s[i]) return false;
    return true;
  }
}
