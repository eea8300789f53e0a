/**
 * Must-show 2 of issue 3, in the UML kernel lab (one boot): our PSK agent <-> our PSK agent
 * over a veth pair with each cipher suite (GCM-AES-128/256, GCM-AES-XPN-128/256) and with
 * integrity only. Each: secured, one active RX SA per side, pings both ways with zero loss,
 * `ip -d link show macsec0` shows the cipher and encrypt on/off, and the kernel's counters show
 * the frames were encrypted (or only integrity-protected).
 */
import { describe, expect, it } from 'vitest';
import { type LabResult, readOutJson, runLab } from '../uml.js';
import { activeRxSas, agentScenario, currentKey, expectPingsClean, ours, readPair, rxSciWithActiveSa, scenarioOk, secs } from './lab-agent.js';

const CAK128 = '00112233445566778899aabbccddeeff';
const CAK256 = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';

const PAIR = `
pair_up || lab_log "pair did not come up (result.json tells what is missing)"
pair_result result.json
lab_json cleanup.json --argjson a "$(stop_and_check_cleanup a a)" --argjson b "$(stop_and_check_cleanup b b)" '{a: $a, b: $b}'
`;

const CASES = [
  { name: 'gcm-aes-128', cipher: 'GCM-AES-128', cak: CAK128, encrypt: true, extra: '' },
  { name: 'gcm-aes-256', cipher: 'GCM-AES-256', cak: CAK256, encrypt: true, extra: '' },
  { name: 'gcm-aes-xpn-128', cipher: 'GCM-AES-XPN-128', cak: CAK128, encrypt: true, extra: '' },
  { name: 'gcm-aes-xpn-256', cipher: 'GCM-AES-XPN-256', cak: CAK256, encrypt: true, extra: '' },
  { name: 'integrity-only', cipher: 'GCM-AES-128', cak: CAK128, encrypt: false, extra: ' confidentialityOffset=integrity-only' },
] as const;

let lab: LabResult;

describe('our PSK agent <-> our PSK agent, every cipher suite (UML lab)', () => {
  it('boots one UML and runs a pair per cipher suite', async () => {
    lab = await runLab({
      scenarios: CASES.map((c) =>
        agentScenario('ours-' + c.name, PAIR, 60_000, {
          A_KIND: 'ours',
          B_KIND: 'ours',
          A_OPTS: `priority=16 cipherSuite=${c.cipher}${c.extra}`,
          B_OPTS: `priority=32 cipherSuite=${c.cipher}${c.extra}`,
          LAB_CAK: c.cak,
        }),
      ),
    });
    console.log(`UML boot ${lab.bootMs} ms, total ${lab.totalMs} ms; ` + lab.scenarios.map((s) => `${s.name} ${s.durationMs} ms`).join(', '));
  }, 400_000);

  for (const c of CASES) {
    it(`${c.name}: secured, RX SAs, pings both ways, cipher ${c.cipher}, encrypt ${c.encrypt ? 'on' : 'off'}`, () => {
      const s = scenarioOk(lab, 'ours-' + c.name, ['a.log', 'b.log']);
      const r = readPair(s);
      console.log(
        `${c.name}: both RX SAs ${secs(r.timing.rxSas && r.timing.rxSas - r.timing.start)} after start (agents ready after ${secs(r.timing.ready && r.timing.ready - r.timing.start)})\n${r.state.a!.text}\n${r.state.a!.link}`,
      );
      expect(r.timing.rxSas, 'both RX SAs installed').not.toBeNull();
      const sides = [
        { ns: r.state.a!, st: ours(r.participants.a), peer: '02000000000b0001', ks: true },
        { ns: r.state.b!, st: ours(r.participants.b), peer: '02000000000a0001', ks: false },
      ];
      for (const { ns, st, peer, ks } of sides) {
        expect(st.kay.secured).toBe(true);
        expect(st.kay.keyServer?.self).toBe(ks);
        expect(st.kay.cipherSuite).toBe(c.cipher);
        expect(currentKey(st)?.cipherSuite).toBe(c.cipher);
        expect(st.kay.confidentialityOffset).toBe(c.encrypt ? 0 : null);
        expect(st.counters.mkpdusDropped).toBe(0);
        expect(activeRxSas(ns)).toBe(1);
        expect(rxSciWithActiveSa(ns)).toEqual([peer]);
        // ip -d link show macsec0: "... cipher GCM-AES-XPN-128 icvlen 16 encodingsa 0 validate strict encrypt on ..."
        expect(ns.link).toMatch(new RegExp(`\\bcipher ${c.cipher} icvlen 16 .*\\bencrypt ${c.encrypt ? 'on' : 'off'}\\b`));
        expect(ns.json[0]!.cipher_suite).toBe(c.cipher);
        expect(ns.json[0]!.encrypt).toBe(c.encrypt);
        const tx = ns.json[0] as unknown as { OutPktsEncrypted: number; OutPktsProtected: number };
        if (c.encrypt) {
          expect(tx.OutPktsEncrypted).toBeGreaterThan(0);
          expect(tx.OutPktsProtected).toBe(0);
        } else {
          expect(tx.OutPktsProtected).toBeGreaterThan(0);
          expect(tx.OutPktsEncrypted).toBe(0);
        }
        if (c.cipher.includes('XPN')) {
          // XPN: each SC has its SSCI (ip macsec show: "0: PN 20,SSCI 00000001 state on")
          expect(Object.keys(currentKey(st)?.ssci ?? {}).sort()).toEqual(['02000000000a0001', '02000000000b0001']);
          expect(ns.text).toMatch(/RXSC: [0-9a-f]{16}, state on\n\s+\d: PN \d+,SSCI [0-9a-f]{8} state on/);
        }
      }
      expectPingsClean(r.pings, 5);
      expect(readOutJson<{ a: boolean; b: boolean }>(s, 'cleanup.json')).toEqual({ a: true, b: true });
    });
  }
});
