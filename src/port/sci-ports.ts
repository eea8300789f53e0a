/**
 * SCI port identifiers of one agent process. The SCI is the port's MAC and a 16-bit port
 * identifier; two ports of one agent with the same MAC (VLAN sub-interfaces, bonds, veths given
 * one MAC) and one CAK must not send the same SCI, or their peers cannot tell them apart and no
 * key server is elected. A port whose MAC no other running port of the agent uses gets port 1
 * (the SCI wpa_supplicant would use, stable across restarts); a port whose MAC is already in use
 * gets the lowest free identifier from 2. startPort allocates one before it opens the SecY, so
 * the KaY's SCI and the macsec link's SCI are the same, and releases it when the port stops.
 */
import { toHex } from '../common/hex.js';

const MAX_PORT = 0xffff;

export class SciPorts {
  /** Ports in use by MAC (hex), and the lowest identifier from 2 that may be free. */
  private readonly byMac = new Map<string, { used: Set<number>; hint: number }>();

  /** The port identifier for a new port with this MAC. */
  allocate(mac: Uint8Array): number {
    const key = macKey(mac);
    const entry = this.byMac.get(key);
    if (!entry || entry.used.size === 0) {
      this.byMac.set(key, { used: new Set([1]), hint: 2 });
      return 1;
    }
    let p = entry.hint;
    while (p <= MAX_PORT && entry.used.has(p)) p++;
    if (p > MAX_PORT) throw new RangeError(`no free SCI port identifier for MAC ${key}`);
    entry.used.add(p);
    entry.hint = p + 1;
    return p;
  }

  /** The port stopped: its identifier is free again. */
  release(mac: Uint8Array, port: number): void {
    const key = macKey(mac);
    const entry = this.byMac.get(key);
    if (!entry?.used.delete(port)) return;
    if (entry.used.size === 0) this.byMac.delete(key);
    else if (port >= 2) entry.hint = Math.min(entry.hint, port);
  }

  /** Identifiers in use for a MAC, ascending. */
  inUse(mac: Uint8Array): number[] {
    return [...(this.byMac.get(macKey(mac))?.used ?? [])].sort((a, b) => a - b);
  }
}

function macKey(mac: Uint8Array): string {
  if (!(mac instanceof Uint8Array) || mac.length !== 6) throw new TypeError('a MAC address is 6 octets');
  return toHex(mac);
}
