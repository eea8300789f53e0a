/**
 * Replay after a peer restart, in the UML kernel lab (one boot, four scenarios).
 *
 * A secured pair; the peer sends 30 pings through macsec0 while an attacker records the
 * protected frames on the wire (tcpdump on the survivor's veth). Replayed at once they are
 * dropped as late (control: the replay does reach the SecY). Then the peer restarts (SIGKILL,
 * its stale macsec0 removed as after a reboot, started again: same SCI, new MI, while its old MI
 * is still live at the survivor). From the restart until 4 s after the link is secured again
 * (with a new SAK) the attacker replays the capture without pause, one frame per millisecond.
 * No protected frame is sent legitimately meanwhile (IPv6 off, no traffic), so the survivor's
 * macsec0 must deliver none and InPktsOK must not move: 0 replayed frames accepted, all dropped
 * (InPktsNotUsingSA / InPktsNotValid). Afterwards pings pass in both directions.
 *
 * Cases: ours<->ours and ours<->wpa_supplicant 2.10, the restarted peer being the key server
 * and not. The survivor is always our agent (the KaY under test). Before the fix, the survivor
 * re-installed the old SAK on the restarted peer's new RX SC (lowest PN 1) and accepted every
 * captured frame once.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type LabResult, REPO_ROOT, readOutJson, runLab, type ScenarioResult } from '../uml.js';
import { agentScenario, currentKey, expectPingsClean, type MacsecShow, type PingResult, type PskPortStatus, readOut, scenarioOk, secs } from './lab-agent.js';

const REPLAY = String.raw`
if [[ $LOST == a ]]; then LOST_KIND="$A_KIND" LOST_IF=va LOST_OPTS="$A_OPTS" LOST_PRIO="$A_PRIO" LOST_MAC=02:00:00:00:00:0a SURV_IF=vb
else LOST_KIND="$B_KIND" LOST_IF=vb LOST_OPTS="$B_OPTS" LOST_PRIO="$B_PRIO" LOST_MAC=02:00:00:00:00:0b SURV_IF=va; fi
if [[ $SURVIVOR == a ]]; then SURV_IP="$PAIR_IP_A" LOST_IP="$PAIR_IP_B"; else SURV_IP="$PAIR_IP_B" LOST_IP="$PAIR_IP_A"; fi
RS="$LAB_STATE/replay"; mkdir -p "$RS"
pair_topology
# No IPv6 (no ND/MLD on macsec0): the only protected frames are the pings we send.
for ns in a b; do lab_in "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1; done
pair_start
pair_wait
[[ $T_RX != null && $T_PING != null ]] || lab_die "pair did not secure: T_RX=$T_RX T_PING=$T_PING"
# Our restarted agent restarts as a deployed process would: compiled, its modules loaded
# beforehand (in UML under load, loading them alone can take longer than the MKA life time).
if [[ $LOST_KIND == ours ]]; then
  lab_ns_bg "$LOST" "$LOST-2" env WARM_START_GO="$RS/go-agent" node "$REPO/test/lab/agent/warm-start.mjs" \
    "$REPO/dist/src/agent/standalone/main.js" --config "$OUT/$LOST.yaml" --status-file "$OUT/$LOST-2.status.json"
fi
# The attacker, on the restarted peer's side of the wire.
lab_ns_bg "$LOST" replay python3 "$REPO/test/lab/agent/replay-frames.py" "$LOST_IF" "$OUT/cap.pcap" "$LOST_MAC" "$SURVIVOR" "$RS" "$OUT" 60
lab_wait_for 10 agent_secured "$SURVIVOR" || lab_die "$SURVIVOR status does not say secured"
# REKEY_FIRST=NAME: that key server agent rekeys first (SIGUSR2), so the captured frames use AN 1
# while a restarted key server starts again at AN 0 (as after any rekey in a long-lived CA).
if [[ -n $REKEY_FIRST ]]; then
  kill -USR2 "$(lab_pid "$REKEY_FIRST")"
  lab_wait_for 20 jq -e '.ports[0].kay | .secured and .txKey.kn == 2 and .latestKey == null' "$OUT/$SURVIVOR.status.json" \
    || lab_die "no rekey to KN 2"
fi
STATUS0="$(agent_status "$SURVIVOR")"
LOST_MI0="$(jq -r '.kay.livePeers[0].mi' <<<"$STATUS0")"
KI0="$(jq -r '.kay.txKey.ki' <<<"$STATUS0")"

# The peer sends protected frames; the attacker records them.
lab_capture "$SURVIVOR" "$SURV_IF" cap ether proto 0x88e5 and ether src "$LOST_MAC"
PING_CAP="$(ping_json "$LOST" "$SURV_IP" 30 0.05)"
sleep 1   # the last frames reach the capture file before it stops
lab_stop cap INT
lab_wait_log 60 replay '^ready$' || lab_die "replayer did not start"
[[ $LOST_KIND != ours ]] || lab_wait_log 60 "$LOST-2" '^warm$' || lab_die "restarted agent did not load"
# Control: replayed now, the kernel drops them as late (so the replay does reach the SecY).
touch "$RS/go-control"
lab_wait_for 20 test -e "$RS/control-done" || lab_die "control replay failed"

# The peer restarts: SIGKILL, its stale macsec0 removed (as after a reboot), started again.
# The attacker replays the capture without pause from then on. Killed just after an MKPDU, the old
# MI stays live at the survivor for a full life time, time for the new one to replace it.
lab_in "$SURVIVOR" timeout 5 tcpdump -i "$SURV_IF" -c 1 -w /dev/null ether proto 0x888e and ether src "$LOST_MAC" 2>/dev/null
T_KILL="$(now_ms)"
lab_stop "$LOST" KILL
ip -n "$LOST" link del macsec0 2>/dev/null
if [[ $LOST_KIND == ours ]]; then touch "$RS/go-agent"; else participant_start "$LOST" "$LOST" "$LOST_IF" "$LOST_KIND" "$LOST_OPTS" "$LOST_PRIO"; fi
T_RESTART="$(now_ms)"
touch "$RS/go-rounds"

# Secured again: the survivor transmits with a new key, its live peer is the new MI, and the
# restarted peer has its RX SA.
resecured() {
  jq -e --arg mi "$LOST_MI0" --arg ki "$KI0" '.ports[0].kay | .secured and (.livePeers[0].mi // "") != $mi and (.txKey.ki // "") != $ki' \
    "$OUT/$SURVIVOR.status.json" >/dev/null 2>&1 && has_rx_sas "$LOST" 1
}
T_RESECURED=null
if lab_wait_for 40 resecured; then T_RESECURED="$(now_ms)"; fi
# Keep replaying past the old key's retirement (3 s after the switch) and a few hellos.
sleep 4
touch "$RS/stop"
lab_wait_exit replay 15 || lab_log "replayer did not stop"
STATUS1="$(agent_status "$SURVIVOR")"

# The link works afterwards.
macsec_addr "$LOST" "$LOST_IP/24"
T_PING2=null
if lab_wait_for 15 ping_once "$SURVIVOR" "$LOST_IP"; then T_PING2="$(now_ms)"; fi
PINGS2="$({ ping_json "$SURVIVOR" "$LOST_IP" 3; ping_json "$LOST" "$SURV_IP" 3; } | jq -s .)"
lab_json result.json --argjson status0 "$STATUS0" --argjson status1 "$STATUS1" \
  --argjson pingCap "$PING_CAP" --argjson pings2 "$PINGS2" --argjson state2 "$(macsec_state "$SURVIVOR" "$LOST")" \
  --argjson tKill "$T_KILL" --argjson tRestart "$T_RESTART" --argjson tResecured "$T_RESECURED" --argjson tPing2 "$T_PING2" \
  --arg lostMac "$LOST_MAC" \
  '{status0: $status0, status1: $status1, pingCap: $pingCap, pings2: $pings2, state2: $state2,
    tKill: $tKill, tRestart: $tRestart, tResecured: $tResecured, tPing2: $tPing2, lostMac: $lostMac}'
lab_stop a; lab_stop b; lab_stop "$LOST-2"
`;

interface ReplayResult {
  status0: PskPortStatus;
  status1: PskPortStatus;
  pingCap: PingResult;
  pings2: PingResult[];
  state2: Record<string, { json: MacsecShow[]; text: string }>;
  tKill: number;
  tRestart: number;
  tResecured: number | null;
  tPing2: number | null;
  lostMac: string;
}

/** One line of control.jsonl / rounds.jsonl (test/lab/agent/replay-frames.py). */
interface Snapshot {
  t: number;
  /** Frames sent so far. */
  sent: number;
  show: MacsecShow[];
  link: { stats64?: { rx?: { packets?: number } } }[];
}

/** RX SC counters that mean "accepted" (delivered) and "dropped" by the receiving SecY. */
const ACCEPTED = ['InPktsOK', 'InPktsUnchecked', 'InPktsDelayed', 'InPktsUnusedSA'] as const;
const DROPPED = ['InPktsLate', 'InPktsInvalid', 'InPktsNotValid', 'InPktsNotUsingSA'] as const;
/** SecY-wide counters for frames with no matching RX SC. */
const NO_SC = ['InPktsNoSCI', 'InPktsUnknownSCI'] as const;

type Counts = Record<string, number>;

/** SC- and SecY-level counters, and the RX SA set (to spot an RX SC/SA change in an interval). */
function counters(show: MacsecShow[]): { c: Counts; shape: string } {
  const c: Counts = {};
  const add = (k: string, v: unknown) => {
    if (typeof v === 'number') c[k] = (c[k] ?? 0) + v;
  };
  const shape: string[] = [];
  for (const l of show) {
    const top = l as unknown as Record<string, unknown>;
    for (const k of NO_SC) add(k, top[k]);
    for (const sc of l.rx_sc ?? []) {
      const s = sc as unknown as Record<string, unknown>;
      for (const k of [...ACCEPTED, ...DROPPED]) add(k, s[k]);
      for (const sa of sc.sa_list ?? []) shape.push(`${sc.sci}/${sa.an}/${(sa as { key?: string }).key ?? ''}/${sa.active}`);
    }
  }
  return { c, shape: shape.sort().join(',') };
}

/** Packets the survivor's macsec0 delivered (monotonic, unlike RX SC counters across an SC re-creation). */
const rxPackets = (s: Snapshot): number | null => s.link[0]?.stats64?.rx?.packets ?? null;

interface Interval {
  t: number;
  sent: number;
  /** Same RX SAs at both ends and no counter went back: the deltas are exact. */
  stable: boolean;
  /** Frames macsec0 delivered in the interval. */
  delivered: number | null;
  accepted: number;
  dropped: number;
  byCounter: Counts;
}

function intervals(ss: Snapshot[]): Interval[] {
  const out: Interval[] = [];
  for (let i = 1; i < ss.length; i++) {
    const p = ss[i - 1]!;
    const q = ss[i]!;
    const b = counters(p.show);
    const a = counters(q.show);
    const byCounter: Counts = {};
    let monotonic = true;
    for (const k of new Set([...Object.keys(a.c), ...Object.keys(b.c)])) {
      const d = (a.c[k] ?? 0) - (b.c[k] ?? 0);
      if (d < 0) monotonic = false;
      if (d !== 0) byCounter[k] = d;
    }
    const sum = (ks: readonly string[]) => ks.reduce((n, k) => n + Math.max(0, byCounter[k] ?? 0), 0);
    const rp = rxPackets(p);
    const rq = rxPackets(q);
    out.push({
      t: p.t,
      sent: q.sent - p.sent,
      stable: monotonic && a.shape === b.shape && p.show.length > 0,
      delivered: rp === null || rq === null ? null : rq - rp,
      accepted: sum(ACCEPTED),
      dropped: sum([...DROPPED, ...NO_SC]),
      byCounter,
    });
  }
  return out;
}

function readSnapshots(s: ScenarioResult, file: string): Snapshot[] {
  return readOut(s, file)
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Snapshot);
}

/**
 * The scenarios run the compiled agent (AGENT_FROM_DIST=1, as deployed: tsx compiling the agent
 * inside UML on a loaded 2-core host takes longer than the MKA life time). dist/ must be built
 * from the current sources of the code under test, else this test would check old code.
 */
function staleDist(): string[] {
  const sources: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(join(REPO_ROOT, dir), { withFileTypes: true })) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) sources.push(p);
    }
  };
  for (const d of ['src/mka', 'src/agent/standalone', 'src/port', 'src/link', 'src/secy', 'src/netlink']) walk(d);
  const mtime = (p: string) => {
    try {
      return statSync(join(REPO_ROOT, p)).mtimeMs;
    } catch {
      return 0;
    }
  };
  return sources.filter((f) => mtime(`dist/${f.replace(/\.ts$/, '.js')}`) < mtime(f));
}

let lab: LabResult;

interface Case {
  name: string;
  env: Record<string, string>;
  survivorIsKeyServer: boolean;
}

// a: 02:00:00:00:00:0a, b: 02:00:00:00:00:0b; lower priority value wins the key server election.
const CASES: Case[] = [
  {
    name: 'ours-restart-ks',
    env: { A_KIND: 'ours', A_OPTS: 'priority=16', B_KIND: 'ours', B_OPTS: 'priority=32', SURVIVOR: 'b', LOST: 'a', REKEY_FIRST: 'a' },
    survivorIsKeyServer: false,
  },
  {
    name: 'ours-restart-member',
    env: { A_KIND: 'ours', A_OPTS: 'priority=16', B_KIND: 'ours', B_OPTS: 'priority=32', SURVIVOR: 'a', LOST: 'b' },
    survivorIsKeyServer: true,
  },
  { name: 'wpa-restart-ks', env: { A_KIND: 'ours', A_OPTS: 'priority=32', B_KIND: 'wpa', B_PRIO: '16', SURVIVOR: 'a', LOST: 'b' }, survivorIsKeyServer: false },
  {
    name: 'wpa-restart-member',
    env: { A_KIND: 'ours', A_OPTS: 'priority=16', B_KIND: 'wpa', B_PRIO: '32', SURVIVOR: 'a', LOST: 'b' },
    survivorIsKeyServer: true,
  },
];

function check(c: Case) {
  const s = scenarioOk(lab, c.name, ['a.log', 'b.log', 'replay.log']);
  const r = readOutJson<ReplayResult>(s, 'result.json');
  const control = intervals(readSnapshots(s, 'control.jsonl'));
  const snaps = readSnapshots(s, 'rounds.jsonl');
  const rounds = intervals(snaps);
  const stable = rounds.filter((x) => x.stable);
  const replayed = snaps.at(-1)?.sent ?? 0;
  const first = snaps[0] ? rxPackets(snaps[0]) : null;
  const last = snaps.at(-1) ? rxPackets(snaps.at(-1)!) : null;
  const delivered = first === null || last === null ? null : last - first;
  const acceptedStable = stable.reduce((n, x) => n + x.accepted, 0);
  const afterResecure = stable.filter((x) => r.tResecured !== null && x.t >= r.tResecured);
  const survivor = c.env.SURVIVOR!;
  const rel = (t: number) => `+${((t - r.tRestart) / 1000).toFixed(2)} s`;
  console.log(
    `${c.name}: captured ${control[0]?.sent} frames; control replay before the restart: ${JSON.stringify(control[0]?.byCounter)}\n` +
      `  restart -> secured again after ${secs(r.tResecured && r.tResecured - r.tRestart)}, ping after ${secs(r.tPing2 && r.tPing2 - r.tRestart)}; ` +
      `${replayed} frames replayed from ${snaps[0] ? rel(snaps[0].t) : '?'} to ${snaps.at(-1) ? rel(snaps.at(-1)!.t) : '?'} ` +
      `(${rounds.length} intervals, ${stable.length} stable, ${afterResecure.length} after re-securing): ` +
      `macsec0 delivered ${delivered} of them, InPktsOK etc. +${acceptedStable} (stable intervals)\n` +
      rounds
        .map((x) => `  ${rel(x.t)} sent ${x.sent} delivered ${x.delivered} ${x.stable ? '' : '(RX SAs changed) '}${JSON.stringify(x.byCounter)}`)
        .join('\n') +
      `\n  survivor keys: before ${currentKey(r.status0)?.ki}, after ${currentKey(r.status1)?.ki}\n${r.state2[survivor]!.text}`,
  );
  // the capture and the control
  expect(r.pingCap.received, r.pingCap.output).toBe(30);
  expect(control).toHaveLength(1);
  const n = control[0]!.sent;
  expect(n).toBeGreaterThanOrEqual(30);
  expect(control[0]!.accepted, 'control: replay before the restart accepted').toBe(0);
  expect(control[0]!.delivered, 'control: replay before the restart delivered').toBe(0);
  expect(control[0]!.byCounter.InPktsLate, 'control: dropped as late').toBe(n);
  // the restart: the new MI replaced the old one while it was still live (the path that re-created
  // the RX SC with the old key), re-secured with a new key
  expect(r.tResecured, 'secured again after the restart').not.toBeNull();
  expect(r.status1.counters.peersLost, 'old MI replaced').toBe(r.status0.counters.peersLost + 1);
  expect(r.status1.events.unsecured ?? 0, 'the old MI expired before the new one was live: replacement path not covered').toBe(r.status0.events.unsecured ?? 0);
  expect(r.status0.kay.keyServer?.self).toBe(c.survivorIsKeyServer);
  expect(r.status1.kay.keyServer?.self).toBe(c.survivorIsKeyServer);
  expect(r.status1.kay.livePeers).toHaveLength(1);
  expect(r.status1.kay.livePeers[0]!.mi).not.toBe(r.status0.kay.livePeers[0]!.mi);
  expect(currentKey(r.status1)?.ki).not.toBe(currentKey(r.status0)?.ki);
  // replayed without pause from the restart until well after re-securing: none accepted
  expect(replayed).toBeGreaterThanOrEqual(1000);
  expect(afterResecure.length).toBeGreaterThanOrEqual(3);
  expect(delivered, 'replayed frames delivered by the survivor (macsec0 rx packets)').toBe(0);
  expect(acceptedStable, 'replayed frames counted InPktsOK (or otherwise accepted) by the survivor').toBe(0);
  for (const x of stable) if (x.sent >= 20) expect(x.dropped, `interval at ${rel(x.t)}: ${JSON.stringify(x.byCounter)}`).toBeGreaterThan(0);
  // the link works afterwards, both ways
  expect(r.tPing2, 'ping after the restart').not.toBeNull();
  expectPingsClean(r.pings2, 3);
  expect(r.status1.kay.secured).toBe(true);
}

describe('replay after a peer restart (UML lab)', () => {
  it('boots one UML and runs the four restart/replay scenarios', async () => {
    const stale = staleDist();
    if (stale.length > 0) throw new Error(`dist/ is older than ${stale.join(', ')}: run \`npm run build\` first (the lab runs the compiled agent)`);
    lab = await runLab({ scenarios: CASES.map((c) => agentScenario(c.name, REPLAY, 90_000, { REKEY_FIRST: '', ...c.env, AGENT_FROM_DIST: '1' })) });
    console.log(`UML boot ${lab.bootMs} ms, total ${lab.totalMs} ms; ` + lab.scenarios.map((s) => `${s.name} ${s.durationMs} ms`).join(', '));
  }, 420_000);

  for (const c of CASES) {
    const what = `${c.name.startsWith('wpa') ? 'wpa_supplicant' : 'our agent'} restarts ${c.survivorIsKeyServer ? '(not key server)' : '(key server)'}`;
    it(`${what}: frames captured before the restart are never accepted after it; the link re-secures with a new SAK`, () => {
      check(c);
    });
  }
});
