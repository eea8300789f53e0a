# Scenario: agent b restarts under traffic (test/lab/agent/restart-traffic.lab.test.ts,
# bench/lab/hitless.ts). A secured pair (agent-lib.sh pair_up) carries two paced UDP streams,
# one each way through macsec0; 5 s in, b stops (MODE planned: SIGUSR1, in-service suspension,
# macsec0 and its SAs stay; MODE kill: SIGKILL) and starts again as b2 with the same config.
# Env: A_KIND/A_OPTS/A_PRIO, B_OPTS (b is ours), MODE, RATE, STREAM_SECONDS.
# Out: send-*.json / recv-*.json, a.log, b.log, b2.log, result.json.
sysctl -qw net.core.rmem_max=33554432
pair_up || lab_die "pair did not secure: T_RX=$T_RX T_PING=$T_PING"
# done after 25 s without a packet (an outage must not end the count), at most 150 s
udp_recv_start b recv-b "$PAIR_IP_B" 5000 25 150 -15
udp_recv_start a recv-a "$PAIR_IP_A" 5001 25 150 -15
UDP0_A="$(udp_errors a)"; UDP0_B="$(udp_errors b)"
STATUS_A0="$(agent_status a)"
T0="$(now_ms)"
udp_send_start a send-a "$PAIR_IP_B" 5000 "$RATE" "$STREAM_SECONDS" -5
udp_send_start b send-b "$PAIR_IP_A" 5001 "$RATE" "$STREAM_SECONDS" -5
sleep 5
T_STOP="$(now_ms)"
if [[ $MODE == planned ]]; then kill -USR1 "$(lab_pid b)"; lab_wait_exit b 20 || lab_log "b did not exit"; else lab_stop b KILL; fi
T_EXITED="$(now_ms)"
LINK_KEPT="$(ip -n b link show macsec0 >/dev/null 2>&1 && echo true || echo false)"
cp "$OUT/b.yaml" "$OUT/b2.yaml"
agent_start b b2
lab_wait_for 40 agent_ready b2 || lab_log "restarted agent not ready"
lab_wait_exit send-a $((STREAM_SECONDS + 40)) || lab_log "sender a still running"
lab_wait_exit send-b 20 || lab_log "sender b still running"
T1="$(now_ms)"
# the streams are over: the receivers count what is queued and stop (SIGTERM)
sleep 1.5
lab_stop recv-b TERM; lab_stop recv-a TERM
sleep 1
lab_json result.json --argjson t0 "$T0" --argjson tStop "$T_STOP" --argjson tExited "$T_EXITED" --argjson t1 "$T1" \
  --argjson linkKept "$LINK_KEPT" \
  --argjson statusA0 "$STATUS_A0" --argjson statusA1 "$(agent_status a)" \
  --argjson statusB2 "$(agent_status b2)" \
  --argjson sendA "$(cat "$OUT/send-a.json")" --argjson recvB "$(cat "$OUT/recv-b.json")" \
  --argjson sendB "$(cat "$OUT/send-b.json")" --argjson recvA "$(cat "$OUT/recv-a.json")" \
  --argjson udpA "[$UDP0_A, $(udp_errors a)]" --argjson udpB "[$UDP0_B, $(udp_errors b)]" \
  --argjson links "$(ip -n b -j link show type macsec | jq length)" \
  '{t0: $t0, tStop: $tStop, tExited: $tExited, t1: $t1, linkKept: $linkKept, statusA0: $statusA0, statusA1: $statusA1, statusB2: $statusB2,
    aToB: {sent: $sendA, recv: $recvB}, bToA: {sent: $sendB, recv: $recvA}, udpErrors: {a: $udpA, b: $udpB}, macsecLinksB: $links}'
lab_stop a; lab_stop b2
