import { beforeAll, describe, expect, it } from 'vitest';
import { AuthenticatorPae, type AuthenticatorAction } from '../../src/eap/authenticator-pae.js';
import { SupplicantPae } from '../../src/eap/supplicant-pae.js';
import { AuthenticatorPort, SupplicantPort, type AuthorizedEvent, type AuthenticatedEvent, type UnauthorizedEvent } from '../../src/eap/port.js';
import { EapTlsServer } from '../../src/eap/eaptls-server.js';
import { EapTlsPeer } from '../../src/eap/eaptls-peer.js';
import { EapolType, PAE_GROUP_ADDRESS, decodeEapolFrame, encodeEapolFrame } from '../../src/eap/eapol.js';
import { EapCode, EapType, decodeEap, encodeEap, encodeIdentityResponse } from '../../src/eap/eap.js';
import { makeTestPki, type TestPki, type CertKey } from '../support/pki.js';

const AUTH = Uint8Array.of(0x02, 0, 0, 0, 0xa0, 0x01);
const SUPP = Uint8Array.of(0x02, 0, 0, 0, 0xb0, 0x02);
const OTHER = Uint8Array.of(0x02, 0, 0, 0, 0xc0, 0x03);

function eapOf(frame: Uint8Array) {
  const f = decodeEapolFrame(frame);
  if (!f.ok) throw new Error('bad frame');
  return { frame: f.value, eap: f.value.pdu.type === EapolType.EapPacket ? decodeEap(f.value.pdu.body) : undefined };
}
function start(src: Uint8Array, v = 2) {
  return encodeEapolFrame(PAE_GROUP_ADDRESS, src, v, EapolType.Start);
}
function resp(src: Uint8Array, eap: Uint8Array, v = 3) {
  return encodeEapolFrame(PAE_GROUP_ADDRESS, src, v, EapolType.EapPacket, eap);
}
function reqId(frame: Uint8Array): number {
  const e = eapOf(frame).eap!;
  if (!e.ok) throw new Error('bad eap');
  return e.value.id;
}
const has = (acts: AuthenticatorAction[], t: string) => acts.some((a) => a.type === t);

describe('Authenticator PAE (pure)', () => {
  const cfg = { portMac: AUTH, retransTimeoutMs: 1000, maxRetrans: 2, quietPeriodMs: 5000, reAuthPeriodMs: 20000, txPeriodMs: 30000, serverTimeoutMs: 4000 };

  it('solicits on port up, answers EAPOL-Start with Request/Identity, retransmits, gives up', () => {
    const pae = new AuthenticatorPae(cfg);
    const up = pae.portUp(0);
    expect(up.frames.length).toBe(1);
    const first = eapOf(up.frames[0]!);
    expect(first.eap?.ok && first.eap.value.type === EapType.Identity && first.eap.value.code === EapCode.Request).toBe(true);
    const s = pae.receive(start(SUPP, 1), 10);
    expect(s.frames.length).toBe(1);
    expect(pae.supplicant).toEqual(SUPP);
    expect(pae.nextTimeout()).toBe(1010);
    expect(pae.tick(1010).frames.length).toBe(1); // retransmission 1
    expect(pae.tick(2010).frames.length).toBe(1); // retransmission 2
    const giveUp = pae.tick(3010);
    expect(pae.supplicant).toBeUndefined();
    expect(pae.state).toBe('connecting');
    expect(giveUp.frames.length).toBe(1); // back to soliciting the group
  });

  it('relays to the backend, authorizes on success with CAK/CKN, re-authenticates, logs off', () => {
    const pae = new AuthenticatorPae(cfg);
    pae.portUp(0);
    const r = pae.receive(start(SUPP), 1);
    const out = pae.receive(resp(SUPP, encodeIdentityResponse(reqId(r.frames[0]!), 'client1')), 2);
    const be = out.actions.find((a) => a.type === 'backend-eap');
    expect(be).toBeDefined();
    if (be?.type !== 'backend-eap') return;
    expect(pae.state).toBe('authenticating');
    // Backend asks for more
    const rq = pae.backendStep(be.session, { kind: 'request', eap: encodeEap({ code: EapCode.Request, id: 50, type: 13, data: Uint8Array.of(0x20) }) }, 3);
    expect(rq.frames.length).toBe(1);
    // A response with the wrong id is ignored
    expect(
      pae.receive(resp(SUPP, encodeEap({ code: EapCode.Response, id: 49, type: 13, data: Uint8Array.of(0) })), 4).actions.some((a) => a.type === 'backend-eap'),
    ).toBe(false);
    // Another supplicant is ignored
    expect(has(pae.receive(start(OTHER), 5).actions, 'log')).toBe(true);
    expect(pae.supplicant).toEqual(SUPP);
    const ok = pae.receive(resp(SUPP, encodeEap({ code: EapCode.Response, id: 50, type: 13, data: Uint8Array.of(0) })), 6);
    const be2 = ok.actions.find((a) => a.type === 'backend-eap');
    expect(be2?.type === 'backend-eap' && be2.session === be.session).toBe(true);
    const msk = new Uint8Array(64).fill(1);
    const sid = new Uint8Array(65).fill(2);
    const succ = pae.backendStep(be.session, { kind: 'success', eap: encodeEap({ code: EapCode.Success, id: 50 }), keys: { msk, sessionId: sid } }, 7);
    const auth = succ.actions.find((a) => a.type === 'authorized');
    expect(auth?.type === 'authorized' && auth.cak.length === 16 && auth.ckn.length === 16 && !auth.reauthentication).toBe(true);
    expect(pae.authorized).toBe(true);
    expect(pae.nextTimeout()).toBe(20007);
    // Re-authentication: Request/Identity while staying authorized
    const re = pae.tick(20007);
    expect(re.frames.length).toBe(1);
    expect(pae.authorized).toBe(true);
    // An exchange is under way: a forced re-authentication does nothing
    expect(pae.reauthenticate(20008, 'test').frames).toHaveLength(0);
    // Logoff
    const lo = pae.receive(encodeEapolFrame(PAE_GROUP_ADDRESS, SUPP, 2, EapolType.Logoff), 20010);
    expect(lo.actions.some((a) => a.type === 'unauthorized' && a.reason === 'EAPOL-Logoff')).toBe(true);
    expect(pae.authorized).toBe(false);
    expect(pae.supplicant).toBeUndefined();
    // Not authenticated: nothing to re-authenticate
    expect(pae.reauthenticate(20011, 'test').frames).toHaveLength(0);
  });

  it('re-authenticates on request while authenticated (before the period expires), then again on the period', () => {
    const pae = new AuthenticatorPae(cfg);
    pae.portUp(0);
    const r = pae.receive(start(SUPP), 1);
    const out = pae.receive(resp(SUPP, encodeIdentityResponse(reqId(r.frames[0]!), 'client1')), 2);
    const be = out.actions.find((a) => a.type === 'backend-eap');
    if (be?.type !== 'backend-eap') throw new Error('no backend call');
    const keys = { msk: new Uint8Array(64).fill(1), sessionId: new Uint8Array(65).fill(2) };
    pae.backendStep(be.session, { kind: 'success', eap: encodeEap({ code: EapCode.Success, id: 50 }), keys }, 3);
    expect(pae.nextTimeout()).toBe(20003);
    const forced = pae.reauthenticate(5000, 'no live MKA peer');
    expect(forced.frames).toHaveLength(1);
    const e = eapOf(forced.frames[0]!).eap!;
    expect(e.ok && e.value.code === EapCode.Request && e.value.type === EapType.Identity).toBe(true);
    expect(forced.actions.some((a) => a.type === 'log' && a.msg === 're-authentication' && a.fields?.reason === 'no live MKA peer')).toBe(true);
    expect(pae.authorized).toBe(true);
    expect(pae.nextTimeout()).toBe(5000 + 1000); // retransmission, not the old period
    const id2 = reqId(forced.frames[0]!);
    const out2 = pae.receive(resp(SUPP, encodeIdentityResponse(id2, 'client1')), 5001);
    const be2 = out2.actions.find((a) => a.type === 'backend-eap');
    if (be2?.type !== 'backend-eap') throw new Error('no backend call');
    const keys2 = { msk: new Uint8Array(64).fill(3), sessionId: new Uint8Array(65).fill(4) };
    const succ = pae.backendStep(be2.session, { kind: 'success', eap: encodeEap({ code: EapCode.Success, id: 51 }), keys: keys2 }, 5002);
    const auth = succ.actions.find((a) => a.type === 'authorized');
    expect(auth?.type === 'authorized' && auth.reauthentication).toBe(true);
    expect(pae.nextTimeout()).toBe(25002);
  });

  it('failure: EAP-Failure, unauthorized, quiet period ignores Start, then solicits again', () => {
    const pae = new AuthenticatorPae(cfg);
    pae.portUp(0);
    const r = pae.receive(start(SUPP), 1);
    const out = pae.receive(resp(SUPP, encodeIdentityResponse(reqId(r.frames[0]!), 'x')), 2);
    const be = out.actions.find((a) => a.type === 'backend-eap');
    if (be?.type !== 'backend-eap') throw new Error('no backend call');
    const f = pae.backendStep(be.session, { kind: 'failure', reason: 'certificate expired' }, 3);
    const e = eapOf(f.frames[0]!).eap!;
    expect(e.ok && e.value.code === EapCode.Failure).toBe(true);
    expect(f.actions.some((a) => a.type === 'unauthorized' && a.reason === 'certificate expired')).toBe(true);
    expect(pae.state).toBe('held');
    expect(pae.receive(start(SUPP), 100).frames.length).toBe(0);
    const after = pae.tick(5003);
    expect(pae.state).toBe('connecting');
    expect(after.frames.length).toBe(1);
  });

  it('backend timeout leaves the port unauthorized', () => {
    const pae = new AuthenticatorPae(cfg);
    pae.portUp(0);
    const r = pae.receive(start(SUPP), 1);
    pae.receive(resp(SUPP, encodeIdentityResponse(reqId(r.frames[0]!), 'x')), 2);
    const t = pae.tick(4002);
    expect(t.actions.some((a) => a.type === 'unauthorized' && /timed out/.test(a.reason))).toBe(true);
    expect(pae.state).toBe('held');
  });
});

describe('Supplicant PAE (pure)', () => {
  it('sends Start, retransmits it, answers Identity, repeats its response to a retransmitted request', () => {
    const s = new SupplicantPae({ ownMac: SUPP, identity: 'client1', startPeriodMs: 1000 });
    const o = s.start(0);
    expect(eapOf(o.frames[0]!).frame.pdu.type).toBe(EapolType.Start);
    expect(s.tick(1000).frames.length).toBe(1);
    const req = encodeEapolFrame(PAE_GROUP_ADDRESS, AUTH, 2, EapolType.EapPacket, encodeEap({ code: EapCode.Request, id: 5, type: EapType.Identity }));
    const a = s.receive(req, 1100);
    const e = eapOf(a.frames[0]!).eap!;
    expect(e.ok && e.value.code === EapCode.Response && e.value.id === 5).toBe(true);
    const again = s.receive(req, 1200);
    expect(Buffer.from(again.frames[0]!).equals(Buffer.from(a.frames[0]!))).toBe(true);
    expect(s.authenticator).toEqual(AUTH);
  });
});

describe('our supplicant <-> our authenticator with the embedded EAP-TLS server', () => {
  let pki: TestPki;
  beforeAll(() => {
    pki = makeTestPki();
  });

  function run(version: 'TLSv1.2' | 'TLSv1.3', client: CertKey, fragmentSize = 1020) {
    const server = new EapTlsServer({
      ca: pki.ca.cert,
      cert: pki.server.cert,
      key: pki.server.key,
      maxVersion: version,
      fragmentSize,
      identityPolicy: { subjectCn: ['*.vnf.example'] },
    });
    let auth!: AuthenticatorPort;
    let supp!: SupplicantPort;
    const logs: string[] = [];
    auth = new AuthenticatorPort({
      portMac: AUTH,
      backend: server,
      send: (f) => setImmediate(() => supp.receive(f)),
      logger: (l, m, fl) => logs.push(`A ${l} ${m} ${JSON.stringify(fl ?? {})}`),
      quietPeriodMs: 60000,
    });
    supp = new SupplicantPort({
      ownMac: SUPP,
      identity: 'client1.vnf.example',
      send: (f) => setImmediate(() => auth.receive(f)),
      method: () => new EapTlsPeer({ identity: 'client1.vnf.example', ca: pki.ca.cert, cert: client.cert, key: client.key, maxVersion: version, fragmentSize }),
      logger: (l, m, fl) => logs.push(`S ${l} ${m} ${JSON.stringify(fl ?? {})}`),
    });
    const authorized = new Promise<AuthorizedEvent>((r) => auth.once('authorized', r));
    const unauthorized = new Promise<UnauthorizedEvent>((r) => auth.once('unauthorized', r));
    const authenticated = new Promise<AuthenticatedEvent>((r) => supp.once('authenticated', r));
    auth.start();
    supp.start();
    return {
      auth,
      supp,
      authorized,
      unauthorized,
      authenticated,
      logs,
      stop: () => {
        auth.stop();
        supp.stop();
      },
    };
  }

  for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
    it(`${v}: both ends derive the same CAK/CKN`, async () => {
      const h = run(v, pki.client, 300);
      try {
        const [a, s] = await Promise.all([h.authorized, h.authenticated]);
        expect(a.peer).toEqual(SUPP);
        expect(s.authenticator).toEqual(AUTH);
        expect(Buffer.from(a.cak).equals(Buffer.from(s.cak))).toBe(true);
        expect(Buffer.from(a.ckn).equals(Buffer.from(s.ckn))).toBe(true);
        expect(Buffer.from(a.sessionId).equals(Buffer.from(s.sessionId))).toBe(true);
        expect(h.auth.pae.authorized).toBe(true);
        // no secret in logs
        const all = h.logs.join('\n');
        expect(all).not.toContain(Buffer.from(a.msk).toString('hex').slice(0, 16));
        expect(all).not.toContain('PRIVATE KEY');
      } finally {
        h.stop();
      }
    });
  }

  for (const [what, who, re] of [
    ['another CA', () => pki.foreign, /configured CA/],
    ['an expired certificate', () => pki.expired, /expired/],
    ['the identity policy', () => pki.wrongName, /identity policy/],
  ] as const) {
    it(`rejects ${what}: port stays unauthorized with the reason`, async () => {
      const h = run('TLSv1.3', who());
      try {
        const u = await h.unauthorized;
        expect(u.reason).toMatch(re);
        expect(h.auth.pae.authorized).toBe(false);
        expect(h.auth.pae.state).toBe('held');
        expect(h.logs.some((l) => l.startsWith('A warn') && re.test(l))).toBe(true);
      } finally {
        h.stop();
      }
    });
  }
});

describe('createEapBackend', () => {
  it('embedded by default, RADIUS when servers are configured', async () => {
    const { createEapBackend } = await import('../../src/eap/select-backend.js');
    const pki = makeTestPki();
    const e = createEapBackend({ embedded: { ca: pki.ca.cert, cert: pki.server.cert, key: pki.server.key } });
    expect(e.name).toBe('embedded-eap-tls');
    const r = createEapBackend({
      radius: { servers: [{ host: '127.0.0.1', secret: 's' }] },
      embedded: { ca: pki.ca.cert, cert: pki.server.cert, key: pki.server.key },
    });
    expect(r.name).toBe('radius');
    await r.close?.();
    expect(() => createEapBackend({})).toThrow(/no RADIUS server/);
  });
});
