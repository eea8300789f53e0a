/** Our RADIUS client + EAP-TLS peer against a real FreeRADIUS 3.2 on loopback. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { RadiusBackend } from '../../src/eap/radius-backend.js';
import { EapTlsPeer } from '../../src/eap/eaptls-peer.js';
import type { EapLogger } from '../../src/eap/decode.js';
import { makeTestPki, type TestPki } from '../support/pki.js';
import { type FreeRadius, freeUdpPort, startFreeRadius } from '../support/freeradius.js';
import { runDirect } from './helpers/direct.js';
import { AuthenticatorPort, SupplicantPort, type AuthorizedEvent, type AuthenticatedEvent } from '../../src/eap/port.js';

const SECRET = 'nfv-test-secret-1';
const supMac = Uint8Array.of(0x02, 0x11, 0x22, 0x33, 0x44, 0x55);
const authMac = Uint8Array.of(0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee);
let haveFreeRadius = true;
try {
  execFileSync('sh', ['-c', 'command -v freeradius']);
} catch {
  haveFreeRadius = false;
}

describe('RADIUS client <-> FreeRADIUS 3.2', () => {
  let pki: TestPki;
  const servers: FreeRadius[] = [];
  let fr12: FreeRadius;
  let fr13: FreeRadius;

  beforeAll(async () => {
    // A missing real peer is a failure, never a skip.
    if (!haveFreeRadius) throw new Error('FreeRADIUS 3.2 (apt freeradius) is required; run scripts/setup.sh');
    pki = makeTestPki();
    fr12 = await startFreeRadius({ pki, secret: SECRET, tlsMaxVersion: '1.2' });
    servers.push(fr12);
    fr13 = await startFreeRadius({ pki, secret: SECRET, tlsMaxVersion: '1.3' });
    servers.push(fr13);
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  function logs(): { logger: EapLogger; lines: string[] } {
    const lines: string[] = [];
    return { lines, logger: (l, m, f) => lines.push(`${l} ${m} ${JSON.stringify(f ?? {})}`) };
  }

  for (const v of ['1.2', '1.3'] as const) {
    it(`EAP-TLS ${v} succeeds; MSK and Session-Id equal on both sides`, async () => {
      const fr = v === '1.2' ? fr12 : fr13;
      const backend = new RadiusBackend({ servers: [{ host: '127.0.0.1', port: fr.port, secret: SECRET }], timeoutMs: 3000 });
      const peer = new EapTlsPeer({
        identity: 'client1.vnf.example',
        ca: pki.ca.cert,
        cert: pki.client.cert,
        key: pki.client.key,
        serverName: 'radius.nfv.example',
      });
      try {
        const r = await runDirect(backend.createSession({ supplicantMac: supMac, authenticatorMac: authMac }), peer, 'client1.vnf.example');
        if (r.server.kind !== 'success')
          console.log(
            fr
              .output()
              .split('\n')
              .filter((l) => !/MPPE|Key|key/.test(l))
              .slice(-60)
              .join('\n'),
          );
        expect(r.server.kind).toBe('success');
        expect(r.peer.kind).toBe('success');
        if (r.server.kind !== 'success' || r.peer.kind !== 'success') return;
        expect(r.peer.tlsVersion).toBe(`TLSv${v}`);
        expect(r.server.keys.msk.length).toBe(64);
        expect(Buffer.from(r.server.keys.msk).equals(Buffer.from(r.peer.keys.msk))).toBe(true);
        expect(r.server.keys.sessionId.length).toBe(65);
        expect(Buffer.from(r.server.keys.sessionId).equals(Buffer.from(r.peer.keys.sessionId))).toBe(true);
      } finally {
        await backend.close();
      }
    });
  }

  it('fails over from a dead server to FreeRADIUS', async () => {
    const dead = await freeUdpPort();
    const log = logs();
    const backend = new RadiusBackend({
      servers: [
        { host: '127.0.0.1', port: dead, secret: SECRET },
        { host: '127.0.0.1', port: fr12.port, secret: SECRET },
      ],
      timeoutMs: 300,
      attempts: 2,
      logger: log.logger,
    });
    const peer = new EapTlsPeer({ identity: 'client1.vnf.example', ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key });
    try {
      const r = await runDirect(backend.createSession({ supplicantMac: supMac, authenticatorMac: authMac }), peer, 'client1.vnf.example');
      expect(r.server.kind).toBe('success');
      expect(log.lines.some((l) => l.includes('failing over'))).toBe(true);
    } finally {
      await backend.close();
    }
  });

  it('wrong shared secret: failure with a clear, logged error and no secret in the logs', async () => {
    const log = logs();
    const backend = new RadiusBackend({
      servers: [{ host: '127.0.0.1', port: fr12.port, secret: 'not-the-secret' }],
      timeoutMs: 500,
      attempts: 2,
      logger: log.logger,
    });
    const peer = new EapTlsPeer({ identity: 'client1.vnf.example', ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key });
    try {
      const r = await runDirect(backend.createSession({ supplicantMac: supMac, authenticatorMac: authMac }), peer, 'client1.vnf.example');
      expect(r.server.kind).toBe('failure');
      if (r.server.kind === 'failure') expect(r.server.reason).toMatch(/shared secret/);
      expect(log.lines.some((l) => l.startsWith('error') && /shared secret/.test(l))).toBe(true);
      expect(log.lines.join('\n')).not.toContain('not-the-secret');
      // FreeRADIUS saw the bad Message-Authenticator.
      expect(/Message-Authenticator/.test(fr12.output())).toBe(true);
    } finally {
      await backend.close();
    }
  });

  it('client certificate from another CA: Access-Reject, failure on both sides', async () => {
    const backend = new RadiusBackend({ servers: [{ host: '127.0.0.1', port: fr12.port, secret: SECRET }], timeoutMs: 3000 });
    const peer = new EapTlsPeer({ identity: 'client1.vnf.example', ca: pki.ca.cert, cert: pki.foreign.cert, key: pki.foreign.key });
    try {
      const r = await runDirect(backend.createSession({ supplicantMac: supMac, authenticatorMac: authMac }), peer, 'client1.vnf.example');
      expect(r.server.kind).toBe('failure');
      expect(r.peer.kind).toBe('failure');
    } finally {
      await backend.close();
    }
  });

  it('our supplicant <-> our authenticator <-> FreeRADIUS: same CAK/CKN on both ends', async () => {
    const backend = new RadiusBackend({ servers: [{ host: '127.0.0.1', port: fr13.port, secret: SECRET }], timeoutMs: 3000 });
    let auth!: AuthenticatorPort;
    let supp!: SupplicantPort;
    auth = new AuthenticatorPort({ portMac: authMac, backend, send: (f) => setImmediate(() => supp.receive(f)), portName: 'veth-test' });
    supp = new SupplicantPort({
      ownMac: supMac,
      identity: 'client1.vnf.example',
      send: (f) => setImmediate(() => auth.receive(f)),
      method: () => new EapTlsPeer({ identity: 'client1.vnf.example', ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key }),
    });
    const authorized = new Promise<AuthorizedEvent>((r) => auth.once('authorized', r));
    const authenticated = new Promise<AuthenticatedEvent>((r) => supp.once('authenticated', r));
    auth.start();
    supp.start();
    try {
      const [a, s] = await Promise.all([authorized, authenticated]);
      expect(Buffer.from(a.cak).equals(Buffer.from(s.cak))).toBe(true);
      expect(Buffer.from(a.ckn).equals(Buffer.from(s.ckn))).toBe(true);
      expect(a.sessionId.length).toBe(65);
    } finally {
      auth.stop();
      supp.stop();
      await backend.close();
    }
  });
});
