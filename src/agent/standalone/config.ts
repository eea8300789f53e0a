/**
 * Configuration of the standalone PSK agent (`macsec-agent --config file.yaml`).
 * YAML or JSON. Every problem is reported with the path of the field, e.g.
 * `ports[1].cak: must be 32 or 64 hex digits`, and all problems are reported at once.
 */
import { ConfigError } from '../../common/errors.js';
import { IFNAME_RE, IFNAME_RULE } from '../../common/names.js';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CIPHER_SUITES, type CipherSuiteName, PAE_GROUP_ADDRESS } from '../../mka/constants.js';
import { unsupportedConfidentialityOffset } from '../../mka/secy.js';
import { fromHex } from '../../common/hex.js';
import { FieldChecker, isObj, type Raw } from '../../common/field-checker.js';
import { type EapAuthenticatorSettings, type EapSupplicantSettings, validateEapAuthenticator, validateEapSupplicant } from './eap-config.js';

export interface PskPortConfig {
  /** Pre-shared CAK (the default mode). */
  mode?: 'psk';
  name: string;
  interface: string;
  /** Name of the macsec interface to create on top of `interface`. */
  macsecName: string;
  cak: Uint8Array;
  ckn: Uint8Array;
  fallback?: { cak: Uint8Array; ckn: Uint8Array };
  cipherSuite: CipherSuiteName;
  priority: number;
  /** false: never key server (`keyServer: never`). */
  canBeKeyServer: boolean;
  policy: 'must-secure' | 'should-secure';
  /** 0 = strict ordering; >0 = replay window in packets; null = replay protection off. */
  replayWindow: number | null;
  /** Octets left in clear (0; the Linux SecY implements no other offset), or null for integrity only. */
  confidentialityOffset: 0 | 30 | 50 | null;
  rekeyPeriodMs: number;
  helloTimeMs: number;
  destination: Uint8Array;
}

/** MKA settings shared by every mode (what a PSK port has besides its CAKs). */
export type MkaPortConfig = Omit<PskPortConfig, 'mode' | 'cak' | 'ckn' | 'fallback'>;

/** A port whose CAK/CKN come from 802.1X EAP-TLS (src/port/). */
export type EapPortConfig =
  | (MkaPortConfig & { mode: 'eap-authenticator'; eap: EapAuthenticatorSettings })
  | (MkaPortConfig & { mode: 'eap-supplicant'; eap: EapSupplicantSettings });

export type AgentPortConfig = PskPortConfig | EapPortConfig;
export const PORT_MODES = ['psk', 'eap-authenticator', 'eap-supplicant'] as const;

export const isEapPort = (p: AgentPortConfig): p is EapPortConfig => p.mode === 'eap-authenticator' || p.mode === 'eap-supplicant';

export interface PskAgentConfig {
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  ports: AgentPortConfig[];
}

export { ConfigError };
const MAC = /^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/;

/** Collects every problem of a file; adds CAK/CKN parsing to the shared field checks. */
class Checker extends FieldChecker {
  readonly problems: string[];
  constructor() {
    const problems: string[] = [];
    super((path, msg) => problems.push(`${path}: ${msg}`));
    this.problems = problems;
  }
  hexKey(v: unknown, path: string, lengths: number[], desc: string): Uint8Array {
    if (typeof v !== 'string') {
      this.bad(path, `required, ${desc}`);
      return new Uint8Array(lengths[0]!);
    }
    try {
      const b = fromHex(v, path);
      if (lengths.includes(b.length)) return b;
    } catch {
      /* reported below */
    }
    this.bad(path, `must be ${desc}`);
    return new Uint8Array(lengths[0]!);
  }
}

const CKN_LENGTHS = Array.from({ length: 32 }, (_, i) => i + 1);

function cakPair(c: Checker, raw: Raw, path: string): { cak: Uint8Array; ckn: Uint8Array } {
  return {
    cak: c.hexKey(raw.cak, `${path}.cak`, [16, 32], '32 or 64 hex digits (a 128- or 256-bit CAK)'),
    ckn: c.hexKey(raw.ckn, `${path}.ckn`, CKN_LENGTHS, '2 to 64 hex digits (a 1..32-octet CKN)'),
  };
}

const PORT_FIELDS = [
  'name',
  'interface',
  'macsecName',
  'cak',
  'ckn',
  'fallback',
  'cipherSuite',
  'priority',
  'keyServer',
  'policy',
  'replayWindow',
  'confidentialityOffset',
  'rekeyPeriodSeconds',
  'helloTimeMs',
  'destination',
  'mode',
  'eap',
];

/** `baseDir`: where relative file paths (EAP PEM files) start (loadConfig: the file's directory). */
export function validateConfig(raw: unknown, opts: { baseDir?: string } = {}): PskAgentConfig {
  const c = new Checker();
  if (!isObj(raw)) throw new ConfigError(['(top level): must be a mapping with a "ports" list']);
  c.unknownKeys(raw, '(top level)', ['logLevel', 'ports']);
  const logLevel = c.oneOf(raw.logLevel, 'logLevel', ['debug', 'info', 'warn', 'error'] as const, 'info');
  const ports: AgentPortConfig[] = [];
  if (!Array.isArray(raw.ports) || raw.ports.length === 0) c.bad('ports', 'must be a non-empty list');
  const seenIf = new Set<string>();
  (Array.isArray(raw.ports) ? raw.ports : []).forEach((p: unknown, i: number) => {
    const path = `ports[${i}]`;
    if (!isObj(p)) return c.bad(path, 'must be a mapping');
    c.unknownKeys(p, path, PORT_FIELDS);
    const iface =
      typeof p.interface === 'string' && IFNAME_RE.test(p.interface)
        ? p.interface
        : (c.bad(`${path}.interface`, `required, an interface name (${IFNAME_RULE})`), 'invalid');
    if (seenIf.has(iface)) c.bad(`${path}.interface`, `${iface} is configured twice`);
    seenIf.add(iface);
    const macsecName =
      p.macsecName === undefined
        ? `ms${iface}`.slice(0, 15)
        : typeof p.macsecName === 'string' && IFNAME_RE.test(p.macsecName)
          ? p.macsecName
          : (c.bad(`${path}.macsecName`, `must be an interface name (${IFNAME_RULE})`), 'invalid');
    const mode = c.oneOf(p.mode, `${path}.mode`, PORT_MODES, 'psk');
    const eapMode = mode === 'eap-authenticator' || mode === 'eap-supplicant';
    if (eapMode)
      for (const k of ['cak', 'ckn', 'fallback'])
        if (p[k] !== undefined) c.bad(`${path}.${k}`, `only for mode psk (mode ${mode} derives the CAK/CKN from EAP)`);
    if (!eapMode && p.eap !== undefined) c.bad(`${path}.eap`, 'only for modes eap-authenticator and eap-supplicant');
    const { cak, ckn } = eapMode ? { cak: new Uint8Array(16), ckn: new Uint8Array(1) } : cakPair(c, p, path);
    let fallback: PskPortConfig['fallback'];
    if (p.fallback !== undefined && !eapMode) {
      if (!isObj(p.fallback)) c.bad(`${path}.fallback`, 'must be a mapping with cak and ckn');
      else {
        c.unknownKeys(p.fallback, `${path}.fallback`, ['cak', 'ckn']);
        fallback = cakPair(c, p.fallback, `${path}.fallback`);
      }
    }
    const cipherSuite = c.oneOf(p.cipherSuite, `${path}.cipherSuite`, Object.keys(CIPHER_SUITES) as CipherSuiteName[], 'GCM-AES-128');
    let confidentialityOffset: PskPortConfig['confidentialityOffset'] = 0;
    if (p.confidentialityOffset === 'integrity-only' || p.confidentialityOffset === null) confidentialityOffset = null;
    else if (p.confidentialityOffset === 30 || p.confidentialityOffset === 50)
      c.bad(`${path}.confidentialityOffset`, unsupportedConfidentialityOffset(p.confidentialityOffset, '"integrity-only"')!);
    else if (p.confidentialityOffset !== undefined && p.confidentialityOffset !== 0) c.bad(`${path}.confidentialityOffset`, 'must be 0 or "integrity-only"');
    let replayWindow: number | null = 0;
    if (p.replayWindow === null || p.replayWindow === 'off') replayWindow = null;
    else replayWindow = c.int(p.replayWindow, `${path}.replayWindow`, 0, 2 ** 32 - 1, 0);
    let destination: Uint8Array = PAE_GROUP_ADDRESS;
    if (p.destination !== undefined) {
      if (typeof p.destination === 'string' && MAC.test(p.destination)) destination = fromHex(p.destination);
      else c.bad(`${path}.destination`, 'must be a MAC address like 01:80:c2:00:00:03');
    }
    const common: MkaPortConfig = {
      name: typeof p.name === 'string' && p.name.length > 0 ? p.name : iface,
      interface: iface,
      macsecName,
      cipherSuite,
      // eap-supplicant defaults to a lower key-server priority than its authenticator (16).
      priority: c.int(p.priority, `${path}.priority`, 0, 255, mode === 'eap-supplicant' ? 32 : 16),
      // never: the Key Server flag stays clear and this port is never elected (some vendors
      // treat priority 255 so; here it is explicit and priority keeps its meaning).
      canBeKeyServer: c.oneOf(p.keyServer, `${path}.keyServer`, ['auto', 'never'] as const, 'auto') === 'auto',
      policy: c.oneOf(p.policy, `${path}.policy`, ['must-secure', 'should-secure'] as const, 'must-secure'),
      replayWindow,
      confidentialityOffset,
      rekeyPeriodMs: c.int(p.rekeyPeriodSeconds, `${path}.rekeyPeriodSeconds`, 0, 365 * 86400, 0) * 1000,
      helloTimeMs: c.int(p.helloTimeMs, `${path}.helloTimeMs`, 100, 60_000, 2000),
      destination,
    };
    const baseDir = opts.baseDir ?? process.cwd();
    if (mode === 'eap-authenticator') ports.push({ ...common, mode, eap: validateEapAuthenticator(p.eap, `${path}.eap`, (f, m) => c.bad(f, m), baseDir) });
    else if (mode === 'eap-supplicant') {
      const eap = validateEapSupplicant(p.eap, `${path}.eap`, (f, m) => c.bad(f, m), baseDir);
      if (eap) ports.push({ ...common, mode, eap });
    } else ports.push({ mode: 'psk', ...common, cak, ckn, ...(fallback ? { fallback } : {}) });
  });
  if (c.problems.length) throw new ConfigError(c.problems);
  return { logLevel, ports };
}

/** Reads and validates a YAML or JSON file; errors name the file and each bad field. */
export function loadConfig(path: string): PskAgentConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError([`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`]);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text); // YAML is a superset of JSON
  } catch (e) {
    throw new ConfigError([`${path}: not valid YAML/JSON: ${(e as Error).message.split('\n')[0]}`]);
  }
  return validateConfig(raw, { baseDir: dirname(path) });
}
