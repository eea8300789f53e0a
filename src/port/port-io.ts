/**
 * The kernel side of one standalone-agent port, whatever its mode: the macsec link on the
 * parent interface (kernel SecY) and the EAPOL link on the parent (pcap).
 */
import type { MkaPortConfig } from '../agent/psk/config.js';
import type { Logger } from '../control/log.js';
import { EapolLink } from '../link/pcap.js';
import { createMacsecPort, type KernelSecy } from '../netlink/kernel-secy.js';
import { Rtnl } from '../netlink/rtnl.js';

export interface PortIo {
  secy: KernelSecy;
  link: EapolLink;
}

/** Creates the macsec link and opens EAPOL I/O; on failure nothing is left behind. */
export async function openPortIo(p: MkaPortConfig, log: Logger): Promise<PortIo> {
  await removeStaleMacsecLink(p.interface, p.macsecName, log);
  const secy = await createMacsecPort(p.interface, {
    name: p.macsecName,
    cipherSuite: p.cipherSuite,
    encrypt: p.confidentialityOffset !== null,
    replayProtect: p.replayWindow !== null,
    replayWindow: p.replayWindow ?? 0,
    validate: 'strict',
  });
  try {
    const link = await EapolLink.open(p.interface, {
      destination: p.destination,
      onError: (err) => log.warn('EAPOL I/O error', { error: err.message }),
    });
    return { secy, link };
  } catch (e) {
    await secy.close();
    throw e;
  }
}

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
