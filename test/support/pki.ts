/**
 * Test PKI built with the openssl CLI (test code only): ECDSA P-256 CA, server and client
 * certificates, plus an expired client certificate and one from another CA.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CertKey {
  readonly certPath: string;
  readonly keyPath: string;
  readonly cert: string;
  readonly key: string;
}

export interface TestPki {
  readonly dir: string;
  readonly ca: CertKey;
  readonly otherCa: CertKey;
  readonly server: CertKey;
  /** CN=client1.vnf.example, SAN DNS:client1.vnf.example, email:client1@vnf.example */
  readonly client: CertKey;
  /** Valid chain, CN=rogue.other.example (fails an identity policy for *.vnf.example). */
  readonly wrongName: CertKey;
  /** Issued by the right CA but expired. */
  readonly expired: CertKey;
  /** Issued by another CA. */
  readonly foreign: CertKey;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function genKey(dir: string, name: string): string {
  const p = join(dir, `${name}.key`);
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', p], dir);
  return p;
}

function load(certPath: string, keyPath: string): CertKey {
  return { certPath, keyPath, cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8') };
}

function makeCa(dir: string, name: string, cn: string): CertKey {
  const key = genKey(dir, name);
  const cert = join(dir, `${name}.pem`);
  openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      key,
      '-subj',
      `/O=NFV MACsec Test/CN=${cn}`,
      '-days',
      '30',
      '-out',
      cert,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  return load(cert, key);
}

function issue(dir: string, ca: CertKey, name: string, cn: string, ext: string, days = 30): CertKey {
  const key = genKey(dir, name);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.pem`);
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, ext);
  openssl(['req', '-new', '-key', key, '-subj', `/O=NFV MACsec Test/CN=${cn}`, '-out', csr], dir);
  openssl(
    ['x509', '-req', '-in', csr, '-CA', ca.certPath, '-CAkey', ca.keyPath, '-CAcreateserial', '-days', String(days), '-extfile', extFile, '-out', cert],
    dir,
  );
  return load(cert, key);
}

const CLIENT_EXT = (cn: string) =>
  `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectAltName=DNS:${cn},email:${cn.split('.')[0]}@vnf.example\n`;

export function makeTestPki(dir: string = mkdtempSync(join(tmpdir(), 'eap-pki-'))): TestPki {
  const ca = makeCa(dir, 'ca', 'NFV Test Root CA');
  const otherCa = makeCa(dir, 'other-ca', 'Other Root CA');
  const server = issue(
    dir,
    ca,
    'server',
    'radius.nfv.example',
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:radius.nfv.example\n',
  );
  const client = issue(dir, ca, 'client', 'client1.vnf.example', CLIENT_EXT('client1.vnf.example'));
  const wrongName = issue(dir, ca, 'rogue', 'rogue.other.example', CLIENT_EXT('rogue.other.example'));
  // notAfter one day before notBefore(=now): verification reports "certificate has expired".
  const expired = issue(dir, ca, 'expired', 'expired.vnf.example', CLIENT_EXT('expired.vnf.example'), -1);
  const foreign = issue(dir, otherCa, 'foreign', 'client1.vnf.example', CLIENT_EXT('client1.vnf.example'));
  return { dir, ca, otherCa, server, client, wrongName, expired, foreign };
}
