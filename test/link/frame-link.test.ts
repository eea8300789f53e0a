import { describe, expect, it } from 'vitest';
import { eapolFilter } from '../../src/link/pcap.js';
import { ethernetFrame, formatMac, isGroupAddress, parseMac } from '../../src/link/link.js';
import { PAE_GROUP_ADDRESS } from '../../src/mka/constants.js';

describe('frame helpers', () => {
  it('builds Ethernet frames and parses MACs', () => {
    const mac = parseMac('02:00:00:00:00:0a');
    const f = ethernetFrame(PAE_GROUP_ADDRESS, mac, 0x888e, Uint8Array.of(3, 5, 0, 0));
    expect(Buffer.from(f).toString('hex')).toBe('0180c200000302000000000a888e03050000');
    expect(formatMac(mac)).toBe('02:00:00:00:00:0a');
    expect(isGroupAddress(PAE_GROUP_ADDRESS)).toBe(true);
    expect(isGroupAddress(mac)).toBe(false);
    expect(() => parseMac('02:00')).toThrow(/invalid MAC/);
  });

  it('capture filter: EAPOL, not from us, to us or a group', () => {
    const mac = parseMac('02:00:00:00:00:0a');
    expect(eapolFilter(mac, [PAE_GROUP_ADDRESS])).toBe(
      'ether proto 0x888e and not ether src 02:00:00:00:00:0a and (ether dst 02:00:00:00:00:0a or ether dst 01:80:c2:00:00:03)',
    );
    expect(eapolFilter(mac, [PAE_GROUP_ADDRESS], { anyDestination: true, includeOwn: true })).toBe('ether proto 0x888e');
  });
});

describe('MemoryHub', () => {
  it('delivers group frames to the others and unicast only to its owner', async () => {
    const { MemoryHub } = await import('../../src/link/memory.js');
    const hub = new MemoryHub();
    const [a, b, c] = ['0a', '0b', '0c'].map((x) => hub.connect(parseMac(`02:00:00:00:00:${x}`)));
    const got: Record<string, string[]> = { a: [], b: [], c: [] };
    a!.onFrame((f) => got.a!.push(Buffer.from(f).toString('hex')));
    b!.onFrame((f) => got.b!.push(Buffer.from(f).toString('hex')));
    c!.onFrame((f) => got.c!.push(Buffer.from(f).toString('hex')));
    const g = ethernetFrame(PAE_GROUP_ADDRESS, a!.mac, 0x888e, Uint8Array.of(1));
    const u = ethernetFrame(c!.mac, a!.mac, 0x888e, Uint8Array.of(2));
    a!.send(g);
    a!.send(u);
    await new Promise((r) => setImmediate(r));
    const hx = (f: Uint8Array) => Buffer.from(f).toString('hex');
    expect(got).toEqual({ a: [], b: [hx(g)], c: [hx(g), hx(u)] });
    b!.close();
    a!.send(g);
    await new Promise((r) => setImmediate(r));
    expect(got.b).toHaveLength(1);
    expect(got.c).toHaveLength(3);
  });
});
