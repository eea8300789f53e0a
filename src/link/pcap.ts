/**
 * EapolLink: EAPOL frames on a real interface through libpcap (npm `pcap`).
 *
 * - Capture filter `ether proto 0x888e`, narrowed to frames addressed to us
 *   (our MAC or the configured group addresses) and not sent by us (libpcap
 *   on Linux also sees outgoing frames). Immediate mode (buffer_timeout 0).
 * - Group reception: libpcap cannot add a PACKET_ADD_MEMBERSHIP for the PAE
 *   group address and Node cannot reach SIOCADDMULTI, so by default the link
 *   sets IFF_ALLMULTI on the interface over rtnetlink (cleared on close if we
 *   set it). Veth and bridges deliver group frames regardless; NICs with a
 *   multicast filter need it. `groupReception: 'promiscuous'` asks libpcap for
 *   promiscuous mode instead; 'none' leaves the interface alone.
 * - Frames are delivered whole and unchanged (malformed ones too: the KaY
 *   counts and drops). Errors (inject failures, throwing receivers) are
 *   reported to onError listeners and never crash the process.
 */
import { MacsecError } from '../common/errors.js';
import { endianness } from 'node:os';
import pcap from 'pcap';
import { ETHERTYPE_EAPOL, PAE_GROUP_ADDRESS } from '../mka/constants.js';
import { Rtnl } from '../netlink/rtnl.js';
import { IFF_ALLMULTI } from '../netlink/uapi.js';
import { formatMac, isGroupAddress, type MacFrameLink } from './link.js';

const LE = endianness() === 'LE';

// libpcap warns about interfaces without an IPv4 address (normal for MACsec
// parents); node_pcap prints that with console.warn. Keep other warnings.
const pcapModule = pcap as unknown as { warningHandler: (text: string) => void };
const defaultWarning = pcapModule.warningHandler;
pcapModule.warningHandler = (text: string): void => {
  if (!/no IPv4 address assigned/.test(text)) defaultWarning(text);
};

export type GroupReception = 'allmulti' | 'promiscuous' | 'none';

export interface EapolLinkOptions {
  /** Where the KaY should send (default: PAE group 01:80:c2:00:00:03); may be a peer's unicast address. A group address here is also received. */
  destination?: Uint8Array;
  /** More group addresses to receive (e.g. 01:80:c2:00:00:00 or 01:80:c2:00:00:0e). */
  extraGroups?: Uint8Array[];
  /** How group-addressed frames reach us (default 'allmulti'). */
  groupReception?: GroupReception;
  /** Receive EAPOL frames whatever their destination (default false). */
  anyDestination?: boolean;
  /** Also receive frames sent by our own MAC (default false). */
  includeOwn?: boolean;
  /** Error listener (more can be added with onError). */
  onError?: (err: Error) => void;
}

export interface EapolLinkStats {
  rxFrames: number;
  txFrames: number;
  txErrors: number;
  callbackErrors: number;
}

export class EapolLinkError extends MacsecError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('link_failed', message, options);
  }
}

/** The BPF expression for an EapolLink (exported for tests). */
export function eapolFilter(mac: Uint8Array, groups: Uint8Array[], opts: { anyDestination?: boolean; includeOwn?: boolean } = {}): string {
  const parts = [`ether proto 0x${ETHERTYPE_EAPOL.toString(16)}`];
  if (!opts.includeOwn) parts.push(`not ether src ${formatMac(mac)}`);
  if (!opts.anyDestination) {
    const dsts = [mac, ...groups].map((m) => `ether dst ${formatMac(m)}`);
    parts.push(`(${[...new Set(dsts)].join(' or ')})`);
  }
  return parts.join(' and ');
}

interface PcapSessionLike {
  on(event: 'packet', cb: (p: { buf: Buffer; header: Buffer }) => void): unknown;
  inject(data: Buffer): void;
  close(): void;
}

export class EapolLink implements MacFrameLink {
  readonly stats: EapolLinkStats = { rxFrames: 0, txFrames: 0, txErrors: 0, callbackErrors: 0 };
  private readonly receivers: ((frame: Uint8Array) => void)[] = [];
  private readonly errorListeners: ((err: Error) => void)[] = [];
  private closed = false;

  private constructor(
    readonly ifname: string,
    readonly ifindex: number,
    readonly mac: Uint8Array,
    readonly destination: Uint8Array,
    readonly filter: string,
    private readonly session: PcapSessionLike,
    private readonly clearAllmultiOnClose: boolean,
  ) {}

  /** Open `ifname` (must exist in the caller's network namespace). */
  static async open(ifname: string, opts: EapolLinkOptions = {}): Promise<EapolLink> {
    const destination = opts.destination ?? PAE_GROUP_ADDRESS;
    if (destination.length !== 6) throw new TypeError('destination must be 6 octets');
    const groups = [...(isGroupAddress(destination) ? [destination] : [PAE_GROUP_ADDRESS]), ...(opts.extraGroups ?? [])];
    const reception = opts.groupReception ?? 'allmulti';

    const rtnl = Rtnl.open();
    let setAllmulti = false;
    let index: number;
    let mac: Uint8Array;
    try {
      const link = await rtnl.getLink(ifname);
      index = link.index;
      mac = link.mac;
      if (mac.length !== 6) throw new EapolLinkError(`${ifname}: not an Ethernet interface (address length ${mac.length})`);
      if (reception === 'allmulti' && (link.flags & IFF_ALLMULTI) === 0) {
        await rtnl.setFlags(index, IFF_ALLMULTI, IFF_ALLMULTI, 'set allmulticast on');
        setAllmulti = true;
      }
    } finally {
      rtnl.close();
    }

    const filter = eapolFilter(mac, groups, opts);
    let session: PcapSessionLike;
    try {
      session = pcap.createSession(ifname, {
        filter,
        buffer_timeout: 0, // immediate mode: no batching delay
        promiscuous: reception === 'promiscuous',
        snap_length: 65535,
        buffer_size: 1 << 20,
      }) as unknown as PcapSessionLike;
    } catch (err) {
      if (setAllmulti) await clearAllmulti(index);
      throw new EapolLinkError(`open pcap on ${ifname}: ${(err as Error).message}`);
    }
    const link = new EapolLink(ifname, index, mac, Uint8Array.from(destination), filter, session, setAllmulti);
    if (opts.onError) link.onError(opts.onError);
    session.on('packet', (p) => link.deliver(p.buf, p.header));
    return link;
  }

  private deliver(buf: Buffer, header: Buffer): void {
    if (this.closed) return;
    // header: tv_sec, tv_usec, caplen, len (host-order u32s); buf is reused by pcap: copy.
    const caplen = Math.min(LE ? header.readUInt32LE(8) : header.readUInt32BE(8), buf.length);
    const frame = Uint8Array.prototype.slice.call(buf, 0, caplen);
    this.stats.rxFrames++;
    for (const cb of this.receivers) {
      try {
        cb(frame);
      } catch (err) {
        // A throw here would reach pcap's native poll handler, which aborts the process.
        this.stats.callbackErrors++;
        this.report(new EapolLinkError(`${this.ifname}: frame receiver threw: ${(err as Error)?.message ?? String(err)}`));
      }
    }
  }

  send(frame: Uint8Array): void {
    if (this.closed) {
      this.stats.txErrors++;
      this.report(new EapolLinkError(`${this.ifname}: send on a closed link`));
      return;
    }
    try {
      this.session.inject(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength));
      this.stats.txFrames++;
    } catch (err) {
      this.stats.txErrors++;
      this.report(new EapolLinkError(`${this.ifname}: send ${frame.length}-octet frame failed: ${(err as Error).message}`));
    }
  }

  onFrame(cb: (frame: Uint8Array) => void): void {
    this.receivers.push(cb);
  }

  onError(cb: (err: Error) => void): void {
    this.errorListeners.push(cb);
  }

  private report(err: Error): void {
    if (this.errorListeners.length === 0) {
      process.stderr.write(`${err.name}: ${err.message}\n`);
      return;
    }
    for (const l of this.errorListeners) {
      try {
        l(err);
      } catch {
        // an error listener must not take the process down either
      }
    }
  }

  /**
   * node_pcap's close() only calls pcap_breakloop(); in non-blocking mode
   * libpcap notices that only when the next frame is read, and until then the
   * packet socket and a referenced libuv poll handle stay open (the process
   * would not exit). A packet socket does not see its own transmissions, so
   * a second, short-lived capture handle is used: each handle injects one
   * frame the other one's filter accepts, which completes both closes. The
   * frame goes to our own MAC from the invalid all-zero source (bridges and
   * switches drop it on ingress), EAPOL with an undefined packet type (0xff).
   */
  private wakeCapture(): void {
    const wake = Buffer.alloc(18);
    wake.set(this.mac, 0);
    wake.writeUInt16BE(ETHERTYPE_EAPOL, 12);
    wake[14] = 3; // EAPOL version
    wake[15] = 0xff; // no such packet type
    const helper = pcap.createSession(this.ifname, {
      filter: `ether proto 0x${ETHERTYPE_EAPOL.toString(16)} and ether src 00:00:00:00:00:00 and ether dst ${formatMac(this.mac)}`,
      buffer_timeout: 0,
      promiscuous: false,
      snap_length: 64,
      buffer_size: 1 << 16,
    }) as unknown as PcapSessionLike;
    helper.close();
    this.session.inject(wake); // wakes the helper
    helper.inject(wake); // wakes our main handle
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.session.close();
      this.wakeCapture();
    } catch (err) {
      this.report(new EapolLinkError(`${this.ifname}: close: ${(err as Error).message}`));
    }
    if (this.clearAllmultiOnClose) {
      clearAllmulti(this.ifindex).catch((err: Error) => this.report(new EapolLinkError(`${this.ifname}: clear allmulticast: ${err.message}`)));
    }
  }
}

async function clearAllmulti(index: number): Promise<void> {
  const rtnl = Rtnl.open();
  try {
    await rtnl.setFlags(index, 0, IFF_ALLMULTI, 'set allmulticast off');
  } catch (err) {
    // the interface may be gone already
    if ((err as { code?: string }).code !== 'ENODEV') throw err;
  } finally {
    rtnl.close();
  }
}
