/**
 * Identities carried in certificates, as URI subjectAltNames:
 *   urn:macsec:manager:<name>
 *   urn:macsec:agent:<agent-id>
 *   urn:macsec:operator:admin:<name> | urn:macsec:operator:read-only:<name>
 *   urn:macsec:operator:orchestrator:<name>  (OSM adapter: writes only what it owns)
 *   urn:macsec:vnf:<vnf-id>            (802.1X supplicant certificate of a VNF, EAP-TLS)
 *   urn:macsec:eap-server:<name>       (the agents' embedded EAP-TLS server)
 * VNF and EAP-server certificates belong to the 802.1X PKI, not to the control plane: the
 * control plane's authorization refuses them.
 * The subject OU repeats the kind/role for humans; authorization only trusts the URI SAN.
 */
import { NAME_RE } from '../common/names.js';
import { createHash, X509Certificate } from 'node:crypto';

export type OperatorRole = 'admin' | 'read-only' | 'orchestrator';
export type Principal =
  | { kind: 'manager'; name: string }
  | { kind: 'agent'; id: string }
  | { kind: 'operator'; role: OperatorRole; name: string }
  | { kind: 'vnf'; id: string }
  | { kind: 'eap-server'; name: string };

export function principalUri(p: Principal): string {
  switch (p.kind) {
    case 'manager':
      return `urn:macsec:manager:${p.name}`;
    case 'agent':
      return `urn:macsec:agent:${p.id}`;
    case 'operator':
      return `urn:macsec:operator:${p.role}:${p.name}`;
    case 'vnf':
      return `urn:macsec:vnf:${p.id}`;
    case 'eap-server':
      return `urn:macsec:eap-server:${p.name}`;
  }
}

export function principalLabel(p: Principal): string {
  switch (p.kind) {
    case 'agent':
      return `agent:${p.id}`;
    case 'operator':
      return `operator:${p.role}:${p.name}`;
    case 'vnf':
      return `vnf:${p.id}`;
    default:
      return `${p.kind}:${p.name}`;
  }
}

export function parsePrincipalUri(uri: string): Principal | null {
  let m = /^urn:macsec:agent:([^:]+)$/.exec(uri);
  if (m && NAME_RE.test(m[1]!)) return { kind: 'agent', id: m[1]! };
  m = /^urn:macsec:operator:(admin|read-only|orchestrator):([^:]+)$/.exec(uri);
  if (m && NAME_RE.test(m[2]!)) return { kind: 'operator', role: m[1] as OperatorRole, name: m[2]! };
  m = /^urn:macsec:manager:([^:]+)$/.exec(uri);
  if (m && NAME_RE.test(m[1]!)) return { kind: 'manager', name: m[1]! };
  m = /^urn:macsec:vnf:([^:]+)$/.exec(uri);
  if (m && NAME_RE.test(m[1]!)) return { kind: 'vnf', id: m[1]! };
  m = /^urn:macsec:eap-server:([^:]+)$/.exec(uri);
  if (m && NAME_RE.test(m[1]!)) return { kind: 'eap-server', name: m[1]! };
  return null;
}

/**
 * The principal of a certificate (DER). Exactly one urn:macsec URI SAN must be present;
 * anything else (none, several, malformed) yields null.
 */
export function principalOfCert(raw: Uint8Array | Buffer): Principal | null {
  // Parsing costs about 0.7 ms, on every connection and call: remember the answer per certificate.
  const key = createHash('sha256').update(raw).digest('base64');
  if (known.has(key)) return known.get(key)!;
  const p = parsePrincipalOfCert(raw);
  if (known.size >= KNOWN_MAX) known.delete(known.keys().next().value!);
  known.set(key, p && Object.freeze(p));
  return p;
}
const KNOWN_MAX = 50_000;
const known = new Map<string, Principal | null>();

function parsePrincipalOfCert(raw: Uint8Array | Buffer): Principal | null {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(Buffer.from(raw));
  } catch {
    return null;
  }
  const san = cert.subjectAltName ?? '';
  // Node renders "DNS:a, URI:urn:..., IP Address:1.2.3.4"; URIs with commas or quotes are rendered
  // quoted (JSON) and are not valid identities anyway.
  const uris = san
    .split(', ')
    .filter((e) => e.startsWith('URI:'))
    .map((e) => e.slice(4));
  const ours = uris.filter((u) => u.startsWith('urn:macsec:') || u.startsWith('"urn:macsec:'));
  if (ours.length !== 1) return null;
  return parsePrincipalUri(ours[0]!);
}
