/**
 * Deviations from IEEE 802.1X-2010/2020 that an outside review found (issue 11), one block per
 * deviation, each in the simulator or against hand-made MKPDUs.
 */
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../src/common/hex.js';
import { deriveIck, deriveKek, wrapKey } from '../../src/mka/crypto.js';
import { Kay, KayConfigError } from '../../src/mka/kay.js';
import { decodeMkpdu, encodeMkpdu, findSet } from '../../src/mka/mkpdu.js';
import { SimulatedSecy } from '../../src/mka/sim/index.js';
import type { SecyAction } from '../../src/mka/secy.js';
import type { DecodedMkpdu } from '../../src/mka/types.js';
import { peerMkpdu } from '../support/mkpdu-fixtures.js';
import { CAK, CKN, cfg, expectOnlyCurrentKey, lan, mac, noGap } from './helpers.js';

const ick = deriveIck(CAK, CKN);
const decoded = (f: Uint8Array): DecodedMkpdu => {
  const r = decodeMkpdu(f);
  if (!r.ok) throw new Error(r.error.toString());
  return r.value;
};

describe('MACsec Capability: announce what the SecY can do', () => {
  it('announces capability 2 for a SecY with offset 0 only (the Linux SecY), 3 only when the SecY has 30/50', () => {
    for (const [cap, want] of [
      [undefined, 2],
      [2, 2],
      [3, 3],
    ] as const) {
      const k = new Kay(cfg(1, cap === undefined ? {} : { macsecCapability: cap }));
      const f = k.start(0).frames[0]!;
      expect(decoded(f).basic.macsecCapability).toBe(want);
    }
  });

  it('announces capability 1 when configured integrity-only (a key server then picks no confidentiality)', () => {
    const k = new Kay(cfg(1, { confidentialityOffset: null }));
    expect(decoded(k.start(0).frames[0]!).basic.macsecCapability).toBe(1);
  });

  it('rejects confidentiality offsets 30 and 50 when the SecY lacks them', () => {
    expect(() => new Kay(cfg(1, { confidentialityOffset: 30 }))).toThrow(KayConfigError);
    expect(() => new Kay(cfg(1, { confidentialityOffset: 50, macsecCapability: 2 }))).toThrow(/confidentialityOffset 50/);
    expect(() => new Kay(cfg(1, { confidentialityOffset: 30, macsecCapability: 3 }))).not.toThrow();
  });

  /** A Kay and a hand-made key server that distributes a SAK with the given offset code. */
  function withKeyServer(capability: 2 | 3, offsetCode: number) {
    const k = new Kay(cfg(1, { priority: 200, macsecCapability: capability }));
    const ksMi = new Uint8Array(12).fill(5);
    const kek = deriveKek(CAK, CKN);
    const ks = (mn: number, withSak: boolean) =>
      encodeMkpdu(
        peerMkpdu({ sci: { mac: mac(5), port: 1 }, actor: { mi: ksMi, mn }, ckn: CKN, priority: 1 }, [
          { type: 'livePeers', keyServerSsci: 0, peers: [{ mi: fromHex(k.status().mi), mn: k.status().mn }] },
          ...(withSak
            ? [
                {
                  type: 'distributedSak' as const,
                  an: 0,
                  confidentialityOffset: offsetCode,
                  plain: false,
                  kn: 1,
                  cipherSuite: null,
                  wrappedSak: wrapKey(kek, new Uint8Array(16).fill(0x42)),
                },
              ]
            : []),
        ]),
        ick,
      );
    k.start(0);
    k.receive(ks(1, false), 10);
    expect(k.status().keyServer?.self).toBe(false);
    return { k, out: k.receive(ks(2, true), 20) };
  }

  it('a Distributed SAK with an offset beyond our own capability is not taken', () => {
    const { k, out } = withKeyServer(2, 2);
    expect(out.actions.filter((a) => a.kind === 'installRxSa' || a.kind === 'installTxSa')).toEqual([]);
    expect(out.events.some((e) => e.kind === 'dropped' && /offset 30/.test(e.reason))).toBe(true);
    expect(k.status().secured).toBe(false);
  });

  it('the SecY refusing the offset of a key reaches the KaY: the key is dropped, the port never reports secured', () => {
    const { k, out } = withKeyServer(3, 2);
    const set = out.actions.find((a): a is Extract<SecyAction, { kind: 'setCipherSuite' }> => a.kind === 'setCipherSuite');
    expect(set?.confidentialityOffset).toBe(30);
    const r = k.secyFailed(set!, 'confidentiality offset 30 not supported', 30);
    expect(r.events.some((e) => e.kind === 'keyRefused')).toBe(true);
    expect(k.status().latestKey).toBeNull();
    expect(k.status().oldKey).toBeNull();
    expect(k.status().secured).toBe(false);
    // Our SAK Use stops claiming the key.
    const f = k.tick(k.nextDeadline()).frames.at(-1) ?? k.tick(5_000).frames.at(-1);
    if (f) {
      const su = findSet(decoded(f), 'sakUse');
      expect(su?.latest.rx ?? false).toBe(false);
    }
  });
});

describe('integrity-only negotiation', () => {
  it('key server integrity-only: the member follows (no confidentiality), both agree', () => {
    const l = lan(2, (i) => (i === 1 ? { confidentialityOffset: null, priority: 1 } : {}));
    l.startAll();
    expect(l.runUntilConverged(10_000)).toBe(true);
    expect(l.status('a').confidentialityOffset).toBeNull();
    expect(l.status('b').confidentialityOffset).toBeNull();
  });

  it('member integrity-only (announces capability 1): the key server distributes integrity-only, both agree', () => {
    const l = lan(2, (i) => (i === 2 ? { confidentialityOffset: null } : { priority: 1 }));
    l.startAll();
    expect(l.runUntilConverged(10_000)).toBe(true);
    expect(l.status('a').keyServer?.self).toBe(true);
    expect(l.status('a').confidentialityOffset).toBeNull();
    expect(l.status('b').confidentialityOffset).toBeNull();
  });
});

describe('liveness: a peer goes between MKA_LIFE_TIME and MKA_LIFE_TIME + MKA_HELLO_TIME after our latest MN it confirmed (9.4.3)', () => {
  it('one-way failure (the peer no longer hears us): removed within a life time plus a hello time of the failure, not two life times', () => {
    const l = lan(2);
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    const t0 = l.now;
    // a's frames no longer reach b; b's still reach a, listing a's last MN b heard.
    l.link = (from) => from.name === 'a';
    l.runFor(15_000);
    const lost = l.member('a').events.filter((e) => e.event.kind === 'peerLost');
    expect(lost.length).toBe(1);
    expect(lost[0]!.at - t0).toBeLessThanOrEqual(8_000);
    const lostB = l.member('b').events.filter((e) => e.event.kind === 'peerLost');
    expect(lostB[0]!.at - t0).toBeLessThanOrEqual(6_000 + 5); // its last MKPDU from a was in flight at t0
  });
});

describe('Potential Peer List: members learned from live peers (9.4.3)', () => {
  it("lists MIs from a live peer's Live Peer List that it has not heard from directly", () => {
    const l = lan(3);
    // c hears and is heard by b only; a never hears c (c's frames to a are lost).
    l.link = (from, to) => (from.name === 'c' && to.name === 'a') || (from.name === 'a' && to.name === 'c');
    l.startAll();
    l.runFor(5_000);
    const cMi = l.status('c').mi;
    expect(l.status('b').livePeers.map((p) => p.mi)).toContain(cMi);
    const lastA = [...l.frames].reverse().find((f) => f.from === 'a')!;
    const pot = findSet(decoded(lastA.frame), 'potentialPeers');
    expect(pot?.peers.map((p) => toHex(p.mi))).toContain(cMi);
    // Not a peer of ours: never live, no RX SC, not in status.
    expect(l.status('a').livePeers.map((p) => p.mi)).not.toContain(cMi);
    expect(l.member('a').secy.rxScs.has(l.member('c').sci)).toBe(false);
  });

  it('a newcomer is admitted to a group after receiving, then transmitting, one MKPDU each way', () => {
    const l = lan(3);
    const c = l.member('c');
    l.start(l.member('a'));
    l.start(l.member('b'));
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    l.start(c);
    // c live at both within a few prompt exchanges
    expect(l.runUntil((x) => x.status('a').livePeers.length === 2 && x.status('b').livePeers.length === 2 && x.status('c').livePeers.length === 2, 200)).toBe(
      true,
    );
  });
});

describe('SAK hold-off while potential peers are pending (9.8)', () => {
  it('with a potential peer pending, the key server distributes at most once per MKA_LIFE_TIME', () => {
    const l = lan(4, (i) => (i === 1 ? { priority: 1 } : {}));
    // d is heard by a but never hears anybody: it stays potential at a forever.
    l.link = (_from, to) => to.name === 'd';
    l.startAll();
    expect(l.runUntil((x) => x.status('a').potentialPeers.length > 0 && x.status('a').livePeers.length === 2, 2_000)).toBe(true);
    l.runFor(10_000);
    const t0 = l.now;
    // c leaves and returns twice within a few seconds: live-set changes while d is pending.
    for (let k = 0; k < 2; k++) {
      l.crash(l.member('c'));
      l.runFor(7_000);
      l.restart(l.member('c'));
      l.runFor(700);
    }
    l.runFor(10_000);
    const gens = l
      .member('a')
      .events.filter((e) => e.event.kind === 'sakInstalled' && e.event.role === 'rx' && e.at >= t0)
      .map((e) => e.at);
    for (let i = 1; i < gens.length; i++) expect(gens[i]! - gens[i - 1]!).toBeGreaterThanOrEqual(6_000);
  });

  it('without potential peers a membership change is keyed at once', () => {
    const l = lan(3, (i) => (i === 1 ? { priority: 1 } : {}));
    l.start(l.member('a'));
    l.start(l.member('b'));
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    const t0 = l.now;
    l.start(l.member('c'));
    expect(l.runUntilConverged(1_000)).toBe(true);
    expect(l.now - t0).toBeLessThan(500);
  });
});

describe('SAK Use that a joining wpa_supplicant would reject', () => {
  const wpaLikeNewcomer = (kay: Kay, mn: number) =>
    encodeMkpdu(
      peerMkpdu(
        { sci: { mac: mac(9), port: 1 }, actor: { mi: new Uint8Array(12).fill(9), mn }, ckn: CKN, priority: 255 },
        mn === 1 ? [] : [{ type: 'livePeers', keyServerSsci: 0, peers: [{ mi: fromHex(kay.status().mi), mn: kay.status().mn }] }],
      ),
      ick,
    );

  it('no SAK Use for a key a potential peer cannot hold, unless the MKPDU also distributes it', () => {
    const l = lan(2, (i) => (i === 1 ? { priority: 1 } : {}));
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    const b = l.member('b');
    // A newcomer's first MKPDU reaches b: b's prompt answer lists it as potential and carries no SAK Use.
    const before = l.frames.length;
    l.inject(b, wpaLikeNewcomer(b.kay, 1));
    l.runFor(20);
    const answer = l.frames.slice(before).find((f) => f.from === 'b')!;
    const pdu = decoded(answer.frame);
    expect(findSet(pdu, 'potentialPeers')?.peers.map((p) => toHex(p.mi))).toContain(toHex(new Uint8Array(12).fill(9)));
    expect(findSet(pdu, 'sakUse')).toBeUndefined();
    expect(l.status('b').secured).toBe(true);
  });

  it('an omitted SAK Use keeps the last report: a group keeps converging and never gaps', () => {
    const l = lan(3, (i) => (i === 1 ? { priority: 1 } : {}));
    l.start(l.member('a'));
    l.start(l.member('b'));
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    l.addChecker(noGap(['a', 'b']));
    l.start(l.member('c'));
    expect(l.runUntilQuiescent(15_000)).toBe(true);
    expect(l.violations).toEqual([]);
  });
});

describe('a member that becomes live to another member after the last SAK gets a prompt re-distribution', () => {
  it('key server re-keys once every live member lists every other as live', () => {
    // c hears a (the key server) at once, but b's frames reach c only after 1 s: the first SAK
    // went out while c had no RX SC for b. A wpa_supplicant c would then never install an RX SA
    // for b; the key server re-distributes when c starts listing b.
    let blockBtoC = true;
    const l = lan(3, (i) => (i === 1 ? { priority: 1 } : {}), {
      link: (from, to) => blockBtoC && from.name === 'b' && to.name === 'c',
    });
    l.startAll();
    l.runFor(1_000);
    const before = l.member('a').kay.status().counters.saksGenerated;
    blockBtoC = false;
    l.runFor(5_000);
    expect(l.member('a').kay.status().counters.saksGenerated).toBeGreaterThan(before);
    expect(l.runUntilQuiescent(10_000)).toBe(true);
  });
});

describe('lowest acceptable PN and PN exhaustion', () => {
  it('SAK Use reports the lowest PN sent in the last hello time, not the highest', () => {
    const k = new Kay(cfg(1, { priority: 1 }));
    const secy = new SimulatedSecy();
    const apply = (o: { actions: SecyAction[] }) => o.actions.forEach((a) => secy.applySync(a));
    apply(k.start(0));
    const peerMi = new Uint8Array(12).fill(7);
    const from = (mn: number) =>
      encodeMkpdu(
        peerMkpdu({ sci: { mac: mac(7), port: 1 }, actor: { mi: peerMi, mn }, ckn: CKN, priority: 200 }, [
          { type: 'livePeers', keyServerSsci: 0, peers: [{ mi: fromHex(k.status().mi), mn: k.status().mn }] },
        ]),
        ick,
      );
    apply(k.receive(from(1), 10));
    apply(k.tick(k.nextDeadline(), secy.readPnSync()));
    const an = (k.status().latestKey ?? k.status().oldKey)!.an;
    // Our TX SA's next PN: 1000 at t=2000 (one hello ago), 5000 now.
    let frames: Uint8Array[] = [];
    apply(k.tick(2_000, { txNextPn: new Map([[an, 1000n]]) }));
    const o = k.tick(4_000, { txNextPn: new Map([[an, 5000n]]) });
    frames = o.frames;
    expect(frames.length).toBeGreaterThan(0);
    const su = findSet(decoded(frames.at(-1)!), 'sakUse')!;
    const slot = su.latest.ki.kn !== 0 ? su.latest : su.old;
    expect(slot.lowestPn).toBeLessThanOrEqual(1000);
  });

  it('XPN: the exhaustion threshold is three quarters of the PN space, like non-XPN', () => {
    const k = new Kay(cfg(1, { cipherSuite: 'GCM-AES-XPN-128' }));
    expect((k as unknown as { env: { cfg: { pnExhaustionThreshold: bigint } } }).env.cfg.pnExhaustionThreshold).toBe(0xc000000000000000n);
  });
});

describe('never key server', () => {
  it('a participant configured never to be key server clears the Key Server flag and is never elected', () => {
    const l = lan(2, (i) => (i === 1 ? { priority: 0, canBeKeyServer: false } : { priority: 200 }));
    l.startAll();
    expect(l.runUntilConverged(10_000)).toBe(true);
    expect(l.status('a').keyServer?.self).toBe(false);
    expect(l.status('b').keyServer?.self).toBe(true);
    const fa = l.frames.filter((f) => f.from === 'a').map((f) => decoded(f.frame).basic);
    expect(fa.every((b) => !b.keyServer)).toBe(true);
  });

  it('two never-key-server participants elect nobody and stay unsecured', () => {
    const l = lan(2, { canBeKeyServer: false });
    l.startAll();
    l.runFor(10_000);
    expect(l.status('a').secured).toBe(false);
    expect(l.status('b').keyServer).toBeNull();
  });
});

describe('MKA version', () => {
  it('announces version 1 without XPN and 3 with XPN (SSCI-ordered Live Peer List)', () => {
    expect(decoded(new Kay(cfg(1)).start(0).frames[0]!).basic.version).toBe(1);
    expect(decoded(new Kay(cfg(1, { cipherSuite: 'GCM-AES-XPN-128' })).start(0).frames[0]!).basic.version).toBe(3);
  });
});

describe('in-service suspension of a peer (802.1Xbx, MKA version 2 and later)', () => {
  it('a live peer announcing a suspension time stays live (with its SAs) that long, bounded', () => {
    const k = new Kay(cfg(1, { priority: 1 }));
    const secy = new SimulatedSecy();
    const apply = (o: { actions: SecyAction[] }) => o.actions.forEach((a) => secy.applySync(a));
    apply(k.start(0));
    const peerMi = new Uint8Array(12).fill(7);
    const from = (mn: number, suspendedFor: number) =>
      encodeMkpdu(
        peerMkpdu({ sci: { mac: mac(7), port: 1 }, actor: { mi: peerMi, mn }, ckn: CKN, priority: 200 }, [
          { type: 'livePeers', keyServerSsci: 0, peers: [{ mi: fromHex(k.status().mi), mn: k.status().mn }] },
          { type: 'xpn', suspendedFor, latestLowestPnHigh: 0, oldLowestPnHigh: 0 },
        ]),
        ick,
      );
    apply(k.receive(from(1, 0), 10));
    expect(k.status().livePeers.length).toBe(1);
    apply(k.receive(from(2, 30), 1_000));
    for (let t = 2_000; t <= 30_000; t += 1_000) apply(k.tick(t, secy.readPnSync()));
    expect(k.status().livePeers.length).toBe(1);
    for (let t = 31_000; t <= 40_000; t += 1_000) apply(k.tick(t, secy.readPnSync()));
    expect(k.status().livePeers.length).toBe(0);
    // more than the limit is cut to it
    apply(
      k.receive(
        encodeMkpdu(
          peerMkpdu({ sci: { mac: mac(8), port: 1 }, actor: { mi: new Uint8Array(12).fill(8), mn: 1 }, ckn: CKN, priority: 200 }, [
            { type: 'livePeers', keyServerSsci: 0, peers: [{ mi: fromHex(k.status().mi), mn: k.status().mn }] },
            { type: 'xpn', suspendedFor: 255, latestLowestPnHigh: 0, oldLowestPnHigh: 0 },
          ]),
          ick,
        ),
        41_000,
      ),
    );
    for (let t = 42_000; t <= 162_000; t += 2_000) apply(k.tick(t, secy.readPnSync()));
    expect(k.status().livePeers.length).toBe(0);
  });
});

describe('a late joiner that wins the election', () => {
  it('its first key is on the wire before its second arrives: members switch to it rather than abandon it (no gap)', () => {
    const l = lan(4, (i) => ({ priority: i === 4 ? 1 : 16 }));
    const ms = l.members;
    for (const m of ms.slice(0, 3)) l.start(m);
    expect(l.runUntilQuiescent(15_000)).toBe(true);
    l.start(ms[3]!);
    expect(l.runUntilQuiescent(20_000)).toBe(true);
    l.runFor(10_000);
    expect(l.violations).toEqual([]);
  });
});

describe('members that only read the Latest Key slot (wpa_supplicant 2.10)', () => {
  it("the key server's MKPDUs show each new key as Latest with Tx set (for a hello time and more) before it moves to Old", () => {
    const l = lan(3, (i) => (i === 1 ? { priority: 1 } : {}));
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    l.command(l.member('a'), (k, now) => k.forceRekey(now));
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    const fromA = l.frames.filter((f) => f.from === 'a').map((f) => ({ at: f.at, su: findSet(decoded(f.frame), 'sakUse') }));
    for (const kn of [1, 2]) {
      const shown = fromA.filter((x) => x.su?.latest.tx && x.su.latest.ki.kn === kn);
      expect(shown.length, `KN ${kn} shown as Latest with Tx`).toBeGreaterThan(0);
      // shown for at least the retire time, which spans a hello
      expect(shown.at(-1)!.at - shown[0]!.at).toBeGreaterThanOrEqual(2_000);
    }
  });

  it('a rekey asked for while the new key still sits in the Latest slot waits for RETIRE and leaks no SA', () => {
    const l = lan(2, (i) => (i === 1 ? { priority: 1 } : {}));
    l.startAll();
    expect(l.runUntilConverged(5_000)).toBe(true);
    expect(l.status('a').latestKey?.tx).toBe(true); // held in Latest for the retire time
    l.command(l.member('a'), (k, now) => k.forceRekey(now));
    expect(l.runUntilQuiescent(15_000)).toBe(true);
    expect(l.status('a').txKey?.kn).toBe(2);
    expectOnlyCurrentKey(l);
    expect(l.violations).toEqual([]);
  });
});
