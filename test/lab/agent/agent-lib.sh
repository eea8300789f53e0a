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

# wpa_conf NAME PRIORITY [CAK [CKN]]: write $OUT/NAME.conf (PSK MKA, policy 1).
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

# macsec_addr NS IP/LEN: address on macsec0 once it exists (wpa creates it late).
macsec_addr() {
  lab_wait_for 20 ip -n "$1" link show macsec0 || lab_die "$1: no macsec0 after 20 s"
  lab_addr "$1" macsec0 "$2"
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

# udp_recv_start NS NAME BIND PORT: receiver writing $OUT/NAME.json after 2 s idle (max 60 s).
udp_recv_start() {
  local ns="$1" name="$2" bind="$3" port="$4"
  rm -f "$LAB_STATE/$name.ready"
  lab_ns_bg "$ns" "$name" nice -n -10 python3 "$UDP_STREAM" recv "$bind" "$port" "$OUT/$name.json" "$LAB_STATE/$name.ready" 2 60
  lab_wait_for 15 test -e "$LAB_STATE/$name.ready" || lab_die "UDP receiver $name did not start"
}

# udp_send_start NS NAME DST PORT RATE SECONDS: sender writing $OUT/NAME.json when done.
udp_send_start() {
  lab_ns_bg "$1" "$2" python3 "$UDP_STREAM" send "$3" "$4" "$5" "$6" "$OUT/$2.json"
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
