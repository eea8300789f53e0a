/**
 * The README's demo as a CI test: the whole system in the UML kernel lab, driven by an
 * OSM-LCM-like Python client. The timeline must show every step passing, the channel secured,
 * the ping through the OVS bridge with no clear frames on the VNF links, a rekey under traffic
 * with no loss, and a clean teardown.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runDemo, type DemoResult } from '../../../demo/run.js';

describe('whole-system demo (UML lab)', () => {
  let res: DemoResult;

  it('runs every step green', async () => {
    res = await runDemo();
    const failed = res.timeline.filter((s) => !s.ok).map((s) => `${s.step}: ${s.detail}`);
    expect(failed).toEqual([]);
    expect(res.scenario.exitCode).toBe(0);
    expect(res.ok).toBe(true);
  }, 420_000);

  it('shows the orchestrator call, the channel secured, the encrypted ping and the lossless rekey', () => {
    const step = (n: string) => res.timeline.find((s) => s.step === n);
    expect(step('orchestrator')?.detail).toBe('LCM day-1 over mTLS: config OK, health-check OK, create-secure-channel OK');
    expect(step('plaintext-refused')?.ok).toBe(true);
    expect(step('orchestrator-again')?.detail).toMatch(/create-secure-channel OK \(mtls\)/);
    expect(step('secured')?.ok).toBe(true);
    expect(step('ovs')?.detail).toMatch(/attached to br0: ms\S+ ms\S+/);
    expect(step('ping')?.detail).toMatch(/5 received, \d+ MACsec frames and 0 clear ICMP/);
    expect(step('rekey')?.detail).toMatch(/key number \d+ -> \d+\).* 600\/600 received, 0 lost/);
    expect(step('teardown')?.detail).toMatch(/no macsec interface left/);
    const order = res.timeline.map((s) => s.step);
    expect(order.indexOf('secured')).toBeGreaterThan(order.indexOf('orchestrator'));
    expect(order.indexOf('ping')).toBeGreaterThan(order.indexOf('secured'));
    const summary = JSON.parse(readFileSync(join(res.scenario.outDir, 'summary.json'), 'utf8'));
    expect(summary).toMatchObject({ ok: true, failedSteps: [] });
  });

  it('leaves no key material in the logs of the processes it ran', () => {
    const logs = ['manager.log', 'agent.log', 'osm-ee.log'].map((f) => readFileSync(join(res.scenario.outDir, f), 'utf8')).join('\n');
    expect(logs).not.toMatch(/BEGIN (EC |)PRIVATE KEY/);
    expect(logs).not.toMatch(/"(cak|sak|msk)":"[0-9a-f]{32,}"/i);
  });
});
