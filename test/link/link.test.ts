/** The FrameLink contract (test/support/link-contract.ts) against the simulated links: memory hub (both kinds of link) and UDP relay. */
import { describe, it } from 'vitest';
import type { FrameLink } from '../../src/link/link.js';
import { MemoryHub } from '../../src/link/memory.js';
import { UdpLink, UdpRelay } from '../../src/link/udp.js';
import { linkContract, type LanMaker } from '../support/link-contract.js';

const three = <T>(f: (i: number) => T): [T, T, T] => [f(0), f(1), f(2)];

const IMPLEMENTATIONS: [string, LanMaker][] = [
  [
    'MemoryHub.link',
    async () => {
      const hub = new MemoryHub();
      return { links: three(() => hub.link('lan')), close: () => {} };
    },
  ],
  [
    'MemoryHub.connect (stations)',
    async () => {
      const hub = new MemoryHub();
      return { links: three((i) => hub.connect(Uint8Array.of(2, 0, 0, 0, 1, i)) as FrameLink), close: () => {} };
    },
  ],
  [
    'UdpLink over UdpRelay',
    async () => {
      const relay = new UdpRelay();
      const port = await relay.start(0);
      const links = three(() => new UdpLink('lan', port));
      // Each link registers with its first datagram; let the relay learn all three.
      await Promise.all(links.map((l) => l.send(new Uint8Array(0))));
      await new Promise((r) => setTimeout(r, 50));
      return { links, close: () => relay.close() };
    },
  ],
];

for (const [name, make] of IMPLEMENTATIONS)
  describe(`FrameLink contract: ${name}`, () => {
    for (const c of linkContract(make)) it(c.name, c.run);
  });
