import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../src/common/hex.js';
import { decodeMkpdu } from '../../src/mka/mkpdu.js';
import { seededRandom } from '../../src/mka/sim/index.js';
import { CAK, CKN, FALLBACK_CAK, FALLBACK_CKN, cfg, lan, noGap } from './helpers.js';

const fallback = { cak: FALLBACK_CAK, ckn: FALLBACK_CKN };
const OTHER = { cak: fromHex('99999999999999999999999999999999'), ckn: fromHex('0123') };

describe('primary and fallback CAK', () => {
  it('both participants run side by side; the primary is principal while it has live peers', () => {
    const l = lan(2, { fallback });
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    l.runFor(5_000);
    for (const n of ['a', 'b']) {
      const st = l.status(n);
      expect(st.principalCkn).toBe(toHex(CKN));
      const [p, f] = st.participants;
      expect(p!.principal).toBe(true);
      expect(f!.principal).toBe(false);
      expect(f!.ckn).toBe(toHex(FALLBACK_CKN));
      expect(f!.livePeers.length).toBe(1); // liveness kept up for a quick takeover
      expect(f!.latestKey).toBeNull();
      expect(f!.oldKey).toBeNull();
    }
    // MKPDUs for both CKNs on the wire
    const ckns = new Set(
      l.frames.map((fr) => {
        const d = decodeMkpdu(fr.frame);
        return d.ok ? toHex(d.value.basic.ckn) : '?';
      }),
    );
    expect(ckns).toEqual(new Set([toHex(CKN), toHex(FALLBACK_CKN)]));
    // the SecY only ever carries primary keys (KIs from the primary participants' MIs)
    const primaryMi = l.status('a').participants[0]!.mi;
    expect(l.member('b').secy.transmitting()!.ki.startsWith(primaryMi)).toBe(true);
    expect(l.violations).toEqual([]);
  });

  it('the fallback takes over when the primary peer disappears, and the primary takes back', () => {
    const l = lan(2, { fallback });
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    const b = l.member('b');
    // b comes back with a primary CAK that a does not have (e.g. a failed CAK rollover)
    l.crash(b);
    l.restart(b, cfg(2, { primary: OTHER, fallback, random: seededRandom(5) }));
    expect(l.runUntil((ln) => ln.status('b').principalCkn === toHex(FALLBACK_CKN), 1_000)).toBe(true);
    expect(l.runUntil((ln) => ln.status('a').principalCkn === toHex(FALLBACK_CKN) && ln.converged(), 15_000)).toBe(true);
    // once a switches principal, the fallback secures promptly (no waiting for a hello time)
    const switchedAt = l.member('a').events.find((e) => e.event.kind === 'principalChanged')!.at;
    const securedAt = l
      .member('a')
      .events.filter((e) => e.event.kind === 'secured')
      .at(-1)!.at;
    expect(securedAt - switchedAt).toBeLessThan(200);
    const changed = l.eventsOf('a', 'principalChanged');
    expect(changed).toEqual([{ kind: 'principalChanged', ckn: toHex(FALLBACK_CKN) }]);
    const fbMi = l.status('a').participants[1]!.mi;
    expect(l.member('a').secy.transmitting()!.ki.startsWith(fbMi)).toBe(true);
    expect(l.status('a').participants[0]!.livePeers).toEqual([]);
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    expect(l.violations).toEqual([]);

    // b gets the right primary again: the primary participant takes back over
    l.crash(b);
    l.restart(b, cfg(2, { primary: { cak: CAK, ckn: CKN }, fallback, random: seededRandom(6) }));
    expect(l.runUntil((ln) => ln.status('a').principalCkn === toHex(CKN) && ln.converged(), 15_000)).toBe(true);
    expect(l.eventsOf('a', 'principalChanged').at(-1)).toEqual({ kind: 'principalChanged', ckn: toHex(CKN) });
    const pMi = l.status('a').participants[0]!.mi;
    expect(l.member('a').secy.transmitting()!.ki.startsWith(pMi)).toBe(true);
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    // the fallback key is gone from the SecY
    for (const sc of l.member('a').secy.rxScs.values()) for (const sa of sc.values()) expect(sa.ki.startsWith(pMi)).toBe(true);
    expect(l.violations).toEqual([]);
  });

  it('a member with only the fallback CAK joins through the fallback participant of the others', () => {
    const l = lan(2, { fallback });
    l.add('c', cfg(3, { primary: fallback }));
    l.startAll();
    // a and b: primary principal (they see each other); c talks only to the fallback participants
    l.runFor(10_000);
    expect(l.status('a').principalCkn).toBe(toHex(CKN));
    expect(l.status('c').principalCkn).toBe(toHex(FALLBACK_CKN));
    expect(
      l
        .status('a')
        .participants[1]!.livePeers.map((p) => p.sci)
        .sort(),
    ).toEqual([l.member('b').sci, l.member('c').sci].sort());
    expect(l.status('c').livePeers.length).toBe(2);
    // nobody transmits keys c cannot have: c is not secured, a and b are
    expect(l.status('c').secured).toBe(false);
    l.addChecker(noGap(['a', 'b']));
    l.runFor(5_000);
    expect(l.violations).toEqual([]);
  });
});
