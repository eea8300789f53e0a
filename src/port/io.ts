/**
 * The kernel and wire side of a port, behind one ops table (PortIo) that startPort uses as its
 * only path to them: a SecY (the macsec link) and the EAPOL link. kernel-io.ts is the real one;
 * simulations and tests pass their own. Nothing here loads netlink or libpcap.
 */
import type { Logger } from '../common/log.js';
import type { AdoptedSecy } from '../mka/adopted.js';
import { toHex } from '../common/hex.js';
import type { MacFrameLink } from '../link/link.js';
import type { SciPorts } from './sci-ports.js';
import type { SweepableSecy } from './session-secy.js';
import type { PortSpec } from './spec.js';

/** A SecY plus what the agents need to know about it. */
export interface SecyHandle {
  secy: SweepableSecy;
  /** Name of the macsec netdev (attached to OVS). */
  ifname: string;
  /** Optional SA/packet counters for metrics. */
  stats?(): Record<string, number> | Promise<Record<string, number>>;
  /** SAs an earlier run left on an adopted link (PortSpec.adopt), for KayConfig.adopted. */
  adopted?: AdoptedSecy;
}

export interface PortIo {
  openSecy(spec: PortSpec, log: Logger): SecyHandle | Promise<SecyHandle>;
  openLink(spec: PortSpec, log: Logger): MacFrameLink | Promise<MacFrameLink>;
}

export interface OpenedIo {
  secy: SecyHandle;
  link: MacFrameLink;
  /** The spec with the SCI port identifier the SecY was opened with. */
  spec: PortSpec & { sciPort: number };
  /** Frees the SCI port identifier (once the port has stopped). Idempotent. */
  releaseSciPort(): void;
}

/**
 * Opens the link (its MAC is the SCI's), takes an SCI port identifier from `sciPorts` (without
 * one: the spec's, else 1), then opens the SecY with it; on failure nothing is left behind.
 */
export async function openPortIo(spec: PortSpec, io: PortIo, log: Logger, sciPorts?: SciPorts): Promise<OpenedIo> {
  const link = await io.openLink(spec, log);
  let sciPort = spec.sciPort ?? 1;
  let held = false;
  const releaseSciPort = () => {
    if (!held) return;
    held = false;
    sciPorts!.release(link.mac, sciPort);
  };
  try {
    if (sciPorts) {
      sciPort = sciPorts.allocate(link.mac);
      held = true;
    }
    const withPort = { ...spec, sciPort };
    log.info('SCI assigned', {
      sci: `${toHex(link.mac)}${sciPort.toString(16).padStart(4, '0')}`,
      sciPort,
      ...(sciPort !== 1 ? { why: 'another port of this agent has the same MAC' } : {}),
    });
    const secy = await io.openSecy(withPort, log);
    return { secy, link, spec: withPort, releaseSciPort };
  } catch (e) {
    releaseSciPort();
    await Promise.resolve(link.close()).catch(() => undefined);
    throw e;
  }
}
