/**
 * Lab (UML, real 6.1 kernel): our agent in mode eap-supplicant <-> our agent in mode
 * eap-authenticator, with FreeRADIUS 3.2 and with the embedded EAP-TLS server. Both secure and
 * ping passes through the two macsec links. The embedded run also re-authenticates (the new
 * CAK/CKN takes over in the running KaY without a gap) and ends with the supplicant logging off (the
 * authenticator stops MKA and removes every SA).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { runLab, readOutJson, type LabResult, type ScenarioResult } from '../uml.js';
import type { TestPki } from '../../support/pki.js';
import type { EapAgentPortStatus } from '../../../src/agent/standalone/agent.js';
import {
  activeRxSas,
  activeTxSas,
  agentConfig,
  agentLog,
  allSas,
  embeddedAuthenticator,
  expectPing,
  labDir,
  labPki,
  macsec,
  ourSupplicant,
  radiusAuthenticator,
  radiusConfig,
  readOut,
  scenario,
  scenarioOk,
} from './lab-eap.js';

const AGENTS_PAIR = 'source "$REPO/test/lab/eap/scenarios/agents-pair.sh"';

interface Result {
  secured: boolean;
  securedAfterMs: number;
  reauth: boolean;
  logoff: boolean;
}

const port0 = (s: ScenarioResult, file: string): EapAgentPortStatus => readOutJson<{ ports: EapAgentPortStatus[] }>(s, file).ports[0]!;

describe('agent eap-supplicant <-> agent eap-authenticator in UML', () => {
  let pki: TestPki;
  let lab: LabResult;
  const radiusPort = 18121;
  const secret = 'lab-radius-secret-2';

  beforeAll(async () => {
    const dir = labDir('port-agents');
    pki = labPki(dir);
    lab = await runLab({
      scenarios: [
        scenario('agents-radius', AGENTS_PAIR, 150_000, {
          AUTH_CFG: agentConfig(dir, 'auth-radius', radiusAuthenticator(radiusPort, secret)),
          SUPP_CFG: agentConfig(dir, 'supp-radius', ourSupplicant(pki, { tlsMaxVersion: '1.2' })),
          RADIUS_DIR: radiusConfig(dir, pki, secret, radiusPort, '1.2'),
        }),
        scenario('agents-embedded', AGENTS_PAIR, 200_000, {
          AUTH_CFG: agentConfig(dir, 'auth-embedded', embeddedAuthenticator(pki, { reauthPeriodSeconds: 15 })),
          SUPP_CFG: agentConfig(dir, 'supp-embedded', ourSupplicant(pki)),
          REAUTH: '1',
        }),
      ],
    });
    console.log(`UML boot ${lab.bootMs} ms, total ${lab.totalMs} ms; ${lab.scenarios.map((s) => `${s.name} ${s.durationMs} ms`).join(', ')}`);
  }, 480_000);

  for (const name of ['agents-radius', 'agents-embedded'] as const) {
    it(`${name}: our supplicant is authorized, both ends derive the same CKN, MKA secures, ping passes`, () => {
      const s = scenarioOk(lab, name, ['auth.log', 'supp.log']);
      const r = readOutJson<Result>(s, 'result.json');
      const why = () =>
        `${JSON.stringify(r)}\n--- auth.log ---\n${readOut(s, 'auth.log').slice(-4000)}\n--- supp.log ---\n${readOut(s, 'supp.log').slice(-4000)}`;
      expect(r.secured, why()).toBe(true);
      const a = port0(s, 'auth.secured.json');
      const b = port0(s, 'supp.secured.json');
      expect(a.mode).toBe('eap-authenticator');
      expect(b.mode).toBe('eap-supplicant');
      expect(a.authorized && b.authorized).toBe(true);
      expect(a.peer).toBe('02:00:00:00:00:0b');
      expect(b.peer).toBe('02:00:00:00:00:0a');
      expect(a.ckn).toMatch(/^[0-9a-f]{32}$/);
      expect(b.ckn).toBe(a.ckn);
      expect(a.kay!.secured && b.kay!.secured).toBe(true);
      expect(a.kay!.livePeers.map((p) => p.sci)).toEqual(['02000000000b0001']);
      expect(b.kay!.livePeers.map((p) => p.sci)).toEqual(['02000000000a0001']);
      expect(a.kay!.keyServer?.self).toBe(true); // priority 16 < the supplicant's 32
      expect(a.counters!.icvFailures + b.counters!.icvFailures).toBe(0);
      for (const f of ['sa-auth.json', 'sa-supp.json']) {
        expect(activeRxSas(macsec(s, f)), f).toBeGreaterThanOrEqual(1);
        expect(activeTxSas(macsec(s, f)), f).toBe(1);
      }
      expectPing(s, 'ping.json');
      const auth = agentLog(s, 'auth');
      if (name === 'agents-radius') expect(auth.some((l) => l.msg === 'eap: RADIUS authentication succeeded')).toBe(true);
      else expect(auth.some((l) => l.msg === 'eap: EAP-TLS authentication succeeded' && l.tls === 'TLSv1.3')).toBe(true);
      expect(agentLog(s, 'supp').some((l) => l.msg === 'port authorized: starting MKA' && l.ckn === a.ckn)).toBe(true);

      // Supplicant logoff: the authenticator stops MKA, no SA remains on its macsec link.
      expect(r.logoff, why()).toBe(true);
      const off = port0(s, 'auth.logoff.json');
      expect(off.authorized).toBe(false);
      expect(off.kay).toBeNull();
      expect(off.lastReason).toMatch(/logoff/i);
      const offSa = macsec(s, 'sa-auth-logoff.json');
      expect(offSa.map((l) => l.ifname)).toEqual(['ms0']);
      expect(allSas(offSa)).toBe(0);
      expect(auth.some((l) => l.msg === 'mka stopped, SAs removed')).toBe(true);
      console.log(`${name}: both secured ${r.securedAfterMs} ms after the supplicant agent started`);
    });
  }

  it('agents-embedded: re-authentication: the new CAK/CKN takes over on both ends in the running KaY; secured throughout, ping passes', () => {
    const s = scenarioOk(lab, 'agents-embedded', ['auth.log', 'supp.log']);
    const r = readOutJson<Result>(s, 'result.json');
    expect(r.reauth, readOut(s, 'auth.log').slice(-4000)).toBe(true);
    const first = port0(s, 'auth.secured.json');
    const a = port0(s, 'auth.reauth.json');
    const b = port0(s, 'supp.reauth.json');
    expect(a.reauthentications).toBeGreaterThanOrEqual(1);
    expect(a.cakChanges).toBeGreaterThanOrEqual(1);
    expect(a.kayStarts).toBe(1);
    expect(a.ckn).not.toBe(first.ckn);
    expect(b.ckn).toBe(a.ckn);
    expect(a.kay!.principalCkn).toBe(a.ckn);
    expect(a.kay!.secured && b.kay!.secured).toBe(true);
    // The authenticator's TX side holds the new CA's key only.
    const sa = macsec(s, 'sa-auth-reauth.json');
    expect(activeTxSas(sa)).toBe(1);
    expect(activeRxSas(sa)).toBeGreaterThanOrEqual(1);
    expectPing(s, 'ping-reauth.json');
    const during = readOutJson<{ transmitted: number; lost: number; summary: string }>(s, 'ping-during-reauth.json');
    expect(during.transmitted).toBeGreaterThan(10);
    // Make before break: no ping lost (eap-reauth-traffic.lab.test.ts counts 1,000 packets/s).
    expect(during.lost, during.summary).toBe(0);
    console.log(`agents re-authentication: ping every 100 ms during the CAK change: ${during.summary}`);
    const log = agentLog(s, 'auth');
    expect(log.some((l) => l.msg === 'port re-authenticated: new CAK joins MKA beside the running one' && l.ckn === a.ckn)).toBe(true);
    expect(log.some((l) => l.msg === 'mka principalChanged' && l.ckn === a.ckn)).toBe(true);
    expect(log.some((l) => l.msg === 'mka stopped, SAs removed' && l.reason === 're-authentication: new CAK')).toBe(false);
  });
});
