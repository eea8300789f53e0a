# The whole-system demo, run inside the UML kernel lab (sourced after test/lab/lib.sh).
#
# The original scenario: an orchestrator (OSM's LCM, played by a Python gRPC client) asks the
# OSM execution-environment adapter for a secure channel between two VNFs; the adapter asks the
# manager; the manager drives the agent on the network node; the VNFs authenticate with
# EAP-TLS (wpa_supplicant 2.10) against the agent's embedded EAP server; MKA secures both
# links; the agent attaches the secured ports to an Open vSwitch bridge; VNF1 pings VNF2
# through the bridge with every hop encrypted; a rekey happens under traffic.
#
# Every step appends one JSON line to $OUT/timeline.jsonl: {t, step, ok, detail}.
# The final $OUT/summary.json says what was checked. Exit status 0 = every check passed.

set -u
T0=$(date +%s.%N)
DIST="$REPO/dist/src"
PY=/usr/bin/python3
PKI="$OUT/pki"
RUN="$LAB_STATE/demo"
mkdir -p "$RUN/ovs" "$PKI"
# macsecctl as the operator "demo" (options follow the command words)
CTL() { node "$DIST/cli/macsecctl.js" "$@" --server 127.0.0.1:50051 --pki-dir "$PKI/control" --user admin-demo; }
export -f CTL 2>/dev/null; export DIST PKI
FAILED=0

step() { # step NAME OK DETAIL
  jq -nc --arg step "$1" --argjson ok "$2" --arg detail "$3" \
    --argjson t "$(echo "$(date +%s.%N) - $T0" | bc)" '{t: $t, step: $step, ok: $ok, detail: $detail}' >>"$OUT/timeline.jsonl"
  [[ "$2" == true ]] || FAILED=1
}
fail_out() { step "$1" false "$2"; finish; exit 1; }

finish() {
  jq -n --argjson failed "$FAILED" --slurpfile tl "$OUT/timeline.jsonl" \
    '{ok: ($failed == 0), steps: ($tl | length), failedSteps: [$tl[] | select(.ok == false) | .step]}' >"$OUT/summary.json"
}

# --- 1. PKI: control plane, 802.1X, and OSM's own CA ------------------------------
{
  node "$DIST/cli/macsecctl.js" pki init --dir "$PKI/control"
  node "$DIST/cli/macsecctl.js" pki issue manager manager --dir "$PKI/control"
  node "$DIST/cli/macsecctl.js" pki issue agent node-1 --dir "$PKI/control"
  node "$DIST/cli/macsecctl.js" pki issue admin demo --dir "$PKI/control"
  node "$DIST/cli/macsecctl.js" pki issue orchestrator osm-ee --dir "$PKI/control"
  node "$DIST/cli/macsecctl.js" pki init --dir "$PKI/eap"
  node "$DIST/cli/macsecctl.js" pki issue eap-server node-1 --dir "$PKI/eap"
  node "$DIST/cli/macsecctl.js" pki issue vnf vnf1 --dir "$PKI/eap"
  node "$DIST/cli/macsecctl.js" pki issue vnf vnf2 --dir "$PKI/eap"
  node "$DIST/cli/macsecctl.js" pki init --dir "$PKI/osm"
  node "$DIST/cli/macsecctl.js" pki issue manager ee --dir "$PKI/osm"
  node "$DIST/cli/macsecctl.js" pki issue admin lcm --dir "$PKI/osm"
} >"$OUT/pki.log" 2>&1 || fail_out pki "certificate generation failed (see pki.log)"
step pki true "CAs for the control plane, 802.1X (EAP-TLS) and OSM; certificates for manager, agent node-1, operators, EAP server, vnf1, vnf2"

# --- 2. Topology: network node (this namespace) with OVS, two VNF namespaces -------
lab_netns vnf1 vnf2
lab_veth - sw1 vnf1 eth0 02:00:00:00:0a:01 02:00:00:00:01:01
lab_veth - sw2 vnf2 eth0 02:00:00:00:0a:02 02:00:00:00:01:02
export OVS_RUNDIR="$RUN/ovs" OVS_LOGDIR="$RUN/ovs" OVS_DBDIR="$RUN/ovs"
OVSDB="$RUN/ovs/db.sock"
{
  ovsdb-tool create "$RUN/ovs/conf.db" /usr/share/openvswitch/vswitch.ovsschema &&
    ovsdb-server "$RUN/ovs/conf.db" --remote="punix:$OVSDB" --pidfile="$RUN/ovs/ovsdb.pid" --detach --log-file="$OUT/ovsdb.log" &&
    ovs-vsctl --db="unix:$OVSDB" --no-wait init &&
    ovs-vswitchd "unix:$OVSDB" --pidfile="$RUN/ovs/vswitchd.pid" --detach --log-file="$OUT/ovs-vswitchd.log" &&
    ovs-vsctl --db="unix:$OVSDB" --timeout=10 add-br br0 && ip link set br0 up
} >"$OUT/ovs-setup.log" 2>&1 || fail_out topology "Open vSwitch did not start (see ovs-setup.log)"
step topology true "network node with OVS bridge br0; vnf1 and vnf2 namespaces linked to switch ports sw1 and sw2"

# --- 3. Manager, agent, OSM adapter ------------------------------------------------
lab_bg manager node "$DIST/manager/main.js" --listen 127.0.0.1:50051 --db "$RUN/manager.db" --init-db \
  --ca "$PKI/control/ca.crt" --cert "$PKI/control/manager.crt" --key "$PKI/control/manager.key"
lab_wait_log 30 manager '"ready":true' || fail_out manager "manager did not start (see manager.log)"
step manager true "manager listening on 127.0.0.1:50051 (mTLS)"

lab_bg agent node "$DIST/agent/managed/main.js" --manager 127.0.0.1:50051 \
  --ca "$PKI/control/ca.crt" --cert "$PKI/control/agent-node-1.crt" --key "$PKI/control/agent-node-1.key" \
  --interfaces sw1,sw2 --io pcap --secy kernel --ovsdb "$OVSDB" \
  --eap-ca "$PKI/eap/ca.crt" --eap-server-cert "$PKI/eap/eap-server-node-1.crt" --eap-server-key "$PKI/eap/eap-server-node-1.key"
lab_wait_for 30 bash -c "CTL agents list --json | jq -e '.agents[] | select(.id == \"node-1\" and .connected == true)'" ||
  fail_out agent "agent node-1 did not register (see agent.log)"
step agent true "agent node-1 registered over mTLS with interfaces sw1, sw2 (kernel SecY, pcap EAPOL, OVSDB)"

lab_bg osm-ee node "$DIST/osm/main.js" --listen 127.0.0.1:50050 --tls-cert "$PKI/osm/manager.crt" --tls-key "$PKI/osm/manager.key" \
  --tls-ca "$PKI/osm/ca.crt" --state-dir "$RUN/osm-ee"
lab_wait_for 30 bash -c "exec 3<>/dev/tcp/127.0.0.1/50050" || fail_out osm-ee "OSM adapter did not start (see osm-ee.log)"
step osm-ee true "OSM execution-environment adapter on :50050 (mutual TLS only; acts as orchestrator osm-ee)"

# --- 4. The orchestrator's day-1: config, health-check, create-secure-channel --------
CONFIG=$(jq -nc --arg ca "$PKI/control/ca.crt" --arg c "$PKI/control/orchestrator-osm-ee.crt" --arg k "$PKI/control/orchestrator-osm-ee.key" \
  '{manager_address: "127.0.0.1:50051", ca_cert_path: $ca, client_cert_path: $c, client_key_path: $k}')
CHANNEL=$(jq -nc '{channel_name: "demo", port_mode: "eap-embedded", ovs_bridge: "br0",
  endpoints: [{agent_id: "node-1", switch_port: "sw1", vnf_id: "vnf1", vnf_interface: "eth0"},
              {agent_id: "node-1", switch_port: "sw2", vnf_id: "vnf2", vnf_interface: "eth0"}]}')
if $PY "$REPO/test/support/osm/lcm_client.py" --address localhost:50050 --ca "$PKI/osm/ca.crt" --cert "$PKI/osm/admin-lcm.crt" --key "$PKI/osm/admin-lcm.key" \
  day1 --config-json "$CONFIG" --channel-json "$CHANNEL" >"$OUT/lcm-day1.jsonl" 2>"$OUT/lcm-day1.err"; then
  step orchestrator true "LCM day-1 over mTLS: $(jq -rs 'map(.primitive + " " + .status) | join(", ")' "$OUT/lcm-day1.jsonl")"
else
  fail_out orchestrator "LCM day-1 failed: $(tail -c 400 "$OUT/lcm-day1.jsonl" "$OUT/lcm-day1.err" | tr '\n' ' ')"
fi

# An EE with TLS serves mutual TLS only: a plaintext caller (no certificate) gets no connection.
if $PY "$REPO/test/support/osm/lcm_client.py" --address localhost:50050 --retry-seconds 0 run health-check \
  >"$OUT/lcm-plaintext.jsonl" 2>"$OUT/lcm-plaintext.err"; then
  step plaintext-refused false "a plaintext client was served: $(tail -c 300 "$OUT/lcm-plaintext.jsonl")"
elif jq -e 'select(.detailed_message | startswith("gRPC error UNAVAILABLE"))' "$OUT/lcm-plaintext.jsonl" >/dev/null; then
  step plaintext-refused true "plaintext client refused (mutual TLS only)"
else
  step plaintext-refused false "unexpected plaintext outcome: $(tail -c 300 "$OUT/lcm-plaintext.jsonl" "$OUT/lcm-plaintext.err" | tr '\n' ' ')"
fi

# LCM retries: the same day-1 again over mTLS is idempotent and OK.
if $PY "$REPO/test/support/osm/lcm_client.py" --address localhost:50050 --ca "$PKI/osm/ca.crt" --cert "$PKI/osm/admin-lcm.crt" --key "$PKI/osm/admin-lcm.key" \
  day1 --config-json "$CONFIG" --channel-json "$CHANNEL" >"$OUT/lcm-day1-again.jsonl" 2>"$OUT/lcm-day1-again.err"; then
  step orchestrator-again true "LCM day-1 again: $(jq -rs 'map(.primitive + " " + .status + " (" + .transport + ")") | join(", ")' "$OUT/lcm-day1-again.jsonl")"
else
  step orchestrator-again false "repeated day-1 failed: $(tail -c 400 "$OUT/lcm-day1-again.jsonl" "$OUT/lcm-day1-again.err" | tr '\n' ' ')"
fi

# --- 5. The VNFs start their supplicants (EAP-TLS, then MKA) -----------------------
for v in vnf1 vnf2; do
  cat >"$OUT/wpa-$v.conf" <<EOF
ap_scan=0
eapol_version=3
network={
  key_mgmt=IEEE8021X
  eap=TLS
  identity="$v"
  ca_cert="$PKI/eap/ca.crt"
  client_cert="$PKI/eap/vnf-$v.crt"
  private_key="$PKI/eap/vnf-$v.key"
  eapol_flags=0
  macsec_policy=1
}
EOF
  lab_ns_bg "$v" "wpa-$v" wpa_supplicant -D macsec_linux -i eth0 -c "$OUT/wpa-$v.conf" -dd
done
step vnfs-start true "wpa_supplicant 2.10 started in vnf1 and vnf2 (EAP-TLS, macsec_policy=1)"

if lab_wait_for 60 bash -c "CTL channels get demo --json | jq -e '.state == \"CHANNEL_STATE_SECURED\"'"; then
  step secured true "channel demo SECURED: both VNFs authenticated (EAP-TLS) and MKA installed every SA"
else
  CTL channels get demo --json >"$OUT/channel-final.json" 2>&1
  fail_out secured "channel demo not secured within 60 s (see agent.log, wpa-vnf*.log, channel-final.json)"
fi
CTL channels get demo --json >"$OUT/channel-secured.json" 2>&1
lab_macsec_json vnf1 >"$OUT/macsec-vnf1.json"
lab_macsec_json - >"$OUT/macsec-node.json"
ATTACHED=$(ovs-vsctl --db="unix:$OVSDB" list-ports br0 | tr '\n' ' ')
[[ $(ovs-vsctl --db="unix:$OVSDB" list-ports br0 | wc -l) -ge 2 ]] && step ovs true "secured ports attached to br0: $ATTACHED" ||
  step ovs false "expected 2 macsec ports on br0, found: $ATTACHED"

# --- 6. VNF1 pings VNF2 through the bridge; every hop is encrypted ------------------
lab_in vnf1 ip addr add 10.10.0.1/24 dev macsec0; lab_in vnf1 ip link set macsec0 up
lab_in vnf2 ip addr add 10.10.0.2/24 dev macsec0; lab_in vnf2 ip link set macsec0 up
lab_capture - sw1 wire-sw1
lab_capture - sw2 wire-sw2
lab_wait_for 10 lab_in vnf1 ping -c 1 -W 1 10.10.0.2
lab_in vnf1 ping -c 5 -i 0.2 -W 2 10.10.0.2 >"$OUT/ping.txt" 2>&1
PING_RC=$?
sleep 0.5
lab_stop wire-sw1 INT; lab_stop wire-sw2 INT
PLAIN=$(( $(tcpdump -r "$OUT/wire-sw1.pcap" -n icmp 2>/dev/null | wc -l) + $(tcpdump -r "$OUT/wire-sw2.pcap" -n icmp 2>/dev/null | wc -l) ))
SECURED_FRAMES=$(( $(tcpdump -r "$OUT/wire-sw1.pcap" -n 'ether proto 0x88e5' 2>/dev/null | wc -l) + $(tcpdump -r "$OUT/wire-sw2.pcap" -n 'ether proto 0x88e5' 2>/dev/null | wc -l) ))
if [[ $PING_RC == 0 && $PLAIN == 0 && $SECURED_FRAMES -ge 20 ]]; then
  step ping true "vnf1 -> vnf2 through br0: $(grep -o '[0-9]* received' "$OUT/ping.txt"), $SECURED_FRAMES MACsec frames and 0 clear ICMP on the VNF links"
else
  step ping false "ping rc $PING_RC; clear ICMP frames on the wire: $PLAIN; MACsec frames: $SECURED_FRAMES"
fi

# --- 7. Rekey under traffic ----------------------------------------------------------
KN_BEFORE=$(jq -r '[.endpointStatus[].status.keyNumber // 0] | max' "$OUT/channel-secured.json")
lab_ns_bg vnf1 traffic ping -i 0.01 -c 600 -W 2 10.10.0.2
sleep 2
CTL rekey --channel demo >"$OUT/rekey.txt" 2>&1 && step rekey-requested true "forced rekey of channel demo via the manager: $(tr '\n' ' ' <"$OUT/rekey.txt" | cut -c1-200)" ||
  step rekey-requested false "macsecctl rekey failed: $(cat "$OUT/rekey.txt")"
lab_wait_for 30 bash -c "! kill -0 $(lab_pid traffic) 2>/dev/null"
CTL channels get demo --json >"$OUT/channel-rekeyed.json" 2>&1
KN_AFTER=$(jq -r '[.endpointStatus[].status.keyNumber // 0] | min' "$OUT/channel-rekeyed.json")
SENT=$(grep -oE '[0-9]+ packets transmitted' "$OUT/traffic.log" | grep -oE '^[0-9]+')
RECV=$(grep -oE '[0-9]+ received' "$OUT/traffic.log" | grep -oE '^[0-9]+')
if [[ -n "$SENT" && "$SENT" == "$RECV" && "$KN_AFTER" -gt "$KN_BEFORE" ]]; then
  step rekey true "SAK rotated (key number $KN_BEFORE -> $KN_AFTER) while 600 pings at 100/s ran: $RECV/$SENT received, 0 lost"
else
  step rekey false "key number $KN_BEFORE -> $KN_AFTER; pings received $RECV of $SENT"
fi

# --- 8. Teardown: the orchestrator's terminate primitive, then stop everything -------
if $PY "$REPO/test/support/osm/lcm_client.py" --address localhost:50050 --ca "$PKI/osm/ca.crt" --cert "$PKI/osm/admin-lcm.crt" --key "$PKI/osm/admin-lcm.key" \
  run delete-secure-channel --params-json '{"channel_name": "demo", "close_ports": true}' >"$OUT/lcm-terminate.jsonl" 2>&1; then
  step teardown-channel true "LCM terminate: delete-secure-channel OK"
else
  step teardown-channel false "delete-secure-channel failed: $(tail -c 300 "$OUT/lcm-terminate.jsonl")"
fi
for p in wpa-vnf1 wpa-vnf2 osm-ee agent manager; do lab_stop "$p"; done
LEFT=$(ip -j link show type macsec | jq length)
[[ "$LEFT" == 0 ]] && step teardown true "all processes stopped; no macsec interface left on the network node" ||
  step teardown false "$LEFT macsec interfaces left on the network node"
ovs-appctl -t "$RUN/ovs/ovs-vswitchd.$(cat "$RUN/ovs/vswitchd.pid").ctl" exit >/dev/null 2>&1
kill "$(cat "$RUN/ovs/ovsdb.pid")" 2>/dev/null
finish
[[ $FAILED == 0 ]]
