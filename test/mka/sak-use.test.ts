/** Unit tests of the SAK Use parameter set both ways (src/mka/sak-use.ts). */
import { describe, expect, it } from 'vitest';
import type { PortState } from '../../src/mka/participant-env.js';
import {
  allReceiving,
  anyTransmitting,
  holdsKey,
  lowestPn,
  membersReceiving,
  peerLowestPn,
  reportsRx,
  reportsTx,
  sakUseSet,
  xpnSet,
} from '../../src/mka/sak-use.js';
import { livePeer, ourKey, reporting } from '../support/mka-members.js';

const port = (over: Partial<PortState> = {}): PortState => ({
  enabled: true,
  protectFrames: true,
  validate: 'strict',
  cipherSuite: 'GCM-AES-128',
  confidentialityOffset: 0,
  suiteRefused: false,
  secured: true,
  ...over,
});

describe('SAK Use', () => {
  it('reads what a peer reports: receiving, transmitting, holding, lowest PN', () => {
    const [b, c] = [livePeer(7), livePeer(8)];
    const k = ourKey([b]);
    const other = ourKey([b], 2, 1);
    expect(reportsRx(null, k.ki)).toBe(false);
    expect(reportsRx({ ...reporting(k), hasKeys: false }, k.ki)).toBe(false);
    expect(reportsRx(reporting(k), k.ki)).toBe(true);
    expect(reportsRx(reporting(k), other.ki)).toBe(false);
    expect(reportsTx(reporting(k), k.ki)).toBe(false);
    expect(reportsTx(reporting(k, { tx: true }), k.ki)).toBe(true);
    // c is not a member of k: it need not confirm it, but "all receiving" waits for it.
    b.sakUse = reporting(k);
    expect(membersReceiving([b, c], k)).toBe(true);
    expect(allReceiving([b, c], k)).toBe(false);
    expect(anyTransmitting([b, c], k)).toBe(false);
    c.sakUse = reporting(k, { tx: true, lowestPn: 77 });
    expect(allReceiving([b, c], k)).toBe(true);
    expect(anyTransmitting([b, c], k)).toBe(true);
    expect(holdsKey(livePeer(9), k)).toBe(false);
    expect(holdsKey(c, k)).toBe(true); // by its report
    expect(holdsKey(livePeer(7), k)).toBe(true); // by distribution
    expect(peerLowestPn(c, k.ki)).toBe(77n);
    expect(peerLowestPn(c, other.ki)).toBeNull();
    c.xpn = { type: 'xpn', suspendedFor: 0, latestLowestPnHigh: 2, oldLowestPnHigh: 0 };
    expect(peerLowestPn(c, k.ki)).toBe((2n << 32n) | 77n);
  });

  it('reports our keys with lowest PN = next PN - 1 (at least 1), plain flags from the port', () => {
    const k = Object.assign(ourKey([livePeer(7)], 1, 2), { rx: true, tx: true, pnLow: 1000n });
    const s = sakUseSet(k, null, port());
    expect(s).toMatchObject({
      type: 'sakUse',
      hasKeys: true,
      plainTx: false,
      plainRx: false,
      latest: { an: 2, rx: true, tx: true, lowestPn: 999 },
      old: { an: 0, rx: false, tx: false, lowestPn: 0 },
    });
    expect(s.old.ki.kn).toBe(0);
    expect(sakUseSet(null, k, port({ protectFrames: false, validate: 'check' }))).toMatchObject({ plainTx: true, plainRx: true, old: { lowestPn: 999 } });
    expect(lowestPn(null)).toBe(0n);
    expect(lowestPn({ ...k, pnLow: 0n })).toBe(1n);
  });

  it('adds the XPN set only for XPN keys, with the high halves of the lowest PNs', () => {
    expect(xpnSet(ourKey([livePeer(7)]), null)).toBeNull();
    const x = Object.assign(ourKey([livePeer(7)], 1, 0, 'GCM-AES-XPN-128'), { pnLow: (5n << 32n) + 10n });
    expect(xpnSet(null, x)).toEqual({ type: 'xpn', suspendedFor: 0, latestLowestPnHigh: 0, oldLowestPnHigh: 5 });
    expect(xpnSet(x, null)).toEqual({ type: 'xpn', suspendedFor: 0, latestLowestPnHigh: 5, oldLowestPnHigh: 0 });
  });
});
