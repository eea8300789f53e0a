# Restart benchmark, one case (bench/lab/restart.ts): runs inside the UML guest, sourced after
# test/lab/agent/agent-lib.sh. Participant "r" (namespace r, veth vr, 02:00:00:00:00:0a) is
# SIGKILLed and started again REPS times; "s" (namespace s, vs, 02:00:00:00:00:0b) survives.
#   R_KIND, S_KIND  ours | wpa
#   R_KS            1: r has the better key server priority (16 vs 32), else s has
#   REPS            restarts (default 5)
#   WAIT_S          seconds left alone after each restart before anything is checked (default 10)
#
# (No process substitution: the guest has no /dev/fd.)
# Nothing polls while a restart is measured: after the restart the scenario only waits (read -t
# on a FIFO, no exec) for WAIT_S, then checks `ip macsec show`. The host side reads the timeline
# from what the participants and the wire recorded:
#   cap.pcap         every EAPOL frame on s's veth, both directions (tcpdump, kernel timestamps)
#   s.log            the survivor's log (ours: JSON lines; wpa_supplicant: -dd -t)
#   r-N.log          incarnation N of r (0: the first start, N = 1..REPS: the restarts)
#   reps.jsonl       per restart: kill / launch / check times (ms since the epoch)
#   repN.pre.txt     `ip macsec show` in r, then s, just before the kill
#   repN.post.r.txt, repN.post.s.txt   the same after the wait
# Our agents run compiled (dist/) through warm-start.mjs: the next incarnation of r loads its
# modules before the kill and starts when its go file appears, so node start-up and module
# loading are not part of a restart (as for a deployed process whose start is not CPU-starved).
# wpa_supplicant is started afresh (a fork and exec); its stale macsec0 is deleted first (it
# cannot create macsec0 over an existing one), ours is left for our agent to remove, as it does
# after a crash.

: "${REPS:=5}" "${WAIT_S:=10}" "${R_KS:=1}"
R_MAC=02:00:00:00:00:0a S_MAC=02:00:00:00:00:0b
if [[ $R_KS == 1 ]]; then R_PRIO=16 S_PRIO=32; else R_PRIO=32 S_PRIO=16; fi
FIFO="$LAB_STATE/.wait-fifo"
[[ -p $FIFO ]] || mkfifo "$FIFO" || lab_die "mkfifo"

_now() { G_NOW=$(( ${EPOCHREALTIME/./} / 1000 )); }
_pause() { read -r -t "$1" _ <>"$FIFO"; }

rb_conf() { # NAME IF PRIO KIND
  if [[ $4 == ours ]]; then agent_conf "$1" "$2" "priority=$3"; else wpa_conf "$1" "$3"; fi
}

# rb_warm NS INSTANCE CONF: our compiled agent, modules loaded, waiting for its go file.
rb_warm() {
  rm -f "$LAB_STATE/go-$2"
  lab_ns_bg "$1" "$2" env WARM_START_GO="$LAB_STATE/go-$2" WARM_START_POLL_MS=10 node "$REPO/test/lab/agent/warm-start.mjs" \
    "$REPO/dist/src/agent/standalone/main.js" --config "$OUT/$3.yaml" --status-file "$OUT/$2.status.json"
}
rb_is_warm() { grep -qx warm "$OUT/$1.log"; }

# rb_launch NS INSTANCE CONF KIND IF: T_LAUNCH = when (ms).
rb_launch() {
  _now; T_LAUNCH=$G_NOW
  if [[ $4 == ours ]]; then
    : >"$LAB_STATE/go-$2"
  else
    ip netns exec "$1" wpa_supplicant -dd -t -D macsec_linux -i "$5" -c "$OUT/$3.conf" >"$OUT/$2.log" 2>&1 &
    echo $! >"$LAB_STATE/$2.pid"
  fi
}

# rb_new_rx NS: NS has an RX SC (on) holding an SA (on) whose key identifier is not in $PRE_KEYS.
rb_new_rx() {
  local line rx=0
  while IFS= read -r line; do
    if [[ $line =~ RXSC:\ [0-9a-fA-F]+,\ state\ on ]]; then rx=1
    elif [[ $line =~ (RXSC|TXSC): ]]; then rx=0
    elif (( rx )) && [[ $line =~ state\ on,\ key\ ([0-9a-fA-F]+) ]] && [[ $PRE_KEYS != *"${BASH_REMATCH[1],,}"* ]]; then return 0
    fi
  done <<<"$(ip -n "$1" macsec show macsec0 2>/dev/null)"
  return 1
}
rb_both_new() { rb_new_rx r && rb_new_rx s; }
rb_both_rx() { has_rx_sas r 1 && has_rx_sas s 1; }

lab_netns r s
lab_veth r vr s vs "$R_MAC" "$S_MAC"
lab_capture s vs cap ether proto 0x888e
rb_conf r vr "$R_PRIO" "$R_KIND"
rb_conf s vs "$S_PRIO" "$S_KIND"

# The first start: both at once.
[[ $R_KIND == ours ]] && rb_warm r r-0 r
[[ $S_KIND == ours ]] && rb_warm s s s
for n in r-0 s; do
  if [[ $n == r-0 && $R_KIND == ours ]] || [[ $n == s && $S_KIND == ours ]]; then
    lab_wait_every 0.2 90 rb_is_warm "$n" || lab_die "$n: agent modules not loaded after 90 s"
  fi
done
rb_launch s s s "$S_KIND" vs
rb_launch r r-0 r "$R_KIND" vr
lab_wait_every 0.5 60 rb_both_rx || lab_die "the pair did not secure within 60 s"

cur=r-0
for (( i = 1; i <= REPS; i++ )); do
  next="r-$i"
  if [[ $R_KIND == ours ]]; then
    rb_warm r "$next" r
    lab_wait_every 0.2 90 rb_is_warm "$next" || lab_die "$next: agent modules not loaded after 90 s"
  fi
  # Settle (the key switch of the last restart retired, the loading CPU burst over).
  _pause 3
  { ip -n r macsec show; ip -n s macsec show; } >"$OUT/rep$i.pre.txt" 2>&1
  PRE_KEYS="$(grep -oE 'key [0-9a-fA-F]+' "$OUT/rep$i.pre.txt" | tr 'A-F' 'a-f' | tr '\n' ' ')"
  # Killed just after one of its MKPDUs: its old MI stays live at the survivor for a life time.
  nsenter --net=/run/netns/s timeout 5 tcpdump -i vs -c 1 -w /dev/null ether proto 0x888e and ether src "$R_MAC" 2>/dev/null
  _now; t_kill=$G_NOW
  pid="$(<"$LAB_STATE/$cur.pid")"
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  [[ $R_KIND == wpa ]] && ip -n r link del macsec0 2>/dev/null
  rb_launch r "$next" r "$R_KIND" vr
  _pause "$WAIT_S"
  _now; t_check=$G_NOW
  ok=true
  if ! rb_both_new; then
    lab_wait_every 0.5 30 rb_both_new || ok=false
    _now; t_check=$G_NOW
  fi
  ip -n r macsec show >"$OUT/rep$i.post.r.txt" 2>&1
  ip -n s macsec show >"$OUT/rep$i.post.s.txt" 2>&1
  printf '{"rep":%d,"instance":"%s","tKill":%s,"tLaunch":%s,"tCheck":%s,"newKeysActive":%s,"waitS":%s}\n' \
    "$i" "$next" "$t_kill" "$T_LAUNCH" "$t_check" "$ok" "$WAIT_S" >>"$OUT/reps.jsonl"
  [[ $ok == true ]] || lab_log "restart $i: no RX SA with a new key on both sides 30 s after the wait"
  cur=$next
done

kill -TERM "$(<"$LAB_STATE/$cur.pid")" "$(<"$LAB_STATE/s.pid")" 2>/dev/null
_pause 1
lab_stop cap INT
