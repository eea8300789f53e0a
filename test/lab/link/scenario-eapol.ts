/**
 * EapolLink scenario, run inside a network namespace the test created:
 *   node --import tsx test/lab/link/scenario-eapol.ts <recv|send> <ifname> <peerMac> <outFile> [--dest <mac>]
 * recv: opens the link, prints READY, records every frame, answers each EAPOL
 *       frame with one EAPOL frame to the sender's unicast MAC, stops after
 *       RECV_MS (default 1500 ms) of quiet.
 * send: opens the link, sends the test frames, records frames received for
 *       RECV_MS, then closes.
 * Both write {mac, received: [hex], flags...} to outFile and exit without process.exit
 * (so a hanging pcap handle would show up as a timeout).
 */
import { writeFileSync } from 'node:fs';
import { EapolLink } from '../../../src/link/pcap.js';
import { ethernetFrame, formatMac, parseMac } from '../../../src/link/link.js';
import { PAE_GROUP_ADDRESS } from '../../../src/mka/constants.js';
import { Rtnl } from '../../../src/netlink/rtnl.js';
import { IFF_ALLMULTI } from '../../../src/netlink/uapi.js';

const [role, ifname, peerMacStr, outFile] = process.argv.slice(2) as [string, string, string, string];
const destArg = process.argv.indexOf('--dest');
const destination = destArg > 0 ? parseMac(process.argv[destArg + 1]!) : undefined;
const QUIET_MS = Number(process.env.RECV_MS ?? 1500);
const peerMac = parseMac(peerMacStr);

async function allmulti(): Promise<boolean> {
  const r = Rtnl.open();
  try {
    return ((await r.getLink(ifname)).flags & IFF_ALLMULTI) !== 0;
  } finally {
    r.close();
  }
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const eapolPayload = (tag: number): Uint8Array => Uint8Array.of(0x03, 0x05, 0x00, 0x04, 0xde, 0xad, 0xbe, tag); // v3, MKA, len 4

async function main(): Promise<void> {
  const allmultiBefore = await allmulti();
  const link = await EapolLink.open(ifname, destination ? { destination } : {});
  const errors: string[] = [];
  link.onError((e) => errors.push(e.message));
  const received: string[] = [];
  let last = Date.now();
  link.onFrame((f) => {
    received.push(hex(f));
    last = Date.now();
    if (role === 'recv' && f.length >= 14 && f[12] === 0x88 && f[13] === 0x8e) {
      link.send(ethernetFrame(peerMac, link.mac, 0x888e, eapolPayload(0xa0 + received.length)));
    }
    if (f.length >= 15 && f[14] === 0xee) throw new Error('receiver bug on purpose'); // must be reported, not crash
  });
  const allmultiOpen = await allmulti();
  const dest = link.destination;

  if (role === 'recv') {
    console.log('READY');
  } else {
    const frames: [string, Uint8Array][] = [
      ['eapol-to-group', ethernetFrame(dest, link.mac, 0x888e, eapolPayload(1))],
      ['eapol-to-peer-unicast', ethernetFrame(peerMac, link.mac, 0x888e, eapolPayload(2))],
      ['not-eapol-to-group', ethernetFrame(PAE_GROUP_ADDRESS, link.mac, 0x88b5, eapolPayload(3))],
      ['not-eapol-to-peer', ethernetFrame(peerMac, link.mac, 0x0800, eapolPayload(4))],
      ['eapol-to-other-unicast', ethernetFrame(Uint8Array.of(2, 0, 0, 0, 0, 0x99), link.mac, 0x888e, eapolPayload(5))],
      ['eapol-short', Uint8Array.of(...peerMac, ...link.mac, 0x88, 0x8e, 0x03)],
      ['eapol-receiver-throws', ethernetFrame(peerMac, link.mac, 0x888e, Uint8Array.of(0xee, 0, 0, 0))],
    ];
    for (const [, f] of frames) {
      link.send(f);
      await new Promise((r) => setTimeout(r, 20));
    }
    writeFileSync(`${outFile}.sent.json`, JSON.stringify(Object.fromEntries(frames.map(([n, f]) => [n, hex(f)]))));
  }
  await new Promise<void>((resolve) => {
    const t = setInterval(() => {
      if (Date.now() - last > QUIET_MS) {
        clearInterval(t);
        resolve();
      }
    }, 50);
  });
  const stats = { ...link.stats };
  link.close();
  await new Promise((r) => setTimeout(r, 100));
  const allmultiAfter = await allmulti();
  writeFileSync(
    outFile,
    JSON.stringify(
      {
        role,
        mac: formatMac(link.mac),
        destination: formatMac(dest),
        filter: link.filter,
        received,
        errors,
        stats,
        allmultiBefore,
        allmultiOpen,
        allmultiAfter,
      },
      null,
      2,
    ),
  );
  // no process.exit(): the process must end by itself once the link is closed
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
