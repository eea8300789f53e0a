/**
 * The SecY contract (test/support/secy-contract.ts, the suite the simulated SecYs pass on the host) against
 * KernelSecy on the real macsec code of a UML 6.1 kernel.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readOutJson, runLab, type LabResult, type ScenarioResult } from '../uml.js';
import { secyContract } from '../../support/secy-contract.js';

const SCENARIO = `
lab_netns a b
lab_veth a va b vb 02:00:00:00:00:0a 02:00:00:00:00:0b
lab_in a node --import tsx "$REPO/test/lab/secy/scenario-kernel.ts" "$OUT"
`;

describe('SecY contract: KernelSecy (UML)', () => {
  let lab: LabResult;
  let s: ScenarioResult;
  let results: { name: string; ok: boolean; error?: string }[];

  beforeAll(async () => {
    lab = await runLab({ scenarios: [{ name: 'secy-contract', script: SCENARIO, timeoutMs: 120_000 }] });
    s = lab.scenario('secy-contract');
    console.log(`UML boot ${lab.bootMs} ms, scenario ${s.durationMs} ms, total ${lab.totalMs} ms (${lab.runDir})`);
    results = readOutJson(s, 'contract.json');
  }, 240_000);

  it('ran every case of the contract', () => {
    expect(results.map((r) => r.name)).toEqual(secyContract(async () => Promise.reject(new Error('not run'))).map((c) => c.name));
  });

  for (const c of secyContract(async () => Promise.reject(new Error('not run'))))
    it(c.name, () => {
      const r = results.find((x) => x.name === c.name);
      expect(r?.ok, r?.error ?? `${s.stdout}\n${s.stderr}`).toBe(true);
    });
});
