import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeCapture, formatReports } from '../../src/cli/mka-decode.js';
import { deriveIck, deriveKek, wrapKey } from '../../src/mka/crypto.js';
import { fromHex, toHex } from '../../src/common/hex.js';
import { encodeMkpdu } from '../../src/mka/mkpdu.js';
import type { Mkpdu } from '../../src/mka/types.js';
import { writePcap } from '../../src/pcap/file.js';
import { peerMkpdu } from '../support/mkpdu-fixtures.js';
import { macsecctl } from '../support/run-cli.js';

const cak = fromHex('135bd758b0ee5c11c55ff6ab19fdb199');
const ckn = fromHex('96437a93ccf10d9dfe347846cce52c7d');
const sak = fromHex('00112233445566778899aabbccddeeff');
const dir = mkdtempSync(join(tmpdir(), 'mka-decode-'));
const keyArgs = ['--cak', toHex(cak), '--ckn', toHex(ckn)];

function pdu(mn: number, withSak: boolean): Mkpdu {
  return peerMkpdu({ sci: { mac: fromHex('020000000001'), port: 1 }, actor: { mi: fromHex('0102030405060708090a0b0c'), mn }, ckn }, [
    { type: 'livePeers', keyServerSsci: 0, peers: [{ mi: fromHex('aabbccddeeff001122334455'), mn: 3 }] },
    ...(withSak
      ? [
          {
            type: 'distributedSak' as const,
            an: 2,
            confidentialityOffset: 1,
            plain: false,
            kn: 5,
            cipherSuite: null,
            wrappedSak: wrapKey(deriveKek(cak, ckn), sak),
          },
        ]
      : []),
  ]);
}

let good: string, mixed: string, broken: string, notPcap: string;
beforeAll(() => {
  const ick = deriveIck(cak, ckn);
  const f1 = encodeMkpdu(pdu(1, false), ick);
  const f2 = encodeMkpdu(pdu(2, true), ick);
  const tampered = Uint8Array.from(f2);
  tampered[40]! ^= 0x01; // inside the Basic set: the ICV must no longer verify
  const other = new Uint8Array(60); // an ARP-like frame that is not EAPOL
  other.set([0x08, 0x06], 12);
  const truncated = f2.slice(0, 40);
  truncated[17] = 22; // EAPOL says 22 body octets but they do not form an MKPDU
  good = join(dir, 'good.pcap');
  mixed = join(dir, 'mixed.pcap');
  broken = join(dir, 'broken.pcap');
  notPcap = join(dir, 'notes.txt');
  writeFileSync(
    good,
    writePcap([
      { time: 1, data: f1 },
      { time: 2, data: f2 },
    ]),
  );
  writeFileSync(
    mixed,
    writePcap([
      { time: 1, data: other },
      { time: 2, data: tampered },
      { time: 3, data: f2 },
    ]),
  );
  writeFileSync(
    broken,
    writePcap([
      { time: 1, data: f1 },
      { time: 2, data: truncated },
    ]),
  );
  writeFileSync(notPcap, 'hello, not a capture\n');
});

describe('macsecctl mka decode', () => {
  it('--json: one object per MKPDU with ICV and unwrap results, no keys by default', () => {
    const r = macsecctl(['mka', 'decode', good, ...keyArgs, '--json']);
    expect(r.code).toBe(0);
    const arr = JSON.parse(r.stdout);
    expect(arr).toHaveLength(2);
    expect(arr[0]).toMatchObject({ src: '02:00:00:00:00:01', mi: '0102030405060708090a0b0c', mn: 1, keyServer: true, icvValid: true, distributedSak: null });
    expect(arr[1].distributedSak).toEqual({ an: 2, kn: 5, plain: false, cipherSuite: 'GCM-AES-128', confidentialityOffset: 0, unwrapped: true });
    expect(r.stdout).not.toContain(toHex(sak));
  });

  it('--show-keys prints the unwrapped SAK', () => {
    const r = macsecctl(['mka', 'decode', good, ...keyArgs, '--json', '--show-keys']);
    expect(JSON.parse(r.stdout)[1].distributedSak.sak).toBe(toHex(sak));
  });

  it('reports an invalid ICV, and a wrong CAK fails every ICV and unwrap', () => {
    const r = macsecctl(['mka', 'decode', mixed, ...keyArgs, '--json']);
    expect(r.code).toBe(0);
    const arr = JSON.parse(r.stdout);
    expect(arr.map((a: { icvValid: boolean }) => a.icvValid)).toEqual([false, true]);
    const w = macsecctl(['mka', 'decode', good, '--cak', '00'.repeat(16), '--ckn', toHex(ckn), '--json']);
    const warr = JSON.parse(w.stdout);
    expect(warr.every((a: { icvValid: boolean }) => !a.icvValid)).toBe(true);
    expect(warr[1].distributedSak.unwrapped).toBe(false);
  });

  it('human output names frames, sets and results', () => {
    const r = macsecctl(['mka', 'decode', good, ...keyArgs]);
    expect(r.stdout).toContain('#2 02:00:00:00:00:01 -> 01:80:c2:00:00:03');
    expect(r.stdout).toMatch(/distributed SAK: AN 2 KN 5 GCM-AES-128 offset 0 unwrap ok/);
    expect(r.stdout).toContain('2 MKPDUs, 0 malformed');
  });

  it('exits non-zero naming the frame and field of a malformed MKPDU', () => {
    const r = macsecctl(['mka', 'decode', broken, ...keyArgs]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/frame 2: eapol\.bodyLength/);
  });

  it('exits non-zero for a file that is not a capture, and for bad keys', () => {
    const r = macsecctl(['mka', 'decode', notPcap, ...keyArgs]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not a pcap or pcapng file/);
    const k = macsecctl(['mka', 'decode', good, '--cak', 'zz', '--ckn', '01']);
    expect(k.code).toBe(2);
    expect(k.stderr).toMatch(/--cak is not a valid hex string/);
    const m = macsecctl(['mka', 'decode', good]);
    expect(m.stderr).toMatch(/--cak is required/);
  });
});

describe('mka decode and ignored parameter sets', () => {
  it('names each ignored set and still decodes the MKPDU', () => {
    const p = pdu(4, true);
    p.sets.push({ type: 'unknown', typeCode: 3, octet2: 0, body: new Uint8Array(12) }); // SAK Use of 12 octets
    p.sets.push(p.sets[0]!); // a second Live Peer List
    const file = writePcap([{ time: 1, data: encodeMkpdu(p, deriveIck(cak, ckn)) }]);
    const res = decodeCapture(file, { cak, ckn });
    expect(res.errors).toEqual([]);
    expect(res.reports[0]!.icvValid).toBe(true);
    expect(res.reports[0]!.distributedSak?.unwrapped).toBe(true);
    expect(res.reports[0]!.ignoredSets).toEqual([
      { type: 3, reason: 'sakUse.bodyLength: 12, expected 0 or at least 40' },
      { type: 1, reason: 'livePeers: repeated (the first one is used)' },
    ]);
    expect(formatReports(res)).toContain('    ignored set (type 3): sakUse.bodyLength: 12, expected 0 or at least 40');
  });
});
