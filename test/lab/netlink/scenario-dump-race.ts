/**
 * Regression scenario (run inside the UML lab by dump-race.lab.test.ts): KernelSecy.readPn() (a GET_TXSC
 * dump) issued while apply() adds/deletes SAs on the same generic-netlink socket. KernelSecy
 * queues apply() calls but not dumps. Prints one JSON line with the error counts.
 *   usage: node --import tsx test/lab/netlink/scenario-dump-race.ts <parent-if> <rounds>
 */
import { createMacsecPort } from '../../../src/netlink/kernel-secy.js';

const [parent = 'va', roundsArg = '200'] = process.argv.slice(2);
const rounds = Number(roundsArg);
const secy = await createMacsecPort(parent, { name: 'msrace', cipherSuite: 'GCM-AES-128' });
const sci = '0200000000bb0001';
const ki = (n: number) => 'aa'.repeat(12) + n.toString(16).padStart(8, '0');
const errors: Record<string, number> = {};
const note = (where: string, e: unknown) => {
  const k = `${where}: ${(e as Error).message.replace(/ifindex \d+/, 'ifindex N')}`;
  errors[k] = (errors[k] ?? 0) + 1;
};
let dumps = 0;
await secy.apply({ kind: 'createRxSc', sci });
for (let i = 0; i < rounds; i++) {
  const sak = new Uint8Array(16).fill(i & 0xff);
  // Dump first: does an SA operation issued while a dump is in flight fail?
  const first = secy.readPn().then(
    () => dumps++,
    (e) => note('readPn(first)', e),
  );
  const ops: Promise<unknown>[] = [
    first,
    secy.apply({ kind: 'installRxSa', sci, an: 0, lowestPn: 1n, ki: ki(i), sak }).catch((e) => note('installRxSa', e)),
    secy.readPn().then(
      () => dumps++,
      (e) => note('readPn', e),
    ),
    secy.apply({ kind: 'installTxSa', an: 0, nextPn: 1n, ki: ki(i), sak }).catch((e) => note('installTxSa', e)),
    secy.readPn().then(
      () => dumps++,
      (e) => note('readPn', e),
    ),
    secy.apply({ kind: 'deleteRxSa', sci, an: 0 }).catch((e) => note('deleteRxSa', e)),
    secy.apply({ kind: 'deleteTxSa', an: 0 }).catch((e) => note('deleteTxSa', e)),
  ];
  await Promise.all(ops);
}
await secy.close();
process.stdout.write(`${JSON.stringify({ rounds, dumpsOk: dumps, errors })}\n`);
process.exit(0);
