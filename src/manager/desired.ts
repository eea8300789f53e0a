/**
 * What each agent must run, computed from the store's ports and channels. Pure: the same ports
 * and channels always give the same desired state, so a port whose fingerprint is unchanged keeps
 * its running session across reconnects and manager restarts.
 */
import { createHash } from 'node:crypto';
import { DesiredPort, type DesiredState } from '../control/gen/macsec/v1/agent.js';
import { PortMode, type PortStatus } from '../control/gen/macsec/v1/types.js';
import type { Endpoint } from './model.js';
import { stableJson } from './stable-json.js';
import { chainOf, rekeyed } from './key-chain.js';
import type { StoredChannel, StoredPort } from './store/store.js';

export const endpointKey = (e: Endpoint): string => `${e.agentId}/${e.switchPort}`;

/** The channel a port belongs to (a port is in at most one). */
export const channelOfPort = (channels: readonly StoredChannel[], pid: string): StoredChannel | undefined =>
  channels.find((c) => c.endpoints.some((e) => endpointKey(e) === pid));

/**
 * Identifies a port's configuration as the agent runs it. The key enters only through its
 * random keyId, so the fingerprint (which agents report back) reveals nothing of the CAK. A PSK
 * port of a channel whose key chain changed also covers the chain (ids, start times, lifetimes);
 * a channel never re-keyed, and an EAP port, keeps the fingerprint it always had.
 */
export function portFingerprint(p: StoredPort, ch: StoredChannel | undefined, allowedVnfIds: readonly string[]): string {
  const chain = ch && p.mode === PortMode.PORT_MODE_PSK && rekeyed(ch) ? chainOf(ch).map((k) => [k.keyId, k.startMs, k.lifetimeS]) : undefined;
  const config = {
    i: p.interface,
    m: p.mode,
    p: p.policy,
    o: p.ovsBridge,
    r: p.radius ?? null,
    c: ch?.id ?? '',
    k: ch?.keyId ?? '',
    a: allowedVnfIds,
    ...(chain ? { n: chain } : {}),
  };
  return createHash('sha256').update(stableJson(config)).digest('hex').slice(0, 32);
}

/** One agent's ports as it must run them, in the order given (channels: at least those of the agent). */
export function desiredFor(agentId: string, ports: readonly StoredPort[], channels: readonly StoredChannel[]): DesiredPort[] {
  const channelOf = new Map<string, StoredChannel>();
  for (const c of channels) for (const e of c.endpoints) if (e.agentId === agentId && !channelOf.has(endpointKey(e))) channelOf.set(endpointKey(e), c);
  return ports
    .filter((p) => p.agentId === agentId)
    .map((p) => {
      const ch = channelOf.get(p.id);
      const allowed = ch ? ch.endpoints.filter((e) => endpointKey(e) === p.id).map((e) => e.vnfId) : [];
      const psk = ch && p.mode === PortMode.PORT_MODE_PSK ? { cak: Buffer.from(ch.cak), ckn: Buffer.from(ch.ckn) } : undefined;
      // The whole chain (first = psk) only while there is more than one key.
      const chain = psk && ch ? chainOf(ch) : [];
      const pskKeys =
        chain.length > 1 ? chain.map((k) => ({ cak: Buffer.from(k.cak), ckn: Buffer.from(k.ckn), startTimeMs: k.startMs, lifetimeSeconds: k.lifetimeS })) : [];
      return {
        portId: p.id,
        interface: p.interface,
        mode: p.mode,
        policy: p.policy,
        ovsBridge: p.ovsBridge,
        radius: p.radius,
        channelId: ch?.id ?? '',
        psk,
        allowedVnfIds: allowed,
        fingerprint: portFingerprint(p, ch, allowed),
        keepAsIs: false,
        pskKeys,
      };
    });
}

/**
 * A port an agent runs for another (or an unknown) store. It is kept running as it is until an
 * operator adopts (OpenPort) or closes (ClosePort) it; rebuilt from each agent's Hello.
 */
export interface Orphan {
  agentId: string;
  storeId: string;
  fingerprint: string;
  status: PortStatus;
}

/** The desired state pushed to an agent: its ports, plus its orphans pinned as they run. */
export function desiredState(
  agentId: string,
  revision: number,
  ports: readonly StoredPort[],
  channels: readonly StoredChannel[],
  orphans: ReadonlyMap<string, Orphan>,
): DesiredState {
  const pinned = [...orphans]
    .filter(([, o]) => o.agentId === agentId)
    .map(([pid, o]) => DesiredPort.fromPartial({ portId: pid, interface: pid.slice(agentId.length + 1), fingerprint: o.fingerprint, keepAsIs: true }));
  return { revision, ports: [...desiredFor(agentId, ports, channels), ...pinned] };
}
