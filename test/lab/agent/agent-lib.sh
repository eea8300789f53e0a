# Helpers for lab scenarios that run our PSK agent (src/agent/standalone/main.ts) and
# wpa_supplicant 2.10 MKA peers. Source it from a scenario:
#   source "$REPO/test/lab/agent/agent-lib.sh"
#
# Every participant NAME gets: $OUT/NAME.log (its output), and for our agent
# $OUT/NAME.yaml + $OUT/NAME.status.json, for wpa_supplicant $OUT/NAME.conf.
# The macsec interface is always macsec0 (ours: macsecName; wpa: its default).

: "${LAB_CAK:=00112233445566778899aabbccddeeff}"
: "${LAB_CKN:=6162636465666768}"
: "${AGENT_LOG_LEVEL:=info}"

# Milliseconds since the epoch.
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# agent_conf NAME IF [FIELD=VALUE ...]: write $OUT/NAME.yaml, one port on IF,
# macsecName macsec0, CAK/CKN from $LAB_CAK/$LAB_CKN. FIELD=VALUE overrides
# any port field; values of 1..6 digits are numbers, everything else a string.
agent_conf() {
  local name="$1" iface="$2"; shift 2
  local args=(--arg iface "$iface" --arg cak "$LAB_CAK" --arg ckn "$LAB_CKN" --arg lvl "$AGENT_LOG_LEVEL")
  local port='{name: $iface, interface: $iface, macsecName: "macsec0", cak: $cak, ckn: $ckn}'
  local kv k v i=0
  for kv in "$@"; do
    k="${kv%%=*}" v="${kv#*=}"
    if [[ "$v" =~ ^[0-9]{1,6}$ ]]; then args+=(--argjson "v$i" "$v"); else args+=(--arg "v$i" "$v"); fi
    port+=" | .[\"$k\"] = \$v$i"
    i=$((i + 1))
  done
  jq -n "${args[@]}" "{logLevel: \$lvl, ports: [($port)]}" >"$OUT/$name.yaml" || lab_die "agent_conf $name"
}

# agent_start NS NAME: run our agent with $OUT/NAME.yaml in namespace NS.
agent_start() {
  local ns="$1" name="$2"
  rm -f "$OUT/$name.status.json"
  # AGENT_FROM_DIST=1 runs the compiled agent (as deployed; node starts without tsx's compile step).
  local entry=(--import tsx "$REPO/src/agent/standalone/main.ts")
  [[ "${AGENT_FROM_DIST:-}" == 1 ]] && entry=("$REPO/dist/src/agent/standalone/main.js")
  lab_ns_bg "$ns" "$name" node "${entry[@]}" \
    --config "$OUT/$name.yaml" --status-file "$OUT/$name.status.json"
}

# agent_ready NAME: true once the agent logged "port started" (macsec link + pcap open).
agent_ready() { grep -q 'port started' "$OUT/$1.log"; }

# agent_status NAME: the status file's first port (JSON), or null.
agent_status() { jq -c '.ports[0] // null' "$OUT/$1.status.json" 2>/dev/null || echo null; }

# agent_secured NAME: true once the agent's status file says secured.
agent_secured() { [[ "$(jq -r '.ports[0].kay.secured' "$OUT/$1.status.json" 2>/dev/null)" == true ]]; }

# wpa_conf NAME PRIORITY [CAK [CKN]]: write $OUT/NAME.conf (PSK MKA, policy 1; WPA_INTEG_ONLY=1: integrity only).
wpa_conf() {
  local name="$1" prio="$2" cak="${3:-$LAB_CAK}" ckn="${4:-$LAB_CKN}"
  cat >"$OUT/$name.conf" <<EOF
ctrl_interface=$LAB_STATE/ctrl-$name
ap_scan=0
network={
  key_mgmt=NONE
  eapol_flags=0
  macsec_policy=1
  mka_cak=$cak
  mka_ckn=$ckn
  mka_priority=$prio
  macsec_integ_only=${WPA_INTEG_ONLY:-0}
}
EOF
}

# wpa_start NS NAME IF: run wpa_supplicant (macsec_linux, debug log with timestamps).
wpa_start() {
  lab_ns_bg "$1" "$2" wpa_supplicant -dd -t -D macsec_linux -i "$3" -c "$OUT/$2.conf"
}

# rx_sas NS: active RX SAs on macsec0 in NS (0 if there is no macsec0).
rx_sas() { lab_rx_sa_count "$1" macsec0 2>/dev/null || echo 0; }

# rx_scs NS: RX SCs on macsec0 in NS.
rx_scs() { lab_macsec_json "$1" macsec0 | jq '[.[]?.rx_sc[]?] | length'; }

# has_rx_sas NS N: at least N active RX SAs on macsec0 in NS.
has_rx_sas() { (( $(rx_sas "$1") >= $2 )); }

# all_rx_sas N NS...: every NS has at least N active RX SAs.
all_rx_sas() {
  local n="$1" ns; shift
  for ns in "$@"; do has_rx_sas "$ns" "$n" || return 1; done
}

# macsec_addr NS IP/LEN: address on macsec0 once it exists (wpa creates it late). Idempotent:
# a restarted agent of ours adopts its macsec0, address included.
macsec_addr() {
  lab_wait_for 20 ip -n "$1" link show macsec0 || lab_die "$1: no macsec0 after 20 s"
  lab_in "$1" ip addr replace "$2" dev macsec0 || lab_die "addr $2 on macsec0 in $1"
  lab_in "$1" ip link set macsec0 up
}

# ping_json NS DST [COUNT [INTERVAL]]: ping DST through macsec0 from NS; prints
# {from, to, ok, transmitted, received, output}.
ping_json() {
  local ns="$1" dst="$2" count="${3:-3}" interval="${4:-0.2}" out rc
  out="$(lab_in "$ns" ping -n -c "$count" -i "$interval" -W 2 -I macsec0 "$dst" 2>&1)"; rc=$?
  local tx rx
  tx="$(sed -nE 's/^([0-9]+) packets transmitted.*/\1/p' <<<"$out")"
  rx="$(sed -nE 's/.* ([0-9]+) (packets )?received.*/\1/p' <<<"$out")"
  jq -n --arg from "$ns" --arg to "$dst" --argjson rc "$rc" --arg out "$out" \
    --argjson tx "${tx:-0}" --argjson rx "${rx:-0}" \
    '{from: $from, to: $to, ok: ($rc == 0), transmitted: $tx, received: $rx, output: $out}'
}

# macsec_state NS...: {ns: {json: ip -s -j macsec show, text: ip macsec show, link: ip -d link show macsec0}}
macsec_state() {
  local ns
  for ns in "$@"; do
    jq -n --arg ns "$ns" --argjson json "$(lab_macsec_json "$ns" macsec0)" \
      --arg text "$(lab_in "$ns" ip macsec show 2>&1)" \
      --arg link "$(lab_in "$ns" ip -d link show macsec0 2>&1)" \
      '{($ns): {json: $json, text: $text, link: $link}}'
  done | jq -s 'add // {}'
}


# --- two participants over a veth pair -----------------------------------------------
#
# pair_up: namespaces a and b joined by a veth (va 02:00:00:00:00:0a, vb
# 02:00:00:00:00:0b); participant "a" in ns a, "b" in ns b, each ours or wpa:
#   A_KIND/B_KIND  ours | wpa
#   A_OPTS/B_OPTS  agent_conf FIELD=VALUE overrides (ours), space separated
#   A_PRIO/B_PRIO  mka_priority (wpa)
#   PAIR_TIMEOUT   seconds to wait for both RX SAs (default 30)
# Sets T_START (ms, both started), T_READY (both agents ready, = T_START for
# wpa), T_RX (both RX SAs installed), T_PING (first ping a->b through
# macsec0 passes), each "null" if it did not happen.
: "${A_KIND:=ours}" "${B_KIND:=ours}" "${A_OPTS:=}" "${B_OPTS:=}" "${A_PRIO:=32}" "${B_PRIO:=32}"
: "${PAIR_TIMEOUT:=30}"
PAIR_IP_A=10.9.0.1 PAIR_IP_B=10.9.0.2

# participant_start NS NAME IF KIND OPTS PRIO
participant_start() {
  local ns="$1" name="$2" iface="$3" kind="$4" opts="$5" prio="$6"
  case "$kind" in
    ours) read -r -a _o <<<"$opts"; agent_conf "$name" "$iface" "${_o[@]}"; agent_start "$ns" "$name" ;;
    wpa) wpa_conf "$name" "$prio"; wpa_start "$ns" "$name" "$iface" ;;
    *) lab_die "unknown participant kind $kind" ;;
  esac
}

# participant_ready NAME KIND: ours -> "port started" logged; wpa -> macsec0 exists.
participant_ready() {
  case "$2" in
    ours) agent_ready "$1" ;;
    wpa) ip -n "$1" link show macsec0 >/dev/null 2>&1 ;;
  esac
}

pair_ready() { participant_ready a "$A_KIND" && participant_ready b "$B_KIND"; }

ping_once() { lab_in "$1" ping -n -c 1 -W 1 -I macsec0 "$2" >/dev/null 2>&1; }

pair_topology() {
  lab_netns a b
  lab_veth a va b vb 02:00:00:00:00:0a 02:00:00:00:00:0b
}

pair_start() {
  T_START="$(now_ms)"
  participant_start a a va "$A_KIND" "$A_OPTS" "$A_PRIO"
  participant_start b b vb "$B_KIND" "$B_OPTS" "$B_PRIO"
}

pair_wait() {
  T_READY=null T_RX=null T_PING=null
  if lab_wait_for "$PAIR_TIMEOUT" pair_ready; then T_READY="$(now_ms)"; fi
  # Poll faster than lab_wait_for for timing.
  local deadline=$(( $(now_ms) + PAIR_TIMEOUT * 1000 ))
  while (( $(now_ms) < deadline )); do
    if all_rx_sas 1 a b; then T_RX="$(now_ms)"; break; fi
    sleep 0.05
  done
  [[ "$T_RX" != null ]] || lab_log "RX SAs not installed on both sides after ${PAIR_TIMEOUT} s"
  macsec_addr a "$PAIR_IP_A/24"
  macsec_addr b "$PAIR_IP_B/24"
  if lab_wait_for 15 ping_once a "$PAIR_IP_B"; then T_PING="$(now_ms)"; fi
}

# pair_up: topology, start, wait. Returns 0 when both RX SAs are in and a ping passed.
pair_up() {
  pair_topology
  pair_start
  pair_wait
  [[ "$T_RX" != null && "$T_PING" != null ]]
}

# pair_pings [COUNT]: JSON array of pings a->b and b->a through macsec0.
pair_pings() {
  { ping_json a "$PAIR_IP_B" "${1:-5}"; ping_json b "$PAIR_IP_A" "${1:-5}"; } | jq -s .
}

# participant_json NAME KIND: {kind, status (ours), log excerpts (wpa)}.
participant_json() {
  local name="$1" kind="$2"
  if [[ "$kind" == ours ]]; then
    jq -n --arg kind ours --argjson status "$(agent_status "$name")" '{kind: $kind, status: $status}'
  else
    jq -n --arg kind wpa \
      --arg secured "$(grep -m1 'CP entering state SECURED' "$OUT/$name.log")" \
      --arg cs "$(grep -E 'cipher suite|CipherSuite|csindex' "$OUT/$name.log" | head -20)" \
      --arg errors "$(grep -iE 'fail|error|invalid|unsupport' "$OUT/$name.log" | head -40)" \
      '{kind: $kind, securedLine: $secured, cipherLines: $cs, errorLines: $errors}'
  fi
}

# pair_result FILE [EXTRA_JSON]: write timings, pings, macsec state and participants.
pair_result() {
  local file="$1" extra="${2:-{\}}"
  lab_json "$file" \
    --argjson tStart "$T_START" --argjson tReady "$T_READY" --argjson tRx "$T_RX" --argjson tPing "$T_PING" \
    --argjson pings "$(pair_pings 5)" --argjson state "$(macsec_state a b)" \
    --argjson a "$(participant_json a "$A_KIND")" --argjson b "$(participant_json b "$B_KIND")" \
    --argjson extra "$extra" \
    '{timing: {start: $tStart, ready: $tReady, rxSas: $tRx, firstPing: $tPing},
      pings: $pings, state: $state, participants: {a: $a, b: $b}} + $extra'
}

# stop_and_check_cleanup NAME NS: SIGTERM our agent; prints true if macsec0 is gone afterwards.
stop_and_check_cleanup() {
  lab_stop "$1" TERM
  if ip -n "$2" link show macsec0 >/dev/null 2>&1; then echo false; else echo true; fi
}

# --- traffic and sampling -----------------------------------------------------------

UDP_STREAM="$REPO/test/lab/agent/udp-stream.py"

# sa_sample_loop NS FILE: append {"t": ms, "show": ip -s -j macsec show macsec0} to FILE
# every 0.25 s, forever (run it with lab_bg, stop with lab_stop).
sa_sample_loop() {
  local ns="$1" file="$2"
  while :; do
    printf '{"t":%s,"show":%s}\n' "$(now_ms)" "$(lab_macsec_json "$ns" macsec0)" >>"$file"
    sleep 0.25
  done
}

# udp_recv_start NS NAME BIND PORT [IDLE_S MAX_S [NICE]]: receiver writing $OUT/NAME.json once
# IDLE_S (default 2) pass without a packet, after MAX_S (default 60) or on SIGTERM; at NICE
# (default -10). Traffic scenarios with an outage or a key change give a long IDLE_S, so that a
# gap does not end the count, and -15: a starved receiver overflows its socket.
udp_recv_start() {
  local ns="$1" name="$2" bind="$3" port="$4" idle="${5:-2}" max="${6:-60}" prio="${7:--10}"
  rm -f "$LAB_STATE/$name.ready"
  lab_ns_bg "$ns" "$name" nice -n "$prio" python3 "$UDP_STREAM" recv "$bind" "$port" "$OUT/$name.json" "$LAB_STATE/$name.ready" "$idle" "$max"
  lab_wait_for 15 test -e "$LAB_STATE/$name.ready" || lab_die "UDP receiver $name did not start"
}

# udp_send_start NS NAME DST PORT RATE SECONDS [NICE]: sender writing $OUT/NAME.json when done
# (NICE default 0).
udp_send_start() {
  lab_ns_bg "$1" "$2" nice -n "${7:-0}" python3 "$UDP_STREAM" send "$3" "$4" "$5" "$6" "$OUT/$2.json"
}

# lab_wait_exit NAME TIMEOUT_S: wait for a lab_bg process to end by itself.
lab_wait_exit() {
  local pid; pid="$(lab_pid "$1")"
  lab_wait_for "$2" bash -c "! kill -0 $pid 2>/dev/null"
}

# udp_errors NS: {InErrors, RcvbufErrors} of the namespace's UDP stack (/proc/net/snmp).
udp_errors() {
  lab_in "$1" awk '/^Udp:/ { if (!h) { for (i = 2; i <= NF; i++) k[i] = $i; h = 1 } else { for (i = 2; i <= NF; i++) v[k[i]] = $i } }
    END { printf "{\"InErrors\":%d,\"RcvbufErrors\":%d}\n", v["InErrors"], v["RcvbufErrors"] }' /proc/net/snmp
}

# --- mixed MKA groups on a bridge ----------------------------------------------------
#
# group_run: one MKA group of our agents and wpa_supplicant peers on bridge br0 (namespace
# sw), each member in its own namespace (named after it) on eth0, all with the same CAK.
# Driven by the environment:
#   GROUP_MEMBERS     "NAME/KIND/MAC/PRIO ..." in start order; KIND ours | wpa; PRIO is the
#                     key server priority (lower wins; equal: the lowest SCI wins)
#   GROUP_START       simultaneous | staggered | late (see group_run)
#   GROUP_STAGGER_MS  default 700
#   GROUP_TIMEOUT     seconds to wait for every RX SA after the last launch, per phase (default 20)
#   GROUP_WARMUP      seconds for one clean ping round (ARP) before counting (default 6)
#   GROUP_PINGS       pings per ordered pair (default 5)
# Member i (from 1) gets 10.9.2.i/24 on macsec0; its SCI is MAC || 0001.
#
# Our agents run from dist/ through warm-start.mjs: node loads the agent's modules first
# (about 8 s each inside UML), and launching a member is touching its go file, so a start
# pattern is what the members do on the wire, not how long node takes to load.
# Everything inside UML competes with the members for the one guest CPU (an exec costs
# 0.05-0.1 s of it), so the scenario does few execs: the poll (lab_wait_every, 0.3 s) reads
# `ip -n NS macsec show` with bash alone and stops at the first member still lacking an RX SA,
# links are made in one `ip -b` batch per namespace, pings run through nsenter (`ip netns exec` remounts /sys:
# 0.4 s each), and the scenario only dumps raw output;
# mixed-groups.lab.test.ts reads and judges it on the host:
#   run.json                      start pattern, launch times, per phase: timings, missing RX SAs
#   NAME.PHASE.macsec.json/.txt   ip -s -j macsec show / ip macsec show in NAME's namespace
#   NAME.PHASE.status.json        our agent's status file at that moment
#   pings-PHASE/SRC-DST.txt       ping's output, then "rc=N"
#   NAME.log                      agent / wpa_supplicant (-dd) log
# PHASE is "all" (every member), and "first" for a late join (before the last member joins).
: "${GROUP_START:=simultaneous}" "${GROUP_STAGGER_MS:=700}" "${GROUP_TIMEOUT:=20}" "${GROUP_WARMUP:=6}" "${GROUP_PINGS:=5}"

# _now: G_NOW = ms since the epoch, without a fork.
_now() { G_NOW=$(( ${EPOCHREALTIME/./} / 1000 )); }

# _pause SECONDS: sleep without an exec (read -t on the FIFO lab_wait_every uses).
_pause() { read -r -t "$1" _ <>"$LAB_STATE/.wait-fifo"; }

group_parse() {
  declare -gA G_KIND G_MAC G_PRIO G_IP G_SCI G_LAUNCH G_DONE G_LACKS G_ADDR G_PINGOK
  G_NAMES=()
  local spec name kind mac prio i=0
  for spec in $GROUP_MEMBERS; do
    IFS=/ read -r name kind mac prio <<<"$spec"
    i=$((i + 1))
    G_NAMES+=("$name")
    G_KIND[$name]=$kind G_MAC[$name]=$mac G_PRIO[$name]=$prio G_IP[$name]=10.9.2.$i
    G_SCI[$name]="${mac//:/}0001"
    G_SCI[$name]="${G_SCI[$name],,}"
  done
  (( ${#G_NAMES[@]} >= 2 )) || lab_die "GROUP_MEMBERS needs at least 2 members: '$GROUP_MEMBERS'"
  [[ -p "$LAB_STATE/.wait-fifo" ]] || mkfifo "$LAB_STATE/.wait-fifo" || lab_die "mkfifo"
}

# agent_warm NS NAME: our compiled agent with its modules loaded, waiting for agent_go NAME.
agent_warm() {
  local ns="$1" name="$2"
  rm -f "$OUT/$name.status.json" "$LAB_STATE/go-$name"
  lab_ns_bg "$ns" "$name" env WARM_START_GO="$LAB_STATE/go-$name" WARM_START_POLL_MS=50 node "$REPO/test/lab/agent/warm-start.mjs" \
    "$REPO/dist/src/agent/standalone/main.js" --config "$OUT/$name.yaml" --status-file "$OUT/$name.status.json"
}
agent_is_warm() { grep -qx warm "$OUT/$1.log"; }
agent_go() { : >"$LAB_STATE/go-$1"; }

# group_prepare: namespaces; our agents start loading as soon as theirs exists; configs; the
# bridge and every member's veth (in place, one batch per namespace).
group_prepare() {
  local n ours=() batch="" sw=""
  _now; G_T_PREP=$G_NOW
  for n in "${G_NAMES[@]}"; do
    [[ ${G_KIND[$n]} == ours ]] || continue
    ip netns add "$n" || lab_die "cannot create netns $n"
    printf '{"logLevel":"%s","ports":[{"name":"eth0","interface":"eth0","macsecName":"macsec0","cak":"%s","ckn":"%s","priority":%s}]}\n' \
      "$AGENT_LOG_LEVEL" "$LAB_CAK" "$LAB_CKN" "${G_PRIO[$n]}" >"$OUT/$n.yaml"
    agent_warm "$n" "$n"
    ours+=("$n")
  done
  for n in sw "${G_NAMES[@]}"; do
    [[ $n == sw || ${G_KIND[$n]} == wpa ]] || continue
    ip netns add "$n" || lab_die "cannot create netns $n"
    [[ $n == sw ]] || wpa_conf "$n" "${G_PRIO[$n]}"
  done
  _now; G_T_NS=$G_NOW
  sw+="link add br0 type bridge stp_state 0 forward_delay 0 group_fwd_mask 8"$'\n'"link set br0 up"$'\n'
  for n in "${G_NAMES[@]}"; do
    batch+="link add eth0 netns $n address ${G_MAC[$n]} type veth peer name br0-$n netns sw"$'\n'
    sw+="link set br0-$n master br0 up"$'\n'
  done
  ip -b - <<<"$batch" || lab_die "veths"
  ip -n sw -b - <<<"$sw" || lab_die "bridge br0"
  for n in "${G_NAMES[@]}"; do ip -n "$n" link set eth0 up || lab_die "eth0 up in $n"; done
  _now; G_T_LINKS=$G_NOW
  for n in "${ours[@]}"; do
    lab_wait_every 0.2 60 agent_is_warm "$n" || lab_die "$n: agent modules not loaded after 60 s"
  done
  _now; G_T_WARM=$G_NOW
}

# group_launch NAME...: start them on the wire, wpa_supplicant first (a fork each), then our
# agents (a go file each); G_LAUNCH[NAME] = when.
group_launch() {
  local n
  for n in "$@"; do
    [[ ${G_KIND[$n]} == wpa ]] || continue
    _now; G_LAUNCH[$n]=$G_NOW
    ip netns exec "$n" wpa_supplicant -dd -t -D macsec_linux -i eth0 -c "$OUT/$n.conf" >"$OUT/$n.log" 2>&1 &
    echo $! >"$LAB_STATE/$n.pid"
  done
  for n in "$@"; do
    [[ ${G_KIND[$n]} == ours ]] || continue
    _now; G_LAUNCH[$n]=$G_NOW
    agent_go "$n"
  done
}

# _rx_on TEXT: G_HAVE = " SCI SCI ... " of the RX SCs in `ip macsec show` TEXT that are on
# and hold an SA that is on.
_rx_on() {
  local line sc="" have=" "
  while IFS= read -r line; do
    if [[ $line =~ RXSC:\ ([0-9a-fA-F]{16}),\ state\ ([a-z]+) ]]; then
      sc=""
      [[ ${BASH_REMATCH[2]} == on ]] && sc="${BASH_REMATCH[1],,}"
    elif [[ $line =~ ^[[:space:]]+[0-9]+:\ PN\ [0-9]+,\ state\ ([a-z]+) ]]; then
      if [[ -n $sc && ${BASH_REMATCH[1]} == on ]]; then have+="$sc "; sc=""; fi
    else
      sc=""
    fi
  done <<<"$1"
  G_HAVE="$have"
}

# _member_check NS MEMBER...: G_LACKS[NS] = the MEMBERs (comma separated) NS has no RX SC
# (on) with an active SA for; notes in G_DONE[$G_PHASE-NS] when NS was first seen complete.
# True if NS lacks none.
_member_check() {
  local ns="$1" m lacks=""; shift
  _rx_on "$(ip -n "$ns" macsec show macsec0 2>/dev/null)"
  for m in "$@"; do
    [[ $m == "$ns" ]] && continue
    [[ $G_HAVE == *" ${G_SCI[$m]} "* ]] || lacks+="${lacks:+,}$m"
  done
  G_LACKS[$ns]=$lacks
  [[ -z $lacks ]] || return 1
  if [[ -z ${G_DONE[$G_PHASE-$ns]:-} ]]; then _now; G_DONE[$G_PHASE-$ns]=$G_NOW; fi
}

# group_complete MEMBER...: every member has an RX SC (on) with an active SA for every other
# one (checks them all; G_LACKS is complete afterwards).
group_complete() {
  local ns rc=0
  for ns in "$@"; do _member_check "$ns" "$@" || rc=1; done
  return $rc
}

# group_complete_quick MEMBER...: group_complete for polling: starts with the member that
# lacked an RX SA at the last poll and stops at the first one that still does (one exec per
# poll while the group is incomplete).
group_complete_quick() {
  local ns first="${G_LAST_LACKING:-}"
  [[ " $* " == *" $first "* ]] || first=""
  if [[ -n $first ]] && ! _member_check "$first" "$@"; then return 1; fi
  for ns in "$@"; do
    [[ $ns == "$first" ]] && continue
    if ! _member_check "$ns" "$@"; then G_LAST_LACKING=$ns; return 1; fi
  done
  return 0
}

# _lacks_json MEMBER...: {"NS": ["member", ...], ...} from the last group_complete.
_lacks_json() {
  local ns m out="" list _l
  for ns in "$@"; do
    list=""
    IFS=, read -r -a _l <<<"${G_LACKS[$ns]:-}"
    for m in "${_l[@]}"; do list+="${list:+,}\"$m\""; done
    out+="${out:+,}\"$ns\":[$list]"
  done
  echo "{$out}"
}

# group_ping_round MEMBER...: one ping, all at once, for every ordered pair that has not
# passed one yet (G_PINGOK); true once every pair has.
group_ping_round() {
  local src dst i pids=() keys=() rc=0
  for src in "$@"; do
    for dst in "$@"; do
      [[ $src == "$dst" || -n ${G_PINGOK[$src-$dst]:-} ]] && continue
      nsenter --net="/run/netns/$src" ping -n -c 1 -W 1 -I macsec0 "${G_IP[$dst]}" >/dev/null 2>&1 &
      pids+=($!) keys+=("$src-$dst")
    done
  done
  for i in "${!pids[@]}"; do
    if wait "${pids[$i]}"; then G_PINGOK[${keys[$i]}]=1; else rc=1; fi
  done
  return $rc
}

# group_pings DIR COUNT MEMBER...: COUNT pings (0.2 s apart) for every ordered pair, all at
# once, into $OUT/DIR/SRC-DST.txt (ping's output, then "rc=N").
group_pings() {
  local d="$OUT/$1" count="$2" src dst i pids=() files=(); shift 2
  mkdir -p "$d"
  for src in "$@"; do
    for dst in "$@"; do
      [[ $src == "$dst" ]] && continue
      nsenter --net="/run/netns/$src" ping -n -c "$count" -i 0.2 -W 2 -I macsec0 "${G_IP[$dst]}" >"$d/$src-$dst.txt" 2>&1 &
      pids+=($!) files+=("$d/$src-$dst.txt")
    done
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}"
    echo "rc=$?" >>"${files[$i]}"
  done
}

# group_dump PHASE MEMBER...: each member's macsec state and our agents' status files now
# (stopping an agent rewrites its status file).
group_dump() {
  local phase="$1" n; shift
  for n in "$@"; do
    ip -n "$n" -s -j macsec show macsec0 >"$OUT/$n.$phase.macsec.json" 2>/dev/null
    ip -n "$n" macsec show >"$OUT/$n.$phase.macsec.txt" 2>&1
    if [[ ${G_KIND[$n]} == ours ]]; then cp "$OUT/$n.status.json" "$OUT/$n.$phase.status.json" 2>/dev/null; fi
  done
}

# group_settle PHASE MEMBER...: wait up to GROUP_TIMEOUT s for every RX SA among MEMBERs,
# give each an address, one clean ping round (skipped when RX SAs are missing), GROUP_PINGS
# pings per ordered pair, dump. Appends the phase's JSON for run.json to G_PHASES.
group_settle() {
  local phase="$1" n t_rx=null t_warm=null lacks_deadline lacks_final; shift
  G_PHASE=$phase G_LAST_LACKING="" G_PINGOK=()
  if lab_wait_every 0.3 "$GROUP_TIMEOUT" group_complete_quick "$@"; then _now; t_rx=$G_NOW; fi
  group_complete "$@"
  lacks_deadline="$(_lacks_json "$@")"
  [[ $t_rx != null ]] || lab_log "$phase: RX SAs missing $GROUP_TIMEOUT s after the last launch: $lacks_deadline"
  for n in "$@"; do
    [[ -n ${G_ADDR[$n]:-} ]] && continue
    if ip -n "$n" link show macsec0 >/dev/null 2>&1 || lab_wait_every 0.5 3 ip -n "$n" link show macsec0; then
      ip -n "$n" addr add "${G_IP[$n]}/24" dev macsec0 && ip -n "$n" link set macsec0 up && G_ADDR[$n]=1
    else
      lab_log "$n: no macsec0"
    fi
  done
  if [[ $t_rx != null ]] && lab_wait_every 0.2 "$GROUP_WARMUP" group_ping_round "$@"; then _now; t_warm=$G_NOW; fi
  group_pings "pings-$phase" "$GROUP_PINGS" "$@"
  _now; local t_pinged=$G_NOW
  group_complete "$@"
  lacks_final="$(_lacks_json "$@")"
  group_dump "$phase" "$@"
  local names="" complete=""
  for n in "$@"; do
    names+="${names:+,}\"$n\""
    complete+="${complete:+,}\"$n\":${G_DONE[$phase-$n]:-null}"
  done
  G_PHASES+="${G_PHASES:+,}\"$phase\":{\"members\":[$names],\"rxSas\":$t_rx,\"warm\":$t_warm,\"pinged\":$t_pinged,\"complete\":{$complete},\"missing\":{\"atDeadline\":$lacks_deadline,\"final\":$lacks_final}}"
}

# group_stop: SIGTERM every member at once; wait up to 5 s for the wpa_supplicants (their
# logs are complete once they exit; our agents write theirs synchronously, the harness reaps them).
group_stop() {
  local n pids=() wpa=() i
  for n in "${G_NAMES[@]}"; do
    [[ -e "$LAB_STATE/$n.pid" ]] || continue
    pids+=("$(<"$LAB_STATE/$n.pid")")
    [[ ${G_KIND[$n]} == wpa ]] && wpa+=("${pids[-1]}")
  done
  (( ${#pids[@]} )) || return 0
  kill -TERM "${pids[@]}" 2>/dev/null
  (( ${#wpa[@]} )) || return 0
  for (( i = 0; i < 50; i++ )); do
    kill -0 "${wpa[@]}" 2>/dev/null || return 0
    _pause 0.1
  done
  kill -KILL "${wpa[@]}" 2>/dev/null
  return 0
}

# group_run: prepare, start pattern, settle, dump; writes $OUT/run.json and returns 0 (the
# test judges). Start patterns:
#   simultaneous  every member launched at once
#   staggered     in GROUP_MEMBERS order, one every GROUP_STAGGER_MS
#   late          all but the last member at once, settled (phase "first": RX SAs, pings);
#                 then the last member joins
# GROUP_TIMEOUT counts from the last launch of the phase.
group_run() {
  group_parse
  group_prepare
  local n all=("${G_NAMES[@]}") first last="${G_NAMES[-1]}" delay t_join=null
  G_PHASES=""
  delay="$(( GROUP_STAGGER_MS / 1000 )).$(printf '%03d' $(( GROUP_STAGGER_MS % 1000 )))"
  _now; local t_start=$G_NOW
  case "$GROUP_START" in
    simultaneous) group_launch "${all[@]}" ;;
    staggered)
      for n in "${all[@]}"; do
        group_launch "$n"
        [[ $n == "$last" ]] || _pause "$delay"
      done ;;
    late)
      first=("${all[@]:0:${#all[@]}-1}")
      group_launch "${first[@]}"
      group_settle first "${first[@]}"
      group_launch "$last"
      t_join="${G_LAUNCH[$last]}" ;;
    *) lab_die "unknown GROUP_START $GROUP_START" ;;
  esac
  group_settle all "${all[@]}"
  local members=""
  for n in "${all[@]}"; do
    members+="${members:+,}{\"name\":\"$n\",\"kind\":\"${G_KIND[$n]}\",\"mac\":\"${G_MAC[$n]}\",\"priority\":${G_PRIO[$n]},\"ip\":\"${G_IP[$n]}\",\"sci\":\"${G_SCI[$n]}\",\"launch\":${G_LAUNCH[$n]:-null}}"
  done
  cat >"$OUT/run.json" <<EOF
{"start":"$GROUP_START","timeoutS":$GROUP_TIMEOUT,"pingCount":$GROUP_PINGS,"staggerMs":$GROUP_STAGGER_MS,
 "timing":{"prepare":$G_T_PREP,"namespaces":$G_T_NS,"links":$G_T_LINKS,"warm":$G_T_WARM,"start":$t_start,"join":$t_join},
 "members":[$members],
 "phases":{$G_PHASES}}
EOF
  group_stop
}
