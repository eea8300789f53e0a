/**
 * The real PortIo: a macsec link on the parent interface over netlink, EAPOL through libpcap.
 * Both agents create their kernel SecY here, so they set it up the same way.
 */
import type { Logger } from '../common/log.js';
import { EapolLink } from '../link/pcap.js';
import { createMacsecPort } from '../netlink/kernel-secy.js';
import { Rtnl } from '../netlink/rtnl.js';
import type { PortIo, SecyHandle } from './io.js';
import type { PortSpec } from './spec.js';

/** The one kernel SecY setup: replay protection and window come from the spec, for every agent. */
export async function openKernelSecy(spec: PortSpec, log: Logger): Promise<SecyHandle> {
  await removeStaleMacsecLink(spec.interface, spec.macsecName, log);
  const secy = await createMacsecPort(spec.interface, {
    name: spec.macsecName,
    port: spec.sciPort ?? 1, // the KaY's SCI port identifier too
    cipherSuite: spec.secy.cipherSuite,
    encrypt: spec.secy.confidentialityOffset !== null,
    replayProtect: spec.secy.replayWindow !== null,
    replayWindow: spec.secy.replayWindow ?? 0,
    validate: 'strict',
  });
  return { secy, ifname: spec.macsecName };
}

/** EAPOL on the parent interface through libpcap. */
export function openPcapLink(iface: string, log: Logger, destination?: Uint8Array): Promise<EapolLink> {
  return EapolLink.open(iface, {
    ...(destination ? { destination } : {}),
    onError: (err) => log.warn('EAPOL I/O error', { interface: iface, error: err.message }),
  });
}

export const kernelIo: PortIo = {
  openSecy: openKernelSecy,
  openLink: (spec, log) => openPcapLink(spec.interface, log, spec.mka.destination),
};

/**
 * A run that was killed (SIGKILL, OOM, crash) leaves its macsec link behind, and creating it
 * again fails with EEXIST. A link with our configured name that is a macsec link on our
 * configured parent is such a leftover: delete it. Anything else with that name is left alone
 * (creating the port then fails with a clear EEXIST).
 */
async function removeStaleMacsecLink(parent: string, name: string, log: Logger): Promise<void> {
  const rtnl = Rtnl.open();
  try {
    const links = await rtnl.listLinks();
    const stale = links.find((l) => l.name === name);
    const parentLink = links.find((l) => l.name === parent);
    if (!stale || !parentLink || stale.kind !== 'macsec' || stale.parentIndex !== parentLink.index) return;
    await rtnl.deleteLink(stale.index, name);
    log.warn('deleted a stale macsec link left by an earlier run', { macsec: name, interface: parent });
  } catch (e) {
    log.warn('could not check for a stale macsec link', { macsec: name, error: (e as Error).message });
  } finally {
    rtnl.close();
  }
}
