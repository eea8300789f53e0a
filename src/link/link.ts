/**
 * FrameLink: how a port sends and receives whole Ethernet frames (destination, source,
 * EtherType, payload; no FCS). Implementations beside this file: an in-memory hub (memory.ts,
 * one process), a UDP loopback relay (udp.ts, agents in separate processes) and libpcap on a
 * real interface (pcap.ts). test/link/contract.ts is the one suite every implementation passes.
 */
export interface FrameLink {
  /** The interface's own MAC when the link knows it (pcap links do); used for the SCI. */
  readonly mac?: Uint8Array;
  /** Sends one frame. I/O errors are reported otherwise (never thrown at the caller's timer). */
  send(frame: Uint8Array): void | Promise<void>;
  /** Registers the receive callback; every frame is passed unchanged, even if malformed or short. */
  onFrame(cb: (frame: Uint8Array) => void): void;
  /** Stops receiving and releases the link. Idempotent. */
  close(): void | Promise<void>;
}

/** A link that knows its own MAC (the source address of what it sends). */
export interface MacFrameLink extends FrameLink {
  readonly mac: Uint8Array;
}

/** Creates the link of one port; `lan` names the segment, `port` identifies the attachment. */
export type FrameLinkFactory = (lan: string, port: string) => FrameLink | Promise<FrameLink>;

export const ETH_HLEN = 14;

/** Build an Ethernet frame: dst(6) src(6) ethertype(2) payload. */
export function ethernetFrame(dst: Uint8Array, src: Uint8Array, ethertype: number, payload: Uint8Array): Uint8Array {
  if (dst.length !== 6 || src.length !== 6) throw new TypeError('MAC addresses must be 6 octets');
  const f = new Uint8Array(ETH_HLEN + payload.length);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = (ethertype >> 8) & 0xff;
  f[13] = ethertype & 0xff;
  f.set(payload, ETH_HLEN);
  return f;
}

/** "01:80:c2:00:00:03" form. */
export function formatMac(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':');
}

export function parseMac(s: string): Uint8Array {
  const parts = s.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) throw new TypeError(`invalid MAC address ${JSON.stringify(s)}`);
  return Uint8Array.from(parts, (p) => Number.parseInt(p, 16));
}

/** Group (multicast/broadcast) address: I/G bit set. */
export const isGroupAddress = (mac: Uint8Array): boolean => ((mac[0] ?? 0) & 1) === 1;
