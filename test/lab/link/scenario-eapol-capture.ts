/**
 * Inside a namespace: open an EapolLink, print READY, record frames for <ms>,
 * close, write {mac, frames: [hex]} to <outFile>.
 *   node --import tsx test/lab/link/scenario-eapol-capture.ts <ifname> <outFile> <ms>
 */
import { writeFileSync } from 'node:fs';
import { EapolLink } from '../../../src/link/pcap.js';
import { formatMac } from '../../../src/link/link.js';

const [ifname, outFile, ms] = process.argv.slice(2) as [string, string, string];
const link = await EapolLink.open(ifname);
const frames: { t: number; hex: string }[] = [];
const t0 = Date.now();
link.onFrame((f) => frames.push({ t: Date.now() - t0, hex: Buffer.from(f).toString('hex') }));
console.log('READY');
await new Promise((r) => setTimeout(r, Number(ms)));
link.close();
writeFileSync(outFile, JSON.stringify({ mac: formatMac(link.mac), filter: link.filter, stats: link.stats, frames }, null, 2));
