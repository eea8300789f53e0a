/**
 * A simulated LAN shared by agents in separate processes: a UDP relay on loopback and the links
 * that register with it. Every link sees the frames of every other link on its LAN, never its own.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { FrameLink, FrameLinkFactory } from './link.js';

/**
 * UDP relay: datagram = [1-octet LAN name length][LAN name][frame]. The relay remembers each
 * sender per LAN (a 2-octet-length-prefixed "hello" with an empty frame registers) and forwards
 * every frame to the other members. Loopback only.
 */
export class UdpRelay {
  private sock: Socket | undefined;
  private readonly lans = new Map<string, Map<string, { port: number; seen: number }>>();
  port = 0;

  async start(port = 0): Promise<number> {
    const sock = createSocket('udp4');
    this.sock = sock;
    sock.on('message', (msg, rinfo) => {
      if (rinfo.address !== '127.0.0.1' || msg.length < 1) return;
      const n = msg[0]!;
      if (msg.length < 1 + n) return;
      const lan = msg.subarray(1, 1 + n).toString('utf8');
      let members = this.lans.get(lan);
      if (!members) this.lans.set(lan, (members = new Map()));
      const key = `${rinfo.port}`;
      members.set(key, { port: rinfo.port, seen: Date.now() });
      if (msg.length === 1 + n) return; // registration
      for (const [k, m] of members) if (k !== key) sock.send(msg, m.port, '127.0.0.1');
    });
    await new Promise<void>((resolve) => sock.bind(port, '127.0.0.1', () => resolve()));
    this.port = sock.address().port;
    return this.port;
  }

  /** Forgets a member (its process is gone). Members also age out after 60 s without traffic. */
  prune(maxAgeMs = 60_000): void {
    const now = Date.now();
    for (const members of this.lans.values()) for (const [k, m] of members) if (now - m.seen > maxAgeMs) members.delete(k);
  }

  close(): void {
    this.sock?.close();
  }
}

export class UdpLink implements FrameLink {
  private readonly sock = createSocket('udp4');
  private cb: ((f: Uint8Array) => void) | undefined;
  private readonly prefix: Buffer;
  private readonly ready: Promise<void>;
  private timer: NodeJS.Timeout;
  private closed = false;

  constructor(
    lan: string,
    private readonly relayPort: number,
  ) {
    const name = Buffer.from(lan, 'utf8');
    if (name.length > 255) throw new RangeError('LAN name too long');
    this.prefix = Buffer.concat([Buffer.of(name.length), name]);
    this.sock.on('message', (msg, rinfo) => {
      if (rinfo.port !== this.relayPort || msg.length <= this.prefix.length) return;
      if (!msg.subarray(0, this.prefix.length).equals(this.prefix)) return;
      this.cb?.(new Uint8Array(msg.subarray(this.prefix.length)));
    });
    this.ready = new Promise((resolve) =>
      this.sock.bind(0, '127.0.0.1', () => {
        this.sock.send(this.prefix, this.relayPort, '127.0.0.1');
        resolve();
      }),
    );
    // Re-register now and then so a restarted relay learns about us.
    this.timer = setInterval(() => this.sock.send(this.prefix, this.relayPort, '127.0.0.1'), 20_000);
    this.timer.unref();
  }

  async send(frame: Uint8Array): Promise<void> {
    if (this.closed) return;
    const msg = Buffer.concat([this.prefix, frame]); // copied now: the caller may reuse its buffer
    await this.ready;
    if (!this.closed) this.sock.send(msg, this.relayPort, '127.0.0.1');
  }
  onFrame(cb: (f: Uint8Array) => void): void {
    this.cb = cb;
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cb = undefined;
    clearInterval(this.timer);
    try {
      this.sock.close();
    } catch {
      /* closed */
    }
  }
}

export const udpLinkFactory =
  (relayPort: number): FrameLinkFactory =>
  (lan) =>
    new UdpLink(lan, relayPort);
