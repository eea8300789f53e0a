# Helpers for the EAP/MKA agent lab scenarios (test/lab/eap/*.lab.test.ts). Sourced by each
# scenario after test/lab/lib.sh. Runs inside the UML guest.
#
# Secrets: wpa_supplicant (-dd -K) and FreeRADIUS (-X) print key material. Their full logs stay
# in $LAB_STATE (guest tmpfs, gone after the run); $OUT only gets scrubbed copies plus the
# (public) CKN that wpa_supplicant derived.

EAP_AGENT_MAIN="$REPO/src/agent/standalone/main.ts"
SCRUB_RE='key|KEY|Key|CAK|MSK|EMSK|SAK|KEK|ICK|hexdump|Session-Id|secret|Secret|MPPE|PMK|random'

# eap_private_bg NS NAME CMD...: like lab_ns_bg, but the log goes to $LAB_STATE/NAME.log.
eap_private_bg() {
  local ns="$1" name="$2"; shift 2
  if [[ "$ns" == "-" ]]; then "$@" >"$LAB_STATE/$name.log" 2>&1 &
  else ip netns exec "$ns" "$@" >"$LAB_STATE/$name.log" 2>&1 &
  fi
  echo $! >"$LAB_STATE/$name.pid"
  lab_log "started $name (pid $!, private log): $*"
}

# eap_scrub NAME: copy $LAB_STATE/NAME.log to $OUT/NAME.log without lines that may carry secrets.
eap_scrub() {
  [[ -f "$LAB_STATE/$1.log" ]] && grep -vE "$SCRUB_RE" "$LAB_STATE/$1.log" >"$OUT/$1.log" || true
}

# eap_agent NS NAME CONFIG: start our agent (log $OUT/NAME.log, status $OUT/NAME.status.json)
# and wait until its ports are started.
eap_agent() {
  local ns="$1" name="$2" cfg="$3"
  rm -f "$OUT/$name.status.json"
  lab_ns_bg "$ns" "$name" node --import tsx "$EAP_AGENT_MAIN" --config "$cfg" --status-file "$OUT/$name.status.json"
  lab_wait_log 60 "$name" '"msg":"port started"' || lab_die "agent $name did not start: $(tail -5 "$OUT/$name.log")"
}

# eap_status NAME JQ: evaluate JQ on the agent's status file (port 0 is .ports[0]).
eap_status() { jq -e "$2" "$OUT/$1.status.json" >/dev/null 2>&1; }

# eap_wait_agent_secured TIMEOUT NAME: port 0 authorized and MKA secured with a live peer.
eap_wait_agent_secured() {
  lab_wait_for "$1" eap_status "$2" '.ports[0].authorized == true and .ports[0].kay.secured == true and (.ports[0].kay.livePeers | length) >= 1'
}

# eap_wpa NS NAME IF CONF: wpa_supplicant 2.10 with the macsec_linux driver, -dd -K (private log).
eap_wpa() {
  eap_private_bg "$1" "$2" wpa_supplicant -D macsec_linux -i "$3" -c "$4" -dd -K
}

# eap_wpa_conf FILE CLIENT_CERT CLIENT_KEY TLS13(0|1|default) [IDENTITY]: EAP-TLS + MACsec
# network block; TLS13=default leaves phase1 out (wpa_supplicant's own TLS 1.3 default).
eap_wpa_conf() {
  local file="$1" cert="$2" key="$3" tls13="$4" ident="${5:-client1.vnf.example}" phase1
  if [[ "$tls13" == default ]]; then phase1=""; else phase1="  phase1=\"tls_disable_tlsv1_3=$((1 - tls13))\""; fi
  cat >"$file" <<EOF
ap_scan=0
eapol_version=3
network={
  key_mgmt=IEEE8021X
  eap=TLS
  identity="$ident"
  ca_cert="$PKI/ca.pem"
  client_cert="$cert"
  private_key="$key"
  eapol_flags=0
  macsec_policy=1
$phase1
}
EOF
}

# eap_wpa_facts NAME: from the private wpa log, write $OUT/NAME.facts.json with the derived CKN
# (public), whether a CAK was derived (boolean only), EAP success/failure and the TLS version.
eap_wpa_facts() {
  local log="$LAB_STATE/$1.log" ckn
  ckn="$(grep -A3 'Derived CKN' "$log" 2>/dev/null | head -4 | grep -oE 'hexdump\(len=[0-9]+\):( [0-9a-f]{2})+' | head -1 | sed -E 's/^hexdump\(len=[0-9]+\)://; s/ //g')"
  lab_json "$1.facts.json" \
    --arg ckn "$ckn" \
    --argjson cak "$(grep -q 'Derived CAK' "$log" 2>/dev/null && echo true || echo false)" \
    --argjson success "$(grep -q 'CTRL-EVENT-EAP-SUCCESS' "$log" 2>/dev/null && echo true || echo false)" \
    --argjson failure "$(grep -q 'CTRL-EVENT-EAP-FAILURE' "$log" 2>/dev/null && echo true || echo false)" \
    --arg tls "$(grep -oE 'Using TLS version TLSv1\.[0-9]' "$log" 2>/dev/null | tail -1 | sed 's/Using TLS version //')" \
    '{ckn: $ckn, cakDerived: $cak, eapSuccess: $success, eapFailure: $failure, tls: $tls}'
  eap_scrub "$1"
}

# eap_wait_link TIMEOUT NS IF: wait until a link exists.
eap_wait_link() { lab_wait_for "$1" ip -n "$2" link show "$3"; }

# eap_wait_rx_sa TIMEOUT NS IF: at least one active RX SA on IF.
eap_wait_rx_sa() { lab_wait_for "$1" bash -c "[[ \$(source '$LAB_LIB'; lab_rx_sa_count '$2' '$3') -ge 1 ]]"; }

# eap_sa_json NS FILE: `ip -s -j macsec show` of every macsec link in NS into $OUT/FILE.
eap_sa_json() { lab_macsec_json "$1" >"$OUT/$2"; }

# eap_ping NS DST FILE: ping -c 3 through the macsec link; result JSON in $OUT/FILE.
eap_ping() {
  local out rc
  out="$(ip netns exec "$1" ping -c 3 -i 0.3 -W 2 "$2" 2>&1)"; rc=$?
  lab_json "$3" --arg out "$out" --argjson rc "$rc" '{ok: ($rc == 0), output: $out}'
}

# eap_freeradius NS DIR: FreeRADIUS 3.2 in the foreground (-X, private log), wait until ready.
eap_freeradius() {
  eap_private_bg "$1" freeradius freeradius -X -f -d "$2"
  lab_wait_for 30 grep -q 'Ready to process requests' "$LAB_STATE/freeradius.log" \
    || { eap_scrub freeradius; lab_die "FreeRADIUS did not start (see freeradius.log)"; }
}

# eap_pair_netns: namespaces auth (veth va 02:..:0a) and supp (veth vb 02:..:0b).
eap_pair_netns() {
  lab_netns auth supp
  lab_veth auth va supp vb 02:00:00:00:00:0a 02:00:00:00:00:0b
}

# eap_count_sas NS: TX SAs + RX SAs of all macsec links in NS.
eap_count_sas() {
  lab_macsec_json "$1" | jq '[.[]? | ((.sa_list // []) | length) + ([.rx_sc[]?.sa_list[]?] | length)] | add // 0'
}

# eap_ping_bg NS DST NAME: continuous ping (every 0.1 s) in the background; stop with
# `lab_stop NAME INT`, then eap_ping_stats NAME FILE.
eap_ping_bg() { lab_ns_bg "$1" "$3" ping -i 0.1 -W 1 "$2"; }

# eap_ping_stats NAME FILE: transmitted/received of a stopped eap_ping_bg into $OUT/FILE.
eap_ping_stats() {
  local line tx rx
  line="$(grep -E 'packets transmitted' "$OUT/$1.log" | tail -1)"
  tx="$(sed -E 's/^([0-9]+) packets transmitted.*/\1/' <<<"$line")"
  rx="$(sed -E 's/.* ([0-9]+) (packets )?received.*/\1/' <<<"$line")"
  lab_json "$2" --argjson tx "${tx:-0}" --argjson rx "${rx:-0}" --arg line "$line" '{transmitted: $tx, received: $rx, lost: ($tx - $rx), summary: $line}'
}

# eap_wait_reauthenticated TIMEOUT NAME N: the agent's port was re-authenticated N times and is secured.
eap_wait_reauthenticated() {
  lab_wait_for "$1" eap_status "$2" ".ports[0].reauthentications >= $3 and .ports[0].authorized == true and .ports[0].kay.secured == true and (.ports[0].kay.livePeers | length) >= 1"
}

# eap_wait_ca_changed TIMEOUT NAME N: N CAKs were added to the running KaY (re-authentication,
# make before break), the newest is in use and the old CA has left.
eap_wait_ca_changed() {
  lab_wait_for "$1" eap_status "$2" ".ports[0].cakChanges >= $3 and .ports[0].kay.secured == true and (.ports[0].kay.participants | length) == 1 and .ports[0].kay.principalCkn == .ports[0].kay.participants[0].ckn"
}
