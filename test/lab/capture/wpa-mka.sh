# Lab scenario: N wpa_supplicant 2.10 MKA peers (PSK CAK, driver macsec_linux),
# EAPOL captured with tcpdump. Sourced by a scenario from test/lab/capture/capture-wpa.ts.
#
# Input (environment):
#   WPA_FIXTURE     base name of the outputs in $OUT (<name>.pcap, <name>.json)
#   WPA_PEERS       number of peers (2 or more)
#   WPA_TOPOLOGY    veth (exactly 2 peers, capture on p1's end) or
#                   bridge (Linux bridge, capture on the bridge port towards p1)
#   WPA_CAK         32 or 64 hex digits
#   WPA_CKN         CKN hex
#   WPA_PRIORITIES  space-separated mka_priority per peer; empty = wpa default (255)
#   WPA_CSINDEX     macsec_csindex to try (empty = do not set)
#   WPA_DURATION    seconds to capture, counted from the first MKPDU
# Output: $OUT/<fixture>.pcap, $OUT/<fixture>.json, wpa-p<i>.{conf,log}.

set -u
: "${WPA_FIXTURE:?}" "${WPA_PEERS:?}" "${WPA_TOPOLOGY:?}" "${WPA_CAK:?}" "${WPA_CKN:?}" "${WPA_DURATION:?}"
WPA_PRIORITIES="${WPA_PRIORITIES:-}"
WPA_CSINDEX="${WPA_CSINDEX:-}"
WPA_DEFAULT_PRIORITY=255
read -r -a PRIORITIES <<<"$WPA_PRIORITIES"
NOTES=()

peer_ns() { echo "p$1"; }
peer_mac() { printf '02:00:00:00:01:%02x' "$1"; }
peer_ip() { echo "10.8.0.$1"; }
peer_priority() { echo "${PRIORITIES[$(($1 - 1))]:-$WPA_DEFAULT_PRIORITY}"; }

# --- topology -------------------------------------------------------------------

# Creates namespaces p1..pN, each with eth0; sets CAPTURE_NS / CAPTURE_IF.
build_topology() {
  local i
  for ((i = 1; i <= WPA_PEERS; i++)); do lab_netns "$(peer_ns "$i")"; done
  case "$WPA_TOPOLOGY" in
    veth)
      [[ "$WPA_PEERS" == 2 ]] || lab_die "veth topology needs exactly 2 peers"
      lab_veth p1 eth0 p2 eth0 "$(peer_mac 1)" "$(peer_mac 2)"
      CAPTURE_NS=p1 CAPTURE_IF=eth0
      ;;
    bridge)
      lab_netns sw
      lab_bridge br0 sw
      for ((i = 1; i <= WPA_PEERS; i++)); do
        lab_bridge_member br0 sw "$(peer_ns "$i")" eth0 "$(peer_mac "$i")"
      done
      CAPTURE_NS=sw CAPTURE_IF=br0-p1
      ;;
    *) lab_die "unknown WPA_TOPOLOGY $WPA_TOPOLOGY" ;;
  esac
}

# --- wpa_supplicant ---------------------------------------------------------------

# write_conf I [CSINDEX]: the PSK MKA configuration of peer I.
write_conf() {
  local i="$1" csindex="${2:-}" prio="${PRIORITIES[$(($1 - 1))]:-}"
  {
    echo "ctrl_interface=$LAB_STATE/ctrl-p$i"
    echo "ap_scan=0"
    echo "network={"
    echo "  key_mgmt=NONE"
    echo "  eapol_flags=0"
    echo "  macsec_policy=1"
    echo "  mka_cak=$WPA_CAK"
    echo "  mka_ckn=$WPA_CKN"
    if [[ -n "$prio" ]]; then echo "  mka_priority=$prio"; fi
    if [[ -n "$csindex" ]]; then echo "  macsec_csindex=$csindex"; fi
    echo "}"
  } >"$OUT/wpa-p$i.conf"
}

# True if wpa_supplicant accepts the config of peer 1 (parsing only, no driver).
conf_parses() {
  local log="$OUT/conf-probe.log"
  # -i of a missing interface: the config is parsed first, then init fails.
  wpa_supplicant -D macsec_linux -i lab-nonexistent -c "$OUT/wpa-p1.conf" >"$log" 2>&1
  ! grep -qE "unknown network field|failed to parse|Failed to read or parse" "$log"
}

# Writes all configs; drops macsec_csindex if this wpa_supplicant rejects it.
write_confs() {
  local i csindex="$WPA_CSINDEX"
  if [[ -n "$csindex" ]]; then
    write_conf 1 "$csindex"
    if ! conf_parses; then
      NOTES+=("wpa_supplicant $(wpa_version) rejects macsec_csindex=$csindex (unknown network field); ran without it, so the cipher suite is its default")
      csindex=""
    fi
  fi
  for ((i = 1; i <= WPA_PEERS; i++)); do write_conf "$i" "$csindex"; done
  CSINDEX_USED="$csindex"
}

wpa_version() { wpa_supplicant -v | sed -n 's/^wpa_supplicant v//p'; }

# -dd -K: full debug including key material (test keys), so the sidecar can
# record the ICK/KEK/SAKs that conformance tests check derivation against.
start_peers() {
  local i
  for ((i = 1; i <= WPA_PEERS; i++)); do
    lab_ns_bg "$(peer_ns "$i")" "wpa-p$i" \
      wpa_supplicant -dd -K -t -D macsec_linux -i eth0 -c "$OUT/wpa-p$i.conf"
  done
}

# True once the capture holds a frame (a pcap file header is 24 bytes).
first_frame_captured() { (( $(stat -c %s "$OUT/capture.pcap") > 24 )); }

# --- MACsec state -----------------------------------------------------------------

rx_sa_count() { lab_rx_sa_count "$(peer_ns "$1")" macsec0 2>/dev/null || echo 0; }

# True once every peer has an active RX SA for each other peer.
all_secured() {
  local i
  for ((i = 1; i <= WPA_PEERS; i++)); do
    [[ "$(rx_sa_count "$i")" -ge $((WPA_PEERS - 1)) ]] || return 1
  done
}

# Adds 10.8.0.<i>/24 to each macsec0 as soon as wpa_supplicant has created it.
address_macsec() {
  local i ns
  for ((i = 1; i <= WPA_PEERS; i++)); do
    ns="$(peer_ns "$i")"
    lab_wait_for 10 ip -n "$ns" link show macsec0 || { NOTES+=("$ns: no macsec0 after 10 s"); continue; }
    lab_addr "$ns" macsec0 "$(peer_ip "$i")/24"
  done
}

# ping_all: p1 pings every other peer through macsec0; prints a JSON array.
ping_all() {
  local i out rc results=()
  for ((i = 2; i <= WPA_PEERS; i++)); do
    out="$(lab_in p1 ping -c 3 -i 0.3 -W 2 -I macsec0 "$(peer_ip "$i")" 2>&1)"; rc=$?
    results+=("$(jq -n --arg to "$(peer_ip "$i")" --argjson rc "$rc" --arg out "$out" \
      '{to: $to, ok: ($rc == 0), output: $out}')")
  done
  printf '%s\n' "${results[@]}" | jq -s .
}

macsec_show_text() {
  local i
  for ((i = 1; i <= WPA_PEERS; i++)); do
    echo "# $(peer_ns "$i") ($(peer_mac "$i")): ip macsec show"
    lab_in "$(peer_ns "$i")" ip macsec show
  done
}

# --- results ------------------------------------------------------------------------

# log_hex I PATTERN: hex of every "<PATTERN> - hexdump(len=N): .." line in peer I's log.
log_hex() {
  sed -nE "s/^[0-9.]+: KaY: $2 - hexdump\(len=[0-9]+\): ([0-9a-f ]+)$/\1/p" "$OUT/wpa-p$1.log" | tr -d ' '
}

# Keys wpa_supplicant logged (-K): per peer ICK/KEK, and SAKs it generated as key server.
keys_json() {
  local i
  for ((i = 1; i <= WPA_PEERS; i++)); do
    jq -n --arg name "$(peer_ns "$i")" --arg ick "$(log_hex "$i" 'Derived ICK' | head -1)" \
      --arg kek "$(log_hex "$i" 'Derived KEK' | head -1)" \
      --argjson saks "$(log_hex "$i" 'generated new SAK' | jq -R . | jq -s .)" \
      '{name: $name, ick: $ick, kek: $kek, generatedSaks: $saks}'
  done | jq -s .
}

participants_json() {
  local i
  for ((i = 1; i <= WPA_PEERS; i++)); do
    jq -n --arg ns "$(peer_ns "$i")" --arg mac "$(peer_mac "$i")" \
      --argjson prio "$(peer_priority "$i")" --argjson cfg "$([[ -n "${PRIORITIES[$((i - 1))]:-}" ]] && echo true || echo false)" \
      --argjson rx "$(rx_sa_count "$i")" --argjson show "$(lab_macsec_json "$(peer_ns "$i")" macsec0)" \
      '{name: $ns, mac: $mac, priority: $prio, priorityConfigured: $cfg, activeRxSas: $rx,
        sci: (($mac | gsub(":"; "")) + "0001"), macsec: $show}'
  done | jq -s .
}

write_sidecar() {
  local participants cipher
  participants="$(participants_json)"
  cipher="$(jq -r '[.[].macsec[0].cipher_suite // empty][0] // "unknown"' <<<"$participants")"
  local notes_json
  notes_json="$(printf '%s\n' "${NOTES[@]+"${NOTES[@]}"}" | jq -R . | jq -s 'map(select(length > 0))')"
  lab_json "$WPA_FIXTURE.json" \
    --arg cak "$WPA_CAK" --arg ckn "$WPA_CKN" --arg cipher "$cipher" \
    --arg csindex "$CSINDEX_USED" --argjson participants "$participants" \
    --argjson notes "$notes_json" --argjson secured "$SECURED" --argjson allRx "$ALL_RX_SAS" \
    --argjson securedAfterMs "$SECURED_AFTER_MS" --argjson ping "$PING" \
    --arg show "$(macsec_show_text)" --arg version "$(wpa_version)" \
    --arg topology "$WPA_TOPOLOGY" --arg capture "$CAPTURE_NS:$CAPTURE_IF" \
    --argjson duration "$WPA_DURATION" --arg kernel "$(uname -r)" --argjson keys "$(keys_json)" \
    '{cak: $cak, ckn: $ckn, cipherSuite: $cipher,
      macsecCsindex: (if $csindex == "" then null else ($csindex | tonumber) end),
      participants: [$participants[] | {name, mac, sci, priority, priorityConfigured, activeRxSas}],
      notes: $notes, secured: $secured, allRxSasInstalled: $allRx, securedAfterMs: $securedAfterMs,
      ping: $ping,
      keys: $keys,
      ipMacsecShow: $show,
      ipMacsecJson: [$participants[] | {name, macsec}],
      capture: {topology: $topology, interface: $capture, filter: "ether proto 0x888e",
                durationSeconds: $duration},
      wpaSupplicantVersion: $version, kernel: $kernel}'
}

# --- main ------------------------------------------------------------------------------

build_topology
write_confs
lab_capture "$CAPTURE_NS" "$CAPTURE_IF" capture ether proto 0x888e
start_peers
# WPA_DURATION counts from the first captured MKPDU (wpa_supplicant takes a
# few seconds to start inside UML); tcpdump -U writes each frame at once.
lab_wait_for 20 first_frame_captured || lab_die "no MKPDU captured 20 s after starting the peers"
start_ms=$(date +%s%N)
address_macsec

# "Secured" = every peer has an RX SA for each other peer and pings pass.
ALL_RX_SAS=false SECURED_AFTER_MS=null
if lab_wait_for "$WPA_DURATION" all_secured; then
  ALL_RX_SAS=true SECURED_AFTER_MS=$(( ($(date +%s%N) - start_ms) / 1000000 ))
  lab_log "all RX SAs installed after ${SECURED_AFTER_MS} ms"
else
  NOTES+=("not every peer installed an RX SA for every other peer within ${WPA_DURATION} s")
fi
PING="$(ping_all)"
SECURED=false
if [[ "$(jq 'all(.ok)' <<<"$PING")" != true ]]; then
  NOTES+=("a ping through macsec0 failed")
elif [[ "$ALL_RX_SAS" == true ]]; then
  SECURED=true
fi

# Keep capturing until WPA_DURATION has passed since the first MKPDU.
rest_ms=$(( WPA_DURATION * 1000 - ($(date +%s%N) - start_ms) / 1000000 ))
if (( rest_ms > 0 )); then sleep "$(printf '%d.%03d' $((rest_ms / 1000)) $((rest_ms % 1000)))"; fi

# Stop the capture first so its length matches WPA_DURATION; the peers keep
# running while the sidecar snapshots their MACsec state.
lab_stop capture INT
cp "$OUT/capture.pcap" "$OUT/$WPA_FIXTURE.pcap"
write_sidecar
for ((i = 1; i <= WPA_PEERS; i++)); do lab_stop "wpa-p$i"; done
lab_log "done: secured=$SECURED frames=$(tcpdump -r "$OUT/$WPA_FIXTURE.pcap" 2>/dev/null | wc -l)"
[[ "$SECURED" == true ]] || exit 2
