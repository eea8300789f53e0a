import { describe, expect, it } from 'vitest';
import { deriveIck, deriveKek } from '../../src/mka/crypto.js';
import { toHex } from '../../src/common/hex.js';
import { Kay, KayConfigError } from '../../src/mka/kay.js';
import { decodeMkpdu, encodeMkpdu } from '../../src/mka/mkpdu.js';
import { seededRandom } from '../../src/mka/sim/index.js';
import { peerMkpdu } from '../support/mkpdu-fixtures.js';
import { CAK, CKN, cfg, lan, mac } from './helpers.js';

describe('status, events and configuration', () => {
  it('status() is JSON-safe and, like every event, free of key material', () => {
    const l = lan(3, { rekeyPeriodMs: 5_000, cipherSuite: 'GCM-AES-XPN-128' });
    l.startAll();
    l.runFor(20_000);
    const secrets = new Set<string>([toHex(CAK), toHex(deriveKek(CAK, CKN)), toHex(deriveIck(CAK, CKN))]);
    for (const m of l.members) {
      for (const sc of m.secy.rxScs.values()) for (const sa of sc.values()) secrets.add(toHex(sa.sak));
      for (const sa of m.secy.txSas.values()) secrets.add(toHex(sa.sak));
    }
    expect(secrets.size).toBeGreaterThan(3);
    for (const m of l.members) {
      const s = JSON.stringify(m.kay.status());
      const e = JSON.stringify(m.events);
      expect(JSON.parse(s)).toEqual(m.kay.status());
      for (const k of secrets) {
        expect(s.includes(k)).toBe(false);
        expect(e.includes(k)).toBe(false);
      }
      const st = m.kay.status();
      expect(st).toMatchObject({ running: true, policy: 'must-secure', principalCkn: toHex(CKN), cipherSuite: 'GCM-AES-XPN-128', secured: true });
      expect(st.mi).toMatch(/^[0-9a-f]{24}$/);
      expect(st.mn).toBeGreaterThan(3);
      expect(st.livePeers.map((p) => p.sci).sort()).toEqual(
        l.members
          .filter((x) => x !== m)
          .map((x) => x.sci)
          .sort(),
      );
      expect(st.counters.mkpdusSent).toBe(m.framesSent);
      expect(st.counters.mkpdusReceived).toBeGreaterThan(0);
    }
    expect(l.status('a').counters.saksGenerated).toBe(l.status('a').counters.rekeys + 1);
    expect(l.status('b').counters.saksReceived).toBe(l.status('a').counters.saksGenerated);
  });

  it('txKey names the key in use for transmit, through rekeys, with the key number that grows', () => {
    const l = lan(2);
    l.startAll();
    expect(l.runUntilConverged(10_000)).toBe(true);
    l.runFor(5_000);
    const before = l.status('a').txKey!;
    expect(before.tx).toBe(true);
    // The CP files a transmitting first key as "old" (RETIRE); txKey hides that detail.
    expect([l.status('a').latestKey?.ki, l.status('a').oldKey?.ki]).toContain(before.ki);
    l.member('a').kay.forceRekey(l.now);
    l.runFor(10_000);
    const after = l.status('a').txKey!;
    expect(after.kn).toBe(before.kn + 1);
    expect(l.status('b').txKey!.ki).toBe(after.ki);
  });

  it('rejects invalid configuration (not peer input) with KayConfigError', () => {
    const bad = [
      { sci: { mac: new Uint8Array(5), port: 1 } },
      { primary: { cak: new Uint8Array(20), ckn: CKN } },
      { primary: { cak: CAK, ckn: new Uint8Array(0) } },
      { primary: { cak: CAK, ckn: new Uint8Array(33) } },
      { fallback: { cak: CAK, ckn: CKN } },
      { priority: 256 },
      { confidentialityOffset: 20 as 30 },
      { helloTimeMs: 3000, lifeTimeMs: 2000 },
      { cipherSuite: 'ROT13' as 'GCM-AES-128' },
    ];
    for (const b of bad) expect(() => new Kay(cfg(1, b))).toThrow(KayConfigError);
    expect(() => new Kay(cfg(1, { fallback: { cak: CAK, ckn: Uint8Array.of(1) } }))).not.toThrow();
  });

  it('defaults: MKA version 1 (3 for XPN), EAPOL 3, PAE group address, priority 16, 2 s hello', () => {
    const k = new Kay(cfg(1));
    const f = k.start(0).frames;
    expect(f.length).toBe(1);
    const d = decodeMkpdu(f[0]!);
    if (!d.ok) throw new Error('bad');
    expect(d.value.basic.version).toBe(1);
    expect(d.value.eapolVersion).toBe(3);
    expect(toHex(d.value.dst)).toBe('0180c2000003');
    expect(d.value.basic.priority).toBe(16);
    expect(d.value.basic.sci.port).toBe(1);
    expect(k.nextDeadline()).toBe(2_000);
    const x = new Kay(cfg(1, { cipherSuite: 'GCM-AES-XPN-256' }));
    const dx = decodeMkpdu(x.start(0).frames[0]!);
    expect(dx.ok && dx.value.basic.version).toBe(3);
    // start(): the SecY is configured closed and protecting (must-secure)
    expect(new Kay(cfg(1)).start(0).actions).toEqual([
      { kind: 'setCipherSuite', cipherSuite: 'GCM-AES-128', confidentialityOffset: 0 },
      { kind: 'setProtect', protectFrames: true, validate: 'strict' },
      { kind: 'setControlledPortEnabled', enabled: false },
    ]);
  });

  it('a peer listing our MI with an MN we never sent means an MI collision: we pick a new MI', () => {
    const k = new Kay(cfg(1, { random: seededRandom(4) }));
    k.start(0);
    const mi = k.status().mi;
    const frame = encodeMkpdu(
      peerMkpdu({ sci: { mac: mac(2), port: 1 }, actor: { mi: new Uint8Array(12).fill(9), mn: 1 }, ckn: CKN }, [
        { type: 'potentialPeers', keyServerSsci: 0, peers: [{ mi: Uint8Array.from(Buffer.from(mi, 'hex')), mn: 1000 }] },
      ]),
      deriveIck(CAK, CKN),
    );
    const out = k.receive(frame, 50);
    expect(k.status().mi).not.toBe(mi);
    expect(k.counters().miChanges).toBe(1);
    expect(out.frames.length).toBe(1); // the new MI is announced at once
    expect(k.status().livePeers).toEqual([]);
  });
});
