import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { requireAgent, requireOperator } from '../../src/control/authz.js';
import { principalOfCert } from '../../src/pki/identity.js';
import { createCa, issue } from '../../src/pki/pki.js';

const dir = mkdtempSync(join(tmpdir(), 'pki-kinds-'));
const ca = createCa({ commonName: '802.1X CA' });
writeFileSync(join(dir, 'ca.crt'), ca.certPem);

function derOf(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
}
/** openssl, an independent verifier, checks chain and purpose. */
function opensslVerify(pem: string, purpose: string): string {
  const f = join(dir, `${purpose}-${Math.random()}.crt`);
  writeFileSync(f, pem);
  return execFileSync('openssl', ['verify', '-CAfile', join(dir, 'ca.crt'), '-purpose', purpose, f], { encoding: 'utf8' });
}
const asCall = (pem: string) => ({ getAuthContext: () => ({ sslPeerCertificate: { raw: derOf(pem) } }) });

describe('802.1X certificate kinds', () => {
  it('vnf: a TLS client certificate with CN and urn:macsec:vnf identity', () => {
    const vnf = issue(ca, { kind: 'vnf', name: 'vnf1' });
    expect(principalOfCert(derOf(vnf.certPem))).toEqual({ kind: 'vnf', id: 'vnf1' });
    expect(opensslVerify(vnf.certPem, 'sslclient')).toMatch(/OK/);
    expect(() => opensslVerify(vnf.certPem, 'sslserver')).toThrow();
  });

  it('eap-server: a TLS server certificate, not a client one', () => {
    const s = issue(ca, { kind: 'eap-server', name: 'node-1' });
    expect(principalOfCert(derOf(s.certPem))).toEqual({ kind: 'eap-server', name: 'node-1' });
    expect(opensslVerify(s.certPem, 'sslserver')).toMatch(/OK/);
    expect(() => opensslVerify(s.certPem, 'sslclient')).toThrow();
  });

  it('the control plane refuses both kinds', () => {
    for (const kind of ['vnf', 'eap-server'] as const) {
      const c = issue(ca, { kind, name: 'x1' });
      expect(() => requireOperator(asCall(c.certPem), 'read', 'ListAgents')).toThrow(/may not call the operator API/);
      expect(() => requireAgent(asCall(c.certPem))).toThrow(/is not an agent/);
    }
  });
});
