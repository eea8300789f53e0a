/** fast-check arbitraries for MKPDUs, shared by codec, fuzz and KaY tests. */
import fc from 'fast-check';
import type { Mkpdu, ParamSet, SakUseKey } from '../../src/mka/types.js';

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const u32 = fc.nat({ max: 0xffffffff });
const memberId = fc.record({ mi: bytes(12), mn: u32 });

const sakUseKey: fc.Arbitrary<SakUseKey> = fc.record({
  an: fc.integer({ min: 0, max: 3 }),
  tx: fc.boolean(),
  rx: fc.boolean(),
  ki: fc.record({ mi: bytes(12), kn: u32 }),
  lowestPn: u32,
});
const zeroKey = (k: SakUseKey): SakUseKey => ({ ...k, ki: { mi: new Uint8Array(12), kn: 0 }, lowestPn: 0 });

const sets: Record<ParamSet['type'], fc.Arbitrary<ParamSet>> = {
  livePeers: fc.record({ type: fc.constant('livePeers' as const), keyServerSsci: fc.nat(255), peers: fc.array(memberId, { maxLength: 6 }) }),
  potentialPeers: fc.record({ type: fc.constant('potentialPeers' as const), keyServerSsci: fc.nat(255), peers: fc.array(memberId, { maxLength: 6 }) }),
  sakUse: fc
    .record({
      type: fc.constant('sakUse' as const),
      plainTx: fc.boolean(),
      plainRx: fc.boolean(),
      delayProtect: fc.boolean(),
      reservedBit: fc.boolean(),
      hasKeys: fc.boolean(),
      latest: sakUseKey,
      old: sakUseKey,
    })
    .map((s) => (s.hasKeys ? s : { ...s, latest: zeroKey(s.latest), old: zeroKey(s.old) })),
  distributedSak: fc.oneof(
    fc.record({
      type: fc.constant('distributedSak' as const),
      an: fc.nat(3),
      confidentialityOffset: fc.nat(3),
      plain: fc.constant(false),
      kn: u32,
      cipherSuite: fc.constant(null),
      wrappedSak: bytes(24),
    }),
    fc.record({
      type: fc.constant('distributedSak' as const),
      an: fc.nat(3),
      confidentialityOffset: fc.nat(3),
      plain: fc.constant(false),
      kn: u32,
      cipherSuite: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      wrappedSak: fc.oneof(bytes(24), bytes(40)),
    }),
    fc.record({
      type: fc.constant('distributedSak' as const),
      an: fc.nat(3),
      confidentialityOffset: fc.nat(3),
      plain: fc.constant(true),
      kn: fc.constant(0),
      cipherSuite: fc.constant(null),
      wrappedSak: fc.constant(new Uint8Array(0)),
    }),
  ),
  distributedCak: fc.record({ type: fc.constant('distributedCak' as const), wrappedCak: bytes(24), ckn: fc.uint8Array({ minLength: 1, maxLength: 32 }) }),
  kmd: fc.record({ type: fc.constant('kmd' as const), kmd: fc.uint8Array({ maxLength: 40 }) }),
  announcement: fc.record({
    type: fc.constant('announcement' as const),
    tlvs: fc.array(
      fc.oneof(
        fc.record({ tlvType: fc.constant(112), value: fc.nat(3).chain((n) => bytes(n * 10)) }),
        fc.record({ tlvType: fc.integer({ min: 0, max: 127 }).filter((t) => t !== 112), value: fc.uint8Array({ maxLength: 30 }) }),
      ),
      { maxLength: 3 },
    ),
  }),
  xpn: fc.record({ type: fc.constant('xpn' as const), suspendedFor: fc.nat(255), latestLowestPnHigh: u32, oldLowestPnHigh: u32 }),
  unknown: fc.record({
    type: fc.constant('unknown' as const),
    typeCode: fc.integer({ min: 9, max: 254 }),
    octet2: fc.nat(255),
    body: fc.uint8Array({ maxLength: 20 }),
  }),
};

/** Any valid MKPDU: every known set at most once, in any order, plus unknown sets. */
export const mkpduArb: fc.Arbitrary<Mkpdu> = fc
  .record({
    dst: bytes(6),
    src: bytes(6),
    eapolVersion: fc.integer({ min: 1, max: 3 }),
    basic: fc.record({
      type: fc.constant('basic' as const),
      version: fc.integer({ min: 1, max: 3 }),
      priority: fc.nat(255),
      keyServer: fc.boolean(),
      macsecDesired: fc.boolean(),
      macsecCapability: fc.nat(3),
      sci: fc.record({ mac: bytes(6), port: fc.nat(0xffff) }),
      actor: memberId,
      algorithmAgility: fc.constantFrom(0x0080c201, 0x12345678),
      ckn: fc.uint8Array({ minLength: 1, maxLength: 32 }),
    }),
    known: fc.shuffledSubarray(
      (Object.keys(sets) as ParamSet['type'][]).filter((t) => t !== 'unknown'),
      {},
    ),
    unknown: fc.array(sets.unknown, { maxLength: 2 }),
    icvIndicator: fc.boolean(),
  })
  .chain(({ known, unknown, ...rest }) => fc.tuple(...known.map((t) => sets[t])).map((s) => ({ ...rest, sets: [...s, ...unknown] as ParamSet[] })));
