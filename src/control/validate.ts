/** Request validation. Every failure names the offending field (INVALID_ARGUMENT). */
import { echo, invalidArgument } from '../common/errors.js';
import { CipherSuite, ConfidentialityOffset, PortMode, SecurePolicy, type PortPolicy, type RadiusSettings } from './gen/macsec/v1/types.js';
import { IFNAME_RE, IFNAME_RULE, NAME_RE, NAME_RULE } from '../common/names.js';
import { unsupportedConfidentialityOffset } from '../mka/secy.js';
import { offsetOctets } from './vocabulary.js';

const show = (v: string) => echo(v);

export function requireId(field: string, v: string, what = 'an id'): string {
  if (!v) throw invalidArgument(field, 'is required');
  if (!NAME_RE.test(v)) throw invalidArgument(field, `${show(v)} is not ${what} (${NAME_RULE})`);
  return v;
}

export function requireIfname(field: string, v: string): string {
  if (!v) throw invalidArgument(field, 'is required');
  if (!IFNAME_RE.test(v)) {
    throw invalidArgument(field, `${show(v)} is not a valid interface name (${IFNAME_RULE})`);
  }
  return v;
}

export function requireMode(field: string, m: PortMode): PortMode {
  if (m === PortMode.PORT_MODE_UNSPECIFIED) throw invalidArgument(field, 'is required (PORT_MODE_PSK, PORT_MODE_EAP_RADIUS or PORT_MODE_EAP_EMBEDDED)');
  if (!Object.values(PortMode).includes(m) || m < 0) throw invalidArgument(field, `unknown mode ${m}`);
  return m;
}

export function normalizePolicy(field: string, p: PortPolicy | undefined): PortPolicy {
  const pol: PortPolicy = {
    cipherSuite: p?.cipherSuite ?? CipherSuite.CIPHER_SUITE_UNSPECIFIED,
    keyServerPriority: p?.keyServerPriority ?? 16,
    securePolicy: p?.securePolicy ?? SecurePolicy.SECURE_POLICY_UNSPECIFIED,
    replayWindow: p?.replayWindow ?? 0,
    confidentialityOffset: p?.confidentialityOffset ?? ConfidentialityOffset.CONFIDENTIALITY_OFFSET_UNSPECIFIED,
    rekeyPeriodSeconds: p?.rekeyPeriodSeconds ?? 0,
  };
  if (pol.cipherSuite === CipherSuite.CIPHER_SUITE_UNSPECIFIED) pol.cipherSuite = CipherSuite.CIPHER_SUITE_GCM_AES_128;
  if (pol.securePolicy === SecurePolicy.SECURE_POLICY_UNSPECIFIED) pol.securePolicy = SecurePolicy.SECURE_POLICY_MUST_SECURE;
  if (pol.confidentialityOffset === ConfidentialityOffset.CONFIDENTIALITY_OFFSET_UNSPECIFIED)
    pol.confidentialityOffset = ConfidentialityOffset.CONFIDENTIALITY_OFFSET_0;
  if (!(pol.cipherSuite in CipherSuite) || pol.cipherSuite < 0) throw invalidArgument(`${field}.cipher_suite`, `unknown cipher suite ${pol.cipherSuite}`);
  if (!(pol.securePolicy in SecurePolicy) || pol.securePolicy < 0) throw invalidArgument(`${field}.secure_policy`, `unknown value ${pol.securePolicy}`);
  if (!(pol.confidentialityOffset in ConfidentialityOffset) || pol.confidentialityOffset < 0) {
    throw invalidArgument(`${field}.confidentiality_offset`, `unknown value ${pol.confidentialityOffset}`);
  }
  const offsetProblem = unsupportedConfidentialityOffset(offsetOctets(pol.confidentialityOffset) ?? 0);
  if (offsetProblem) throw invalidArgument(`${field}.confidentiality_offset`, offsetProblem);
  const prio = pol.keyServerPriority!;
  if (!Number.isInteger(prio) || prio < 0 || prio > 255) throw invalidArgument(`${field}.key_server_priority`, `${prio} is outside 0..255`);
  if (pol.rekeyPeriodSeconds !== 0 && (pol.rekeyPeriodSeconds < 10 || pol.rekeyPeriodSeconds > 30 * 86_400)) {
    throw invalidArgument(`${field}.rekey_period_seconds`, `${pol.rekeyPeriodSeconds} must be 0 (off) or 10..2592000`);
  }
  const xpn = pol.cipherSuite === CipherSuite.CIPHER_SUITE_GCM_AES_XPN_128 || pol.cipherSuite === CipherSuite.CIPHER_SUITE_GCM_AES_XPN_256;
  if (!xpn && pol.replayWindow > 0xffffffff) throw invalidArgument(`${field}.replay_window`, 'must fit 32 bits');
  if (xpn && pol.replayWindow > 0x3fffffff) throw invalidArgument(`${field}.replay_window`, `${pol.replayWindow} exceeds 2^30-1 allowed with XPN suites`);
  return pol;
}

export function normalizeRadius(field: string, mode: PortMode, r: RadiusSettings | undefined): RadiusSettings | undefined {
  if (mode !== PortMode.PORT_MODE_EAP_RADIUS) {
    if (r && (r.servers.length || r.sharedSecretRef || r.nasIdentifier)) throw invalidArgument(field, 'is only allowed with PORT_MODE_EAP_RADIUS');
    return undefined;
  }
  if (!r || r.servers.length === 0) throw invalidArgument(`${field}.servers`, 'at least one RADIUS server (host:port) is required for PORT_MODE_EAP_RADIUS');
  r.servers.forEach((s, i) => {
    if (!/^[A-Za-z0-9.:\-[\]]+:\d{1,5}$/.test(s)) throw invalidArgument(`${field}.servers[${i}]`, `${show(s)} is not host:port`);
  });
  if (!r.sharedSecretRef) throw invalidArgument(`${field}.shared_secret_ref`, 'is required');
  if (!NAME_RE.test(r.sharedSecretRef)) throw invalidArgument(`${field}.shared_secret_ref`, `${show(r.sharedSecretRef)} is not a secret name`);
  return r;
}

export function parseHexField(field: string, v: string, minLen: number, maxLen: number, lens?: number[]): Uint8Array {
  const clean = v.replace(/[\s:-]/g, '');
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) throw invalidArgument(field, 'is not a hex string');
  const b = Uint8Array.from(Buffer.from(clean, 'hex'));
  if (lens ? !lens.includes(b.length) : b.length < minLen || b.length > maxLen) {
    throw invalidArgument(field, `must be ${lens ? lens.join(' or ') : `${minLen}..${maxLen}`} octets (got ${b.length})`);
  }
  return b;
}
