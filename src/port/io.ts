/**
 * The kernel and wire side of a port, behind one ops table (PortIo) that startPort uses as its
 * only path to them: a SecY (the macsec link) and the EAPOL link. kernel-io.ts is the real one;
 * simulations and tests pass their own. Nothing here loads netlink or libpcap.
 */
import type { Logger } from '../common/log.js';
import type { MacFrameLink } from '../link/link.js';
import type { SweepableSecy } from './session-secy.js';
import type { PortSpec } from './spec.js';

/** A SecY plus what the agents need to know about it. */
export interface SecyHandle {
  secy: SweepableSecy;
  /** Name of the macsec netdev (attached to OVS). */
  ifname: string;
  /** Optional SA/packet counters for metrics. */
  stats?(): Record<string, number> | Promise<Record<string, number>>;
}

export interface PortIo {
  openSecy(spec: PortSpec, log: Logger): SecyHandle | Promise<SecyHandle>;
  openLink(spec: PortSpec, log: Logger): MacFrameLink | Promise<MacFrameLink>;
}

export interface OpenedIo {
  secy: SecyHandle;
  link: MacFrameLink;
}

/** Opens the SecY, then the link; on failure nothing is left behind. */
export async function openPortIo(spec: PortSpec, io: PortIo, log: Logger): Promise<OpenedIo> {
  const secy = await io.openSecy(spec, log);
  try {
    return { secy, link: await io.openLink(spec, log) };
  } catch (e) {
    await secy.secy.close().catch(() => undefined);
    throw e;
  }
}
