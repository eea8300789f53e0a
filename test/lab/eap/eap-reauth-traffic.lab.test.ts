/**
 * Issue 12, hitless re-authentication, in the UML kernel lab (one boot). Our authenticator
 * re-authenticates the supplicant every 12 s while two paced UDP streams (1,000 packets/s each
 * way, sequence-numbered, counted by the receivers) run through the macsec links for 44 s:
 * each re-authentication gives a new MSK, hence a new CAK/CKN, which joins the running KaY as a
 * second participant and takes over without a gap (make before break, src/mka/kay.ts).
 * - ours <-> ours, embedded EAP-TLS server and FreeRADIUS 3.2: 0 lost of 44,000 each way across
 *   >= 3 re-authentications, each ending on the new CKN with the old CA gone.
 * - wpa_supplicant 2.10 as supplicant: measured and printed (wpa's part is documented in
 *   docs/eap.md); bounded, our side never restarts MKA.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { EapAgentPortStatus } from '../../../src/agent/standalone/agent.js';
import type { TestPki } from '../../support/pki.js';
import { lostOf as lost, type UdpStream } from '../scenario-checks.js';
import { type LabResult, readOutJson, runLab } from '../uml.js';
import {
  agentConfig,
  agentLog,
  embeddedAuthenticator,
  labDir,
  labPki,
  ourSupplicant,
  radiusAuthenticator,
  radiusConfig,
  readOut,
  scenario,
  scenarioOk,
} from './lab-eap.js';

const RATE = 1000;
const SECONDS = 44;
const REAUTH_S = 12;
const SCRIPT = 'source "$REPO/test/lab/eap/scenarios/reauth-traffic.sh"';

interface Result {
  t0: number;
  t1: number;
  suppToAuth: UdpStream;
  authToSupp: UdpStream;
  udpErrors: { auth: { RcvbufErrors: number }[]; supp: { RcvbufErrors: number }[] };
}

const port0 = (s: Parameters<typeof readOut>[0], f: string): EapAgentPortStatus => readOutJson<{ ports: EapAgentPortStatus[] }>(s, f).ports[0]!;

describe('re-authentication under traffic (UML lab)', () => {
  let lab: LabResult;
  let pki: TestPki;

  beforeAll(async () => {
    const dir = labDir('reauth-traffic');
    pki = labPki(dir);
    const radiusPort = 18122;
    const secret = 'lab-radius-secret-3';
    const env = { RATE: String(RATE), STREAM_SECONDS: String(SECONDS), PKI: pki.dir };
    const reauth = { reauthPeriodSeconds: REAUTH_S };
    lab = await runLab({
      scenarios: [
        scenario('reauth-ours-embedded', SCRIPT, 150_000, {
          ...env,
          SUPP_KIND: 'ours',
          AUTH_CFG: agentConfig(dir, 'auth-embedded', embeddedAuthenticator(pki, reauth)),
          SUPP_CFG: agentConfig(dir, 'supp-embedded', ourSupplicant(pki)),
        }),
        scenario('reauth-ours-radius', SCRIPT, 150_000, {
          ...env,
          SUPP_KIND: 'ours',
          AUTH_CFG: agentConfig(dir, 'auth-radius', radiusAuthenticator(radiusPort, secret, reauth)),
          SUPP_CFG: agentConfig(dir, 'supp-radius', ourSupplicant(pki, { tlsMaxVersion: '1.2' })),
          RADIUS_DIR: radiusConfig(dir, pki, secret, radiusPort, '1.2'),
        }),
        scenario('reauth-wpa-embedded', SCRIPT, 150_000, {
          ...env,
          SUPP_KIND: 'wpa',
          AUTH_CFG: agentConfig(dir, 'auth-wpa', embeddedAuthenticator(pki, { ...reauth, tlsMaxVersion: '1.2' })),
        }),
      ],
    });
    console.log(`UML boot ${lab.bootMs} ms, total ${lab.totalMs} ms; ${lab.scenarios.map((s) => `${s.name} ${s.durationMs} ms`).join(', ')}`);
  }, 600_000);

  function streams(name: string, logs: string[]) {
    const s = scenarioOk(lab, name, logs);
    const r = readOutJson<Result>(s, 'result.json');
    const line = (what: string, x: UdpStream) => `${what} ${lost(x)} lost of ${x.sent.sent} (gaps ${JSON.stringify(x.recv.gaps)})`;
    for (const x of [r.suppToAuth, r.authToSupp]) {
      expect(x.sent.sendErrors).toBe(0);
      expect(x.sent.sent).toBe(RATE * SECONDS);
      expect(x.sent.sent / x.sent.seconds).toBeGreaterThanOrEqual(RATE * 0.97);
    }
    // the receivers' sockets never overflowed: a gap would be on the wire
    for (const [x, y] of [r.udpErrors.auth, r.udpErrors.supp]) expect(y!.RcvbufErrors - x!.RcvbufErrors).toBe(0);
    return { s, r, lost, summary: `${line('supplicant->authenticator', r.suppToAuth)}; ${line('authenticator->supplicant', r.authToSupp)}` };
  }

  for (const name of ['reauth-ours-embedded', 'reauth-ours-radius'] as const) {
    it(`${name}: 0 frames lost each way at 1,000 packets/s across >= 3 re-authentications, each a new CKN taking over`, () => {
      const { s, r, lost, summary } = streams(name, ['auth.log', 'supp.log']);
      const a0 = port0(s, 'auth.before.json');
      const a1 = port0(s, 'auth.after.json');
      const b1 = port0(s, 'supp.after.json');
      const reauths = a1.reauthentications - a0.reauthentications;
      console.log(`${name}: ${reauths} re-authentications in ${((r.t1 - r.t0) / 1000).toFixed(1)} s of traffic; ${summary}`);
      expect(reauths).toBeGreaterThanOrEqual(3);
      expect(a1.cakChanges - a0.cakChanges).toBeGreaterThanOrEqual(3);
      expect(b1.cakChanges).toBeGreaterThanOrEqual(3);
      // one KaY all along, never unsecured, now on the newest CKN shared by both ends
      expect(a1.kayStarts).toBe(1);
      expect(b1.kayStarts).toBe(1);
      expect(a1.mkaEvents.unsecured ?? 0).toBe(0);
      expect(b1.mkaEvents.unsecured ?? 0).toBe(0);
      expect(a1.ckn).not.toBe(a0.ckn);
      expect(a1.kay!.secured && b1.kay!.secured).toBe(true);
      expect(a1.kay!.principalCkn).toBe(b1.kay!.principalCkn);
      expect(lost(r.suppToAuth), summary).toBe(0);
      expect(lost(r.authToSupp), summary).toBe(0);
      expect(r.suppToAuth.recv.missing + r.authToSupp.recv.missing).toBe(0);
      // each change: the new CA took over (principalChanged) and the old one left
      const log = agentLog(s, 'auth');
      expect(log.filter((l) => l.msg === 'port re-authenticated: new CAK joins MKA beside the running one').length).toBeGreaterThanOrEqual(3);
      expect(log.filter((l) => l.msg === 'mka principalChanged').length).toBeGreaterThanOrEqual(3);
      expect(log.some((l) => l.msg === 'mka stopped, SAs removed' && l.reason === 're-authentication: new CAK')).toBe(false);
    });
  }

  it('reauth-wpa-embedded: wpa_supplicant 2.10 as supplicant: loss measured, bounded; our MKA never restarts', () => {
    const { s, r, lost, summary } = streams('reauth-wpa-embedded', ['auth.log', 'wpa.log']);
    const a0 = port0(s, 'auth.before.json');
    const a1 = port0(s, 'auth.after.json');
    const reauths = a1.reauthentications - a0.reauthentications;
    const ckns = new Set(
      agentLog(s, 'auth')
        .filter((l) => l.msg === 'mka principalChanged')
        .map((l) => l.ckn),
    );
    console.log(
      `reauth-wpa-embedded: ${reauths} re-authentications, ${a1.cakChanges - a0.cakChanges} CAKs added, principal changed to ${ckns.size} CKNs; ${summary}`,
    );
    expect(reauths).toBeGreaterThanOrEqual(3);
    expect(a1.kayStarts).toBe(1);
    expect(a1.kay!.secured).toBe(true);
    // wpa's part (docs/eap.md): bounded by one MKA life time per re-authentication each way
    const bound = 6 * RATE * Math.max(1, reauths);
    expect(lost(r.suppToAuth), summary).toBeLessThanOrEqual(bound);
    expect(lost(r.authToSupp), summary).toBeLessThanOrEqual(bound);
  });
});
