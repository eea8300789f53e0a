/** Unit tests of the pure liveness bookkeeping (src/mka/liveness.ts): our MNs and peers' Basic Parameter Sets. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex } from '../../src/common/hex.js';
import { Actor, newPeer, refreshPeer } from '../../src/mka/liveness.js';
import { MN_MAX } from '../../src/mka/participant-env.js';
import { seededRandom } from '../../src/mka/sim/index.js';
import type { BasicParamSet, PeerListParamSet } from '../../src/mka/types.js';
import { peerMkpdu } from '../support/mkpdu-fixtures.js';
import { CKN, mac } from './helpers.js';

const LIFE = 6_000;
const list = (type: PeerListParamSet['type'], entries: { mi: Uint8Array; mn: number }[]): PeerListParamSet => ({ type, keyServerSsci: 0, peers: entries });
const basic = (over: Partial<BasicParamSet> = {}): BasicParamSet =>
  peerMkpdu({ sci: { mac: mac(7), port: 1 }, actor: { mi: new Uint8Array(12).fill(7), mn: 1 }, ckn: CKN, ...over }).basic;

describe('Actor: our MI and the MNs we sent', () => {
  it('an MN is acceptably recent iff sent within the life time, the last two always', () => {
    // Sends at non-decreasing times; then a check at a later time of every MN from 0 to mn + 1.
    const gaps = fc.array(fc.integer({ min: 0, max: 4_000 }), { minLength: 0, maxLength: 12 });
    fc.assert(
      fc.property(gaps, fc.integer({ min: 0, max: 20_000 }), (ds, after) => {
        const a = new Actor(LIFE, seededRandom(1));
        const sentAt: number[] = [];
        let t = 0;
        for (const d of ds) {
          t += d;
          expect(a.next(t)).toBe(sentAt.length + 1);
          sentAt.push(t);
        }
        const now = t + after;
        // Model: drop the oldest while more than two remain and it was sent before now - LIFE.
        let first = 0;
        while (sentAt.length - first > 2 && sentAt[first]! < now - LIFE) first++;
        for (let mn = 0; mn <= sentAt.length + 1; mn++) {
          const expected = sentAt.length > 0 && mn >= first + 1 && mn <= sentAt.length;
          expect(a.acceptable(mn, now)).toBe(expected);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('classifies how a peer lists our MI: live, potential only, stale, never sent, not at all', () => {
    const a = new Actor(LIFE, seededRandom(2));
    for (let i = 0; i < 5; i++) a.next(i * 2_000); // MNs 1..5 at 0, 2000, ..., 8000
    const me = (mn: number) => [{ mi: a.mi, mn }];
    const other = [{ mi: new Uint8Array(12).fill(1), mn: 5 }];
    const now = 8_500;
    expect(a.listing(list('livePeers', me(5)), undefined, now)).toEqual({ kind: 'listed', live: true, sentAt: 8_000 });
    expect(a.listing(undefined, list('potentialPeers', me(4)), now)).toEqual({ kind: 'listed', live: false, sentAt: 6_000 });
    // The Live Peer List entry counts first, even when the potential list has a newer MN.
    expect(a.listing(list('livePeers', me(1)), list('potentialPeers', me(5)), now)).toEqual({ kind: 'none' });
    expect(a.listing(list('livePeers', me(6)), undefined, now)).toEqual({ kind: 'collision' });
    expect(a.listing(list('livePeers', other), list('potentialPeers', other), now)).toEqual({ kind: 'none' });
    expect(a.listing(undefined, undefined, now)).toEqual({ kind: 'none' });
  });

  it('a new MI forgets every MN sent before, and one whose MNs are spent says so', () => {
    const a = new Actor(LIFE, seededRandom(3));
    a.next(0);
    const before = toHex(a.mi);
    const oldEntry = [{ mi: Uint8Array.from(a.mi), mn: 1 }];
    a.renew();
    expect(toHex(a.mi)).not.toBe(before);
    expect(a.miHex).toBe(toHex(a.mi));
    expect(a.mn).toBe(0);
    expect(a.acceptable(1, 0)).toBe(false);
    expect(a.listing(list('livePeers', oldEntry), undefined, 0)).toEqual({ kind: 'none' });
    a.mn = MN_MAX - 1;
    expect(a.spent).toBe(false);
    a.next(1);
    expect(a.spent).toBe(true);
  });
});

describe('peers from their Basic Parameter Set', () => {
  it('a new peer is potential, expires as given and owns copies of the MKPDU buffers', () => {
    const b = basic();
    const p = newPeer(b, '0200000000070001', 6_100);
    expect(p).toMatchObject({ miHex: toHex(b.actor.mi), mn: 1, sciHex: '0200000000070001', live: false, expiresAt: 6_100, sakUse: null, xpn: null });
    b.actor.mi.fill(0);
    b.sci.mac.fill(0);
    expect(p.miHex).toBe('070707070707070707070707');
    expect(toHex(p.mi)).toBe(p.miHex);
    expect(toHex(p.sci.mac)).toBe('020000000007');
  });

  it('only a live peer changing priority, Key Server flag or SCI changes the election inputs', () => {
    const fields: [string, Partial<BasicParamSet>, boolean][] = [
      ['priority', { priority: 1 }, true],
      ['key server flag', { keyServer: false }, true],
      ['SCI', { sci: { mac: mac(8), port: 1 } }, true],
      ['MACsec desired', { macsecDesired: false }, false],
      ['capability', { macsecCapability: 1 }, false],
      ['MN only', {}, false],
    ];
    for (const [what, over, changes] of fields) {
      for (const live of [false, true]) {
        const p = newPeer(basic(), '0200000000070001', 0);
        p.live = live;
        const b = basic({ ...over, actor: { mi: new Uint8Array(12).fill(7), mn: 2 } });
        const sci = over.sci ? '0200000000080001' : '0200000000070001';
        expect(refreshPeer(p, b, sci), `${what}, live ${live}`).toBe(live && changes);
        expect(p).toMatchObject({
          mn: 2,
          priority: b.priority,
          keyServer: b.keyServer,
          macsecDesired: b.macsecDesired,
          macsecCapability: b.macsecCapability,
          sciHex: sci,
        });
      }
    }
  });
});
