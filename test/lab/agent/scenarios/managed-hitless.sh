# Scenario: key changes of a managed PSK channel under traffic (test/lab/agent/managed-hitless.lab.test.ts,
# bench/lab/hitless.ts). One manager (root namespace) and managed agents node-a, node-b (and node-c
# for MODE update), each in its own namespace, reach the manager over a management bridge
# (10.9.0.0/24) and each other over the LAN bridge `lan` (their eth1). Channel "lab" secures a and b;
# two paced UDP streams, one each way, cross it while
#   MODE rotation: ROTATIONS times, the next key is added (start at once), both agents switch to it
#                  (principalChanged in their logs), and the previous key is retired;
#   MODE update:   node-c's port is added to the channel (UpdateSecureChannel, waits until secured),
#                  c pings a over the channel, then c is removed again;
#   MODE restart:  node-b's agent restarts as planned (SIGUSR1: in-service suspension, links and SAs
#                  stay) and its new process (agent-b2) adopts the link and secures again.
# Env: MODE, RATE, STREAM_SECONDS, ROTATIONS (rotation), AGENT_FROM_DIST (the agents run from dist/).
# Out: send-*.json / recv-*.json, manager.log, agent-*.log, steps.jsonl, ports-*.json, result.json.
sysctl -qw net.core.rmem_max=33554432
: "${MODE:?}" "${RATE:=1000}" "${STREAM_SECONDS:=40}" "${ROTATIONS:=3}"
DIST="$REPO/dist/src"
PKI="$OUT/pki"
MEMBERS=(a b); [[ $MODE == update ]] && MEMBERS=(a b c)
CTL() { node "$DIST/cli/macsecctl.js" "$@" --server 127.0.0.1:50051 --pki-dir "$PKI" --user admin-lab; }
# Under traffic a cold CLI takes tens of seconds of the one guest CPU: calls go to one warm
# macsecctl (ctl-warm.mjs) instead. WCTL ARGS...: its output on stdout, its exit code.
WCTL_DIR="$LAB_STATE/ctl"
WCTL() {
  # an id no other call has, also from a $(...) subshell (which cannot count for its parent)
  local id="${EPOCHREALTIME/./}-$BASHPID-$RANDOM" a
  for a in "$@" --server 127.0.0.1:50051 --pki-dir "$PKI" --user admin-lab; do printf '%s\n' "$a"; done >"$WCTL_DIR/$id.tmp"
  mv "$WCTL_DIR/$id.tmp" "$WCTL_DIR/$id.req"
  lab_wait_every 0.05 90 test -e "$WCTL_DIR/$id.rc" || { echo "WCTL $1 $2: no answer" >&2; return 1; }
  cat "$WCTL_DIR/$id.out"
  return "$(cat "$WCTL_DIR/$id.rc")"
}
step() { jq -nc --arg step "$1" --argjson t "$(now_ms)" --arg detail "${2:-}" '{step: $step, t: $t, detail: $detail}' >>"$OUT/steps.jsonl"; }

{
  node "$DIST/cli/macsecctl.js" pki init --dir "$PKI" &&
    node "$DIST/cli/macsecctl.js" pki issue manager manager --dir "$PKI" --dns localhost --ip 127.0.0.1 --ip 10.9.0.1 &&
    node "$DIST/cli/macsecctl.js" pki issue admin lab --dir "$PKI" &&
    for m in "${MEMBERS[@]}"; do node "$DIST/cli/macsecctl.js" pki issue agent "node-$m" --dir "$PKI" || exit 1; done
} >"$OUT/pki.log" 2>&1 || lab_die "certificate generation failed: $(tail -c 300 "$OUT/pki.log")"

lab_bridge mgmt; lab_addr - mgmt 10.9.0.1/24
lab_bridge lan
i=10
for m in "${MEMBERS[@]}"; do
  i=$((i + 1))
  lab_netns "$m"
  lab_bridge_member mgmt - "$m" m0; lab_addr "$m" m0 "10.9.0.$i/24"
  lab_bridge_member lan - "$m" eth1 "02:00:00:00:01:$i"
done

# The guest has one CPU and the streams' generators (python, nice -5/-15) take most of it; the
# control plane (manager, agents, the operator's CLI) runs at nice -10 so that a step's time is the
# control plane's, not the scheduler's (at nice 0 an AddChannelKey took 15-25 s under the streams).
lab_bg manager nice -n -10 node "$DIST/manager/main.js" --listen 0.0.0.0:50051 --db "$LAB_STATE/manager.db" --init-db \
  --ca "$PKI/ca.crt" --cert "$PKI/manager.crt" --key "$PKI/manager.key"
lab_wait_log 40 manager '"ready":true' || lab_die "manager did not start"
# managed_start M NAME: node-M's agent in namespace M, log $OUT/NAME.log
managed_start() {
  lab_ns_bg "$1" "$2" nice -n -10 node "$DIST/agent/managed/main.js" --manager 10.9.0.1:50051 --ca "$PKI/ca.crt" \
    --cert "$PKI/agent-node-$1.crt" --key "$PKI/agent-node-$1.key" --interfaces eth1 --io pcap --secy kernel
}
for m in "${MEMBERS[@]}"; do managed_start "$m" "agent-$m"; done
registered() { (( $(CTL agents list --json | jq '[.agents[]? | select(.connected == true)] | length') == ${#MEMBERS[@]} )); }
lab_wait_for 90 registered || lab_die "agents did not register (see agent-*.log)"
{
  prio=16
  for m in "${MEMBERS[@]}"; do CTL ports open "node-$m" eth1 --mode psk --priority "$prio" || exit 1; prio=$((prio + 16)); done
  CTL channels create lab --endpoint node-a:eth1:vnf-a:eth0 --endpoint node-b:eth1:vnf-b:eth0 --wait-secured --wait-timeout 60000
} >"$OUT/ctl-setup.log" 2>&1 || lab_die "channel setup failed: $(tail -c 400 "$OUT/ctl-setup.log")"
step secured

# msif NS: the agent's macsec link in NS (named after its parent, see the managed agent's main.ts).
msif() { ip -n "$1" -j link show type macsec | jq -r '.[0].ifname // empty'; }
ms_up() {
  local ns="$1" ip="$2" dev
  lab_wait_for 30 bash -c "ip -n $ns -j link show type macsec | jq -e 'length > 0'" || return 1
  dev="$(msif "$ns")"
  ip -n "$ns" addr replace "$ip/24" dev "$dev"
}
ms_up a 10.9.3.1 && ms_up b 10.9.3.2 || lab_die "no macsec link"
lab_wait_for 20 ip netns exec a ping -n -c 1 -W 1 10.9.3.2 || lab_die "a cannot reach b over the channel"
CTL ports list --json >"$OUT/ports-before.json"
mkdir -p "$WCTL_DIR"
lab_bg ctl-warm nice -n -10 node "$REPO/test/lab/agent/ctl-warm.mjs" "$DIST" "$WCTL_DIR"
lab_wait_log 60 ctl-warm '^warm$' || lab_die "warm macsecctl did not start"
WCTL agents list >/dev/null || lab_die "warm macsecctl does not answer: $(tail -c 300 "$OUT/ctl-warm.log")"

udp_recv_start b recv-b 10.9.3.2 5000 25 150 -15
udp_recv_start a recv-a 10.9.3.1 5001 25 150 -15
UDP0_A="$(udp_errors a)"; UDP0_B="$(udp_errors b)"
T0="$(now_ms)"
udp_send_start a send-a 10.9.3.2 5000 "$RATE" "$STREAM_SECONDS" -5
udp_send_start b send-b 10.9.3.1 5001 "$RATE" "$STREAM_SECONDS" -5
step streams
# This shell makes the operator's calls from now on: like the control plane it must not wait
# behind the streams (at nice 0 the steps of one call came 10-20 s apart).
renice -n -10 -p $$ >/dev/null
# what takes the guest's CPU while the streams run
(sleep 12; top -b -n 1 -w 160 >"$OUT/top.txt" 2>&1) &
# at T0 + S seconds
at() { local d=$(( T0 + $1 * 1000 - $(now_ms) )); (( d > 0 )) && sleep "$(( d / 1000 )).$(printf %03d $(( d % 1000 )))"; return 0; }
# switched CKN: both agents log that CKN's participant as principal
switched() { grep -q "\"mka principalChanged\".*\"ckn\":\"$1\"" "$OUT/agent-a.log" && grep -q "\"mka principalChanged\".*\"ckn\":\"$1\"" "$OUT/agent-b.log"; }

if [[ $MODE == rotation ]]; then
  OLD="$(WCTL channels keys lab --json | jq -r '.keys[0].ckn')"
  # rotations spread over the stream, the last one done at least 10 s before it ends
  every=$(( (STREAM_SECONDS - 15) / ROTATIONS ))
  for r in $(seq 1 "$ROTATIONS"); do
    at $(( 5 + (r - 1) * every ))
    NEW="$(WCTL channels add-key lab --json | jq -r '.key.ckn')" || NEW=""
    step add-key "$NEW"
    if [[ -n $NEW ]] && lab_wait_every 0.3 30 switched "$NEW"; then step switched "$NEW"; else step not-switched "$NEW"; fi
    if WCTL channels retire-key lab "$OLD" >>"$OUT/ctl-retire.log" 2>&1; then step retired "$OLD"; else step retire-failed "$OLD"; fi
    OLD="$NEW"
  done
  WCTL channels keys lab --json >"$OUT/keys-after.json"
elif [[ $MODE == restart ]]; then
  at 5
  kill -USR1 "$(lab_pid agent-b)"
  if lab_wait_exit agent-b 20; then step exited; else step not-exited; fi
  managed_start b agent-b2
  if lab_wait_every 0.3 60 grep -q '"msg":"mka secured"' "$OUT/agent-b2.log"; then step resecured; else step not-resecured; fi
  # the adopted SAs go the retire time after the new key transmits
  sleep 5
else
  at 5
  if WCTL channels update lab --add node-c:eth1:vnf-c:eth0 --wait-secured --wait-timeout 60000 >"$OUT/ctl-add.log" 2>&1; then step added; else step add-failed; fi
  ms_up c 10.9.3.3 || step no-link-c
  if lab_wait_for 15 ip netns exec c ping -n -c 1 -W 1 10.9.3.1; then step c-reached-a; else step c-unreachable; fi
  ip netns exec c ping -n -c 5 -i 0.2 -W 1 10.9.3.2 >"$OUT/ping-c-b.txt" 2>&1; echo "rc=$?" >>"$OUT/ping-c-b.txt"
  # removed at once: a and b lose c after the MKA life time and rekey, all under traffic
  if WCTL channels update lab --remove node-c/eth1 >"$OUT/ctl-remove.log" 2>&1; then step removed; else step remove-failed; fi
  lab_wait_for 20 bash -c "ip -n c -j link show type macsec | jq -e 'length == 0'" && step c-link-gone
fi

lab_wait_exit send-a $((STREAM_SECONDS + 60)) || lab_log "sender a still running"
lab_wait_exit send-b 20 || lab_log "sender b still running"
sleep 1.5
lab_stop recv-b TERM; lab_stop recv-a TERM
sleep 1
WCTL ports list --json >"$OUT/ports-after.json"
lab_json result.json --argjson t0 "$T0" \
  --argjson sendA "$(cat "$OUT/send-a.json")" --argjson recvB "$(cat "$OUT/recv-b.json")" \
  --argjson sendB "$(cat "$OUT/send-b.json")" --argjson recvA "$(cat "$OUT/recv-a.json")" \
  --argjson udpA "[$UDP0_A, $(udp_errors a)]" --argjson udpB "[$UDP0_B, $(udp_errors b)]" \
  --argjson steps "$(jq -s . "$OUT/steps.jsonl")" \
  --argjson before "$(cat "$OUT/ports-before.json")" --argjson after "$(cat "$OUT/ports-after.json")" \
  --argjson keys "$(cat "$OUT/keys-after.json" 2>/dev/null || echo null)" \
  '{t0: $t0, aToB: {sent: $sendA, recv: $recvB}, bToA: {sent: $sendB, recv: $recvA}, udpErrors: {a: $udpA, b: $udpB},
    steps: $steps, portsBefore: $before.ports, portsAfter: $after.ports, keysAfter: $keys}'
lab_stop ctl-warm
for m in "${MEMBERS[@]}"; do lab_stop "agent-$m"; done
[[ $MODE == restart ]] && lab_stop agent-b2
lab_stop manager
