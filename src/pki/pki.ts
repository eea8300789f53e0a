/**
 * The PKI helper: a deployment CA that issues manager, agent and operator (admin / read-only)
 * certificates. Files are PEM; private keys are written with mode 0600.
 */
import { generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildCertificate, loadPrivateKey, publicOf, toPem, type DistinguishedName } from './x509.js';
import { NAME_RE } from '../common/names.js';
import { principalUri, type OperatorRole, type Principal } from './identity.js';

export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

export interface CaHandle extends KeyPairPem {
  name: DistinguishedName;
  key: KeyObject;
}

const DAY = 86_400_000;

function newKey(): { priv: KeyObject; pub: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { priv: privateKey, pub: publicKey };
}

export function createCa(opts: { commonName?: string; days?: number; notBefore?: Date; notAfter?: Date } = {}): CaHandle {
  const { priv, pub } = newKey();
  const name = { cn: opts.commonName ?? 'macsec deployment CA', o: 'macsec' };
  const notBefore = opts.notBefore ?? new Date(Date.now() - 60_000);
  const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + (opts.days ?? 3650) * DAY);
  const der = buildCertificate({ subject: name, publicKey: pub, notBefore, notAfter, ca: true, pathLen: 0 }, 'self', priv);
  return { name, key: priv, certPem: toPem('CERTIFICATE', der), keyPem: priv.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

export function loadCa(certPem: string, keyPem: string): CaHandle {
  const cert = new X509Certificate(certPem);
  if (!cert.ca) throw new Error('not a CA certificate');
  const key = loadPrivateKey(keyPem);
  if (!cert.checkPrivateKey(key)) throw new Error('CA key does not match CA certificate');
  const field = (k: string) => new RegExp(`^${k}=(.*)$`, 'm').exec(cert.subject)?.[1];
  const name: DistinguishedName = { cn: field('CN') ?? 'macsec deployment CA' };
  const o = field('O');
  if (o) name.o = o;
  const ou = field('OU');
  if (ou) name.ou = ou;
  return { name, key, certPem, keyPem };
}

/** Control-plane kinds (manager, agent, admin, read-only, orchestrator) and 802.1X kinds (vnf, eap-server). */
export type IssueKind = 'manager' | 'agent' | 'admin' | 'read-only' | 'orchestrator' | 'vnf' | 'eap-server';

export interface IssueOptions {
  kind: IssueKind;
  /** Agent id, operator name, or manager name. */
  name: string;
  days?: number;
  notBefore?: Date;
  notAfter?: Date;
  /** Manager (server) certificates: DNS names and IPs; defaults to localhost and 127.0.0.1/::1. */
  dnsNames?: string[];
  ipAddresses?: string[];
}

export function principalFor(kind: IssueKind, name: string): Principal {
  if (kind === 'manager') return { kind: 'manager', name };
  if (kind === 'agent') return { kind: 'agent', id: name };
  if (kind === 'vnf') return { kind: 'vnf', id: name };
  if (kind === 'eap-server') return { kind: 'eap-server', name };
  return { kind: 'operator', role: kind as OperatorRole, name };
}

export function issue(ca: CaHandle, opts: IssueOptions): KeyPairPem {
  if (!NAME_RE.test(opts.name)) throw new RangeError(`name '${opts.name}' must match ${NAME_RE}`);
  const { priv, pub } = newKey();
  const notBefore = opts.notBefore ?? new Date(Date.now() - 60_000);
  const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + (opts.days ?? 825) * DAY);
  const server = opts.kind === 'manager' || opts.kind === 'agent' || opts.kind === 'eap-server';
  const der = buildCertificate(
    {
      subject: { cn: opts.name, o: 'macsec', ou: opts.kind },
      publicKey: pub,
      notBefore,
      notAfter,
      // Managers serve; agents dial the manager and also serve their local health/reflection endpoint.
      serverAuth: server,
      clientAuth: opts.kind !== 'eap-server',
      uris: [principalUri(principalFor(opts.kind, opts.name))],
      dnsNames: server ? (opts.dnsNames ?? ['localhost', opts.name]) : opts.dnsNames,
      ipAddresses: server ? (opts.ipAddresses ?? ['127.0.0.1', '::1']) : opts.ipAddresses,
    },
    { name: ca.name, key: ca.key, publicKey: publicOf(ca.key) },
  );
  return { certPem: toPem('CERTIFICATE', der), keyPem: priv.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/**
 * Writes `file` as a new file with `mode`, whatever was there: an existing file (or symlink) is
 * removed first and the new one created exclusively, so it never inherits an old file's mode or
 * owner, and chmod'ed afterwards so the umask cannot loosen or tighten it.
 */
function writeFresh(file: string, data: string, mode: number): void {
  rmSync(file, { force: true });
  writeFileSync(file, data, { mode, flag: 'wx' });
  chmodSync(file, mode);
}

/**
 * File layout of a PKI directory: ca.crt, ca.key, <name>.crt, <name>.key. Keys are mode 0600,
 * certificates 0644. An existing key or certificate is replaced only with `force`.
 */
export function writePair(dir: string, base: string, pair: KeyPairPem, opts: { force?: boolean } = {}): { cert: string; key: string } {
  mkdirSync(dir, { recursive: true });
  const cert = join(dir, `${base}.crt`);
  const key = join(dir, `${base}.key`);
  if (!opts.force) {
    for (const f of [key, cert]) if (existsSync(f)) throw new Error(`${f} exists (use --force to replace it)`);
  }
  writeFresh(key, pair.keyPem, 0o600);
  writeFresh(cert, pair.certPem, 0o644);
  return { cert, key };
}

export function initCaDir(dir: string, opts: { commonName?: string; days?: number; force?: boolean } = {}): CaHandle {
  if (existsSync(join(dir, 'ca.key')) && !opts.force) throw new Error(`${dir}/ca.key exists (use --force to replace it)`);
  const ca = createCa(opts);
  writePair(dir, 'ca', ca, { force: opts.force });
  return ca;
}

export function loadCaDir(dir: string): CaHandle {
  return loadCa(readFileSync(join(dir, 'ca.crt'), 'utf8'), readFileSync(join(dir, 'ca.key'), 'utf8'));
}

export interface CertInfo {
  subject: string;
  issuer: string;
  validFrom: string;
  validTo: string;
  subjectAltName: string;
  serial: string;
  fingerprint256: string;
}

export function describeCert(pem: string): CertInfo {
  const c = new X509Certificate(pem);
  return {
    subject: c.subject.replace(/\n/g, ', '),
    issuer: c.issuer.replace(/\n/g, ', '),
    validFrom: c.validFrom,
    validTo: c.validTo,
    subjectAltName: c.subjectAltName ?? '',
    serial: c.serialNumber,
    fingerprint256: c.fingerprint256,
  };
}
