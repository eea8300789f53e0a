/**
 * The `eap:` section of an agent port in mode `eap-authenticator` or `eap-supplicant`
 * (see config.ts for the rest of the port). Every problem is reported with the path
 * of the field, e.g. `ports[0].eap.caFile: cannot read /etc/x.pem (ENOENT)`.
 *
 * PEM files are read at validation time (relative paths: relative to the configuration file).
 * Secrets (private keys, RADIUS shared secrets) are never part of an error message.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { type Bad, FieldChecker, isObj, type Raw } from '../../common/field-checker.js';

export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

export interface PemFile {
  path: string;
  pem: string;
}

export interface IdentityPolicySettings {
  subjectCn: string[];
  san: string[];
  matchEapIdentity: boolean;
}

export interface RadiusSettings {
  servers: { host: string; port: number; secret: string }[];
  timeoutMs: number;
  attempts: number;
  nasIdentifier: string;
  requireKeyName: boolean;
}

export interface EapAuthenticatorSettings {
  /** RADIUS relay when set, else the embedded EAP-TLS server. */
  radius?: RadiusSettings;
  /** Embedded EAP-TLS server (required without radius). */
  server?: { ca: PemFile; cert: PemFile; key: PemFile; crl?: PemFile; identityPolicy?: IdentityPolicySettings };
  tlsMinVersion: TlsVersion;
  tlsMaxVersion: TlsVersion;
  fragmentSize: number;
  eapolVersion: number;
  txPeriodMs: number;
  retransTimeoutMs: number;
  maxRetrans: number;
  serverTimeoutMs: number;
  quietPeriodMs: number;
  /** 0 disables re-authentication. */
  reAuthPeriodMs: number;
}

export interface EapSupplicantSettings {
  identity: string;
  ca: PemFile;
  cert: PemFile;
  key: PemFile;
  serverName?: string;
  tlsMinVersion: TlsVersion;
  tlsMaxVersion: TlsVersion;
  fragmentSize: number;
  eapolVersion: number;
  startPeriodMs: number;
  authPeriodMs: number;
  heldPeriodMs: number;
}

const COMMON = ['tlsMinVersion', 'tlsMaxVersion', 'fragmentSize', 'eapolVersion', 'caFile', 'certFile', 'keyFile'];
export const AUTHENTICATOR_FIELDS = [
  ...COMMON,
  'crlFile',
  'radius',
  'identityPolicy',
  'txPeriodSeconds',
  'retransTimeoutMs',
  'maxRetrans',
  'serverTimeoutSeconds',
  'quietPeriodSeconds',
  'reauthPeriodSeconds',
];
export const SUPPLICANT_FIELDS = [...COMMON, 'identity', 'serverName', 'startPeriodSeconds', 'authPeriodSeconds', 'heldPeriodSeconds'];

/** Adds TLS version and PEM file checks to the shared field checks. */
class EapChecker extends FieldChecker {
  constructor(
    bad: Bad,
    readonly baseDir: string,
  ) {
    super(bad);
  }

  tlsVersion(v: unknown, path: string, dflt: TlsVersion): TlsVersion {
    if (v === undefined) return dflt;
    const s = typeof v === 'number' ? v.toFixed(1) : v;
    if (s === '1.2' || s === 'TLSv1.2') return 'TLSv1.2';
    if (s === '1.3' || s === 'TLSv1.3') return 'TLSv1.3';
    this.bad(path, 'must be "1.2" or "1.3"');
    return dflt;
  }

  /** A PEM file: `kind` certificate(s), a private key or a CRL. */
  pem(v: unknown, path: string, kind: 'certificate' | 'key' | 'crl', required: boolean): PemFile | undefined {
    const p = this.str(v, path, required, `the path of a PEM ${kind === 'key' ? 'private key' : kind} file`);
    if (p === undefined) return undefined;
    const full = isAbsolute(p) ? p : resolve(this.baseDir, p);
    let pem: string;
    try {
      pem = readFileSync(full, 'utf8');
    } catch (e) {
      this.bad(path, `cannot read ${full} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      return undefined;
    }
    try {
      if (kind === 'certificate') {
        if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate in it');
        new X509Certificate(pem);
      } else if (kind === 'key') {
        if (!/-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/.test(pem)) throw new Error('no PEM private key in it');
        createPrivateKey(pem);
      } else if (!pem.includes('-----BEGIN X509 CRL-----')) throw new Error('no PEM CRL in it');
    } catch (e) {
      // Never echo the file content (it may be a key).
      const msg = (e as Error).message.startsWith('no PEM') ? (e as Error).message : `not a valid PEM ${kind === 'key' ? 'private key' : kind}`;
      this.bad(path, `${full}: ${msg}`);
      return undefined;
    }
    return { path: full, pem };
  }

  patterns(v: unknown, path: string): string[] {
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x.length === 0)) {
      this.bad(path, 'must be a list of non-empty patterns (`*` is a wildcard)');
      return [];
    }
    return v as string[];
  }

  versions(raw: Raw, path: string): { tlsMinVersion: TlsVersion; tlsMaxVersion: TlsVersion } {
    const tlsMinVersion = this.tlsVersion(raw.tlsMinVersion, `${path}.tlsMinVersion`, 'TLSv1.2');
    const tlsMaxVersion = this.tlsVersion(raw.tlsMaxVersion, `${path}.tlsMaxVersion`, 'TLSv1.3');
    if (tlsMinVersion === 'TLSv1.3' && tlsMaxVersion === 'TLSv1.2') this.bad(`${path}.tlsMaxVersion`, 'must not be lower than tlsMinVersion');
    return { tlsMinVersion, tlsMaxVersion };
  }
}

function radiusSettings(c: EapChecker, v: unknown, path: string): RadiusSettings | undefined {
  if (!isObj(v)) {
    c.bad(path, 'must be a mapping with a "servers" list');
    return undefined;
  }
  c.unknownKeys(v, path, ['servers', 'timeoutMs', 'attempts', 'nasIdentifier', 'requireKeyName']);
  const servers: RadiusSettings['servers'] = [];
  if (!Array.isArray(v.servers) || v.servers.length === 0) c.bad(`${path}.servers`, 'must be a non-empty list of {host, port, secret | secretFile}');
  (Array.isArray(v.servers) ? v.servers : []).forEach((s: unknown, i: number) => {
    const sp = `${path}.servers[${i}]`;
    if (!isObj(s)) return c.bad(sp, 'must be a mapping with host, port and secret (or secretFile)');
    c.unknownKeys(s, sp, ['host', 'port', 'secret', 'secretFile']);
    const host = c.str(s.host, `${sp}.host`, true, 'an IP address or host name');
    const port = c.int(s.port, `${sp}.port`, 1, 65535, 1812);
    let secret: string | undefined;
    if (s.secret !== undefined && s.secretFile !== undefined) c.bad(`${sp}.secretFile`, 'give either secret or secretFile, not both');
    else if (s.secretFile !== undefined) {
      const f = c.str(s.secretFile, `${sp}.secretFile`, true, 'the path of a file holding the shared secret');
      if (f !== undefined) {
        const full = isAbsolute(f) ? f : resolve(c.baseDir, f);
        try {
          secret = readFileSync(full, 'utf8').replace(/\r?\n$/, '');
          if (secret.length === 0) c.bad(`${sp}.secretFile`, `${full} is empty`);
        } catch (e) {
          c.bad(`${sp}.secretFile`, `cannot read ${full} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
        }
      }
    } else if (typeof s.secret !== 'string' || s.secret.length === 0) c.bad(`${sp}.secret`, 'required (or secretFile), the non-empty RADIUS shared secret');
    else secret = s.secret;
    if (host !== undefined && secret) servers.push({ host, port, secret });
  });
  let requireKeyName = true;
  if (v.requireKeyName !== undefined) {
    if (typeof v.requireKeyName !== 'boolean') c.bad(`${path}.requireKeyName`, 'must be true or false');
    else requireKeyName = v.requireKeyName;
  }
  return {
    servers,
    timeoutMs: c.int(v.timeoutMs, `${path}.timeoutMs`, 100, 60_000, 2000),
    attempts: c.int(v.attempts, `${path}.attempts`, 1, 10, 3),
    nasIdentifier: c.str(v.nasIdentifier, `${path}.nasIdentifier`, false) ?? 'nfv-macsec',
    requireKeyName,
  };
}

function identityPolicy(c: EapChecker, v: unknown, path: string): IdentityPolicySettings | undefined {
  if (v === undefined) return undefined;
  if (!isObj(v)) {
    c.bad(path, 'must be a mapping with subjectCn, san and/or matchEapIdentity');
    return undefined;
  }
  c.unknownKeys(v, path, ['subjectCn', 'san', 'matchEapIdentity']);
  let matchEapIdentity = false;
  if (v.matchEapIdentity !== undefined) {
    if (typeof v.matchEapIdentity !== 'boolean') c.bad(`${path}.matchEapIdentity`, 'must be true or false');
    else matchEapIdentity = v.matchEapIdentity;
  }
  return { subjectCn: c.patterns(v.subjectCn, `${path}.subjectCn`), san: c.patterns(v.san, `${path}.san`), matchEapIdentity };
}

const S = 1000;

export function validateEapAuthenticator(raw: unknown, path: string, bad: Bad, baseDir: string): EapAuthenticatorSettings {
  const c = new EapChecker(bad, baseDir);
  const r: Raw = isObj(raw) ? raw : {};
  if (!isObj(raw)) bad(path, 'required for mode eap-authenticator: a mapping with radius servers, or caFile/certFile/keyFile for the embedded EAP-TLS server');
  c.unknownKeys(r, path, AUTHENTICATOR_FIELDS, (k) => (SUPPLICANT_FIELDS.includes(k) ? 'only for mode eap-supplicant' : undefined));
  const radius = r.radius !== undefined ? radiusSettings(c, r.radius, `${path}.radius`) : undefined;
  let server: EapAuthenticatorSettings['server'];
  if (radius) {
    for (const k of ['caFile', 'certFile', 'keyFile', 'crlFile', 'identityPolicy'] as const) {
      if (r[k] !== undefined) bad(`${path}.${k}`, 'applies to the embedded EAP-TLS server only; with radius, configure it in the RADIUS server');
    }
  } else if (isObj(raw)) {
    const ca = c.pem(r.caFile, `${path}.caFile`, 'certificate', true);
    const cert = c.pem(r.certFile, `${path}.certFile`, 'certificate', true);
    const key = c.pem(r.keyFile, `${path}.keyFile`, 'key', true);
    const crl = c.pem(r.crlFile, `${path}.crlFile`, 'crl', false);
    const policy = identityPolicy(c, r.identityPolicy, `${path}.identityPolicy`);
    if (ca && cert && key) server = { ca, cert, key, ...(crl ? { crl } : {}), ...(policy ? { identityPolicy: policy } : {}) };
  }
  return {
    ...(radius ? { radius } : {}),
    ...(server ? { server } : {}),
    ...c.versions(r, path),
    fragmentSize: c.int(r.fragmentSize, `${path}.fragmentSize`, 64, 65000, 1020),
    eapolVersion: c.int(r.eapolVersion, `${path}.eapolVersion`, 1, 3, 3),
    txPeriodMs: c.int(r.txPeriodSeconds, `${path}.txPeriodSeconds`, 1, 3600, 30) * S,
    retransTimeoutMs: c.int(r.retransTimeoutMs, `${path}.retransTimeoutMs`, 100, 60_000, 3000),
    maxRetrans: c.int(r.maxRetrans, `${path}.maxRetrans`, 0, 20, 4),
    serverTimeoutMs: c.int(r.serverTimeoutSeconds, `${path}.serverTimeoutSeconds`, 1, 600, 30) * S,
    quietPeriodMs: c.int(r.quietPeriodSeconds, `${path}.quietPeriodSeconds`, 0, 3600, 60) * S,
    reAuthPeriodMs: c.int(r.reauthPeriodSeconds, `${path}.reauthPeriodSeconds`, 0, 7 * 86400, 3600) * S,
  };
}

export function validateEapSupplicant(raw: unknown, path: string, bad: Bad, baseDir: string): EapSupplicantSettings | undefined {
  const c = new EapChecker(bad, baseDir);
  if (!isObj(raw)) {
    bad(path, 'required for mode eap-supplicant: a mapping with identity, caFile, certFile and keyFile');
    return undefined;
  }
  c.unknownKeys(raw, path, SUPPLICANT_FIELDS, (k) => (AUTHENTICATOR_FIELDS.includes(k) ? 'only for mode eap-authenticator' : undefined));
  const identity = c.str(raw.identity, `${path}.identity`, true, 'the EAP identity (e.g. the certificate CN)');
  const ca = c.pem(raw.caFile, `${path}.caFile`, 'certificate', true);
  const cert = c.pem(raw.certFile, `${path}.certFile`, 'certificate', true);
  const key = c.pem(raw.keyFile, `${path}.keyFile`, 'key', true);
  const serverName = c.str(raw.serverName, `${path}.serverName`, false, 'a host name');
  const rest = {
    ...c.versions(raw, path),
    fragmentSize: c.int(raw.fragmentSize, `${path}.fragmentSize`, 64, 65000, 1020),
    eapolVersion: c.int(raw.eapolVersion, `${path}.eapolVersion`, 1, 3, 3),
    startPeriodMs: c.int(raw.startPeriodSeconds, `${path}.startPeriodSeconds`, 1, 3600, 30) * S,
    authPeriodMs: c.int(raw.authPeriodSeconds, `${path}.authPeriodSeconds`, 1, 3600, 30) * S,
    heldPeriodMs: c.int(raw.heldPeriodSeconds, `${path}.heldPeriodSeconds`, 0, 3600, 60) * S,
  };
  if (identity === undefined || !ca || !cert || !key) return undefined;
  return { identity, ca, cert, key, ...(serverName ? { serverName } : {}), ...rest };
}
