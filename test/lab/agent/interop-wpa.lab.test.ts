/**
 * Must-show 1 and 3 of issue 3, in the UML kernel lab (one boot):
 * - our PSK agent <-> wpa_supplicant 2.10 over a veth pair: ours key server, wpa key server
 *   (GCM-AES-128), then a 256-bit CAK with GCM-AES-256 configured on our side (ours key
 *   server; and, to document it, wpa key server);
 * - three participants on a Linux bridge: ours, ours, wpa_supplicant.
 * Each: both RX SAs installed (ip macsec show on both sides), pings through both macsec
 * interfaces in both directions with zero loss, our macsec link deleted on SIGTERM.
 */
import { describe, expect, it } from 'vitest';
import { type LabResult, readOutJson, runLab } from '../uml.js';
import {
  activeRxSas,
  agentScenario,
  currentKey,
  expectPingsClean,
  type NsState,
  ours,
  type PingResult,
  type PskPortStatus,
  readOut,
  readPair,
  rxSciWithActiveSa,
  scenarioOk,
  secs,
} from './lab-agent.js';

const CAK256 = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';
const SCI_A = '02000000000a0001';
const SCI_B = '02000000000b0001';

const PAIR = `
pair_up || lab_log "pair did not come up (result.json tells what is missing)"
sleep 1  # let a periodic MKPDU round pass: nothing may change after securing
CLEAN_A=null CLEAN_B=null
pair_result result.json
[[ $A_KIND == ours ]] && CLEAN_A="$(stop_and_check_cleanup a a)"
[[ $B_KIND == ours ]] && CLEAN_B="$(stop_and_check_cleanup b b)"
lab_stop a; lab_stop b
lab_json cleanup.json --argjson a "$CLEAN_A" --argjson b "$CLEAN_B" '{a: $a, b: $b}'
`;

// Bridge br0 in namespace sw (group_fwd_mask 8); members o1, o2 (ours), w (wpa_supplicant).
const BRIDGE = String.raw`
lab_netns sw o1 o2 w
lab_bridge br0 sw
lab_bridge_member br0 sw o1 eth0 02:00:00:00:00:01
lab_bridge_member br0 sw o2 eth0 02:00:00:00:00:02
lab_bridge_member br0 sw w eth0 02:00:00:00:00:03
agent_conf o1 eth0 priority=16
agent_conf o2 eth0 priority=32
wpa_conf w 64
T_START="$(now_ms)"
agent_start o1 o1
agent_start o2 o2
wpa_start w w eth0
T_RX=null
if lab_wait_for 40 all_rx_sas 2 o1 o2 w; then T_RX="$(now_ms)"; else lab_log "not every member has 2 RX SAs"; fi
macsec_addr o1 10.9.1.1/24
macsec_addr o2 10.9.1.2/24
macsec_addr w 10.9.1.3/24
lab_wait_for 15 ping_once o1 10.9.1.3
lab_wait_for 15 ping_once o2 10.9.1.3
lab_wait_for 15 ping_once o1 10.9.1.2
bridge_ip() { case "$1" in o1) echo 10.9.1.1 ;; o2) echo 10.9.1.2 ;; w) echo 10.9.1.3 ;; esac; }
PINGS="$(for src in o1 o2 w; do for dst in o1 o2 w; do
  if [[ $src != "$dst" ]]; then ping_json "$src" "$(bridge_ip "$dst")" 5; fi
done; done | jq -s .)"
lab_json result.json --argjson tStart "$T_START" --argjson tRx "$T_RX" --argjson pings "$PINGS" \
  --argjson state "$(macsec_state o1 o2 w)" --argjson o1 "$(agent_status o1)" --argjson o2 "$(agent_status o2)" \
  --arg wSecured "$(grep -m1 'CP entering state SECURED' "$OUT/w.log")" \
  '{timing: {start: $tStart, rxSas: $tRx}, pings: $pings, state: $state, o1: $o1, o2: $o2, wSecured: $wSecured}'
lab_stop o1; lab_stop o2; lab_stop w
`;

const pair = (name: string, env: Record<string, string>) => agentScenario(name, PAIR, 90_000, env);

let lab: LabResult;

/** Both RX SAs installed, first SA in both, pings clean, wpa says SECURED, our link cleaned up. */
function checkPair(name: string, want: { cipher: string; ourKeyServer: boolean }) {
  const s = scenarioOk(lab, name, ['a.log', 'b.log']);
  const r = readPair(s);
  const a = r.state.a!;
  const b = r.state.b!;
  console.log(
    `${name}: ready ${secs(r.timing.ready! - r.timing.start)}, both RX SAs ${secs(r.timing.rxSas! - r.timing.start)}, first ping ${secs(r.timing.firstPing! - r.timing.start)} after start\n` +
      `a (ours):\n${a.text}\nb (wpa_supplicant):\n${b.text}`,
  );
  expect(r.timing.rxSas, 'both RX SAs installed').not.toBeNull();
  // ip macsec show, both sides: exactly one RX SC, for the other side's SCI, with an active SA.
  expect(activeRxSas(a)).toBe(1);
  expect(activeRxSas(b)).toBe(1);
  expect(rxSciWithActiveSa(a)).toEqual([SCI_B]);
  expect(rxSciWithActiveSa(b)).toEqual([SCI_A]);
  expect(a.text).toMatch(/RXSC: 02000000000b0001, state on\n\s+\d: PN \d+, state on/);
  expect(b.text).toMatch(/RXSC: 02000000000a0001, state on\n\s+\d: PN \d+, state on/);
  for (const ns of [a, b]) {
    expect(ns.json[0]!.cipher_suite).toBe(want.cipher);
    expect(ns.link).toMatch(new RegExp(`cipher ${want.cipher} .*encrypt on`));
  }
  expectPingsClean(r.pings, 5);
  const st = ours(r.participants.a);
  expect(st.kay.secured).toBe(true);
  expect(st.kay.keyServer?.self).toBe(want.ourKeyServer);
  expect(st.kay.livePeers.map((p) => p.sci)).toEqual([SCI_B]);
  expect(st.counters.mkpdusDropped).toBe(0);
  if (want.ourKeyServer) {
    expect(st.counters.saksGenerated).toBe(1);
    expect(st.counters.saksReceived).toBe(0);
  } else {
    expect(st.counters.saksGenerated).toBe(0);
    expect(st.counters.saksReceived).toBe(1);
  }
  const w = r.participants.b as { kind: string; securedLine: string };
  expect(w.securedLine, 'wpa_supplicant logs CP entering state SECURED').toMatch(/CP entering state SECURED/);
  expect(readOutJson<{ a: boolean }>(s, 'cleanup.json').a, 'SIGTERM deletes our macsec0').toBe(true);
  return r;
}

describe('our PSK agent with wpa_supplicant 2.10 (UML lab)', () => {
  it('boots one UML and runs the interop scenarios', async () => {
    lab = await runLab({
      scenarios: [
        pair('ours-ks-128', { A_KIND: 'ours', A_OPTS: 'priority=16 cipherSuite=GCM-AES-128', B_KIND: 'wpa', B_PRIO: '32' }),
        pair('wpa-ks-128', { A_KIND: 'ours', A_OPTS: 'priority=64 cipherSuite=GCM-AES-128', B_KIND: 'wpa', B_PRIO: '32' }),
        pair('ours-ks-cak256', { A_KIND: 'ours', A_OPTS: 'priority=16 cipherSuite=GCM-AES-128', B_KIND: 'wpa', B_PRIO: '32', LAB_CAK: CAK256 }),
        pair('ours-ks-256', {
          A_KIND: 'ours',
          A_OPTS: 'priority=16 cipherSuite=GCM-AES-256',
          B_KIND: 'wpa',
          B_PRIO: '32',
          LAB_CAK: CAK256,
          PAIR_TIMEOUT: '10',
        }),
        pair('wpa-ks-cak256', { A_KIND: 'ours', A_OPTS: 'priority=64 cipherSuite=GCM-AES-256', B_KIND: 'wpa', B_PRIO: '32', LAB_CAK: CAK256 }),
        // Integrity-only negotiation (docs/mka.md: wpa_supplicant 2.10 encrypts by its own configuration).
        pair('integ-wpa-ks', { A_KIND: 'ours', A_OPTS: 'priority=64', B_KIND: 'wpa', B_PRIO: '32', WPA_INTEG_ONLY: '1' }),
        pair('integ-ours-ks', { A_KIND: 'ours', A_OPTS: 'priority=16 confidentialityOffset=integrity-only', B_KIND: 'wpa', B_PRIO: '32' }),
        pair('integ-wpa-member', { A_KIND: 'ours', A_OPTS: 'priority=16', B_KIND: 'wpa', B_PRIO: '32', WPA_INTEG_ONLY: '1' }),
        agentScenario('bridge-3', BRIDGE, 90_000),
      ],
    });
    console.log(`UML boot ${lab.bootMs} ms, total ${lab.totalMs} ms; ` + lab.scenarios.map((s) => `${s.name} ${s.durationMs} ms`).join(', '));
  }, 400_000);

  it('ours key server, GCM-AES-128: both RX SAs, pings both ways', () => {
    checkPair('ours-ks-128', { cipher: 'GCM-AES-128', ourKeyServer: true });
  });

  it('wpa_supplicant key server, GCM-AES-128: both RX SAs, pings both ways', () => {
    checkPair('wpa-ks-128', { cipher: 'GCM-AES-128', ourKeyServer: false });
  });

  it('256-bit CAK, ours key server (GCM-AES-128): wpa_supplicant unwraps with the 256-bit KEK, both RX SAs, pings both ways', () => {
    checkPair('ours-ks-cak256', { cipher: 'GCM-AES-128', ourKeyServer: true });
  });

  // wpa_supplicant 2.10 has no macsec_csindex; what happens when we distribute a GCM-AES-256 SAK.
  it('256-bit CAK, ours key server with GCM-AES-256: wpa_supplicant 2.10 unwraps the SAK but its macsec_linux driver cannot install it', () => {
    const s = scenarioOk(lab, 'ours-ks-256', ['a.log', 'b.log']);
    const r = readPair(s);
    const log = readOut(s, 'b.log');
    const a = r.state.a!;
    const b = r.state.b!;
    console.log(
      `ours-ks-256: a (ours):\n${a.text}\nb (wpa_supplicant):\n${b.text}\nwpa_supplicant:\n${log
        .split('\n')
        .filter((l) => /Unwrap|cipher_suite|failed|CP entering state (SECURED|TRANSMIT)/.test(l))
        .slice(0, 12)
        .join('\n')}`,
    );
    // MKA level: wpa_supplicant takes the 32-octet SAK and the GCM-AES-256 suite...
    expect(log).toMatch(/AES Key Unwrap of SAK.*len=32/);
    expect(log).toMatch(/macsec_drv_set_current_cipher_suite -> 0080c20001000002/);
    expect(log).toMatch(/CP entering state SECURED/);
    // ...but created macsec0 with GCM-AES-128 at start, so the kernel refuses its SAs (EINVAL).
    expect(log).toMatch(/macsec_drv_create_receive_sa: failed to communicate: -7/);
    expect(log).toMatch(/macsec_drv_create_transmit_sa: failed to communicate: -7/);
    expect(b.json[0]!.cipher_suite).toBe('GCM-AES-128');
    expect(activeRxSas(b)).toBe(0);
    // Our side is correct: GCM-AES-256 link, RX SA for wpa_supplicant installed; no traffic passes.
    expect(a.json[0]!.cipher_suite).toBe('GCM-AES-256');
    expect(activeRxSas(a)).toBe(1);
    expect(currentKey(ours(r.participants.a))?.cipherSuite).toBe('GCM-AES-256');
    expect(r.timing.firstPing).toBeNull();
    for (const p of r.pings) expect(p.received).toBe(0);
  });

  it('256-bit CAK, wpa_supplicant key server, ours configured GCM-AES-256: wpa distributes GCM-AES-128 and we follow (re-created link)', () => {
    const r = checkPair('wpa-ks-cak256', { cipher: 'GCM-AES-128', ourKeyServer: false });
    expect(currentKey(ours(r.participants.a))?.cipherSuite).toBe('GCM-AES-128');
  });

  /** Both RX SAs, pings both ways; `encrypt` per side from `ip -d link show macsec0`. */
  function checkIntegrity(name: string, want: { ours: 'on' | 'off'; wpa: 'on' | 'off'; ourKeyServer: boolean; ourOffset: number | null }) {
    const s = scenarioOk(lab, name, ['a.log', 'b.log']);
    const r = readPair(s);
    const a = r.state.a!;
    const b = r.state.b!;
    console.log(`${name}: a (ours): ${a.link}\nb (wpa_supplicant): ${b.link}`);
    expect(activeRxSas(a)).toBe(1);
    expect(activeRxSas(b)).toBe(1);
    expect(a.link).toMatch(new RegExp(`encrypt ${want.ours}`));
    expect(b.link).toMatch(new RegExp(`encrypt ${want.wpa}`));
    expectPingsClean(r.pings, 5);
    const st = ours(r.participants.a);
    expect(st.kay.keyServer?.self).toBe(want.ourKeyServer);
    expect(st.kay.confidentialityOffset).toBe(want.ourOffset);
    expect(currentKey(st)?.confidentialityOffset).toBe(want.ourOffset);
  }

  it('integrity-only wpa_supplicant key server: we follow its Distributed SAK (offset not used), both ends encrypt off', () => {
    checkIntegrity('integ-wpa-ks', { ours: 'off', wpa: 'off', ourKeyServer: false, ourOffset: null });
  });

  it('integrity-only ours as key server: our SAK says no confidentiality and we send integrity-only; wpa_supplicant 2.10 keeps encrypting by its own configuration (documented), traffic passes both ways', () => {
    checkIntegrity('integ-ours-ks', { ours: 'off', wpa: 'on', ourKeyServer: true, ourOffset: null });
  });

  it('ours key server, wpa_supplicant integrity-only member: it announces capability 2 all the same, so we distribute offset 0; it sends integrity-only (documented)', () => {
    checkIntegrity('integ-wpa-member', { ours: 'on', wpa: 'off', ourKeyServer: true, ourOffset: 0 });
  });

  it('three participants on a bridge (ours, ours, wpa_supplicant): 2 RX SAs each, pings between every pair', () => {
    const s = scenarioOk(lab, 'bridge-3', ['o1.log', 'o2.log', 'w.log']);
    const r = readOutJson<{
      timing: { start: number; rxSas: number | null };
      pings: PingResult[];
      state: Record<string, NsState>;
      o1: PskPortStatus;
      o2: PskPortStatus;
      wSecured: string;
    }>(s, 'result.json');
    console.log(
      `bridge-3: all RX SAs ${secs(r.timing.rxSas && r.timing.rxSas - r.timing.start)} after start\n` +
        Object.entries(r.state)
          .map(([k, v]) => `${k}:\n${v.text}`)
          .join('\n'),
    );
    expect(r.timing.rxSas, 'every member got 2 RX SAs').not.toBeNull();
    const sci = { o1: '0200000000010001', o2: '0200000000020001', w: '0200000000030001' };
    for (const [ns, own] of Object.entries(sci)) {
      const st = r.state[ns]!;
      expect(activeRxSas(st), `${ns} active RX SAs`).toBe(2);
      expect(rxSciWithActiveSa(st).sort(), `${ns} RX SCs`).toEqual(
        Object.values(sci)
          .filter((x) => x !== own)
          .sort(),
      );
    }
    expect(r.pings).toHaveLength(6);
    expectPingsClean(r.pings, 5);
    expect(r.o1.kay.keyServer?.self).toBe(true);
    expect(r.o2.kay.keyServer?.sci).toBe(sci.o1);
    for (const st of [r.o1, r.o2]) {
      expect(st.kay.secured).toBe(true);
      expect(st.kay.livePeers).toHaveLength(2);
    }
    expect(r.wSecured).toMatch(/CP entering state SECURED/);
  });
});
