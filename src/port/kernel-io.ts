/**
 * The real PortIo: a macsec link on the parent interface over netlink, EAPOL through libpcap.
 * Both agents create their kernel SecY here, so they set it up the same way.
 */
import type { Logger } from '../common/log.js';
import { EapolLink } from '../link/pcap.js';
import { adoptMacsecPort, createMacsecPort } from '../netlink/kernel-secy.js';
import { Rtnl } from '../netlink/rtnl.js';
import type { PortIo, SecyHandle } from './io.js';
import type { PortSpec } from './spec.js';

/**
 * Our mark on the macsec links we create (IFLA_IFALIAS): a restarted agent adopts a link only if
 * it carries the mark of the same port, besides name, parent, SCI and cipher suite.
 */
export function ownerMark(spec: PortSpec): string {
  return `macsec-nfv port=${spec.name}`;
}

/** The one kernel SecY setup: replay protection and window come from the spec, for every agent. */
export async function openKernelSecy(spec: PortSpec, log: Logger): Promise<SecyHandle> {
  if (spec.adopt) {
    const adopted = await adoptOurLink(spec, log);
    if (adopted) return adopted;
  }
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
  try {
    await markLink(secy.ifindex, ownerMark(spec));
  } catch (e) {
    log.warn('could not mark the macsec link (a restart will re-create it instead of adopting it)', { macsec: spec.macsecName, error: (e as Error).message });
  }
  return { secy, ifname: spec.macsecName };
}

async function markLink(index: number, mark: string): Promise<void> {
  const rtnl = Rtnl.open();
  try {
    await rtnl.setAlias(index, mark);
  } finally {
    rtnl.close();
  }
}

/**
 * The link an earlier run of this port left (SIGKILL, or a planned restart with suspension):
 * ours if it has our name, our parent, our mark, our SCI and our cipher suite. Adopted with its
 * SAs, which keep carrying traffic until the new KaY's key is in use. Anything else: null.
 */
async function adoptOurLink(spec: PortSpec, log: Logger): Promise<SecyHandle | null> {
  const rtnl = Rtnl.open();
  let found;
  try {
    const links = await rtnl.listLinks();
    const link = links.find((l) => l.name === spec.macsecName);
    const parent = links.find((l) => l.name === spec.interface);
    if (!link || !parent || link.kind !== 'macsec' || link.parentIndex !== parent.index || link.alias !== ownerMark(spec)) return null;
    found = { parentMac: parent.mac };
  } catch (e) {
    log.warn('could not look for a macsec link to adopt', { macsec: spec.macsecName, error: (e as Error).message });
    return null;
  } finally {
    rtnl.close();
  }
  const { secy, adopted } = await adoptMacsecPort(spec.macsecName);
  const wantSci = `${Buffer.from(found.parentMac).toString('hex')}${(spec.sciPort ?? 1).toString(16).padStart(4, '0')}`;
  if (secy.sci !== wantSci || secy.cipherSuite !== spec.secy.cipherSuite) {
    log.warn('macsec link of an earlier run has other settings: re-creating it', { macsec: spec.macsecName, sci: secy.sci, cipherSuite: secy.cipherSuite });
    await secy.detach();
    return null;
  }
  log.info('adopted the macsec link of an earlier run: its SAs stay in use until the new session secures', {
    macsec: spec.macsecName,
    txSas: adopted.txAns.length,
    rxSas: adopted.rxScs.reduce((n, sc) => n + sc.ans.length, 0),
    controlledPortEnabled: adopted.controlledPortEnabled,
  });
  return { secy, ifname: spec.macsecName, adopted };
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
