/** mTLS credentials for the manager, agents and operator clients. */
import { credentials, ServerCredentials, type ChannelCredentials } from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import { checkServerIdentity as tlsCheckServerIdentity, type PeerCertificate } from 'node:tls';
import { readFileSync } from 'node:fs';
import { principalOfCert, type Principal } from '../pki/identity.js';

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}
export interface TlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export function loadTls(files: TlsFiles): TlsMaterial {
  return { ca: readFileSync(files.ca), cert: readFileSync(files.cert), key: readFileSync(files.key) };
}

/**
 * Server credentials that require a client certificate signed by the deployment CA. TLS itself
 * refuses missing, foreign-CA and expired certificates during the handshake (no HTTP/2 session,
 * so no handler ever runs); role/identity checks happen per call in authz.ts.
 */
export function serverCredentials(m: TlsMaterial): ServerCredentials {
  return ServerCredentials.createSsl(m.ca, [{ private_key: m.key, cert_chain: m.cert }], true);
}

/**
 * Client credentials. The server certificate must chain to the CA, match the host name, and
 * carry the expected principal kind (so a leaked agent certificate cannot impersonate the manager).
 */
export function clientCredentials(m: TlsMaterial, expect: Principal['kind'] = 'manager'): ChannelCredentials {
  return credentials.createSsl(m.ca, m.key, m.cert, {
    checkServerIdentity: (host: string, cert: PeerCertificate) => {
      const err = tlsCheckServerIdentity(host, cert);
      if (err) return err;
      const p = cert.raw ? principalOfCert(cert.raw) : null;
      if (!p || p.kind !== expect) return new Error(`server certificate is not a ${expect} certificate`);
      return undefined;
    },
  });
}

export function certPrincipal(pem: Buffer | string): Principal | null {
  return principalOfCert(new X509Certificate(pem).raw);
}
