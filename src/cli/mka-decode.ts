/**
 * `macsecctl mka decode`: explains every EAPOL-MKA frame of a capture — who sent it, its
 * peer lists and key use, whether its ICV verifies with the given CAK/CKN, and whether a
 * distributed SAK unwraps. Keys are printed only on request.
 */
import { readFileSync } from 'node:fs';
import { CONF_OFFSET_BY_CODE, cipherSuiteById, ETHERTYPE_EAPOL, EAPOL_TYPE_MKA } from '../mka/constants.js';
import { deriveIck, deriveKek, unwrapKey, verifyIcv, zeroize } from '../mka/crypto.js';
import { bytesEqual, macToString, toHex } from '../common/hex.js';
import { decodeMkpdu, parseCipherSuitesTlv } from '../mka/mkpdu.js';
import type { DecodedMkpdu, SakUseKey } from '../mka/types.js';
import { readCapture, PcapError } from '../pcap/file.js';

export interface DecodeKeys {
  cak: Uint8Array;
  ckn: Uint8Array;
}

export interface DecodedFrameReport {
  frame: number;
  time: number;
  src: string;
  dst: string;
  eapolVersion: number;
  mkaVersion: number;
  sci: string;
  mi: string;
  mn: number;
  keyServer: boolean;
  priority: number;
  macsecDesired: boolean;
  macsecCapability: number;
  ckn: string;
  cknMatches: boolean;
  icvValid: boolean;
  parameterSets: string[];
  livePeers: { mi: string; mn: number }[];
  potentialPeers: { mi: string; mn: number }[];
  sakUse: null | { latest: KeyUseReport; old: KeyUseReport; plainTx: boolean; plainRx: boolean; delayProtect: boolean };
  distributedSak: null | {
    an: number;
    kn: number;
    plain: boolean;
    cipherSuite: string;
    confidentialityOffset: number | null;
    unwrapped: boolean;
    sak?: string;
  };
  distributedCak: null | { ckn: string; unwrapped: boolean; cak?: string };
  xpn: null | { latestLowestPnHigh: number; oldLowestPnHigh: number };
  announcedCipherSuites: string[];
  /** Known parameter sets the decoder ignored (impossible length, repeated type), with why. */
  ignoredSets: { type: number; reason: string }[];
}

interface KeyUseReport {
  an: number;
  tx: boolean;
  rx: boolean;
  keyServerMi: string;
  kn: number;
  lowestPn: number;
}

export interface DecodeCaptureResult {
  reports: DecodedFrameReport[];
  /** Frames that are EAPOL-MKA but could not be parsed: "frame N: field: why". */
  errors: string[];
  /** Non-MKA frames skipped. */
  skipped: number;
}

const keyUse = (k: SakUseKey): KeyUseReport => ({ an: k.an, tx: k.tx, rx: k.rx, keyServerMi: toHex(k.ki.mi), kn: k.ki.kn, lowestPn: k.lowestPn });

function isEapolMka(f: Uint8Array): boolean {
  if (f.length < 16) return false;
  let at = 12;
  if (f[at] === 0x81 && f[at + 1] === 0x00) at += 4;
  return f.length >= at + 4 && ((f[at]! << 8) | f[at + 1]!) === ETHERTYPE_EAPOL && f[at + 3] === EAPOL_TYPE_MKA;
}

export function decodeCapture(file: Uint8Array, keys: DecodeKeys, showKeys = false): DecodeCaptureResult {
  const frames = readCapture(file);
  const ick = deriveIck(keys.cak, keys.ckn);
  const kek = deriveKek(keys.cak, keys.ckn);
  const out: DecodeCaptureResult = { reports: [], errors: [], skipped: 0 };
  try {
    for (const f of frames) {
      if (!isEapolMka(f.data)) {
        out.skipped++;
        continue;
      }
      const r = decodeMkpdu(f.data, { cakLength: keys.cak.length });
      if (!r.ok) {
        out.errors.push(`frame ${f.index}: ${r.error.toString()}`);
        continue;
      }
      out.reports.push(report(f.index, f.time, r.value, keys, ick, kek, showKeys));
    }
  } finally {
    zeroize(ick, kek);
  }
  return out;
}

function report(index: number, time: number, p: DecodedMkpdu, keys: DecodeKeys, ick: Uint8Array, kek: Uint8Array, showKeys: boolean): DecodedFrameReport {
  const cknMatches = bytesEqual(p.basic.ckn, keys.ckn);
  const rep: DecodedFrameReport = {
    frame: index,
    time,
    src: macToString(p.src),
    dst: macToString(p.dst),
    eapolVersion: p.eapolVersion,
    mkaVersion: p.basic.version,
    sci: `${toHex(p.basic.sci.mac)}${p.basic.sci.port.toString(16).padStart(4, '0')}`,
    mi: toHex(p.basic.actor.mi),
    mn: p.basic.actor.mn,
    keyServer: p.basic.keyServer,
    priority: p.basic.priority,
    macsecDesired: p.basic.macsecDesired,
    macsecCapability: p.basic.macsecCapability,
    ckn: toHex(p.basic.ckn),
    cknMatches,
    icvValid: cknMatches && verifyIcv(ick, p.signed, p.icv),
    parameterSets: ['basic', ...p.sets.map((s) => (s.type === 'unknown' ? `unknown(${s.typeCode})` : s.type)), ...(p.icvIndicator ? ['icvIndicator'] : [])],
    livePeers: [],
    potentialPeers: [],
    sakUse: null,
    distributedSak: null,
    distributedCak: null,
    xpn: null,
    announcedCipherSuites: [],
    ignoredSets: p.ignored.map((i) => ({ type: i.type, reason: i.reason })),
  };
  for (const s of p.sets) {
    switch (s.type) {
      case 'livePeers':
      case 'potentialPeers':
        rep[s.type] = s.peers.map((m) => ({ mi: toHex(m.mi), mn: m.mn }));
        break;
      case 'sakUse':
        rep.sakUse = { latest: keyUse(s.latest), old: keyUse(s.old), plainTx: s.plainTx, plainRx: s.plainRx, delayProtect: s.delayProtect };
        break;
      case 'distributedSak': {
        const sak = s.plain || !cknMatches ? null : unwrapKey(kek, s.wrappedSak);
        const cs = s.cipherSuite === null ? 'GCM-AES-128' : (cipherSuiteById(s.cipherSuite) ?? `0x${s.cipherSuite.toString(16).padStart(16, '0')}`);
        rep.distributedSak = {
          an: s.an,
          kn: s.kn,
          plain: s.plain,
          cipherSuite: cs,
          confidentialityOffset: CONF_OFFSET_BY_CODE[s.confidentialityOffset] ?? null,
          unwrapped: sak !== null,
          ...(showKeys && sak ? { sak: toHex(sak) } : {}),
        };
        zeroize(sak);
        break;
      }
      case 'distributedCak': {
        const cak = cknMatches ? unwrapKey(kek, s.wrappedCak) : null;
        rep.distributedCak = { ckn: toHex(s.ckn), unwrapped: cak !== null, ...(showKeys && cak ? { cak: toHex(cak) } : {}) };
        zeroize(cak);
        break;
      }
      case 'xpn':
        rep.xpn = { latestLowestPnHigh: s.latestLowestPnHigh, oldLowestPnHigh: s.oldLowestPnHigh };
        break;
      case 'announcement':
        for (const t of s.tlvs) {
          if (t.tlvType === 112) rep.announcedCipherSuites.push(...parseCipherSuitesTlv(t.value).map((c) => cipherSuiteById(c.id) ?? `0x${c.id.toString(16)}`));
        }
        break;
      default:
        break;
    }
  }
  return rep;
}

/** Human-readable rendering, one block per frame. */
export function formatReports(res: DecodeCaptureResult): string {
  const lines: string[] = [];
  for (const r of res.reports) {
    lines.push(
      `#${r.frame} ${r.src} -> ${r.dst}  MKA v${r.mkaVersion}  MI ${r.mi} MN ${r.mn}  prio ${r.priority}${r.keyServer ? '  key-server' : ''}  ICV ${r.icvValid ? 'valid' : r.cknMatches ? 'INVALID' : 'unchecked (other CKN)'}`,
    );
    lines.push(`    sets: ${r.parameterSets.join(', ')}`);
    for (const [name, list] of [
      ['live', r.livePeers],
      ['potential', r.potentialPeers],
    ] as const) {
      for (const m of list) lines.push(`    ${name} peer ${m.mi} MN ${m.mn}`);
    }
    if (r.sakUse) {
      const u = r.sakUse;
      lines.push(
        `    SAK use: latest AN ${u.latest.an} KN ${u.latest.kn} tx=${u.latest.tx} rx=${u.latest.rx} LPN ${u.latest.lowestPn}; old AN ${u.old.an} KN ${u.old.kn} tx=${u.old.tx} rx=${u.old.rx}; plainTx=${u.plainTx} plainRx=${u.plainRx}`,
      );
    }
    if (r.distributedSak) {
      const d = r.distributedSak;
      lines.push(
        d.plain
          ? '    distributed SAK: none (MACsec not to be used)'
          : `    distributed SAK: AN ${d.an} KN ${d.kn} ${d.cipherSuite} offset ${d.confidentialityOffset ?? 'integrity-only'} unwrap ${d.unwrapped ? 'ok' : 'FAILED'}${d.sak ? ` key ${d.sak}` : ''}`,
      );
    }
    if (r.distributedCak)
      lines.push(
        `    distributed CAK: CKN ${r.distributedCak.ckn} unwrap ${r.distributedCak.unwrapped ? 'ok' : 'FAILED'}${r.distributedCak.cak ? ` key ${r.distributedCak.cak}` : ''}`,
      );
    if (r.xpn) lines.push(`    XPN: latest LPN high ${r.xpn.latestLowestPnHigh} old ${r.xpn.oldLowestPnHigh}`);
    if (r.announcedCipherSuites.length) lines.push(`    announced suites: ${r.announcedCipherSuites.join(', ')}`);
    for (const i of r.ignoredSets) lines.push(`    ignored set (type ${i.type}): ${i.reason}`);
  }
  lines.push(`${res.reports.length} MKPDUs, ${res.errors.length} malformed, ${res.skipped} other frames skipped`);
  return lines.join('\n');
}

export function loadCapture(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new PcapError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}
