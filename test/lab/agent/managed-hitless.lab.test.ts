/**
 * Issue 12, managed PSK channels change keys and members without losing a frame, in the UML
 * kernel lab (one boot, two scenarios of scenarios/managed-hitless.sh). The manager and two (three)
 * managed agents run compiled (dist/), with pcap I/O and the kernel's macsec driver, each agent in
 * its own namespace; two paced UDP streams (1,000 packets/s each way, sequence-numbered, counted by
 * the receivers) cross channel "lab" between node-a and node-b while
 * - rotation: three times, `channels add-key` (start at once) and, once both agents transmit with
 *   the new CA, `channels retire-key` of the previous one (key chain, make-before-break CA change);
 * - update: `channels update --add` a third endpoint (node-c, secured, reaches a and b over the
 *   channel), then `--remove` it again (UpdateSecureChannel: a and b keep their port runtimes).
 */
import { describe, expect, it } from 'vitest';
import { type LabResult, readOutJson, runLab } from '../uml.js';
import { lostOf as lost, readOut, type UdpStream } from '../scenario-checks.js';
import { agentScenario, scenarioOk } from './lab-agent.js';

const RATE = 1000;
/** UdpStream length per scenario: long enough for every step to happen under traffic in a loaded guest. */
const SECONDS = { rotation: 50, update: 60 };
const ROTATIONS = 3;
const SCRIPT = 'source "$REPO/test/lab/agent/scenarios/managed-hitless.sh"';

interface PortJson {
  id: string;
  channelId?: string;
  status?: { state?: string; ckn?: string; runtimeId?: string; rekeys?: string };
}
interface Result {
  t0: number;
  aToB: UdpStream;
  bToA: UdpStream;
  udpErrors: { a: { RcvbufErrors: number }[]; b: { RcvbufErrors: number }[] };
  steps: { step: string; t: number; detail: string }[];
  portsBefore: PortJson[];
  portsAfter: PortJson[];
  keysAfter: { keys: { ckn: string; state: string }[] } | null;
}

let lab: LabResult;

function streams(name: string, r: Result): string {
  const s =
    `a->b ${lost(r.aToB)} lost of ${r.aToB.sent.sent} (gaps ${JSON.stringify(r.aToB.recv.gaps)}), ` +
    `b->a ${lost(r.bToA)} lost of ${r.bToA.sent.sent} (gaps ${JSON.stringify(r.bToA.recv.gaps)}); ` +
    `steps ${r.steps.map((x) => `${x.step}@${((x.t - r.t0) / 1000).toFixed(1)}s`).join(' ')}`;
  console.log(`${name}: ${s}`);
  return s;
}

function expectNoLoss(r: Result, seconds: number, summary: string) {
  for (const x of [r.aToB, r.bToA]) {
    expect(x.sent.sent).toBe(RATE * seconds);
    expect(x.sent.sendErrors, summary).toBe(0);
    expect(lost(x), summary).toBe(0);
  }
  for (const [x, y] of [r.udpErrors.a, r.udpErrors.b]) expect(y!.RcvbufErrors - x!.RcvbufErrors).toBe(0);
}

/** Log lines of an unsecured port or a failed one, but for the agent's own stop at the end. */
const troubles = (log: string) => log.split('\n').filter((l) => /"mka unsecured"|"port failed"/.test(l) && !l.includes('"reason":"stopped"'));

const port = (ps: PortJson[], id: string) => ps.find((p) => p.id === id);

function expectSameRuntimes(r: Result) {
  for (const id of ['node-a/eth1', 'node-b/eth1']) {
    const before = port(r.portsBefore, id)?.status;
    const after = port(r.portsAfter, id)?.status;
    expect(before?.state).toBe('PORT_STATE_SECURED');
    expect(after?.state).toBe('PORT_STATE_SECURED');
    expect(after?.runtimeId, `${id} kept its runtime`).toBe(before?.runtimeId);
  }
}

describe('managed PSK channel: key chain rotation and membership update under traffic (UML lab)', () => {
  it('boots one UML: three key rotations, then an endpoint added and removed', async () => {
    const env = { RATE: String(RATE), AGENT_FROM_DIST: '1' };
    lab = await runLab({
      memMb: 1536,
      scenarios: [
        agentScenario('managed-rotation', SCRIPT, 240_000, {
          ...env,
          MODE: 'rotation',
          STREAM_SECONDS: String(SECONDS.rotation),
          ROTATIONS: String(ROTATIONS),
        }),
        agentScenario('managed-update', SCRIPT, 240_000, { ...env, MODE: 'update', STREAM_SECONDS: String(SECONDS.update) }),
      ],
    });
    console.log(`UML boot ${lab.bootMs} ms, total ${lab.totalMs} ms; ${lab.scenarios.map((s) => `${s.name} ${s.durationMs} ms`).join(', ')}`);
  }, 600_000);

  it('rotation: each next key takes over on both agents, the old one is retired, 0 lost each way', () => {
    const s = scenarioOk(lab, 'managed-rotation', ['agent-a.log', 'agent-b.log', 'manager.log']);
    const r = readOutJson<Result>(s, 'result.json');
    const summary = streams('rotation', r);
    const added = r.steps.filter((x) => x.step === 'add-key').map((x) => x.detail);
    expect(added).toHaveLength(ROTATIONS);
    expect(new Set(added).size).toBe(ROTATIONS);
    for (const ckn of added) expect(ckn).toMatch(/^[0-9a-f]{2,64}$/);
    expect(r.steps.filter((x) => x.step === 'switched').map((x) => x.detail)).toEqual(added);
    expect(r.steps.filter((x) => x.step === 'retired')).toHaveLength(ROTATIONS);
    // only the last key is left in the chain, and both ports transmit with it
    expect(r.keysAfter!.keys.map((k) => k.ckn)).toEqual([added.at(-1)]);
    for (const id of ['node-a/eth1', 'node-b/eth1']) expect(port(r.portsAfter, id)?.status?.ckn).toBe(added.at(-1));
    expectSameRuntimes(r);
    for (const a of ['agent-a', 'agent-b']) {
      const log = readOut(s, `${a}.log`);
      expect((log.match(/"key chain: CA removed"/g) ?? []).length, `${a} removed each retired CA`).toBe(ROTATIONS);
      expect(troubles(log), a).toEqual([]);
    }
    // every rotation, retirement included, happened while the streams ran
    for (const x of r.steps) expect(x.t - r.t0, `${x.step} under traffic`).toBeLessThan((SECONDS.rotation - 1) * 1000);
    expectNoLoss(r, SECONDS.rotation, summary);
  });

  it('update: an added endpoint secures and reaches both members, its removal leaves no link; a and b lose nothing', () => {
    const s = scenarioOk(lab, 'managed-update', ['agent-a.log', 'agent-b.log', 'agent-c.log', 'manager.log']);
    const r = readOutJson<Result>(s, 'result.json');
    const summary = streams('update', r);
    const steps = r.steps.map((x) => x.step);
    expect(steps).toEqual(expect.arrayContaining(['added', 'c-reached-a', 'removed', 'c-link-gone']));
    expect(readOut(s, 'ping-c-b.txt')).toMatch(/rc=0/);
    expect(port(r.portsAfter, 'node-c/eth1')?.channelId ?? '').toBe('');
    expectSameRuntimes(r);
    for (const a of ['agent-a', 'agent-b']) expect(troubles(readOut(s, `${a}.log`)), a).toEqual([]);
    // c left while the streams ran, early enough for a and b to lose it (one life time) and rekey under traffic
    const removed = r.steps.find((x) => x.step === 'removed')!;
    expect(removed.t - r.t0).toBeLessThan((SECONDS.update - 12) * 1000);
    expectNoLoss(r, SECONDS.update, summary);
  });
});
