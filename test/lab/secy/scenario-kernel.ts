/**
 * Lab scenario (runs INSIDE the UML guest, in a namespace with interface `va`):
 *   node --import tsx test/lab/secy/scenario-kernel.ts <outDir>
 * Runs the SecY contract (test/support/secy-contract.ts) against KernelSecy, one fresh macsec link per case, and
 * writes <outDir>/contract.json: [{name, ok, error?}], read by kernel-contract.lab.test.ts.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createMacsecPort } from '../../../src/netlink/kernel-secy.js';
import { secyContract } from '../../support/secy-contract.js';

const [outDir] = process.argv.slice(2) as [string];
const results: { name: string; ok: boolean; error?: string }[] = [];
const make = () =>
  createMacsecPort('va', { name: 'mscontract0', cipherSuite: 'GCM-AES-128', encrypt: true, replayProtect: true, replayWindow: 0, validate: 'strict' });
for (const c of secyContract(make)) {
  try {
    await c.run();
    results.push({ name: c.name, ok: true });
  } catch (e) {
    results.push({ name: c.name, ok: false, error: (e as Error).stack ?? String(e) });
  }
}
writeFileSync(join(outDir, 'contract.json'), JSON.stringify(results, null, 2));
process.exit(results.every((r) => r.ok) ? 0 : 1);
