/**
 * Issue 12, agent restart without loss, in the UML kernel lab (one boot). A secured PSK pair
 * carries two paced UDP streams (1,000 packets/s each way, sequence-numbered, counted by the
 * receivers) while agent b restarts over its kernel state:
 * - planned (SIGUSR1): b announces in-service suspension and exits leaving macsec0 and its SAs;
 *   the new process adopts them (our mark on the link, name, parent, SCI, suite) and they carry
 *   traffic until its own key is in use; the survivor keeps b's RX SC across b's new MI.
 * - SIGKILL: the same without the announcement: the survivor keeps b for its life time (6 s),
 *   so loss is 0 only if the new process is back by then (inside a loaded UML it takes longer).
 * - planned, with wpa_supplicant 2.10 as the survivor: measured (wpa honours no suspension).
 * The agents run compiled (dist/), as deployed.
 */
import { describe, expect, it } from 'vitest';
import { lostOf as lost, readOut, type UdpStream } from '../scenario-checks.js';
import { type LabResult, readOutJson, runLab } from '../uml.js';
import { agentScenario, type PskPortStatus, scenarioOk } from './lab-agent.js';

const RATE = 1000;
const SECONDS = 24;

const RESTART = 'source "$REPO/test/lab/agent/scenarios/restart-traffic.sh"';

interface Result {
  t0: number;
  tStop: number;
  tExited: number;
  t1: number;
  linkKept: boolean;
  statusA0: PskPortStatus | null;
  statusA1: PskPortStatus | null;
  statusB2: PskPortStatus | null;
  aToB: UdpStream;
  bToA: UdpStream;
  udpErrors: { a: { RcvbufErrors: number }[]; b: { RcvbufErrors: number }[] };
  macsecLinksB: number;
}
interface LogLine {
  ts: string;
  msg: string;
  [k: string]: unknown;
}

let lab: LabResult;

function logOf(s: ReturnType<typeof scenarioOk>, name: string): LogLine[] {
  return readOut(s, `${name}.log`)
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

function check(name: string, survivorIsOurs: boolean, mustBeHitless: boolean) {
  const s = scenarioOk(lab, name, ['a.log', 'b.log', 'b2.log']);
  const r = readOutJson<Result>(s, 'result.json');
  const b2 = logOf(s, 'b2');
  const at = (msg: string) => {
    const l = b2.find((x) => x.msg === msg);
    return l ? Date.parse(l.ts) : null;
  };
  const ready = at('port started');
  const secured = at('mka secured');
  const summary =
    `a->b ${lost(r.aToB)} lost of ${r.aToB.sent.sent} (gaps ${JSON.stringify(r.aToB.recv.gaps)}), b->a ${lost(r.bToA)} lost of ${r.bToA.sent.sent} ` +
    `(gaps ${JSON.stringify(r.bToA.recv.gaps)}); restarted agent ready ${ready && ((ready - r.tExited) / 1000).toFixed(2)} s after the old one exited, ` +
    `secured ${ready && secured && ((secured - ready) / 1000).toFixed(3)} s after ready; send errors (port down) ${r.aToB.sent.sendErrors}/${r.bToA.sent.sendErrors}`;
  console.log(`${name}: ${summary}`);
  for (const x of [r.aToB, r.bToA]) {
    // a must-secure port that lost its peer is down: sends fail (ENETDOWN) until it secures again
    if (mustBeHitless) expect(x.sent.sendErrors).toBe(0);
    expect(x.sent.sent).toBe(RATE * SECONDS);
  }
  for (const [x, y] of [r.udpErrors.a, r.udpErrors.b]) expect(y!.RcvbufErrors - x!.RcvbufErrors).toBe(0);
  // the kernel state outlived the process and was adopted
  expect(r.linkKept).toBe(true);
  expect(b2.some((l) => l.msg === 'adopted the macsec link of an earlier run: its SAs stay in use until the new session secures')).toBe(true);
  expect(ready).not.toBeNull();
  expect(secured).not.toBeNull();
  expect(r.statusB2!.kay.secured).toBe(true);
  expect(r.macsecLinksB).toBe(1);
  // Whatever is lost falls between the stop and the new session's key: nothing after that.
  const window = secured !== null ? Math.ceil(((secured - r.tStop) / 1000 + 1) * RATE) : 0;
  for (const x of [r.aToB, r.bToA]) expect(lost(x), summary).toBeLessThanOrEqual(window);
  if (survivorIsOurs) {
    expect(r.statusA1!.kay.secured).toBe(true);
    // the survivor never lost the peer's SC while the peer could still be live
    if (mustBeHitless) {
      expect(r.statusA1!.events.unsecured ?? 0).toBe(r.statusA0!.events.unsecured ?? 0);
      expect(lost(r.aToB), summary).toBe(0);
      expect(lost(r.bToA), summary).toBe(0);
    }
  }
}

describe('agent restart under traffic (UML lab)', () => {
  it('boots one UML: planned restart, SIGKILL restart, planned restart beside wpa_supplicant', async () => {
    const env = { RATE: String(RATE), STREAM_SECONDS: String(SECONDS), AGENT_FROM_DIST: '1' };
    lab = await runLab({
      scenarios: [
        agentScenario('restart-planned', RESTART, 120_000, {
          ...env,
          MODE: 'planned',
          A_KIND: 'ours',
          A_OPTS: 'priority=16',
          B_KIND: 'ours',
          B_OPTS: 'priority=32',
        }),
        agentScenario('restart-kill', RESTART, 120_000, { ...env, MODE: 'kill', A_KIND: 'ours', A_OPTS: 'priority=16', B_KIND: 'ours', B_OPTS: 'priority=32' }),
        agentScenario('restart-planned-wpa', RESTART, 120_000, { ...env, MODE: 'planned', A_KIND: 'wpa', A_PRIO: '16', B_KIND: 'ours', B_OPTS: 'priority=32' }),
      ],
    });
    console.log(`UML boot ${lab.bootMs} ms, total ${lab.totalMs} ms; ${lab.scenarios.map((s) => `${s.name} ${s.durationMs} ms`).join(', ')}`);
  }, 420_000);

  it('planned restart (SIGUSR1, suspension, adoption): 0 lost each way at 1,000 packets/s', () => {
    check('restart-planned', true, true);
  });

  it('SIGKILL and restart (adoption): re-secured, loss only between the kill and the new key (0 if back within the life time)', () => {
    check('restart-kill', true, false);
  });

  it('planned restart beside wpa_supplicant 2.10: re-secured, loss measured, only between the stop and the new key', () => {
    check('restart-planned-wpa', false, false);
  });
});
