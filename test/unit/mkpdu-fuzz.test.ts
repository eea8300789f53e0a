import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeMkpdu, encodeMkpdu } from '../../src/mka/mkpdu.js';
import { fromHex } from '../../src/common/hex.js';
import { mkpduArb } from '../support/mkpdu-arb.js';
import { mutate, prng } from '../support/prng.js';

const ick = fromHex('8f1c5cb1c8ed2e5f047906e0473aad4d');
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);

/** Decoding must return a result, never throw; successes must re-encode. */
function assertTotal(frame: Uint8Array, stats: { ok: number; err: number }) {
  const r = decodeMkpdu(frame);
  if (r.ok) {
    stats.ok++;
    const { signed: _s, icv: _i, ...pdu } = r.value;
    encodeMkpdu(pdu, ick);
  } else {
    stats.err++;
    expect(r.error.field.length).toBeGreaterThan(0);
    expect(r.error.message).not.toMatch(/internal decoder error/);
  }
}

describe(`MKPDU decoder fuzz (seed ${SEED})`, () => {
  it('100,000 mutated valid MKPDUs never throw', () => {
    const seeds = fc.sample(mkpduArb, { numRuns: 200, seed: SEED }).map((p) => encodeMkpdu(p, ick));
    const r = prng(SEED);
    const stats = { ok: 0, err: 0 };
    for (let i = 0; i < 100_000; i++) assertTotal(mutate(seeds[i % seeds.length]!, r), stats);
    expect(stats.ok + stats.err).toBe(100_000);
    // The mutator must reach both outcomes, or it is not exercising the parser.
    expect(stats.ok).toBeGreaterThan(1000);
    expect(stats.err).toBeGreaterThan(10_000);
  });

  it('30,000 random frames with an EAPOL-MKA header never throw', () => {
    const r = prng(SEED ^ 0x5a5a5a5a);
    const stats = { ok: 0, err: 0 };
    for (let i = 0; i < 30_000; i++) {
      const f = r.bytes(18 + r.int(200));
      f.set([0x88, 0x8e, 1 + r.int(3), 5], 12);
      if (r.int(2)) new DataView(f.buffer).setUint16(16, (f.length - 18) & ~3);
      assertTotal(f, stats);
    }
    expect(stats.err).toBeGreaterThan(0);
  });
});
