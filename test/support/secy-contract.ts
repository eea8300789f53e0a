/**
 * The SecY contract: what the KaY driver relies on from every Secy (src/mka/secy.ts), written
 * once and run against each implementation (like noble-ciphers runs one suite over every
 * cipher). Framework-free (node:assert) so the same cases also run inside the UML guest against
 * the kernel SecY (test/lab/secy/scenario-kernel.ts), where vitest does not run.
 */
import assert from 'node:assert/strict';
import type { Secy, SecyAction } from '../../src/mka/secy.js';

export interface ContractCase {
  name: string;
  run(): Promise<void>;
}

/** `make`: a fresh SecY (GCM-AES-128, confidentiality offset 0) for each case. */
export type SecyMaker = () => Promise<Secy>;

const PEER = '02000000000b0001';
const SAK = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
const KI = `${'ab'.repeat(12)}00000001`;

const txSa = (an: number, nextPn: bigint): SecyAction => ({ kind: 'installTxSa', an, nextPn, ki: KI, sak: SAK });
const rxSa = (an: number): SecyAction => ({ kind: 'installRxSa', sci: PEER, an, lowestPn: 1n, ki: KI, sak: SAK });

async function withSecy(make: SecyMaker, body: (s: Secy) => Promise<void>): Promise<void> {
  const s = await make();
  try {
    await body(s);
  } finally {
    await s.close();
  }
}

export function secyContract(make: SecyMaker): ContractCase[] {
  const c = (name: string, body: (s: Secy) => Promise<void>): ContractCase => ({ name, run: () => withSecy(make, body) });
  return [
    c('reports the next PN of each installed TX SA', async (s) => {
      await s.apply(txSa(0, 100n));
      await s.apply(txSa(1, 7n));
      const pn = await s.readPn();
      assert.equal(pn.txNextPn.get(0), 100n);
      assert.equal(pn.txNextPn.get(1), 7n);
    }),
    c('a deleted TX SA is no longer reported', async (s) => {
      await s.apply(txSa(2, 1n));
      await s.apply({ kind: 'enableTxSa', an: 2, enable: true });
      await s.apply({ kind: 'enableTxSa', an: 2, enable: false });
      await s.apply({ kind: 'deleteTxSa', an: 2 });
      assert.equal((await s.readPn()).txNextPn.has(2), false);
    }),
    c('an RX SA lives on its RX SC: create, install, enable, delete', async (s) => {
      await s.apply({ kind: 'createRxSc', sci: PEER });
      await s.apply(rxSa(0));
      await s.apply({ kind: 'enableRxSa', sci: PEER, an: 0, enable: true });
      const pn = await s.readPn();
      // Receive PNs are optional; a SecY that reports them reports the installed SA.
      if (pn.rxLowestPn) assert.equal(pn.rxLowestPn.has(`${PEER}/0`), true);
      await s.apply({ kind: 'enableRxSa', sci: PEER, an: 0, enable: false });
      await s.apply({ kind: 'deleteRxSa', sci: PEER, an: 0 });
      await s.apply({ kind: 'deleteRxSc', sci: PEER });
      assert.equal((await s.readPn()).rxLowestPn?.has(`${PEER}/0`) ?? false, false);
    }),
    c('protection and the controlled port can be switched on and off', async (s) => {
      await s.apply({ kind: 'setCipherSuite', cipherSuite: 'GCM-AES-128', confidentialityOffset: 0 });
      await s.apply({ kind: 'setProtect', protectFrames: true, validate: 'strict' });
      await s.apply({ kind: 'setControlledPortEnabled', enabled: true });
      await s.apply({ kind: 'setControlledPortEnabled', enabled: false });
      await s.apply({ kind: 'setProtect', protectFrames: false, validate: 'disabled' });
    }),
    c('actions are applied in order even when not awaited one by one', async (s) => {
      await Promise.all([txSa(3, 5n), { kind: 'deleteTxSa', an: 3 } as SecyAction, txSa(3, 9n)].map((a) => s.apply(a)));
      assert.equal((await s.readPn()).txNextPn.get(3), 9n);
    }),
    {
      name: 'refuses actions once closed; close is idempotent',
      run: async () => {
        const s = await make();
        await s.close();
        await s.close();
        await assert.rejects(async () => s.apply(txSa(0, 1n)));
      },
    },
  ];
}
