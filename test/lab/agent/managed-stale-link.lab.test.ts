/**
 * The managed agent after a crash, in the UML kernel lab: manager and agent (compiled, from
 * dist/) with --io pcap --secy kernel, one agent with two PSK ports (pa, pb: the two ends of a
 * veth pair) in one channel. Once secured the agent is SIGKILLed, which leaves both macsec
 * links behind; the restarted agent must take them over itself (it adopts links that carry its
 * mark, see docs/mka.md "Agent restart") and secure again, instead of failing with EEXIST, and
 * drop the killed run's SAs once its new keys are in use.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type LabResult, readOutJson, REPO_ROOT, runLab, type ScenarioResult } from '../uml.js';

const SCENARIO = String.raw`
DIST="$REPO/dist/src"
PKI="$OUT/pki"
CTL() { node "$DIST/cli/macsecctl.js" "$@" --server 127.0.0.1:50051 --pki-dir "$PKI" --user admin-lab; }
export -f CTL; export DIST PKI
{
  node "$DIST/cli/macsecctl.js" pki init --dir "$PKI" &&
    node "$DIST/cli/macsecctl.js" pki issue manager manager --dir "$PKI" &&
    node "$DIST/cli/macsecctl.js" pki issue agent node-1 --dir "$PKI" &&
    node "$DIST/cli/macsecctl.js" pki issue admin lab --dir "$PKI"
} >"$OUT/pki.log" 2>&1 || lab_die "certificate generation failed"
lab_veth - pa - pb 02:00:00:00:00:0a 02:00:00:00:00:0b
lab_bg manager node "$DIST/manager/main.js" --listen 127.0.0.1:50051 --db "$LAB_STATE/manager.db" --init-db \
  --ca "$PKI/ca.crt" --cert "$PKI/manager.crt" --key "$PKI/manager.key"
lab_wait_log 30 manager '"ready":true' || lab_die "manager did not start"
# exec: the lab_bg pid is the agent's own, so SIGKILL reaches it and nothing else.
agent() {
  exec node "$DIST/agent/managed/main.js" --manager 127.0.0.1:50051 --ca "$PKI/ca.crt" \
    --cert "$PKI/agent-node-1.crt" --key "$PKI/agent-node-1.key" --interfaces pa,pb --io pcap --secy kernel
}
registered() { CTL agents list --json | jq -e '.agents[] | select(.id == "node-1" and .connected == true)'; }
# secured_in LOG: both ports of this agent run secured (one "mka secured" each, at least).
secured_in() { (( $(grep -c '"msg":"mka secured"' "$OUT/$1.log") >= 2 )); }
# tx_active: active TX SAs over every macsec link.
tx_active() { lab_macsec_json - | jq '[.[]? | .sa_list[]? | select(.active == true)] | length'; }
links() { ip -j -d link show type macsec | jq -c '[.[] | {name: .ifname, parent: .link}] | sort_by(.name)'; }

lab_bg agent-1 agent
lab_wait_for 30 registered || lab_die "agent did not register (see agent-1.log)"
{ CTL ports open node-1 pa --mode psk --priority 16 && CTL ports open node-1 pb --mode psk --priority 32 &&
  CTL channels create lab --endpoint node-1:pa:vnf-a:eth0 --endpoint node-1:pb:vnf-b:eth0; } >"$OUT/ctl.log" 2>&1 ||
  lab_die "channel setup failed: $(tail -c 400 "$OUT/ctl.log")"
SECURED=false; lab_wait_for 60 secured_in agent-1 && SECURED=true
LINKS0="$(links)"; TX0="$(tx_active)"

lab_stop agent-1 KILL
sleep 1
LINKS_LEFT="$(links)"

lab_bg agent-2 agent
RESECURED=false; lab_wait_for 60 secured_in agent-2 && RESECURED=true
# the adopted SAs go the retire time (3 s) after the new keys transmit
for _ in $(seq 1 30); do [[ "$(tx_active)" == 2 ]] && break; sleep 0.5; done
lab_json result.json --argjson secured "$SECURED" --argjson resecured "$RESECURED" \
  --argjson links0 "$LINKS0" --argjson linksLeft "$LINKS_LEFT" --argjson links2 "$(links)" \
  --argjson tx0 "$TX0" --argjson tx2 "$(tx_active)" \
  --argjson staleFirst "$(grep -c 'deleted a stale macsec link' "$OUT/agent-1.log")" \
  --argjson staleDeleted "$(grep -c 'deleted a stale macsec link' "$OUT/agent-2.log")" \
  --argjson adopted "$(grep -c 'adopted the macsec link of an earlier run' "$OUT/agent-2.log")" \
  --argjson failed "$(grep -c '"msg":"port failed"' "$OUT/agent-2.log")" \
  '{secured: $secured, resecured: $resecured, links0: $links0, linksLeft: $linksLeft, links2: $links2,
    tx0: $tx0, tx2: $tx2, staleFirst: $staleFirst, staleDeleted: $staleDeleted, adopted: $adopted, failed: $failed}'
lab_stop agent-2; lab_stop manager
`;

interface Result {
  secured: boolean;
  resecured: boolean;
  links0: { name: string; parent: string }[];
  linksLeft: { name: string; parent: string }[];
  links2: { name: string; parent: string }[];
  tx0: number;
  tx2: number;
  staleFirst: number;
  staleDeleted: number;
  adopted: number;
  failed: number;
}

describe('managed agent: stale macsec links after a crash (UML lab)', () => {
  let lab: LabResult;
  let s: ScenarioResult;

  beforeAll(async () => {
    if (!existsSync(join(REPO_ROOT, 'dist/src/agent/managed/main.js')))
      throw new Error('dist/ is missing: run `npm run build` first (the lab runs the compiled agent)');
    lab = await runLab({ memMb: 1024, scenarios: [{ name: 'managed-stale', script: SCENARIO, timeoutMs: 240_000 }] });
    s = lab.scenario('managed-stale');
    console.log(`UML boot ${lab.bootMs} ms, scenario ${s.durationMs} ms, total ${lab.totalMs} ms (${lab.runDir})`);
  }, 360_000);

  it('the restarted agent adopts the links its killed run left (no EEXIST), secures again and then drops the old SAs', () => {
    expect(s.exitCode, `${s.stdout.slice(-3000)}\n${s.stderr.slice(-3000)}`).toBe(0);
    const r = readOutJson<Result>(s, 'result.json');
    // first run: secured over both kernel macsec links, nothing stale to delete
    expect(r.secured).toBe(true);
    expect(r.links0.map((l) => l.parent).sort()).toEqual(['pa', 'pb']);
    expect(r.tx0).toBe(2);
    expect(r.staleFirst).toBe(0);
    // SIGKILL leaves both links behind
    expect(r.linksLeft).toEqual(r.links0);
    // the restarted agent adopts them (our mark, name, parent, SCI, suite), keeps the names and secures again
    expect(r.adopted, 'restarted agent adopted its two macsec links').toBe(2);
    expect(r.staleDeleted).toBe(0);
    expect(r.failed).toBe(0);
    expect(r.links2).toEqual(r.links0);
    expect(r.resecured).toBe(true);
    expect(r.tx2).toBe(2);
  });
});
