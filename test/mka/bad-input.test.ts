import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ALGORITHM_AGILITY_8021X_2010, PAE_GROUP_ADDRESS } from '../../src/mka/constants.js';
import { deriveIck, deriveKek, wrapKey } from '../../src/mka/crypto.js';
import { fromHex } from '../../src/common/hex.js';
import { Kay, type KayStatus } from '../../src/mka/kay.js';
import { decodeMkpdu, encodeMkpdu } from '../../src/mka/mkpdu.js';
import { seededRandom, type SimLan } from '../../src/mka/sim/index.js';
import type { Mkpdu } from '../../src/mka/types.js';
import { CAK, CKN, cfg, lan, mac } from './helpers.js';

/** Status minus counters, for "state unaffected" comparisons. */
function state(s: KayStatus) {
  const { counters: _c, ...rest } = s;
  return JSON.stringify({ ...rest, participants: rest.participants.map((p) => ({ ...p })) });
}

function converged(): SimLan {
  const l = lan(2);
  l.startAll();
  if (!l.runUntilQuiescent(10_000)) throw new Error('no convergence');
  return l;
}

function lastFrom(l: SimLan, name: string): Uint8Array {
  return l.frames.filter((f) => f.from === name).at(-1)!.frame;
}

function forged(over: Partial<Mkpdu['basic']> = {}, ick = deriveIck(CAK, CKN), sets: Mkpdu['sets'] = []): Uint8Array {
  return encodeMkpdu(
    {
      dst: PAE_GROUP_ADDRESS,
      src: mac(9),
      eapolVersion: 3,
      basic: {
        type: 'basic',
        version: 2,
        priority: 0,
        keyServer: true,
        macsecDesired: true,
        macsecCapability: 3,
        sci: { mac: mac(9), port: 1 },
        actor: { mi: fromHex('abababababababababababab'), mn: 1 },
        algorithmAgility: ALGORITHM_AGILITY_8021X_2010,
        ckn: CKN,
        ...over,
      },
      sets,
      icvIndicator: false,
    },
    ick,
  );
}

function expectDropped(l: SimLan, frame: Uint8Array, counter: keyof KayStatus['counters']) {
  const a = l.member('a');
  const before = a.kay.status();
  const out = l.inject(a, frame);
  const after = a.kay.status();
  expect(out.actions).toEqual([]);
  expect(out.frames).toEqual([]);
  expect(out.events.map((e) => e.kind)).toEqual(['dropped']);
  expect(after.counters[counter]).toBe(before.counters[counter] + 1);
  expect(after.counters.mkpdusDropped).toBe(before.counters.mkpdusDropped + 1);
  expect(state(after)).toBe(state(before));
  return out;
}

describe('bad input is dropped, counted and harmless', () => {
  it('wrong ICV (flipped ICV bit, or tampered body)', () => {
    const l = converged();
    const f = lastFrom(l, 'b').slice();
    f[f.length - 1]! ^= 1;
    expectDropped(l, f, 'icvFailures');
    const g = lastFrom(l, 'b').slice();
    g[40]! ^= 0x80; // inside the actor MI
    expectDropped(l, g, 'icvFailures');
    const wrongKey = forged({}, deriveIck(fromHex('ffffffffffffffffffffffffffffffff'), CKN));
    expectDropped(l, wrongKey, 'icvFailures');
    l.runFor(10_000);
    expect(l.converged()).toBe(true);
  });

  it('replayed MN (an earlier MKPDU of a live peer, and the same one twice)', () => {
    const l = converged();
    const old = l.frames.filter((f) => f.from === 'b').at(-3)!.frame;
    expectDropped(l, old, 'replays');
    expectDropped(l, lastFrom(l, 'b'), 'replays');
    l.runFor(10_000);
    expect(l.converged()).toBe(true);
  });

  it('truncated frames at every length', () => {
    const l = converged();
    const f = lastFrom(l, 'b');
    for (let n = 0; n < f.length; n++) {
      const out = l.inject(l.member('a'), f.slice(0, n));
      expect(out.actions).toEqual([]);
      expect(out.events.length).toBe(1);
      expect(out.events[0]!.kind).toBe('dropped');
    }
    const c = l.status('a').counters;
    expect(c.malformed).toBe(f.length);
    expect(c.mkpdusDropped).toBe(f.length);
    l.runFor(10_000);
    expect(l.converged()).toBe(true);
  });

  it('unknown CKN, bad algorithm agility, our own MKPDU looped back', () => {
    const l = converged();
    const otherCkn = fromHex('deadbeef');
    expectDropped(l, forged({ ckn: otherCkn }, deriveIck(CAK, otherCkn)), 'unknownCkn');
    expectDropped(l, forged({ algorithmAgility: 0x0080c202 }), 'badAlgorithmAgility');
    expectDropped(l, lastFrom(l, 'a'), 'ownMi');
    expect(l.status('a').counters.unknownCkn).toBe(1);
  });

  it('a forged MKPDU with a valid ICV but unknown MI becomes only a potential peer and changes no keys', () => {
    const l = converged();
    const a = l.member('a');
    const before = a.secy.log.length;
    const out = l.inject(a, forged());
    expect(out.actions).toEqual([]);
    expect(l.status('a').potentialPeers.map((p) => p.sci)).toEqual(['0200000000090001']);
    expect(l.status('a').keyServer?.self).toBe(true); // priority 0 of a non-live peer does not count
    l.runFor(10_000);
    expect(l.status('a').potentialPeers).toEqual([]); // expired
    expect(a.secy.log.slice(before).filter((x) => !x.startsWith('enable'))).toEqual([]);
    expect(l.converged()).toBe(true);
  });

  it('a flood of MIs cannot grow the peer table beyond its bound', () => {
    const l = converged();
    const a = l.member('a');
    for (let i = 0; i < 200; i++) {
      const mi = new Uint8Array(12);
      new DataView(mi.buffer).setUint32(8, i + 1);
      l.inject(a, forged({ actor: { mi, mn: 1 }, sci: { mac: mac(100 + i), port: 1 } }));
    }
    const st = l.status('a');
    expect(st.potentialPeers.length + st.livePeers.length).toBe(64);
    expect(st.counters.peerTableFull).toBe(200 - 63);
    // our MKPDUs stay within one Ethernet frame
    l.runFor(2_100);
    expect(lastFrom(l, 'a').length).toBeLessThan(1514);
    l.runFor(8_000);
    expect(l.status('a').potentialPeers).toEqual([]);
    expect(l.converged()).toBe(true);
  });

  it('Distributed SAK from a live peer that is not the key server is ignored', () => {
    const l = lan(3);
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    const c = l.member('c');
    const d = decodeMkpdu(lastFrom(l, 'b'));
    if (!d.ok) throw new Error('undecodable');
    const pdu = d.value;
    pdu.basic.actor.mn += 1;
    const kek = deriveKek(CAK, CKN);
    pdu.sets.push({
      type: 'distributedSak',
      an: 3,
      confidentialityOffset: 1,
      plain: false,
      kn: 77,
      cipherSuite: null,
      wrappedSak: wrapKey(kek, new Uint8Array(16).fill(7)),
    });
    const before = c.secy.log.length;
    const out = l.inject(c, encodeMkpdu(pdu, deriveIck(CAK, CKN)));
    expect(out.events).toEqual([{ kind: 'dropped', reason: 'Distributed SAK from a participant that is not our key server ignored' }]);
    expect(out.actions).toEqual([]);
    expect(c.secy.log.length).toBe(before);
    expect(l.status('c').latestKey).toBeNull();
    l.runFor(5_000);
    expect(l.converged()).toBe(true);
  });

  it('property: random and mutated frames never make receive() throw, and the group stays secured', () => {
    const l = converged();
    const a = l.member('a');
    const seeds = l.frames.slice(-6).map((f) => f.frame);
    const mutated = fc
      .tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), fc.option(fc.nat()))
      .map(([f, edits, cut]) => {
        const g = f.slice();
        for (const [i, v] of edits) g[i % g.length] = v;
        return cut === null ? g : g.slice(0, cut % (g.length + 1));
      });
    const random = fc.uint8Array({ minLength: 0, maxLength: 200 });
    const framed = fc.uint8Array({ minLength: 0, maxLength: 120 }).map((body) => {
      const g = new Uint8Array(18 + body.length);
      g.set(PAE_GROUP_ADDRESS, 0);
      g.set([0x88, 0x8e, 3, 5, body.length >> 8, body.length & 0xff], 12);
      g.set(body, 18);
      return g;
    });
    fc.assert(
      fc.property(fc.oneof(mutated, random, framed), (frame) => {
        const out = a.kay.receive(frame, l.now);
        expect(Array.isArray(out.frames) && Array.isArray(out.actions) && Array.isArray(out.events)).toBe(true);
        for (const e of out.events) expect(e.kind === 'dropped' ? !/internal error/.test(e.reason) : true).toBe(true);
        for (const act of out.actions) a.secy.applySync(act);
      }),
      { numRuns: 3000, seed: 42 },
    );
    expect(a.secy.errors).toEqual([]);
    l.runFor(10_000);
    expect(l.converged()).toBe(true);
    expect(l.violations).toEqual([]);
  });

  it('receive() and tick() survive garbage arguments', () => {
    const k = new Kay(cfg(1, { random: seededRandom(1) }));
    k.start(0);
    expect(() => k.receive(undefined as unknown as Uint8Array, 1)).not.toThrow();
    expect(() => k.receive(new Uint8Array(2000).fill(0xff), 2)).not.toThrow();
    expect(() => k.tick(3, { txNextPn: new Map([[7, -5n]]) })).not.toThrow();
    expect(k.counters().mkpdusDropped).toBe(2);
    const d = decodeMkpdu(k.tick(2_000).frames[0]!);
    expect(d.ok).toBe(true);
  });
});
