/**
 * Must-show 5 and 6 of issue 3, in the UML kernel lab (one boot).
 *
 * Peer loss and return: a secured pair; the peer is SIGKILLed (no goodbye MKPDU). Our agent
 * must keep its RX SA while the peer could still be live, remove the peer's RX SA and RX SC
 * once the MKA life time (6 s) has passed, report the peer lost; then the peer restarts (wpa's
 * stale macsec0 removed, as after a reboot; ours adopts its own) and the link re-secures without
 * restarting ours.
 * Once with wpa_supplicant as the lost peer (ours key server), once with our own key server
 * agent as the lost peer (the survivor is ours, not key server).
 *
 * Bad input on the wire: while ours<->ours is secured, malformed, truncated, wrong-ICV,
 * unknown-CKN and replayed MKPDUs (derived from a captured MKPDU of the peer) are injected
 * with an AF_PACKET socket in the peer's namespace. Our agent drops and counts each one by
 * reason, and the session is unaffected: same SAK, no rekey, same live peer, pings without loss
 * during and after the injection.
 */
import { describe, expect, it } from 'vitest';
import { type LabResult, readOutJson, runLab } from '../uml.js';
import { agentScenario, currentKey, expectPingsClean, type PingResult, type PskPortStatus, scenarioOk, secs } from './lab-agent.js';

// SURVIVOR = the agent we watch (a or b), LOST = the peer we kill and restart.
const PEER_LOSS = String.raw`
pair_up || lab_die "pair did not secure: T_RX=$T_RX T_PING=$T_PING"
SURV_NS="$SURVIVOR" LOST_NS="$LOST"
if [[ $LOST == a ]]; then LOST_KIND="$A_KIND" LOST_IF=va LOST_OPTS="$A_OPTS" LOST_PRIO="$A_PRIO"; else LOST_KIND="$B_KIND" LOST_IF=vb LOST_OPTS="$B_OPTS" LOST_PRIO="$B_PRIO"; fi
if [[ $SURVIVOR == a ]]; then SURV_IP="$PAIR_IP_A" LOST_IP="$PAIR_IP_B"; else SURV_IP="$PAIR_IP_B" LOST_IP="$PAIR_IP_A"; fi
SURV_PID="$(lab_pid "$SURVIVOR")"
STATUS0="$(agent_status "$SURVIVOR")"
RX0="$(rx_sas "$SURV_NS")"; SC0="$(rx_scs "$SURV_NS")"
T_KILL="$(now_ms)"
lab_stop "$LOST" KILL
# Poll: when did our RX SA and RX SC for the peer go? One ip and one jq per poll (UML forks
# are slow under load). T_SA_SEEN is taken before the last poll that still saw the SA, so the SA
# existed at or after it; T_SA_GONE / T_SC_GONE after the first poll that saw none, so it was
# gone by then. Both bounds hold however slow a poll is.
T_SA_GONE=null T_SC_GONE=null T_SA_SEEN=null
while (( $(now_ms) - T_KILL < 15000 )); do
  t0="$(now_ms)" sas=0 scs=1
  # (no process substitution: the lab's /dev has no /dev/fd)
  counts="$(lab_macsec_json "$SURV_NS" macsec0 \
    | jq -r '"\([.[]?.rx_sc[]?.sa_list[]? | select(.active == true)] | length) \([.[]?.rx_sc[]?] | length)"')"
  if [[ -z $counts ]]; then sleep 0.1; continue; fi
  read -r sas scs <<<"$counts"
  t1="$(now_ms)"
  if (( sas > 0 )); then T_SA_SEEN="$t0"; elif [[ $T_SA_GONE == null ]]; then T_SA_GONE="$t1"; fi
  if (( scs == 0 )); then
    T_SC_GONE="$t1"
    [[ $T_SA_GONE != null ]] || T_SA_GONE="$t1"
    break
  fi
  sleep 0.1
done
sleep 0.5
# When our agent declared the peer lost: its log, on the same clock as now_ms.
T_PEER_LOST="$(jq -r 'select(.msg == "mka peerLost") | .ts' "$OUT/$SURVIVOR.log" 2>/dev/null | tail -1)"
if [[ -n $T_PEER_LOST ]]; then T_PEER_LOST="$(date -d "$T_PEER_LOST" +%s%3N)"; else T_PEER_LOST=null; fi
STATUS_LOST="$(agent_status "$SURVIVOR")"
STATE_LOST="$(macsec_state "$SURV_NS")"
PING_LOST="$(ping_json "$SURV_NS" "$LOST_IP" 2 0.2)"
# The peer comes back. SIGKILL left its macsec0 behind: wpa_supplicant would then create
# macsec1, so remove it there (as after a reboot); our agent must cope with it itself.
STALE_LEFT="$(ip -n "$LOST_NS" link show macsec0 >/dev/null 2>&1 && echo true || echo false)"
if [[ $LOST_KIND == wpa ]]; then ip -n "$LOST_NS" link del macsec0 2>/dev/null; fi
T_RESTART="$(now_ms)"
participant_start "$LOST_NS" "$LOST" "$LOST_IF" "$LOST_KIND" "$LOST_OPTS" "$LOST_PRIO"
T_RESECURED=null T_PING2=null
if lab_wait_for 40 all_rx_sas 1 a b; then T_RESECURED="$(now_ms)"; fi
macsec_addr "$LOST_NS" "$LOST_IP/24"
if lab_wait_for 15 ping_once "$SURV_NS" "$LOST_IP"; then T_PING2="$(now_ms)"; fi
PINGS2="$({ ping_json "$SURV_NS" "$LOST_IP" 5; ping_json "$LOST_NS" "$SURV_IP" 5; } | jq -s .)"
sleep 0.5
lab_json result.json --argjson status0 "$STATUS0" --argjson statusLost "$STATUS_LOST" --argjson status2 "$(agent_status "$SURVIVOR")" \
  --argjson rx0 "$RX0" --argjson sc0 "$SC0" --argjson tSaSeen "$T_SA_SEEN" --argjson tPeerLost "$T_PEER_LOST" \
  --argjson tKill "$T_KILL" --argjson tSaGone "$T_SA_GONE" --argjson tScGone "$T_SC_GONE" \
  --argjson tRestart "$T_RESTART" --argjson tResecured "$T_RESECURED" --argjson tPing2 "$T_PING2" \
  --argjson stateLost "$STATE_LOST" --argjson pingLost "$PING_LOST" --argjson pings2 "$PINGS2" \
  --argjson state2 "$(macsec_state a b)" --argjson staleLeft "$STALE_LEFT" \
  --argjson staleAdopted "$(grep -c 'adopted the macsec link of an earlier run' "$OUT/$LOST.log")" \
  --argjson samePid "$(kill -0 "$SURV_PID" 2>/dev/null && [[ "$(lab_pid "$SURVIVOR")" == "$SURV_PID" ]] && echo true || echo false)" \
  '{status0: $status0, statusLost: $statusLost, status2: $status2, rx0: $rx0, sc0: $sc0, tSaSeen: $tSaSeen, tPeerLost: $tPeerLost,
    tKill: $tKill, tSaGone: $tSaGone, tScGone: $tScGone, tRestart: $tRestart, tResecured: $tResecured, tPing2: $tPing2,
    stateLost: $stateLost, pingLost: $pingLost, pings2: $pings2, state2: $state2, samePid: $samePid,
    staleLeft: $staleLeft, staleAdopted: $staleAdopted}'
lab_stop a; lab_stop b
`;

const BAD_INPUT = String.raw`
lab_netns a b
lab_veth a va b vb 02:00:00:00:00:0a 02:00:00:00:00:0b
lab_capture a va cap ether proto 0x888e and ether src 02:00:00:00:00:0b
pair_start
pair_wait
[[ $T_RX != null && $T_PING != null ]] || lab_die "pair did not secure: T_RX=$T_RX T_PING=$T_PING"
sleep 2.5   # at least one more periodic MKPDU from b in the capture, status settled
lab_stop cap INT
STATUS0="$(agent_status a)"; STATUSB0="$(agent_status b)"
lab_ns_bg a ping-during ping -n -c 80 -i 0.05 -W 2 -I macsec0 "$PAIR_IP_B"
lab_in b python3 "$REPO/test/lab/agent/mkpdu-inject.py" vb "$OUT/cap.pcap" 02:00:00:00:00:0b "$REPEAT" 0.05 "$OUT/inject.json" \
  || lab_die "injector failed"
lab_wait_exit ping-during 20
sleep 2.5   # the status file is rewritten every second; one more hello round too
lab_json result.json --argjson status0 "$STATUS0" --argjson status1 "$(agent_status a)" \
  --argjson statusB0 "$STATUSB0" --argjson statusB1 "$(agent_status b)" \
  --argjson inject "$(cat "$OUT/inject.json")" --arg pingDuring "$(cat "$OUT/ping-during.log")" \
  --argjson pings "$(pair_pings 5)" --argjson state "$(macsec_state a b)" \
  --arg drops "$(grep -c 'mka dropped' "$OUT/a.log")" \
  '{status0: $status0, status1: $status1, statusB0: $statusB0, statusB1: $statusB1, inject: $inject,
    pingDuring: $pingDuring, pings: $pings, state: $state}'
lab_stop a; lab_stop b
`;

interface PeerLoss {
  status0: PskPortStatus;
  statusLost: PskPortStatus;
  status2: PskPortStatus;
  rx0: number;
  sc0: number;
  /** Start of the last poll that still saw the peer's RX SA. */
  tSaSeen: number | null;
  /** When the survivor's log says the peer was lost. */
  tPeerLost: number | null;
  tKill: number;
  tSaGone: number | null;
  tScGone: number | null;
  tRestart: number;
  tResecured: number | null;
  tPing2: number | null;
  stateLost: Record<string, { text: string }>;
  pingLost: PingResult;
  pings2: PingResult[];
  state2: Record<string, { text: string }>;
  samePid: boolean;
  staleLeft: boolean;
  staleAdopted: number;
}

let lab: LabResult;
const REPEAT = 5;

function checkPeerLoss(name: string, survivor: 'a' | 'b', survivorIsKeyServer: boolean, lostIsOurs: boolean) {
  const s = scenarioOk(lab, name, ['a.log', 'b.log']);
  const r = readOutJson<PeerLoss>(s, 'result.json');
  const gone = r.tScGone === null ? null : r.tScGone - r.tKill;
  console.log(
    `${name}: peer killed; lost after ${secs(r.tPeerLost && r.tPeerLost - r.tKill)}; RX SA last seen after ${secs(r.tSaSeen && r.tSaSeen - r.tKill)}, gone after ${secs(r.tSaGone && r.tSaGone - r.tKill)}, RX SC gone after ${secs(gone)}; ` +
      `peer restarted, both RX SAs again after ${secs(r.tResecured && r.tResecured - r.tRestart)}, ping after ${secs(r.tPing2 && r.tPing2 - r.tRestart)}\n` +
      `survivor while peer gone:\n${r.stateLost[survivor]!.text}\nafter return:\n${r.state2.a!.text}\n${r.state2.b!.text}`,
  );
  // before: secured with one peer
  expect(r.rx0).toBe(1);
  expect(r.sc0).toBe(1);
  expect(r.status0.kay.secured).toBe(true);
  expect(r.status0.kay.livePeers).toHaveLength(1);
  const lostMi = r.status0.kay.livePeers[0]!.mi;
  // The peer stays live while it may still be: its last MKPDU was at most one hello (2 s) before
  // the kill, so it is lost no earlier than 4 s after (0.5 s left for scheduling), and no later
  // than the life time (6 s) plus one hello tick.
  expect(r.tPeerLost, 'peer lost (survivor log)').not.toBeNull();
  expect(r.tPeerLost! - r.tKill, 'peer declared lost at least 3.5 s after it died').toBeGreaterThanOrEqual(3_500);
  expect(r.tPeerLost! - r.tKill).toBeLessThanOrEqual(8_500);
  // The kernel agrees: the RX SA went between the last poll that saw it and the first that did
  // not, and the peer-loss decision lies in that window (200 ms for the log line), however slow
  // the polls were.
  expect(r.tSaSeen, 'RX SA seen after the kill').not.toBeNull();
  expect(gone, 'RX SC removed').not.toBeNull();
  expect(r.tSaGone).not.toBeNull();
  expect(r.tSaSeen!, 'RX SA still there when the peer was lost').toBeLessThanOrEqual(r.tPeerLost! + 200);
  expect(r.tPeerLost!, 'RX SA gone once the peer was lost').toBeLessThanOrEqual(r.tSaGone! + 200);
  expect(gone!).toBeLessThanOrEqual(9_000);
  expect(r.statusLost.kay.livePeers).toHaveLength(0);
  expect(r.statusLost.kay.secured).toBe(false);
  expect(r.statusLost.kay.latestKey).toBeNull();
  expect(r.statusLost.kay.oldKey).toBeNull();
  expect(r.statusLost.counters.peersLost).toBe(r.status0.counters.peersLost + 1);
  expect(r.statusLost.events.peerLost).toBe(1);
  expect(r.stateLost[survivor]!.text).not.toMatch(/RXSC/);
  expect(r.pingLost.received).toBe(0);
  // return: re-secured without restarting ours
  expect(r.samePid, 'our agent kept running (same pid)').toBe(true);
  expect(r.tResecured, 'both RX SAs again').not.toBeNull();
  expect(r.tPing2, 'ping after return').not.toBeNull();
  expectPingsClean(r.pings2, 5);
  expect(r.status2.kay.secured).toBe(true);
  expect(r.status2.kay.livePeers).toHaveLength(1);
  expect(r.status2.kay.livePeers[0]!.mi).not.toBe(lostMi);
  expect(r.status2.kay.keyServer?.self).toBe(survivorIsKeyServer);
  expect(r.status2.events.secured).toBe(2);
  // SIGKILL leaves the killed participant's macsec0; our restarted agent adopts it (its mark,
  // name, parent, SCI and suite match) and replaces its SAs once its new session secures
  expect(r.staleLeft).toBe(true);
  if (lostIsOurs) expect(r.staleAdopted, 'restarted agent adopted its macsec0').toBe(1);
}

describe('resilience (UML lab)', () => {
  it('boots one UML and runs peer loss / bad input scenarios', async () => {
    lab = await runLab({
      scenarios: [
        agentScenario('loss-wpa', PEER_LOSS, 120_000, { A_KIND: 'ours', A_OPTS: 'priority=16', B_KIND: 'wpa', B_PRIO: '32', SURVIVOR: 'a', LOST: 'b' }),
        agentScenario('loss-ours-ks', PEER_LOSS, 120_000, {
          A_KIND: 'ours',
          A_OPTS: 'priority=16',
          B_KIND: 'ours',
          B_OPTS: 'priority=32',
          SURVIVOR: 'b',
          LOST: 'a',
        }),
        agentScenario('bad-input', BAD_INPUT, 90_000, { A_KIND: 'ours', A_OPTS: 'priority=16', B_KIND: 'ours', B_OPTS: 'priority=32', REPEAT: String(REPEAT) }),
      ],
    });
    console.log(`UML boot ${lab.bootMs} ms, total ${lab.totalMs} ms; ` + lab.scenarios.map((s) => `${s.name} ${s.durationMs} ms`).join(', '));
  }, 400_000);

  it('wpa_supplicant SIGKILLed: our RX SA/SC go after the life time; it returns and the link re-secures', () => {
    checkPeerLoss('loss-wpa', 'a', true, false);
  });

  it('our key server agent SIGKILLed: the surviving agent drops it after the life time; it returns and re-secures', () => {
    checkPeerLoss('loss-ours-ks', 'b', false, true);
  });

  it('malformed, truncated, wrong-ICV, unknown-CKN and replayed MKPDUs are dropped and counted; the session is unaffected', () => {
    const s = scenarioOk(lab, 'bad-input', ['a.log', 'b.log']);
    const r = readOutJson<{
      status0: PskPortStatus;
      status1: PskPortStatus;
      statusB0: PskPortStatus;
      statusB1: PskPortStatus;
      inject: { base: { len: number }; variants: Record<string, { sent: number; len: number }> };
      pingDuring: string;
      pings: PingResult[];
    }>(s, 'result.json');
    const c0 = r.status0.counters;
    const c1 = r.status1.counters;
    const d = (k: keyof typeof c0) => c1[k] - c0[k];
    console.log(
      `bad-input: injected ${JSON.stringify(r.inject.variants)} (base MKPDU ${r.inject.base.len} octets)\n` +
        `counter deltas: dropped ${d('mkpdusDropped')}, malformed ${d('malformed')}, icvFailures ${d('icvFailures')}, unknownCkn ${d('unknownCkn')}, replays ${d('replays')}, received ${d('mkpdusReceived')}, accepted ${d('mkpdusAccepted')}\n` +
        r.pingDuring.split('\n').slice(-3).join('\n'),
    );
    const v = r.inject.variants;
    const total = Object.values(v).reduce((n, x) => n + x.sent, 0);
    expect(total).toBe(7 * REPEAT);
    // dropped and counted, by reason
    expect(d('mkpdusDropped')).toBe(total);
    expect(d('malformed')).toBe(v.truncated!.sent + v['truncated-icv']!.sent + v['bad-psl']!.sent + v['short-body']!.sent);
    expect(d('icvFailures')).toBe(v['wrong-icv']!.sent);
    expect(d('unknownCkn')).toBe(v['unknown-ckn']!.sent);
    expect(d('replays')).toBe(v.replay!.sent);
    expect(d('mkpdusReceived')).toBe(total + d('mkpdusAccepted'));
    expect(d('mkpdusAccepted')).toBeGreaterThanOrEqual(1); // the peer's hellos still accepted
    // the session is unaffected
    for (const [st0, st1] of [
      [r.status0, r.status1],
      [r.statusB0, r.statusB1],
    ] as const) {
      expect(st1.kay.secured).toBe(true);
      expect(currentKey(st1)?.ki).toBe(currentKey(st0)?.ki);
      expect(currentKey(st1)?.ki).toBeDefined();
      expect(st1.kay.livePeers.map((p) => p.mi)).toEqual(st0.kay.livePeers.map((p) => p.mi));
      expect(st1.counters.rekeys).toBe(st0.counters.rekeys);
      expect(st1.counters.saksGenerated).toBe(st0.counters.saksGenerated);
      expect(st1.counters.saksReceived).toBe(st0.counters.saksReceived);
      expect(st1.counters.peersLost).toBe(0);
      expect(st1.events.unsecured ?? 0).toBe(0);
    }
    expect(r.statusB1.counters.mkpdusDropped).toBe(r.statusB0.counters.mkpdusDropped); // b never saw the injected frames
    expect(r.pingDuring).toMatch(/80 packets transmitted, 80 received, 0% packet loss/);
    expectPingsClean(r.pings, 5);
  });
});
