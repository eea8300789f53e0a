# Scenario: rejected supplicants (wpa_supplicant 2.10, macsec_linux, EAP-TLS) against our agent
# in mode eap-authenticator (test/lab/eap/eap-reject.lab.test.ts). After each rejection the port
# must be unauthorized with no macsec SA on either side; the agent's status/log say why.
# Env: PKI, CFG, CASES (space-separated client cert names in $PKI: foreign expired rogue client),
#      RADIUS_DIR (optional FreeRADIUS config), CONTROL (client cert name of a final client that
#      must succeed, optional), WPA_TLS13 (1, 0 or default: phase1 tls_disable_tlsv1_3 setting).
# Out: agent.*, agent.<case>.json, sa-{auth,supp}-<case>.json, wpa-<case>.{log,facts.json}, result.json.
eap_pair_netns
[[ -n "${RADIUS_DIR:-}" ]] && eap_freeradius auth "$RADIUS_DIR"
eap_agent auth agent "$CFG"
results='[]'
for c in $CASES; do
  # wpa_supplicant retries after a failure, so count from what the agent reports now.
  n=$(( $(jq '.ports[0].failures' "$OUT/agent.status.json") + 1 ))
  eap_wpa_conf "$LAB_STATE/wpa-$c.conf" "$PKI/$c.pem" "$PKI/$c.key" "${WPA_TLS13:-1}"
  eap_wpa supp "wpa-$c" vb "$LAB_STATE/wpa-$c.conf"
  failed=false
  lab_wait_for 40 eap_status agent ".ports[0].failures >= $n" && failed=true
  sleep 3 # give a (wrongly) started MKA time to install SAs
  cp "$OUT/agent.status.json" "$OUT/agent.$c.json"
  eap_sa_json auth "sa-auth-$c.json"
  eap_sa_json supp "sa-supp-$c.json"
  lab_stop "wpa-$c"
  eap_wpa_facts "wpa-$c"
  results=$(jq -c --arg c "$c" --argjson f $failed '. + [{case: $c, failed: $f}]' <<<"$results")
  ip -n supp link del macsec0 2>/dev/null || true
  sleep 1.5 # quietPeriodSeconds: 1
done
control=null
if [[ -n "${CONTROL:-}" ]]; then
  eap_wpa_conf "$LAB_STATE/wpa-control.conf" "$PKI/$CONTROL.pem" "$PKI/$CONTROL.key" 1
  eap_wpa supp wpa-control vb "$LAB_STATE/wpa-control.conf"
  control=false; eap_wait_agent_secured 60 agent && control=true
  cp "$OUT/agent.status.json" "$OUT/agent.control.json"
  eap_sa_json auth sa-auth-control.json
  lab_stop wpa-control
  eap_wpa_facts wpa-control
fi
lab_stop agent
[[ -n "${RADIUS_DIR:-}" ]] && { lab_stop freeradius; eap_scrub freeradius; }
lab_json result.json --argjson r "$results" --argjson control $control '{cases: $r, control: $control}'
