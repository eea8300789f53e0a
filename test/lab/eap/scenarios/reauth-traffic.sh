# Scenario: EAP re-authentication under traffic (test/lab/eap/eap-reauth-traffic.lab.test.ts).
# Our agent in mode eap-authenticator (netns auth, ms0 on va) re-authenticates its supplicant
# every reauthPeriodSeconds (in AUTH_CFG) while two paced, sequence-numbered UDP streams run
# through the macsec links, one each way.
# Env: AUTH_CFG; SUPP_KIND ours (SUPP_CFG: our agent in mode eap-supplicant) | wpa
#      (wpa_supplicant 2.10, EAP-TLS with $PKI's client certificate); RADIUS_DIR (optional
#      FreeRADIUS config); RATE (packets/s each way); STREAM_SECONDS.
# Out: auth.log, supp.log | wpa.log (scrubbed), *.before.json / *.after.json (status files),
#      send-*.json / recv-*.json (the streams), sa-*.json, result.json.
source "$REPO/test/lab/agent/agent-lib.sh" # udp_* stream helpers, now_ms, lab_wait_exit
# Room in the UDP receive buffers: a receiver descheduled for 100+ ms must not look like loss.
sysctl -qw net.core.rmem_max=33554432
eap_pair_netns
[[ -n "${RADIUS_DIR:-}" ]] && eap_freeradius auth "$RADIUS_DIR"
eap_agent auth auth "$AUTH_CFG"
if [[ "$SUPP_KIND" == wpa ]]; then
  eap_wpa_conf "$LAB_STATE/wpa.conf" "$PKI/client.pem" "$PKI/client.key" 0
  eap_wpa supp wpa vb "$LAB_STATE/wpa.conf"
  SUPP_IF=macsec0
else
  eap_agent supp supp "$SUPP_CFG"
  SUPP_IF=ms0
fi
eap_wait_agent_secured 60 auth || lab_die "authenticator not secured: $(tail -5 "$OUT/auth.log")"
if [[ "$SUPP_KIND" == ours ]]; then eap_wait_agent_secured 30 supp || lab_die "supplicant not secured"; fi
eap_wait_link 20 supp "$SUPP_IF" || lab_die "no $SUPP_IF in supp"
ip -n auth addr add 10.9.0.1/24 dev ms0
ip -n supp addr add 10.9.0.2/24 dev "$SUPP_IF"
eap_wait_rx_sa 30 supp "$SUPP_IF"; eap_wait_rx_sa 30 auth ms0
ip netns exec supp ping -c 2 -i 0.3 -W 2 10.9.0.1 >/dev/null 2>&1 || lab_log "warm-up ping failed"
cp "$OUT/auth.status.json" "$OUT/auth.before.json"
[[ "$SUPP_KIND" == ours ]] && cp "$OUT/supp.status.json" "$OUT/supp.before.json"
# receivers: done after 12 s without a packet (an outage must not end the count), at most 120 s;
# 16 MiB socket buffers
udp_recv_start auth recv-auth 10.9.0.1 5000 12 120 -15
udp_recv_start supp recv-supp 10.9.0.2 5001 12 120 -15
UDP0_A="$(udp_errors auth)"; UDP0_S="$(udp_errors supp)"
T0="$(now_ms)"
# The one guest CPU: receivers first (a starved receiver overflows its socket), then the
# senders, then the EAP-TLS handshakes (and FreeRADIUS -X) of each re-authentication.
udp_send_start supp send-supp 10.9.0.1 5000 "$RATE" "$STREAM_SECONDS" -5
udp_send_start auth send-auth 10.9.0.2 5001 "$RATE" "$STREAM_SECONDS" -5
lab_wait_exit send-supp $((STREAM_SECONDS + 30)) || lab_log "sender supp still running"
lab_wait_exit send-auth 20 || lab_log "sender auth still running"
T1="$(now_ms)"
# the streams are over: the receivers count what is queued and stop (SIGTERM)
sleep 1.5
lab_stop recv-auth TERM; lab_stop recv-supp TERM
cp "$OUT/auth.status.json" "$OUT/auth.after.json"
[[ "$SUPP_KIND" == ours ]] && cp "$OUT/supp.status.json" "$OUT/supp.after.json"
eap_sa_json auth sa-auth.json
eap_sa_json supp sa-supp.json
lab_json result.json --argjson t0 "$T0" --argjson t1 "$T1" \
  --argjson sendS "$(cat "$OUT/send-supp.json")" --argjson recvA "$(cat "$OUT/recv-auth.json")" \
  --argjson sendA "$(cat "$OUT/send-auth.json")" --argjson recvS "$(cat "$OUT/recv-supp.json")" \
  --argjson udpA "[$UDP0_A, $(udp_errors auth)]" --argjson udpS "[$UDP0_S, $(udp_errors supp)]" \
  '{t0: $t0, t1: $t1, suppToAuth: {sent: $sendS, recv: $recvA}, authToSupp: {sent: $sendA, recv: $recvS}, udpErrors: {auth: $udpA, supp: $udpS}}'
if [[ "$SUPP_KIND" == wpa ]]; then lab_stop wpa; eap_wpa_facts wpa; else lab_stop supp; fi
lab_stop auth
[[ -n "${RADIUS_DIR:-}" ]] && { lab_stop freeradius; eap_scrub freeradius; }
true
