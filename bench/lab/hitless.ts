/**
 * Key changes under traffic, in one UML kernel lab run (`npm run bench:lab:hitless`): two paced
 * UDP streams (RATE packets/s each way, sequence-numbered, counted by the receivers) run through
 * the macsec links while a key change happens; one line per case:
 *
 *   hitless <case>: N lost of M   (M = packets sent both ways; details after the colon)
 *
 * Cases (the same scenarios as the lab tests, test/lab/eap/scenarios/reauth-traffic.sh and
 * test/lab/agent/scenarios/restart-traffic.sh):
 *   re-authentication            ours supplicant <-> ours authenticator (embedded EAP-TLS), every 12 s
 *   re-authentication, wpa       wpa_supplicant 2.10 as supplicant
 *   agent restart                planned (SIGUSR1: suspension, adoption), ours <-> ours
 *   agent restart, wpa           the same beside wpa_supplicant 2.10 (no suspension there)
 *   agent kill                   SIGKILL and restart, ours <-> ours
 *   CAK rollover                 managed PSK channel, 3 x add-key + retire-key (key chain)
 *   managed agent restart        planned (SIGUSR1) restart of a managed agent, ours <-> ours
 *   channel update               managed PSK channel, a third endpoint added and removed
 *
 *   tsx bench/lab/hitless.ts [--reps 1] [--case <name>]... [--from <.lab/run-...>]
 *
 * --case runs only the named cases (reauth-ours, reauth-wpa, restart-planned, restart-wpa,
 * restart-kill, managed-rotation, managed-restart, managed-update).
 *
 * The last three run the manager and managed agents (test/lab/agent/scenarios/managed-hitless.sh).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { agentConfig, embeddedAuthenticator, labDir, labPki, ourSupplicant, scenario } from '../../test/lab/eap/lab-eap.js';
import { agentScenario } from '../../test/lab/agent/lab-agent.js';
import { lostOf, type UdpStream } from '../../test/lab/scenario-checks.js';
import { type LabScenario, runLab } from '../../test/lab/uml.js';

const { values } = parseArgs({ options: { reps: { type: 'string', default: '1' }, from: { type: 'string' }, case: { type: 'string', multiple: true } } });
const REPS = Math.max(1, Number(values.reps));
const RATE = 1000;

interface Case {
  label: string;
  name: string;
  streams: (r: Record<string, unknown>) => UdpStream[];
  make: (rep: number) => LabScenario;
}

const reauthStreams = (r: Record<string, unknown>) => [r.suppToAuth as UdpStream, r.authToSupp as UdpStream];
const restartStreams = (r: Record<string, unknown>) => [r.aToB as UdpStream, r.bToA as UdpStream];

function cases(): Case[] {
  const dir = labDir('bench-hitless');
  const pki = labPki(dir);
  const reauth = { reauthPeriodSeconds: 12 };
  const eapEnv = { RATE: String(RATE), STREAM_SECONDS: '44', PKI: pki.dir };
  const restartEnv = { RATE: String(RATE), STREAM_SECONDS: '24', AGENT_FROM_DIST: '1' };
  const REAUTH = 'source "$REPO/test/lab/eap/scenarios/reauth-traffic.sh"';
  const RESTART = 'source "$REPO/test/lab/agent/scenarios/restart-traffic.sh"';
  const MANAGED = 'source "$REPO/test/lab/agent/scenarios/managed-hitless.sh"';
  const managedEnv = { RATE: String(RATE), AGENT_FROM_DIST: '1' };
  return [
    {
      label: 're-authentication',
      name: 'reauth-ours',
      streams: reauthStreams,
      make: (i) =>
        scenario(`reauth-ours-${i}`, REAUTH, 150_000, {
          ...eapEnv,
          SUPP_KIND: 'ours',
          AUTH_CFG: agentConfig(dir, `auth-${i}`, embeddedAuthenticator(pki, reauth)),
          SUPP_CFG: agentConfig(dir, `supp-${i}`, ourSupplicant(pki)),
        }),
    },
    {
      label: 're-authentication, wpa_supplicant 2.10 supplicant',
      name: 'reauth-wpa',
      streams: reauthStreams,
      make: (i) =>
        scenario(`reauth-wpa-${i}`, REAUTH, 150_000, {
          ...eapEnv,
          SUPP_KIND: 'wpa',
          AUTH_CFG: agentConfig(dir, `auth-wpa-${i}`, embeddedAuthenticator(pki, { ...reauth, tlsMaxVersion: '1.2' })),
        }),
    },
    {
      label: 'agent restart',
      name: 'restart-planned',
      streams: restartStreams,
      make: (i) =>
        agentScenario(`restart-planned-${i}`, RESTART, 120_000, {
          ...restartEnv,
          MODE: 'planned',
          A_KIND: 'ours',
          A_OPTS: 'priority=16',
          B_KIND: 'ours',
          B_OPTS: 'priority=32',
        }),
    },
    {
      label: 'agent restart, wpa_supplicant 2.10 survivor',
      name: 'restart-wpa',
      streams: restartStreams,
      make: (i) =>
        agentScenario(`restart-wpa-${i}`, RESTART, 120_000, {
          ...restartEnv,
          MODE: 'planned',
          A_KIND: 'wpa',
          A_PRIO: '16',
          B_KIND: 'ours',
          B_OPTS: 'priority=32',
        }),
    },
    {
      label: 'agent kill',
      name: 'restart-kill',
      streams: restartStreams,
      make: (i) =>
        agentScenario(`restart-kill-${i}`, RESTART, 120_000, {
          ...restartEnv,
          MODE: 'kill',
          A_KIND: 'ours',
          A_OPTS: 'priority=16',
          B_KIND: 'ours',
          B_OPTS: 'priority=32',
        }),
    },
    {
      label: 'CAK rollover (key chain, 3 rotations)',
      name: 'managed-rotation',
      streams: restartStreams,
      make: (i) => agentScenario(`managed-rotation-${i}`, MANAGED, 240_000, { ...managedEnv, MODE: 'rotation', STREAM_SECONDS: '50', ROTATIONS: '3' }),
    },
    {
      label: 'managed agent restart (planned)',
      name: 'managed-restart',
      streams: restartStreams,
      make: (i) => agentScenario(`managed-restart-${i}`, MANAGED, 240_000, { ...managedEnv, MODE: 'restart', STREAM_SECONDS: '40' }),
    },
    {
      label: 'channel update (endpoint added and removed)',
      name: 'managed-update',
      streams: restartStreams,
      make: (i) => agentScenario(`managed-update-${i}`, MANAGED, 240_000, { ...managedEnv, MODE: 'update', STREAM_SECONDS: '60' }),
    },
  ];
}

async function main(): Promise<void> {
  const cs = cases().filter((c) => !values.case || values.case.includes(c.name));
  if (cs.length === 0)
    throw new Error(
      `--case: no such case (${cases()
        .map((c) => c.name)
        .join(', ')})`,
    );
  let runDir: string;
  if (values.from) runDir = values.from;
  else {
    const scenarios = cs.flatMap((c) => Array.from({ length: REPS }, (_, i) => c.make(i)));
    const lab = await runLab({ memMb: 1536, scenarios });
    runDir = lab.runDir;
    console.log(`lab run ${runDir}: UML boot ${lab.bootMs} ms, total ${(lab.totalMs / 1000).toFixed(0)} s`);
  }
  for (const c of cs) {
    const per: { lost: number; sent: number; blocked: number }[] = [];
    for (let i = 0; i < REPS; i++) {
      const f = join(runDir, `${c.name}-${i}`, 'result.json');
      if (!existsSync(f)) continue;
      const r = JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>;
      const st = c.streams(r);
      per.push({
        lost: st.reduce((n, s) => n + lostOf(s), 0),
        sent: st.reduce((n, s) => n + s.sent.sent, 0),
        // a sender whose port is down (must-secure, peer lost) gets ENETDOWN and retries every ms
        blocked: st.reduce((n, s) => n + s.sent.sendErrors, 0),
      });
    }
    if (per.length === 0) {
      console.log(`hitless ${c.label}: no result (scenario failed; see ${runDir})`);
      continue;
    }
    const lost = per.reduce((n, p) => n + p.lost, 0);
    const sent = per.reduce((n, p) => n + p.sent, 0);
    const blocked = per.reduce((n, p) => n + p.blocked, 0);
    const each = per.length > 1 ? ` (per run: ${per.map((p) => p.lost).join(', ')})` : '';
    const port = blocked > 0 ? `; senders blocked by a closed port for about ${(blocked / 1000).toFixed(1)} s` : '';
    console.log(`hitless ${c.label}: ${lost} lost of ${sent}${each}${port}`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
