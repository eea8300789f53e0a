# Scenario: wpa_supplicant 2.10 (macsec_linux, EAP-TLS) in netns supp <-> our agent in mode
# eap-authenticator in netns auth (test/lab/eap/eap-wpa.lab.test.ts).
# Env: PKI (test PKI dir), CFG (agent config), TLS13 (0|1), RADIUS_DIR (optional FreeRADIUS config),
#      REAUTH (0|1: wait for a re-authentication, ping loss measured over the next 9 s),
#      REAUTH_FAIL (0|1: kill wpa_supplicant, the next re-authentication fails: no SA remains).
# Out: agent.{log,status.json}, agent.secured.json, wpa.log (scrubbed), wpa.facts.json,
#      sa-auth.json, sa-supp.json, ping.json, result.json.
eap_pair_netns
[[ -n "${RADIUS_DIR:-}" ]] && eap_freeradius auth "$RADIUS_DIR"
eap_agent auth agent "$CFG"
eap_wpa_conf "$LAB_STATE/wpa.conf" "$PKI/client.pem" "$PKI/client.key" "$TLS13"
t0=$(date +%s%N)
eap_wpa supp wpa vb "$LAB_STATE/wpa.conf"
secured=false; eap_wait_agent_secured 60 agent && secured=true
t_secured=$(( ($(date +%s%N) - t0) / 1000000 ))
eap_wait_link 20 supp macsec0 || lab_log "wpa_supplicant created no macsec0"
ip -n supp addr add 10.9.0.2/24 dev macsec0
ip -n auth addr add 10.9.0.1/24 dev ms0
rx_supp=false; eap_wait_rx_sa 30 supp macsec0 && rx_supp=true
rx_auth=false; eap_wait_rx_sa 30 auth ms0 && rx_auth=true
eap_ping supp 10.9.0.1 ping.json
eap_sa_json auth sa-auth.json
eap_sa_json supp sa-supp.json
cp "$OUT/agent.status.json" "$OUT/agent.secured.json"
reauth=false
if [[ "${REAUTH:-0}" == 1 ]]; then
  # Re-authentication (reauthPeriodSeconds in CFG): the new CAK joins our KaY beside the old
  # one; wpa_supplicant 2.10 creates its new participant but cannot give it an RX SC while its
  # old one holds ours, so the old CA stays in use. A continuous ping measures any interruption
  # over one MKA life time and more after the re-authentication.
  eap_ping_bg supp 10.9.0.1 pingbg
  eap_wait_reauthenticated 60 agent 1 && reauth=true
  sleep 9
  eap_wait_rx_sa 20 auth ms0
  lab_stop pingbg INT
  eap_ping_stats pingbg ping-during-reauth.json
  eap_ping supp 10.9.0.1 ping-reauth.json
  cp "$OUT/agent.status.json" "$OUT/agent.reauth.json"
  eap_sa_json auth sa-auth-reauth.json
  eap_sa_json supp sa-supp-reauth.json
fi
reauth_fail=null
if [[ "${REAUTH_FAIL:-0}" == 1 ]]; then
  # wpa_supplicant dies without a logoff: the next re-authentication gets no answer, the port
  # becomes unauthorized and MKA stops with every SA removed.
  lab_stop wpa KILL
  reauth_fail=false
  lab_wait_for 60 eap_status agent '.ports[0].authorized == false and .ports[0].kay == null' && reauth_fail=true
  cp "$OUT/agent.status.json" "$OUT/agent.reauthfail.json"
  eap_sa_json auth sa-auth-reauthfail.json
fi
lab_stop wpa
lab_stop agent
[[ -n "${RADIUS_DIR:-}" ]] && { lab_stop freeradius; eap_scrub freeradius; }
eap_wpa_facts wpa
# The agent deleted its macsec link on exit.
left=$(ip -n auth -j link show type macsec | jq length)
lab_json result.json --argjson reauthFail $reauth_fail --argjson reauth $reauth --argjson secured $secured --argjson ms $t_secured --argjson rxs $rx_supp --argjson rxa $rx_auth --argjson left "$left" \
  '{reauthFail: $reauthFail, reauth: $reauth, secured: $secured, securedAfterMs: $ms, rxSupp: $rxs, rxAuth: $rxa, macsecLinksAfterStop: $left}'
