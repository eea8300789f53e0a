/** The SecY contract (test/support/secy-contract.ts) against the simulated SecYs; the kernel one runs it in UML (test/lab/secy/kernel-contract.lab.test.ts). */
import { describe, it } from 'vitest';
import { RecordingSecy } from '../../src/secy/recording.js';
import { SimulatedSecy } from '../../src/secy/simulated.js';
import { secyContract, type SecyMaker } from '../support/secy-contract.js';

const IMPLEMENTATIONS: [string, SecyMaker][] = [
  ['RecordingSecy', async () => new RecordingSecy()],
  [
    'SimulatedSecy',
    async () => {
      const s = new SimulatedSecy();
      // The strict model must also have nothing to object to.
      const close = s.close.bind(s);
      s.close = async () => {
        await close();
        if (s.errors.length) throw new Error(`SimulatedSecy objected: ${s.errors.join('; ')}`);
      };
      return s;
    },
  ],
];

for (const [name, make] of IMPLEMENTATIONS)
  describe(`SecY contract: ${name}`, () => {
    for (const c of secyContract(make)) it(c.name, c.run);
  });
