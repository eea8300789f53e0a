/**
 * X.509 v3 certificate builder (RFC 5280) on top of der.ts, signing with node:crypto.
 * Keys are ECDSA P-256; signatures ecdsa-with-SHA256.
 *
 * Why not node:crypto alone: it parses X.509 (X509Certificate) but has no API to create or sign
 * certificates. Why not the openssl CLI: a pure builder needs no external tool, runs the same
 * everywhere node runs, and can make the odd certificates tests need (already expired, wrong CA).
 */
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import * as der from './der.js';

const OID = {
  cn: '2.5.4.3',
  o: '2.5.4.10',
  ou: '2.5.4.11',
  ecdsaSha256: '1.2.840.10045.4.3.2',
  ski: '2.5.29.14',
  keyUsage: '2.5.29.15',
  san: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  aki: '2.5.29.35',
  eku: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
};

export interface DistinguishedName {
  cn: string;
  o?: string;
  ou?: string;
}

export interface CertTemplate {
  subject: DistinguishedName;
  publicKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  ca?: boolean;
  pathLen?: number;
  serverAuth?: boolean;
  clientAuth?: boolean;
  dnsNames?: string[];
  ipAddresses?: string[];
  uris?: string[];
}

export interface Issuer {
  name: DistinguishedName;
  key: KeyObject; // private
  publicKey: KeyObject;
}

function encodeName(n: DistinguishedName): Uint8Array {
  const rdns: Uint8Array[] = [];
  if (n.o) rdns.push(der.set(der.seq(der.oid(OID.o), der.utf8(n.o))));
  if (n.ou) rdns.push(der.set(der.seq(der.oid(OID.ou), der.utf8(n.ou))));
  rdns.push(der.set(der.seq(der.oid(OID.cn), der.utf8(n.cn))));
  return der.seq(...rdns);
}

function spkiDer(pub: KeyObject): Uint8Array {
  return new Uint8Array(pub.export({ type: 'spki', format: 'der' }));
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING contents. */
function keyId(pub: KeyObject): Uint8Array {
  const spki = spkiDer(pub);
  // SPKI = SEQ { SEQ alg, BIT STRING }. The EC point is the tail after the 0x00 unused-bits octet;
  // for P-256 uncompressed points it is always the last 65 octets.
  const point = spki.subarray(spki.length - 65);
  return new Uint8Array(createHash('sha1').update(point).digest());
}

function ext(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical ? der.seq(der.oid(id), der.bool(true), der.octets(value)) : der.seq(der.oid(id), der.octets(value));
}

function ipBytes(ip: string): Uint8Array {
  if (ip.includes(':')) {
    const [head, tail] = ip.split('::') as [string, string | undefined];
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const fill = tail === undefined ? [] : new Array(8 - h.length - t.length).fill('0');
    const groups = [...h, ...fill, ...t];
    const out = new Uint8Array(16);
    groups.forEach((g, i) => {
      const v = parseInt(g, 16);
      out[2 * i] = v >> 8;
      out[2 * i + 1] = v & 0xff;
    });
    return out;
  }
  return Uint8Array.from(ip.split('.').map(Number));
}

export function buildCertificate(t: CertTemplate, issuer: Issuer | 'self', selfKey?: KeyObject): Uint8Array {
  const iss: Issuer = issuer === 'self' ? { name: t.subject, key: selfKey!, publicKey: t.publicKey } : issuer;
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  const exts: Uint8Array[] = [];
  exts.push(ext(OID.basicConstraints, true, t.ca ? der.seq(der.bool(true), ...(t.pathLen !== undefined ? [der.smallInt(t.pathLen)] : [])) : der.seq()));
  // digitalSignature(0); CA: keyCertSign(5), cRLSign(6)
  exts.push(ext(OID.keyUsage, true, t.ca ? der.namedBits([0, 5, 6]) : der.namedBits([0])));
  const eku: Uint8Array[] = [];
  if (t.serverAuth) eku.push(der.oid(OID.serverAuth));
  if (t.clientAuth) eku.push(der.oid(OID.clientAuth));
  if (eku.length) exts.push(ext(OID.eku, false, der.seq(...eku)));
  const names: Uint8Array[] = [];
  for (const d of t.dnsNames ?? []) names.push(der.implicit(2, new TextEncoder().encode(d)));
  for (const u of t.uris ?? []) names.push(der.implicit(6, new TextEncoder().encode(u)));
  for (const ip of t.ipAddresses ?? []) names.push(der.implicit(7, ipBytes(ip)));
  if (names.length) exts.push(ext(OID.san, false, der.seq(...names)));
  exts.push(ext(OID.ski, false, der.octets(keyId(t.publicKey))));
  exts.push(ext(OID.aki, false, der.seq(der.implicit(0, keyId(iss.publicKey)))));

  const sigAlg = der.seq(der.oid(OID.ecdsaSha256));
  const tbs = der.seq(
    der.explicit(0, der.smallInt(2)), // v3
    der.uint(serial),
    sigAlg,
    encodeName(iss.name),
    der.seq(der.time(t.notBefore), der.time(t.notAfter)),
    encodeName(t.subject),
    spkiDer(t.publicKey),
    der.explicit(3, der.seq(...exts)),
  );
  const signature = sign('sha256', tbs, { key: iss.key, dsaEncoding: 'der' });
  return der.seq(tbs, sigAlg, der.bitString(new Uint8Array(signature)));
}

export function toPem(label: string, derBytes: Uint8Array): string {
  const b64 = Buffer.from(derBytes).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

export function loadPrivateKey(pem: string): KeyObject {
  return createPrivateKey(pem);
}

export function publicOf(priv: KeyObject): KeyObject {
  return createPublicKey(priv);
}
