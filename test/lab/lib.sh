# Helpers for lab scenarios. Runs inside the UML guest (bash), where it is
# sourced automatically before every scenario script (path: $LAB_LIB).
#
# Conventions:
#   $OUT        host path (via hostfs) where the scenario writes its results
#   $REPO       repository root
#   $LAB_STATE  guest-only tmpfs dir for pid files and scratch (not kept)
# Namespace arguments accept "-" for the root (initial) namespace.

: "${LAB_STATE:=/run/lab/${SCENARIO:-adhoc}}"
mkdir -p "$LAB_STATE"

# --- logging / errors ---------------------------------------------------------

lab_log() { printf '[%s] %s\n' "$(date +%T.%3N)" "$*" >&2; }

lab_die() {
  lab_log "FATAL: $*"
  exit 1
}

# --- namespaces and links -----------------------------------------------------


# lab_in NS CMD...: run CMD inside namespace NS ("-" = root namespace).
lab_in() {
  local ns="$1"; shift
  if [[ "$ns" == "-" ]]; then "$@"; else ip netns exec "$ns" "$@"; fi
}

# lab_netns NAME...: create namespaces with loopback up.
lab_netns() {
  local ns
  for ns in "$@"; do
    ip netns add "$ns" || lab_die "cannot create netns $ns"
    ip -n "$ns" link set lo up
  done
}

# lab_veth NS1 IF1 NS2 IF2 [MAC1 [MAC2]]: veth pair IF1@NS1 <-> IF2@NS2, both up.
# Fixed MACs make captures and SCIs reproducible.
lab_veth() {
  local ns1="$1" if1="$2" ns2="$3" if2="$4" mac1="${5:-}" mac2="${6:-}"
  ip link add "lab-tmp1" type veth peer name "lab-tmp2" || lab_die "veth $if1/$if2"
  _lab_place_link lab-tmp1 "$ns1" "$if1" "$mac1"
  _lab_place_link lab-tmp2 "$ns2" "$if2" "$mac2"
}

# Move link $1 into namespace $2, rename to $3, set MAC $4 (optional), up.
_lab_place_link() {
  local tmp="$1" ns="$2" name="$3" mac="$4"
  if [[ "$ns" != "-" ]]; then ip link set "$tmp" netns "$ns" || lab_die "move $tmp to $ns"; fi
  lab_in "$ns" ip link set "$tmp" name "$name" || lab_die "rename $tmp to $name"
  if [[ -n "$mac" ]]; then lab_in "$ns" ip link set "$name" address "$mac"; fi
  lab_in "$ns" ip link set "$name" up
}

# lab_bridge NAME [NS]: a bridge that forwards the PAE group address
# 01:80:c2:00:00:03 (group_fwd_mask bit 3), so EAPOL/MKA crosses it.
# STP off so ports forward immediately.
lab_bridge() {
  local br="$1" ns="${2:--}"
  lab_in "$ns" ip link add "$br" type bridge stp_state 0 forward_delay 0 group_fwd_mask 8 \
    || lab_die "bridge $br"
  lab_in "$ns" ip link set "$br" up
}

# lab_bridge_member BR BRNS NS IF [MAC]: veth from the bridge (in BRNS) to
# interface IF in namespace NS; the bridge-side end is named "<BR>-<NS>".
lab_bridge_member() {
  local br="$1" brns="$2" ns="$3" ifname="$4" mac="${5:-}"
  local port="${br}-${ns}"
  lab_veth "$brns" "${port:0:15}" "$ns" "$ifname" "" "$mac"
  lab_in "$brns" ip link set "${port:0:15}" master "$br" || lab_die "enslave $port to $br"
}

# lab_addr NS IF CIDR: add an address and bring the link up.
lab_addr() {
  lab_in "$1" ip addr add "$3" dev "$2" || lab_die "addr $3 on $2 in $1"
  lab_in "$1" ip link set "$2" up
}

# lab_mac NS IF: print the link's MAC address.
lab_mac() { lab_in "$1" cat "/sys/class/net/$2/address"; }

# --- background processes -----------------------------------------------------

# lab_bg NAME CMD...: start CMD in the background, stdout+stderr to
# $OUT/NAME.log, pid in $LAB_STATE/NAME.pid. Do not let CMD daemonize (-B):
# the harness only reaps what stays in the scenario's process tree.
lab_bg() {
  local name="$1"; shift
  "$@" >"$OUT/$name.log" 2>&1 &
  echo $! >"$LAB_STATE/$name.pid"
  lab_log "started $name (pid $!): $*"
}

# lab_ns_bg NS NAME CMD...: lab_bg inside a namespace.
lab_ns_bg() {
  local ns="$1" name="$2"; shift 2
  if [[ "$ns" == "-" ]]; then lab_bg "$name" "$@"; else lab_bg "$name" ip netns exec "$ns" "$@"; fi
}

# lab_pid NAME: print the pid of a lab_bg process.
lab_pid() { cat "$LAB_STATE/$1.pid"; }

# lab_running NAME: true while the lab_bg process is alive.
lab_running() { kill -0 "$(lab_pid "$1")" 2>/dev/null; }

# lab_stop NAME [SIGNAL]: signal (default TERM) and wait up to 5 s, then KILL.
lab_stop() {
  local name="$1" sig="${2:-TERM}" pid
  pid="$(lab_pid "$name")" || return 0
  kill -s "$sig" "$pid" 2>/dev/null || return 0
  if ! lab_wait_for 5 bash -c "! kill -0 $pid 2>/dev/null"; then
    lab_log "$name did not exit on $sig; killing"
    kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  return 0
}

# --- waiting ------------------------------------------------------------------

# lab_wait_for TIMEOUT_S CMD...: poll CMD every 0.2 s until it succeeds.
# Returns 1 on timeout (does not exit: the caller decides).
lab_wait_for() {
  local timeout="$1"; shift
  local deadline=$(( $(date +%s%N) + timeout * 1000000000 ))
  until "$@" >/dev/null 2>&1; do
    if (( $(date +%s%N) >= deadline )); then return 1; fi
    sleep 0.2
  done
}

# lab_wait_every INTERVAL_S TIMEOUT_S CMD...: lab_wait_for with its own interval and no exec of
# its own (EPOCHREALTIME for the clock, read -t on a private FIFO to wait), for polls that run
# next to timing-sensitive processes: inside UML every exec (date, sleep) costs 0.05-0.1 s of
# the one guest CPU. Returns 1 on timeout.
lab_wait_every() {
  local interval="$1" timeout="$2" fifo="$LAB_STATE/.wait-fifo" deadline; shift 2
  if [[ ! -p $fifo ]] && ! mkfifo "$fifo"; then lab_wait_for "$timeout" "$@"; return; fi
  deadline=$(( ${EPOCHREALTIME/./} + timeout * 1000000 ))
  until "$@" >/dev/null 2>&1; do
    (( ${EPOCHREALTIME/./} >= deadline )) && return 1
    read -r -t "$interval" _ <>"$fifo"
  done
  return 0
}

# lab_wait_log TIMEOUT_S NAME PATTERN: wait for an ERE in $OUT/NAME.log.
lab_wait_log() {
  lab_wait_for "$1" grep -qE "$3" "$OUT/$2.log"
}

# --- capture ------------------------------------------------------------------

# lab_capture NS IF NAME [FILTER...]: tcpdump IF into $OUT/NAME.pcap (log in
# $OUT/NAME.log) and wait until it is listening. Stop with lab_stop NAME INT.
# Immediate mode: every frame is written as it arrives, so none is still in a
# kernel ring block when the capture stops.
lab_capture() {
  local ns="$1" ifname="$2" name="$3"; shift 3
  lab_ns_bg "$ns" "$name" tcpdump -i "$ifname" --immediate-mode -U -n -w "$OUT/$name.pcap" "$@"
  lab_wait_log 10 "$name" 'listening on' || lab_die "tcpdump on $ifname did not start"
}

# --- MACsec -------------------------------------------------------------------

# lab_macsec_json NS [IF]: `ip -s -j macsec show` as JSON ("[]" if none).
lab_macsec_json() {
  local out
  out="$(lab_in "$1" ip -s -j macsec show ${2:+"$2"} 2>/dev/null)"
  if [[ -z "$out" ]]; then echo "[]"; else echo "$out"; fi
}

# lab_rx_sa_count NS IF: number of active RX SAs on a macsec link.
lab_rx_sa_count() {
  lab_macsec_json "$1" "$2" \
    | jq '[.[]?.rx_sc[]?.sa_list[]? | select(.active == true)] | length'
}

# --- results ------------------------------------------------------------------

# lab_json FILE JQ_ARGS... JQ_FILTER: write `jq -n` output to $OUT/FILE.
# Example: lab_json result.json --arg x "$x" --argjson n 3 '{x: $x, n: $n}'
lab_json() {
  local file="$1"; shift
  jq -n "$@" >"$OUT/$file" || lab_die "cannot write $file"
}
