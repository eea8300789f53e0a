/**
 * Lab (UML, real 6.1 kernel): rejections. wpa_supplicant 2.10 (macsec_linux, EAP-TLS) presents
 * a client certificate from another CA, an expired one, and one failing the identity policy
 * (CN rogue.other.example, policy *.vnf.example) to our agent's embedded EAP-TLS server; and a
 * good certificate through our agent to FreeRADIUS with the wrong shared secret. Each leaves the
 * port unauthorized with no macsec SA on either side (ip macsec show), and the agent says why.
 * A good client afterwards is authorized and secured (the rejections are not a broken setup).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { runLab, readOutJson, type LabResult } from '../uml.js';
import type { TestPki } from '../../support/pki.js';
import type { EapAgentPortStatus } from '../../../src/agent/standalone/agent.js';
import {
  activeRxSas,
  agentConfig,
  agentLog,
  allSas,
  embeddedAuthenticator,
  labDir,
  labPki,
  macsec,
  radiusAuthenticator,
  radiusConfig,
  readOut,
  scenario,
  scenarioOk,
  type WpaFacts,
} from './lab-eap.js';

const REJECT = 'source "$REPO/test/lab/eap/scenarios/reject.sh"';

interface Result {
  cases: { case: string; failed: boolean }[];
  control: boolean | null;
}

describe('rejected supplicants leave the port unauthorized with no SA (UML)', () => {
  let pki: TestPki;
  let lab: LabResult;
  const radiusPort = 18122;

  beforeAll(async () => {
    const dir = labDir('port-reject');
    pki = labPki(dir);
    lab = await runLab({
      scenarios: [
        scenario('reject-embedded', REJECT, 200_000, {
          PKI: pki.dir,
          CFG: agentConfig(dir, 'embedded', embeddedAuthenticator(pki)),
          CASES: 'foreign expired rogue',
          CONTROL: 'client',
        }),
        scenario('reject-radius-secret', REJECT, 120_000, {
          PKI: pki.dir,
          CFG: agentConfig(dir, 'radius', radiusAuthenticator(radiusPort, 'not-the-radius-secret')),
          RADIUS_DIR: radiusConfig(dir, pki, 'the-radius-secret', radiusPort),
          CASES: 'client',
        }),
        // Check of the note that wpa_supplicant 2.10 needs phase1="tls_disable_tlsv1_3=0" for TLS 1.3:
        // without it, against a TLS 1.3-only server, the handshake fails.
        scenario('wpa-tls13-default', REJECT, 100_000, {
          PKI: pki.dir,
          CFG: agentConfig(dir, 'tls13only', embeddedAuthenticator(pki, { tlsMinVersion: '1.3' })),
          CASES: 'client',
          WPA_TLS13: 'default',
        }),
      ],
    });
    console.log(`UML boot ${lab.bootMs} ms, total ${lab.totalMs} ms; ${lab.scenarios.map((s) => `${s.name} ${s.durationMs} ms`).join(', ')}`);
  }, 480_000);

  const cases = [
    ['reject-embedded', 'foreign', /client certificate rejected: .*(UNABLE_TO_GET_ISSUER|unable to get|not issued by the configured CA)/i],
    ['reject-embedded', 'expired', /client certificate rejected: CERT_HAS_EXPIRED/],
    ['reject-embedded', 'rogue', /identity policy: subject CN "rogue\.other\.example"/],
    ['reject-radius-secret', 'client', /RADIUS: 127\.0\.0\.1:18122: timeout .*shared secret/],
  ] as const;

  for (const [name, c, reason] of cases) {
    it(`${name} / ${c}: unauthorized, no macsec SA on either side, the reason logged`, () => {
      const s = scenarioOk(lab, name, ['agent.log']);
      const r = readOutJson<Result>(s, 'result.json');
      const why = () =>
        `${JSON.stringify(r)}\n--- agent.log ---\n${readOut(s, 'agent.log').slice(-4000)}\n--- wpa-${c}.log ---\n${readOut(s, `wpa-${c}.log`).slice(-3000)}`;
      expect(r.cases.find((x) => x.case === c)?.failed, why()).toBe(true);
      const st = readOutJson<{ ports: EapAgentPortStatus[] }>(s, `agent.${c}.json`).ports[0]!;
      expect(st.authorized).toBe(false);
      expect(st.kay).toBeNull();
      expect(st.kayStarts).toBe(0);
      expect(st.ckn).toBeNull();
      expect(st.lastReason, why()).toMatch(reason);
      // ip macsec show: our link exists but has no SA; wpa_supplicant's side has none either.
      const auth = macsec(s, `sa-auth-${c}.json`);
      expect(auth.map((l) => l.ifname)).toEqual(['ms0']);
      expect(allSas(auth)).toBe(0);
      expect(allSas(macsec(s, `sa-supp-${c}.json`))).toBe(0);
      const facts = readOutJson<WpaFacts>(s, `wpa-${c}.facts.json`);
      expect(facts.eapSuccess).toBe(false);
      expect(facts.cakDerived).toBe(false);
      if (name === 'reject-embedded') expect(facts.eapFailure).toBe(true);
      // The agent log says why.
      const log = agentLog(s, 'agent');
      expect(
        log.some((l) => l.msg === 'port unauthorized' && reason.test(String(l.reason))),
        why(),
      ).toBe(true);
      expect(readOut(s, 'agent.log')).not.toContain('the-radius-secret');
      expect(readOut(s, 'agent.log')).not.toContain('not-the-radius-secret');
    });
  }

  it('wpa_supplicant 2.10 without phase1="tls_disable_tlsv1_3=0" does not offer TLS 1.3: a TLS 1.3-only server rejects it', () => {
    const s = scenarioOk(lab, 'wpa-tls13-default', ['agent.log']);
    const r = readOutJson<Result>(s, 'result.json');
    expect(r.cases[0]!.failed, readOut(s, 'agent.log').slice(-3000)).toBe(true);
    const st = readOutJson<{ ports: EapAgentPortStatus[] }>(s, 'agent.client.json').ports[0]!;
    expect(st.authorized).toBe(false);
    expect(st.lastReason).toMatch(/TLS handshake failed: .*unsupported protocol/);
    expect(allSas(macsec(s, 'sa-auth-client.json'))).toBe(0);
    const facts = readOutJson<WpaFacts>(s, 'wpa-client.facts.json');
    expect(facts.eapSuccess).toBe(false);
    console.log(`TLS 1.3-only server vs wpa_supplicant without phase1: ${st.lastReason}`);
  });

  it('reject-embedded: a good client afterwards is authorized and secured', () => {
    const s = scenarioOk(lab, 'reject-embedded', ['agent.log']);
    const r = readOutJson<Result>(s, 'result.json');
    expect(r.control, readOut(s, 'agent.log').slice(-4000)).toBe(true);
    const st = readOutJson<{ ports: EapAgentPortStatus[] }>(s, 'agent.control.json').ports[0]!;
    expect(st.authorized).toBe(true);
    expect(st.failures).toBeGreaterThanOrEqual(3); // wpa_supplicant retries after each failure
    expect(st.kay!.secured).toBe(true);
    expect(st.ckn).toBe(readOutJson<WpaFacts>(s, 'wpa-control.facts.json').ckn);
    expect(activeRxSas(macsec(s, 'sa-auth-control.json'))).toBeGreaterThanOrEqual(1);
  });
});
