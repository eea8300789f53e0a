/**
 * KernelSecy against the real macsec code of a UML 6.1 kernel: both ends of a
 * veth pair (two namespaces) are driven by test/lab/netlink/scenario-secy.ts
 * through the Secy interface, for every cipher suite and integrity-only.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runLab, type LabResult, type ScenarioResult } from '../uml.js';

const CASES = [
  { name: 'gcm-aes-128', cipher: 'GCM-AES-128', encrypt: true, port: 1 },
  { name: 'gcm-aes-256', cipher: 'GCM-AES-256', encrypt: true, port: 7 },
  { name: 'gcm-aes-xpn-128', cipher: 'GCM-AES-XPN-128', encrypt: true, port: 1 },
  { name: 'gcm-aes-xpn-256', cipher: 'GCM-AES-XPN-256', encrypt: true, port: 1 },
  { name: 'integrity-only', cipher: 'GCM-AES-128', encrypt: false, port: 1 },
] as const;
const MAC = { a: '02000000000a', b: '02000000000b' } as const;

const SCENARIO = String.raw`
lab_netns a b
lab_veth a va b vb 02:00:00:00:00:0a 02:00:00:00:00:0b
SYNC="$LAB_STATE/sync"; mkdir -p "$SYNC"
lab_ns_bg a side-a node --import tsx "$REPO/test/lab/netlink/scenario-secy.ts" a "$SYNC" "$OUT"
lab_ns_bg b side-b node --import tsx "$REPO/test/lab/netlink/scenario-secy.ts" b "$SYNC" "$OUT"
wait "$(lab_pid side-a)"; rc_a=$?
wait "$(lab_pid side-b)"; rc_b=$?
echo "side a rc=$rc_a, side b rc=$rc_b"
[ "$rc_a" = 0 ] && [ "$rc_b" = 0 ]
`;

type Json = Record<string, any>;
/** iproute2's JSON prints SCIs as 0x-prefixed numbers without leading zeros. */
const normSci = (v: string): string =>
  BigInt(v.startsWith('0x') ? v : `0x${v}`)
    .toString(16)
    .padStart(16, '0');

function readCase(s: ScenarioResult, name: string, side: 'a' | 'b'): Json {
  const p = join(s.outDir, `${name}.${side}.json`);
  if (!existsSync(p)) {
    const log = (f: string) => (existsSync(join(s.outDir, f)) ? readFileSync(join(s.outDir, f), 'utf8').slice(-3000) : '');
    throw new Error(
      `no ${name}.${side}.json (exit ${s.exitCode})\n--- side-a.log ---\n${log('side-a.log')}\n--- side-b.log ---\n${log('side-b.log')}\n--- stderr ---\n${s.stderr}`,
    );
  }
  return JSON.parse(readFileSync(p, 'utf8')) as Json;
}

describe('KernelSecy on a real kernel (UML)', () => {
  let lab: LabResult;
  let s: ScenarioResult;

  beforeAll(async () => {
    lab = await runLab({ scenarios: [{ name: 'kernel-secy', script: SCENARIO, timeoutMs: 150_000 }] });
    s = lab.scenario('kernel-secy');
    console.log(`UML boot ${lab.bootMs} ms, scenario ${s.durationMs} ms, total ${lab.totalMs} ms (${lab.runDir})`);
    for (const c of CASES) {
      const f = join(s.outDir, `${c.name}.a.json`);
      if (existsSync(f)) console.log(`  ${c.name}: SecY setup via netlink ${(JSON.parse(readFileSync(f, 'utf8')) as Json).setupMs} ms (side a, in UML)`);
    }
  }, 240_000);

  it('both sides ran every case', () => {
    for (const c of CASES) for (const side of ['a', 'b'] as const) expect(readCase(s, c.name, side).fatal).toBeUndefined();
    expect(s.exitCode, s.stdout + s.stderr).toBe(0);
  });

  describe.each(CASES)('$name', (c) => {
    it.each(['a', 'b'] as const)('side %s: ping through macsec, ip agrees with our config, counters moved, teardown', (side) => {
      const r = readCase(s, c.name, side);
      const peer = side === 'a' ? 'b' : 'a';
      const sci = MAC[side] + c.port.toString(16).padStart(4, '0');
      const peerSci = MAC[peer] + c.port.toString(16).padStart(4, '0');
      expect(r.ping.exitCode, r.ping.output).toBe(0);
      expect(r.ping.output).toMatch(/3 received/);

      // ip -d link show: kind, SCI, cipher, encrypt
      const info = r.ipLink[0].linkinfo;
      expect(info.info_kind).toBe('macsec');
      expect(r.ipLinkText).toContain(`sci ${sci}`);
      expect(info.info_data.cipher_suite).toBe(c.cipher);
      expect(info.info_data.encrypt).toBe(c.encrypt);
      expect(r.secySci).toBe(sci);

      // ip macsec show: TX SC and RX SC with the SCIs we configured
      const ms = r.ipMacsec[0];
      expect(ms.cipher_suite).toBe(c.cipher);
      expect(ms.rx_sc.map((x: Json) => normSci(x.sci))).toContain(peerSci);
      expect(normSci(ms.sci)).toBe(sci);

      // our dump: config, RX SA counters moved, TX SA PN advanced
      const d = r.dump;
      expect(d.sci).toBe(sci);
      expect(d.cipherSuite).toBe(c.cipher);
      expect(d.encrypt).toBe(c.encrypt);
      expect(d.encodingSa).toBe(0);
      expect(d.operational).toBe(true);
      const rxsc = d.rxScs.find((x: Json) => x.sci === peerSci);
      expect(rxsc).toBeDefined();
      const rxsa = rxsc.sas.find((x: Json) => x.an === 0);
      expect(rxsa.active).toBe(true);
      expect(rxsa.stats.InPktsOK).toBeGreaterThanOrEqual(3);
      expect(BigInt(rxsc.stats.InPktsOK)).toBeGreaterThanOrEqual(3n);
      const txsa = d.txSas.find((x: Json) => x.an === 0);
      expect(txsa.active).toBe(true);
      expect(txsa.keyId).toBe((side === 'a' ? 'aa' : 'bb').repeat(12) + '00000001');
      expect(rxsa.keyId).toBe((peer === 'a' ? 'aa' : 'bb').repeat(12) + '00000001');
      if (c.encrypt) expect(txsa.stats.OutPktsEncrypted).toBeGreaterThanOrEqual(3);
      else expect(txsa.stats.OutPktsProtected).toBeGreaterThanOrEqual(3);
      if (c.cipher.includes('XPN')) {
        // started at 2^32 - 2: the PN crossed the 32-bit boundary
        expect(BigInt(txsa.nextPn)).toBeGreaterThan(0xffffffffn);
        expect(BigInt(rxsa.nextPn)).toBeGreaterThan(0xffffffffn);
        expect(txsa.ssci).toBe(side === 'a' ? 1 : 2);
        expect(rxsa.ssci).toBe(peer === 'a' ? 1 : 2);
      }
      // read a moment later: background traffic (IPv6 ND) may have moved the PNs on
      expect(BigInt(r.readPn.txNextPn['0'])).toBeGreaterThanOrEqual(BigInt(txsa.nextPn));
      expect(BigInt(r.readPn.rxLowestPn[`${peerSci}/0`])).toBeGreaterThanOrEqual(BigInt(rxsa.nextPn));

      // teardown
      expect(r.afterDelete.txSas).toEqual([]);
      expect(r.afterDelete.rxScs).toEqual([]);
      expect(r.linkAfterClose.exists).toBe(false);
      expect(r.linkAfterClose.code).toBe('ENODEV');
    });
  });

  it('rekey: AN 1 installed beside AN 0, encoding SA switched, traffic continues on the new SA', () => {
    for (const side of ['a', 'b'] as const) {
      const r = readCase(s, 'gcm-aes-128', side);
      expect(r.pingAfterRekey.exitCode, r.pingAfterRekey.output).toBe(0);
      const d = r.dumpAfterRekey;
      expect(d.encodingSa).toBe(1);
      const tx = Object.fromEntries(d.txSas.map((sa: Json) => [sa.an, sa]));
      expect(tx[0].active).toBe(false);
      expect(tx[1].active).toBe(true);
      expect(tx[1].stats.OutPktsEncrypted).toBeGreaterThanOrEqual(3);
      const rx1 = d.rxScs[0].sas.find((sa: Json) => sa.an === 1);
      expect(rx1.stats.InPktsOK).toBeGreaterThanOrEqual(3);
      expect(rx1.keyId.endsWith('00000002')).toBe(true);
    }
    console.log(`rekey (2 installs + switch) took ${readCase(s, 'gcm-aes-128', 'a').rekeyMs} ms in UML`);
  });

  it('attachMacsecPort reads a link someone else created and leaves it on close', () => {
    const p = join(s.outDir, 'attach.a.json');
    const r = JSON.parse(readFileSync(p, 'utf8')) as Json;
    expect(r.sci).toBe('02000000000a0009');
    expect(r.cipherSuite).toBe('GCM-AES-256');
    expect(r.dump.encrypt).toBe(false);
    expect(r.existsAfterClose).toBe(true);
    expect(r.attachNonMacsec.message).toMatch(/^attach va: EINVAL \(not a macsec link \(kind veth\)\)$/);
  });

  it('setCipherSuite re-created the still-empty link with the new suite', () => {
    const r = readCase(s, 'integrity-only', 'a');
    expect(r.ifindexAfterSetup).not.toBe(r.ifindexAtCreate);
    expect(r.dump.cipherSuite).toBe('GCM-AES-128');
    expect(r.dump.encrypt).toBe(false);
  });

  it('a duplicate RX SA fails with the operation and errno', () => {
    const r = readCase(s, 'gcm-aes-128', 'a');
    expect(r.duplicateRxSa.name).toBe('MacsecNetlinkError');
    // Linux 6.1 answers an occupied AN with EBUSY (not EEXIST).
    expect(r.duplicateRxSa.code).toBe('EBUSY');
    expect(r.duplicateRxSa.errno).toBe(16);
    expect(r.duplicateRxSa.string).toBe('MacsecNetlinkError: add RX SA (sci 02000000000b0001, an 0): EBUSY');
    expect(r.deleteMissingRxSa.code).toBe('ENODEV');
    const codes = Object.fromEntries(Object.entries(r.errors as Record<string, Json>).map(([k, v]) => [k, v.code ?? null]));
    console.log('errno per error case:', codes);
    expect(codes).toEqual({ duplicateRxSc: 'EEXIST', duplicateTxSa: 'EBUSY', wrongKeyLength: 'EINVAL', sameSciOnParent: 'EBUSY', rxSaWithoutSc: 'ENODEV' });
    expect(r.errors.sameSciOnParent.message).toMatch(/^create macsec link msec1 on #\d+ \(GCM-AES-128\): EBUSY$/);
    expect(r.deleteMissingRxSa.message).toMatch(/^delete RX SA \(sci 02000000000b0001, an 3\): /);
  });
});
