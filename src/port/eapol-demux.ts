/**
 * EAPOL demultiplexer for one port: one FrameLink (e.g. EapolLink on the parent interface)
 * shared by the 802.1X PAE and the MKA KaY.
 *
 *   EAP-Packet (0), EAPOL-Start (1), EAPOL-Logoff (2)  -> the PAE
 *   EAPOL-MKA (5)                                       -> the current MKA channel (the KaY)
 *   anything else (Key, ASF alert, announcements, short/non-EAPOL frames) -> dropped, counted
 *
 * MKA channels are FrameLinks of their own: a KaY driver may close its channel (KayDriver.stop
 * closes its link) without closing the shared link; a new KaY gets a new channel.
 */
import { ETHERTYPE_EAPOL } from '../mka/constants.js';
import type { FrameLink, MacFrameLink } from '../link/link.js';

export interface EapolDemuxCounters {
  /** Frames given to the PAE. */
  pae: number;
  /** EAPOL-MKA frames given to the KaY. */
  mka: number;
  /** EAPOL-MKA frames received while no KaY runs (port unauthorized). */
  mkaNoKay: number;
  /** Dropped frames, by reason (`short`, `ethertype`, `type-3`, ...). */
  dropped: Record<string, number>;
}

const EAPOL_TYPE_OFFSET = 15; // dst(6) src(6) ethertype(2) version(1) type(1)

export class EapolDemux {
  readonly counters: EapolDemuxCounters = { pae: 0, mka: 0, mkaNoKay: 0, dropped: {} };
  private paeReceiver: ((frame: Uint8Array) => void) | undefined;
  private mka: MkaChannel | undefined;
  private closed = false;

  constructor(readonly link: MacFrameLink) {
    link.onFrame((f) => this.dispatch(f));
  }

  get mac(): Uint8Array {
    return this.link.mac;
  }

  /** Registers the PAE's receiver (EAP-Packet, Start, Logoff). */
  onPaeFrame(cb: (frame: Uint8Array) => void): void {
    this.paeReceiver = cb;
  }

  /** Sends a PAE frame on the shared link. */
  sendPae(frame: Uint8Array): void {
    if (this.closed) return;
    void Promise.resolve(this.link.send(frame)).catch(() => undefined);
  }

  /** A fresh MKA channel; the previous one (if any) stops receiving. */
  openMkaChannel(): FrameLink {
    this.mka?.detach();
    const ch = new MkaChannel(this);
    this.mka = ch;
    return ch;
  }

  /** @internal */
  release(ch: MkaChannel): void {
    if (this.mka === ch) this.mka = undefined;
  }

  private drop(reason: string): void {
    this.counters.dropped[reason] = (this.counters.dropped[reason] ?? 0) + 1;
  }

  private dispatch(frame: Uint8Array): void {
    if (this.closed) return;
    if (frame.length < EAPOL_TYPE_OFFSET + 1) return this.drop('short');
    if (((frame[12]! << 8) | frame[13]!) !== ETHERTYPE_EAPOL) return this.drop('ethertype');
    const type = frame[EAPOL_TYPE_OFFSET]!;
    if (type === 0 || type === 1 || type === 2) {
      this.counters.pae++;
      this.paeReceiver?.(frame);
      return;
    }
    if (type === 5) {
      if (!this.mka) {
        this.counters.mkaNoKay++;
        return;
      }
      this.counters.mka++;
      this.mka.deliver(frame);
      return;
    }
    this.drop(`type-${type}`);
  }

  /** Closes the shared link. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.mka?.detach();
    this.mka = undefined;
    void Promise.resolve(this.link.close()).catch(() => undefined);
  }
}

class MkaChannel implements FrameLink {
  private cb: ((f: Uint8Array) => void) | undefined;
  private attached = true;
  constructor(private readonly demux: EapolDemux) {}

  get mac(): Uint8Array {
    return this.demux.mac;
  }
  send(frame: Uint8Array): void | Promise<void> {
    if (!this.attached) return;
    return this.demux.link.send(frame);
  }
  onFrame(cb: (frame: Uint8Array) => void): void {
    this.cb = cb;
  }
  deliver(frame: Uint8Array): void {
    if (this.attached) this.cb?.(frame);
  }
  detach(): void {
    this.attached = false;
    this.cb = undefined;
  }
  close(): void {
    this.detach();
    this.demux.release(this);
  }
}
