import { createHash } from 'node:crypto';

/** A stable, locally administered unicast MAC for a simulated interface. */
export function simMac(agentId: string, iface: string): Uint8Array {
  const h = createHash('sha256').update(`${agentId}/${iface}`).digest();
  const mac = new Uint8Array(h.subarray(0, 6));
  mac[0] = (mac[0]! & 0xfc) | 0x02;
  return mac;
}
