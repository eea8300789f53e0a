/** The X.509 builder: certificates that openssl and node accept, identities parsed strictly. */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { createCa, issue } from '../../src/pki/pki.js';
import { buildCertificate, publicOf, toPem } from '../../src/pki/x509.js';
import { principalOfCert } from '../../src/pki/identity.js';

const haveOpenssl = (() => {
  try {
    execFileSync('openssl', ['version']);
    return true;
  } catch {
    return false;
  }
})();

describe('PKI helper', () => {
  it('issues certificates openssl verifies for their purpose, and not across CAs', () => {
    if (!haveOpenssl) throw new Error('openssl is required (apt openssl); run scripts/setup.sh');
    const dir = mkdtempSync(join(tmpdir(), 'macsec-x509-'));
    try {
      const ca = createCa();
      const other = createCa({ commonName: 'other' });
      writeFileSync(join(dir, 'ca.pem'), ca.certPem);
      writeFileSync(join(dir, 'other.pem'), other.certPem);
      writeFileSync(join(dir, 'mgr.pem'), issue(ca, { kind: 'manager', name: 'mgr' }).certPem);
      writeFileSync(join(dir, 'alice.pem'), issue(ca, { kind: 'admin', name: 'alice' }).certPem);
      const verify = (caf: string, cert: string, purpose: string) => {
        try {
          execFileSync('openssl', ['verify', '-purpose', purpose, '-CAfile', join(dir, caf), join(dir, cert)], { stdio: 'pipe' });
          return true;
        } catch {
          return false;
        }
      };
      expect(verify('ca.pem', 'mgr.pem', 'sslserver')).toBe(true);
      expect(verify('ca.pem', 'alice.pem', 'sslclient')).toBe(true);
      expect(verify('ca.pem', 'alice.pem', 'sslserver')).toBe(false); // operator certs cannot serve
      expect(verify('other.pem', 'mgr.pem', 'sslserver')).toBe(false);
      const text = execFileSync('openssl', ['x509', '-in', join(dir, 'mgr.pem'), '-noout', '-text'], { encoding: 'utf8' });
      expect(text).toMatch(/CA:FALSE/);
      expect(text).toMatch(/URI:urn:macsec:manager:mgr/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('sets validity as asked (expired certificates for tests)', () => {
    const ca = createCa();
    const notAfter = new Date(Date.now() - 86_400_000);
    const c = new X509Certificate(issue(ca, { kind: 'agent', name: 'a1', notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter }).certPem);
    expect(new Date(c.validTo).getTime()).toBe(Math.floor(notAfter.getTime() / 1000) * 1000);
    expect(c.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    // Dates after 2049 use GeneralizedTime.
    const far = new X509Certificate(issue(ca, { kind: 'agent', name: 'a2', notAfter: new Date('2060-01-01T00:00:00Z') }).certPem);
    expect(new Date(far.validTo).getUTCFullYear()).toBe(2060);
  });

  it('accepts exactly one well-formed urn:macsec identity', () => {
    const ca = createCa();
    const make = (uris: string[]) => {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const der = buildCertificate(
        { subject: { cn: 'x' }, publicKey: publicOf(privateKey), notBefore: new Date(), notAfter: new Date(Date.now() + 86_400_000), clientAuth: true, uris },
        { name: ca.name, key: ca.key, publicKey: publicOf(ca.key) },
      );
      return new X509Certificate(toPem('CERTIFICATE', der)).raw;
    };
    expect(principalOfCert(make(['urn:macsec:agent:a1']))).toEqual({ kind: 'agent', id: 'a1' });
    expect(principalOfCert(make(['urn:macsec:operator:admin:root']))).toEqual({ kind: 'operator', role: 'admin', name: 'root' });
    expect(principalOfCert(make([]))).toBeNull();
    expect(principalOfCert(make(['urn:macsec:agent:a1', 'urn:macsec:agent:a2']))).toBeNull();
    expect(principalOfCert(make(['urn:macsec:operator:superuser:x']))).toBeNull();
    expect(principalOfCert(make(['urn:macsec:agent:a b']))).toBeNull();
    expect(principalOfCert(make(['urn:macsec:agent:a1, URI:urn:macsec:operator:admin:x']))).toBeNull();
  });
});
