# Scenario: our agent in mode eap-supplicant (netns supp, vb) <-> our agent in mode
# eap-authenticator (netns auth, va), test/lab/eap/eap-agents.lab.test.ts.
# Env: AUTH_CFG, SUPP_CFG, RADIUS_DIR (optional FreeRADIUS config), REAUTH (0|1: wait for one
#      re-authentication and its new CKN taking over).
# Out: auth.*, supp.* (logs, status), *.secured.json, sa-*.json, ping*.json, result.json.
eap_pair_netns
[[ -n "${RADIUS_DIR:-}" ]] && eap_freeradius auth "$RADIUS_DIR"
eap_agent auth auth "$AUTH_CFG"
t0=$(date +%s%N)
eap_agent supp supp "$SUPP_CFG"
secured=false
eap_wait_agent_secured 60 auth && eap_wait_agent_secured 30 supp && secured=true
t_secured=$(( ($(date +%s%N) - t0) / 1000000 ))
ip -n auth addr add 10.9.0.1/24 dev ms0
ip -n supp addr add 10.9.0.2/24 dev ms0
eap_wait_rx_sa 30 supp ms0; eap_wait_rx_sa 30 auth ms0
eap_ping supp 10.9.0.1 ping.json
eap_sa_json auth sa-auth.json
eap_sa_json supp sa-supp.json
cp "$OUT/auth.status.json" "$OUT/auth.secured.json"
cp "$OUT/supp.status.json" "$OUT/supp.secured.json"
reauth=false
if [[ "${REAUTH:-0}" == 1 ]]; then
  # Re-authentication (reauthPeriodSeconds in AUTH_CFG): the new CAK takes over on both ends
  # in the running KaY (make before break) and the old CA leaves.
  eap_ping_bg supp 10.9.0.1 pingbg
  eap_wait_ca_changed 60 auth 1 && eap_wait_ca_changed 30 supp 1 && reauth=true
  eap_wait_rx_sa 30 supp ms0; eap_wait_rx_sa 30 auth ms0
  sleep 2
  lab_stop pingbg INT
  eap_ping_stats pingbg ping-during-reauth.json
  eap_ping supp 10.9.0.1 ping-reauth.json
  cp "$OUT/auth.status.json" "$OUT/auth.reauth.json"
  cp "$OUT/supp.status.json" "$OUT/supp.reauth.json"
  eap_sa_json auth sa-auth-reauth.json
fi
# Supplicant logs off (SIGTERM: EAPOL-Logoff): the authenticator stops MKA and removes its SAs
# while its macsec link stays.
lab_stop supp
logoff=false
lab_wait_for 20 eap_status auth '.ports[0].authorized == false and .ports[0].kay == null' && logoff=true
eap_sa_json auth sa-auth-logoff.json
cp "$OUT/auth.status.json" "$OUT/auth.logoff.json"
lab_stop auth
[[ -n "${RADIUS_DIR:-}" ]] && { lab_stop freeradius; eap_scrub freeradius; }
lab_json result.json --argjson secured $secured --argjson ms $t_secured --argjson reauth $reauth --argjson logoff $logoff \
  '{secured: $secured, securedAfterMs: $ms, reauth: $reauth, logoff: $logoff}'
