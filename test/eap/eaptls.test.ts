import { beforeAll, describe, expect, it } from 'vitest';
import { EapTlsServer } from '../../src/eap/eaptls-server.js';
import { EapTlsPeer } from '../../src/eap/eaptls-peer.js';
import { deriveMkaKeysFromEap } from '../../src/eap/keys.js';
import type { EapLogger } from '../../src/eap/decode.js';
import { makeTestPki, type TestPki, type CertKey } from '../support/pki.js';
import { runDirect } from './helpers/direct.js';

const supMac = Uint8Array.of(0x02, 0, 0, 0, 0, 0x02);
const authMac = Uint8Array.of(0x02, 0, 0, 0, 0, 0x01);
let pki: TestPki;

beforeAll(() => {
  pki = makeTestPki();
});

function capture(): { logger: EapLogger; lines: string[] } {
  const lines: string[] = [];
  return { lines, logger: (level, msg, fields) => lines.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`) };
}

function server(opts: Partial<ConstructorParameters<typeof EapTlsServer>[0]> = {}, logger?: EapLogger) {
  return new EapTlsServer({ ca: pki.ca.cert, cert: pki.server.cert, key: pki.server.key, ...(logger ? { logger } : {}), ...opts });
}

function peer(who: CertKey, opts: Partial<ConstructorParameters<typeof EapTlsPeer>[0]> = {}) {
  return new EapTlsPeer({ identity: 'client1.vnf.example', ca: pki.ca.cert, cert: who.cert, key: who.key, ...opts });
}

describe('embedded EAP-TLS server <-> EAP-TLS peer', () => {
  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    for (const fragmentSize of [1020, 200]) {
      it(`${version}, fragment size ${fragmentSize}: success, equal MSK/EMSK/Session-Id and CAK/CKN`, async () => {
        const srv = server({ maxVersion: version, fragmentSize });
        const p = peer(pki.client, { maxVersion: version, fragmentSize, serverName: 'radius.nfv.example' });
        const r = await runDirect(srv.createSession({ supplicantMac: supMac, authenticatorMac: authMac }), p, 'client1.vnf.example');
        expect(r.server.kind).toBe('success');
        expect(r.peer.kind).toBe('success');
        if (r.server.kind !== 'success' || r.peer.kind !== 'success') return;
        expect(r.peer.tlsVersion).toBe(version);
        expect(r.server.keys.msk.length).toBe(64);
        expect(r.server.keys.sessionId.length).toBe(65);
        expect(r.server.keys.sessionId[0]).toBe(13);
        expect(Buffer.compare(r.server.keys.msk, r.peer.keys.msk)).toBe(0);
        expect(Buffer.compare(r.server.keys.emsk!, r.peer.keys.emsk!)).toBe(0);
        expect(Buffer.compare(r.server.keys.sessionId, r.peer.keys.sessionId)).toBe(0);
        const a = deriveMkaKeysFromEap(r.server.keys.msk, r.server.keys.sessionId, authMac, supMac);
        const b = deriveMkaKeysFromEap(r.peer.keys.msk, r.peer.keys.sessionId, supMac, authMac);
        expect(Buffer.from(a.cak).equals(Buffer.from(b.cak))).toBe(true);
        expect(Buffer.from(a.ckn).equals(Buffer.from(b.ckn))).toBe(true);
        if (fragmentSize === 200) expect(r.rounds).toBeGreaterThan(5);
      });
    }
  }

  const rejections: [string, () => CertKey, RegExp, Record<string, unknown>?][] = [
    ['a certificate from another CA', () => pki.foreign, /not issued by the configured CA/],
    ['an expired certificate', () => pki.expired, /expired/],
    ['a certificate failing the identity policy', () => pki.wrongName, /identity policy/],
  ];
  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    for (const [what, who, reason] of rejections) {
      it(`${version}: rejects ${what} with EAP-Failure and a logged reason`, async () => {
        const log = capture();
        const srv = server({ maxVersion: version, identityPolicy: { subjectCn: ['*.vnf.example'] } }, log.logger);
        const p = peer(who(), { maxVersion: version });
        const r = await runDirect(srv.createSession({ supplicantMac: supMac, authenticatorMac: authMac }), p, 'client1.vnf.example');
        expect(r.server.kind).toBe('failure');
        if (r.server.kind === 'failure') expect(r.server.reason).toMatch(reason);
        expect(r.peer.kind).toBe('failure');
        expect(log.lines.some((l) => l.startsWith('warn') && reason.test(l))).toBe(true);
        for (const l of log.lines) expect(l).not.toMatch(/PRIVATE KEY/);
      });
    }
  }

  it('peer rejects a server certificate from an untrusted CA', async () => {
    const srv = server();
    const p = peer(pki.client, { ca: pki.otherCa.cert });
    const r = await runDirect(srv.createSession({ supplicantMac: supMac, authenticatorMac: authMac }), p, 'client1.vnf.example');
    expect(r.server.kind).toBe('failure');
    expect(r.peer.kind).toBe('failure');
  });

  it('peer rejects a server name mismatch', async () => {
    const srv = server();
    const p = peer(pki.client, { serverName: 'other.example' });
    const r = await runDirect(srv.createSession({ supplicantMac: supMac, authenticatorMac: authMac }), p, 'client1.vnf.example');
    expect(r.server.kind).toBe('failure');
    expect(r.peer.kind).toBe('failure');
  });

  it('SAN and EAP-identity policies', async () => {
    const srv = server({ identityPolicy: { san: ['email:*@vnf.example'], matchEapIdentity: true } });
    const ok = await runDirect(srv.createSession({ supplicantMac: supMac, authenticatorMac: authMac }), peer(pki.client), 'client1.vnf.example');
    expect(ok.server.kind).toBe('success');
    const bad = await runDirect(srv.createSession({ supplicantMac: supMac, authenticatorMac: authMac }), peer(pki.client), 'someone-else');
    expect(bad.server.kind).toBe('failure');
  });

  it('concurrent sessions on one server keep their own TLS state and verdicts', async () => {
    const srv = server({ identityPolicy: { subjectCn: ['*.vnf.example'] } });
    const who = [pki.client, pki.foreign, pki.client, pki.expired, pki.wrongName, pki.client];
    const results = await Promise.all(
      who.map((c, i) =>
        runDirect(
          srv.createSession({ supplicantMac: Uint8Array.of(2, 0, 0, 0, 1, i), authenticatorMac: authMac }),
          peer(c, { maxVersion: i % 2 ? 'TLSv1.2' : 'TLSv1.3' }),
          'client1.vnf.example',
        ),
      ),
    );
    expect(results.map((r) => r.server.kind)).toEqual(['success', 'failure', 'success', 'failure', 'failure', 'success']);
    expect(results.map((r) => r.peer.kind)).toEqual(['success', 'failure', 'success', 'failure', 'failure', 'success']);
    const ids = results
      .filter((r) => r.server.kind === 'success')
      .map((r) => (r.server.kind === 'success' ? Buffer.from(r.server.keys.sessionId).toString('hex') : ''));
    expect(new Set(ids).size).toBe(3);
  });
});
