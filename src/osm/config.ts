/**
 * What the `config` primitive sets: where the manager is and the operator credentials to reach
 * it. The manager's address and trust anchor come from the deployment (chart values / mounted
 * files) or are set once by an authenticated LCM; they are never replaced (primitives.ts). Credentials are given inline (PEM) or as file paths (e.g. a mounted Kubernetes secret, so a
 * rotated certificate is picked up on the next call). The configuration is kept in memory and, when
 * a state directory is set, in <stateDir>/config.json (mode 0600) so a restarted EE pod keeps
 * working without LCM re-running day-1.
 */
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { principalLabel, principalOfCert } from '../pki/identity.js';
import { clip } from './params.js';
import type { ManagerConnection } from '../control/client.js';

export type PemSource = { pem: string } | { path: string };

export interface EeConfig {
  managerAddress: string;
  serverName?: string;
  ca: PemSource;
  cert: PemSource;
  key: PemSource;
  /** Default VNF id for endpoints that do not name one. */
  vnfId?: string;
  /** Default agent for endpoints that do not name one. */
  agentId?: string;
  configuredAtMs: number;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export function readPem(src: PemSource, what: string): string {
  if ('pem' in src) return src.pem;
  try {
    return readFileSync(src.path, 'utf8');
  } catch (e) {
    throw new ConfigError(`${what}: cannot read ${clip(src.path)}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** Accepts PEM text whose newlines were escaped on the way ("-----BEGIN...\\n..."). */
export function normalisePem(s: string): string {
  let t = s.trim();
  if (!t.includes('\n') && t.includes('\\n')) t = t.replace(/\\n/g, '\n');
  return t + '\n';
}

export interface ValidatedCredentials {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  /** The operator identity in the client certificate, e.g. "operator:orchestrator:osm". */
  identity: string;
  notAfter: string;
}

/**
 * Loads and checks the credentials: PEM parses, key matches certificate, certificate chains to the
 * CA, is currently valid, and carries an orchestrator (or read-only) operator identity. An admin
 * certificate is refused: the manager lets it change every channel and port of the fabric, while
 * an orchestrator may change only what it created, which is all an EE needs.
 */
export function validateCredentials(cfg: Pick<EeConfig, 'ca' | 'cert' | 'key'>, now = new Date()): ValidatedCredentials {
  const caPem = readPem(cfg.ca, 'ca_cert');
  const certPem = readPem(cfg.cert, 'client_cert');
  const keyPem = readPem(cfg.key, 'client_key');
  let ca: X509Certificate;
  let cert: X509Certificate;
  try {
    ca = new X509Certificate(caPem);
  } catch (e) {
    throw new ConfigError(`ca_cert is not a PEM certificate (${(e as Error).message})`);
  }
  try {
    cert = new X509Certificate(certPem);
  } catch (e) {
    throw new ConfigError(`client_cert is not a PEM certificate (${(e as Error).message})`);
  }
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (e) {
    throw new ConfigError(`client_key is not a PEM private key (${(e as Error).message})`);
  }
  if (!cert.checkPrivateKey(key)) throw new ConfigError('client_key does not match client_cert');
  if (!cert.verify(ca.publicKey)) throw new ConfigError('client_cert is not signed by ca_cert');
  if (new Date(cert.validTo) < now) throw new ConfigError(`client_cert expired on ${cert.validTo}`);
  if (new Date(cert.validFrom) > now) throw new ConfigError(`client_cert is not valid before ${cert.validFrom}`);
  const p = principalOfCert(cert.raw);
  if (p?.kind !== 'operator') {
    throw new ConfigError(`client_cert must carry an orchestrator identity (urn:macsec:operator:orchestrator:<name>), got ${p ? principalLabel(p) : 'none'}`);
  }
  if (p.role === 'admin') {
    throw new ConfigError(
      `client_cert is a fabric administrator certificate (${principalLabel(p)}), which may change every channel and port; ` +
        'give this execution environment an orchestrator certificate (urn:macsec:operator:orchestrator:<name>, `macsecctl pki issue orchestrator <name>`)',
    );
  }
  return { ca: Buffer.from(caPem), cert: Buffer.from(certPem), key: Buffer.from(keyPem), identity: principalLabel(p), notAfter: cert.validTo };
}

export function connectionOf(cfg: EeConfig): ManagerConnection & { identity: string } {
  const v = validateCredentials(cfg);
  const c: ManagerConnection & { identity: string } = { address: cfg.managerAddress, ca: v.ca, cert: v.cert, key: v.key, identity: v.identity };
  if (cfg.serverName) c.serverName = cfg.serverName;
  return c;
}

/** SHA-256 of the DER of the (first) certificate in a PEM source; undefined if unreadable. */
export function certDigest(src: PemSource): string | undefined {
  try {
    const pem = 'pem' in src ? src.pem : readFileSync(src.path, 'utf8');
    return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
  } catch {
    return undefined;
  }
}

/** Same certificate: the same file, or certificates with the same DER. */
export function sameCert(a: PemSource, b: PemSource): boolean {
  if ('path' in a && 'path' in b && a.path === b.path) return true;
  const da = certDigest(a);
  return da !== undefined && da === certDigest(b);
}

/** The operator identity of a certificate source (e.g. "operator:orchestrator:osm"), if readable. */
export function identityOf(src: PemSource): string | undefined {
  try {
    const pem = 'pem' in src ? src.pem : readFileSync(src.path, 'utf8');
    const p = principalOfCert(new X509Certificate(pem).raw);
    return p ? principalLabel(p) : undefined;
  } catch {
    return undefined;
  }
}

/** A fingerprint of everything but the timestamp: same config twice = nothing to do. */
export function configFingerprint(cfg: EeConfig): string {
  const { configuredAtMs: _t, ...rest } = cfg;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex').slice(0, 16);
}

export class ConfigStore {
  private current: EeConfig | undefined;

  constructor(private readonly stateDir?: string) {
    if (stateDir) {
      const f = join(stateDir, 'config.json');
      if (existsSync(f)) {
        try {
          this.current = JSON.parse(readFileSync(f, 'utf8')) as EeConfig;
        } catch {
          this.current = undefined;
        }
      }
    }
  }

  get(): EeConfig | undefined {
    return this.current;
  }

  clear(): void {
    this.current = undefined;
    if (this.stateDir) rmSync(join(this.stateDir, 'config.json'), { force: true });
  }

  set(cfg: EeConfig): void {
    this.current = cfg;
    if (this.stateDir) {
      mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
      const f = join(this.stateDir, 'config.json');
      writeFileSync(f + '.tmp', JSON.stringify(cfg), { mode: 0o600 });
      renameSync(f + '.tmp', f);
    }
  }
}
