/** Identity policy for EAP-TLS client certificates: allowed subject CN and SAN patterns. */
import type { PeerCertificate } from 'node:tls';

export type NamePattern = string | RegExp;

export interface IdentityPolicy {
  /** Allowed subject CN patterns. Strings may use `*` as a wildcard (any characters). */
  readonly subjectCn?: readonly NamePattern[];
  /** Allowed SAN patterns, matched against each SAN value, with or without its `DNS:`/`URI:`/`email:` prefix. */
  readonly san?: readonly NamePattern[];
  /** When true, the EAP identity must equal the subject CN or one of the SAN values. */
  readonly matchEapIdentity?: boolean;
  /** Extra check: return a rejection reason, or undefined to accept. */
  readonly check?: (cert: PeerCertificate, eapIdentity: string) => string | undefined;
}

function globToRegExp(glob: string): RegExp {
  const esc = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${esc}$`, 'i');
}

export function matchesPattern(value: string, pattern: NamePattern): boolean {
  const re = typeof pattern === 'string' ? globToRegExp(pattern) : pattern;
  return re.test(value);
}

function cnOf(cert: PeerCertificate): string[] {
  const cn = (cert.subject as unknown as Record<string, string | string[] | undefined> | undefined)?.CN;
  if (cn === undefined) return [];
  return Array.isArray(cn) ? cn : [cn];
}

/** SAN entries as "TYPE:value" (Node's subjectaltname format). */
export function sanEntries(cert: PeerCertificate): string[] {
  const s = cert.subjectaltname;
  if (!s) return [];
  return s
    .split(/,\s*/)
    .map((e) => e.trim())
    .filter((e) => e.length > 0);
}

/** Returns undefined when the certificate is acceptable, else the reason for rejection. */
export function checkIdentityPolicy(policy: IdentityPolicy | undefined, cert: PeerCertificate, eapIdentity: string): string | undefined {
  if (!policy) return undefined;
  const cns = cnOf(cert);
  const sans = sanEntries(cert);
  const sanValues = sans.map((e) => e.replace(/^[A-Za-z ]+:/, ''));
  const cnRule = policy.subjectCn && policy.subjectCn.length > 0;
  const sanRule = policy.san && policy.san.length > 0;
  if (cnRule || sanRule) {
    const cnOk = cnRule && cns.some((cn) => policy.subjectCn!.some((p) => matchesPattern(cn, p)));
    const sanOk = sanRule && sans.some((e, i) => policy.san!.some((p) => matchesPattern(e, p) || matchesPattern(sanValues[i]!, p)));
    if (!cnOk && !sanOk) {
      return `identity policy: subject CN ${JSON.stringify(cns.join(','))} / SAN ${JSON.stringify(sans.join(','))} match no allowed pattern`;
    }
  }
  if (policy.matchEapIdentity && !cns.includes(eapIdentity) && !sanValues.includes(eapIdentity)) {
    return `identity policy: EAP identity ${JSON.stringify(eapIdentity)} is neither the certificate CN nor a SAN`;
  }
  return policy.check?.(cert, eapIdentity);
}
