/**
 * EapolLink inside the UML kernel lab, receiving MKPDUs from a real
 * wpa_supplicant 2.10 (macsec_linux driver, PSK) over a veth pair.
 */
import { describe, expect, it } from 'vitest';
import { readOutJson, runLab } from '../uml.js';

const SCENARIO = String.raw`
lab_netns a b
lab_veth a va b vb 02:00:00:00:00:0a 02:00:00:00:00:0b
cat > "$LAB_STATE/wpa.conf" <<EOF
eapol_version=3
ap_scan=0
network={
  key_mgmt=NONE
  eapol_flags=0
  macsec_policy=1
  mka_cak=0123456789abcdef0123456789abcdef
  mka_ckn=6162636465666768
}
EOF
lab_ns_bg a capture node --import tsx "$REPO/test/lab/link/scenario-eapol-capture.ts" va "$OUT/capture.json" 5000
lab_wait_log 20 capture READY || lab_die "capture did not start"
lab_ns_bg b wpa wpa_supplicant -D macsec_linux -i vb -c "$LAB_STATE/wpa.conf"
wait "$(lab_pid capture)"
`;

interface Capture {
  mac: string;
  filter: string;
  stats: { rxFrames: number };
  frames: { t: number; hex: string }[];
}

describe('EapolLink in UML with a wpa_supplicant peer', () => {
  it('receives the peer’s MKPDUs sent to the PAE group address', async () => {
    const lab = await runLab({ scenarios: [{ name: 'eapol-wpa', script: SCENARIO, timeoutMs: 40_000 }] });
    const s = lab.scenario('eapol-wpa');
    console.log(`UML boot ${lab.bootMs} ms, scenario ${s.durationMs} ms, total ${lab.totalMs} ms`);
    expect(s.exitCode, s.stderr).toBe(0);
    const cap = readOutJson<Capture>(s, 'capture.json');
    expect(cap.mac).toBe('02:00:00:00:00:0a');
    const mkpdus = cap.frames.filter((f) => f.hex.startsWith('0180c2000003' + '02000000000b' + '888e') && f.hex.slice(30, 32) === '05');
    console.log(`${cap.frames.length} frames, ${mkpdus.length} MKPDUs, at ms ${cap.frames.map((f) => f.t).join(', ')}`);
    expect(mkpdus.length).toBeGreaterThanOrEqual(1);
    expect(mkpdus.length).toBe(cap.frames.length);
  }, 90_000);
});
