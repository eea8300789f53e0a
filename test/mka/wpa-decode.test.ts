/**
 * Conformance of the codec and key hierarchy with wpa_supplicant 2.10: real MKPDUs captured
 * in the kernel lab (test/support/fixtures/wpa-*.pcap) must all parse, every ICV must verify with the
 * CAK/CKN the peers were given, and every distributed SAK must unwrap.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeCapture } from '../../src/cli/mka-decode.js';
import { fromHex } from '../../src/common/hex.js';
import { macsecctl } from '../support/run-cli.js';

const FIXTURES = ['wpa-2party', 'wpa-3party', 'wpa-2party-256'] as const;
const fixture = (name: string) => new URL(`../support/fixtures/${name}`, import.meta.url);

interface Sidecar {
  cak: string;
  ckn: string;
  participants: { mac: string; sci: string; priority: number }[];
}

describe.each(FIXTURES)('%s.pcap from wpa_supplicant 2.10', (name) => {
  const side = JSON.parse(readFileSync(fixture(`${name}.json`), 'utf8')) as Sidecar;
  const keys = { cak: fromHex(side.cak), ckn: fromHex(side.ckn) };
  const res = decodeCapture(readFileSync(fixture(`${name}.pcap`)), keys, true);

  it('parses every MKPDU', () => {
    expect(res.errors).toEqual([]);
    expect(res.reports.length).toBeGreaterThan(10);
  });

  it('verifies every ICV', () => {
    expect(res.reports.filter((r) => !r.icvValid).map((r) => r.frame)).toEqual([]);
  });

  it('unwraps every distributed SAK, all of them the same key', () => {
    const dist = res.reports.filter((r) => r.distributedSak && !r.distributedSak.plain);
    expect(dist.length).toBeGreaterThan(0);
    expect(dist.every((r) => r.distributedSak!.unwrapped)).toBe(true);
    expect(new Set(dist.map((r) => r.distributedSak!.sak)).size).toBe(1);
    expect(dist[0]!.distributedSak!.sak).toMatch(/^[0-9a-f]{32}$/);
  });

  it('sees every participant, with the priorities it was configured with', () => {
    const bySrc = new Map(res.reports.map((r) => [r.src, r]));
    for (const p of side.participants) expect(bySrc.get(p.mac)?.priority).toBe(p.priority);
  });

  it('a wrong CAK verifies no ICV and unwraps no SAK', () => {
    const wrong = decodeCapture(readFileSync(fixture(`${name}.pcap`)), { cak: new Uint8Array(keys.cak.length), ckn: keys.ckn });
    expect(wrong.reports.some((r) => r.icvValid)).toBe(false);
    expect(wrong.reports.some((r) => r.distributedSak?.unwrapped)).toBe(false);
  });
});

describe('macsecctl mka decode on a wpa_supplicant capture', () => {
  it('prints JSON with valid ICVs and unwrapped SAKs, and no keys without --show-keys', () => {
    const side = JSON.parse(readFileSync(fixture('wpa-2party.json'), 'utf8')) as Sidecar;
    const r = macsecctl(['mka', 'decode', fixture('wpa-2party.pcap').pathname, '--cak', side.cak, '--ckn', side.ckn, '--json']);
    expect(r.code).toBe(0);
    const arr = JSON.parse(r.stdout) as { icvValid: boolean; distributedSak: { unwrapped: boolean; sak?: string } | null }[];
    expect(arr.every((a) => a.icvValid)).toBe(true);
    const d = arr.filter((a) => a.distributedSak);
    expect(d.length).toBeGreaterThan(0);
    expect(d.every((a) => a.distributedSak!.unwrapped && a.distributedSak!.sak === undefined)).toBe(true);
  });
});
