/** Unit tests of key use, the CP's RECEIVE ... RETIRE part (src/mka/key-use.ts), without a KaY. */
import { describe, expect, it } from 'vitest';
import { MKA_SAK_RETIRE_TIME_MS } from '../../src/mka/constants.js';
import { newCounters, OutputSink } from '../../src/mka/kay-types.js';
import { KeyUse } from '../../src/mka/key-use.js';
import { SecyShare } from '../../src/mka/secy-share.js';
import type { Env, ResolvedConfig } from '../../src/mka/participant-env.js';
import { type Peer, PeerTable } from '../../src/mka/peers.js';
import type { SecyAction } from '../../src/mka/secy.js';
import { TxSchedule } from '../../src/mka/tx-schedule.js';
import { livePeer, ME, ourKey, reporting } from '../support/mka-members.js';

const LIFE = 6_000;
const KS = { self: true, sciHex: ME.sciHex, miHex: Buffer.from(ME.mi).toString('hex'), priority: 16 };

function setup(peers: Peer[], principal = true) {
  const cfg = { sciHex: ME.sciHex, policy: 'must-secure', lifeTimeMs: LIFE } as ResolvedConfig;
  const env: Env = {
    cfg,
    port: {
      enabled: false,
      protectFrames: true,
      validate: 'strict',
      cipherSuite: 'GCM-AES-128',
      confidentialityOffset: 0,
      suiteRefused: false,
      secured: false,
    },
    counters: newCounters(),
    out: new OutputSink(),
    share: new SecyShare(),
  };
  const table = new PeerTable();
  for (const p of peers) table.add(p);
  const keys = new KeyUse({ env, peers: table, schedule: new TxSchedule(2_000), role: () => (principal ? 'principal' : 'standby'), takeOver: () => false });
  const take = (): string[] => env.out.actions.splice(0).map(show);
  return { env, table, keys, take };
}

/** An action without key material, for comparisons. */
function show(a: SecyAction): string {
  if (a.kind === 'installRxSa') return `installRxSa ${a.sci} an${a.an} ${a.ki.slice(-8)}`;
  if (a.kind === 'installTxSa') return `installTxSa an${a.an} ${a.ki.slice(-8)}`;
  if ('sci' in a && 'an' in a) return `${a.kind} ${a.sci} an${a.an}`;
  if ('an' in a) return `${a.kind} an${a.an}`;
  if (a.kind === 'createRxSc' || a.kind === 'deleteRxSc') return `${a.kind} ${a.sci}`;
  return a.kind;
}

describe('key use', () => {
  it('RECEIVE installs RX SAs on the members’ RX SCs and a TX SA; TRANSMIT once every member receives', () => {
    const b = livePeer(7);
    const { env, keys, take } = setup([b]);
    keys.ensureRxSc(b.sciHex);
    const k = ourKey([b]);
    keys.receive(k, 0);
    expect(take()).toEqual([
      'createRxSc 0200000000070001',
      'installRxSa 0200000000070001 an0 00000001',
      'enableRxSa 0200000000070001 an0',
      'installTxSa an0 00000001',
    ]);
    expect(k.rx).toBe(true);
    keys.stepTransmit(KS, ME.mi, 100);
    expect(take()).toEqual([]); // b has not confirmed yet
    b.sakUse = reporting(k);
    keys.stepTransmit(KS, ME.mi, 200);
    expect(take()).toEqual(['enableTxSa an0', 'setControlledPortEnabled']);
    expect(env.port.secured).toBe(true);
    expect(k).toMatchObject({ tx: true, txAt: 200 });
    expect(env.out.events.map((e) => e.kind)).toEqual(['sakInstalled', 'sakInstalled', 'secured']);
  });

  it('a key server’s own key goes into use at the latest one life time after it was made', () => {
    const b = livePeer(7);
    const { keys, take } = setup([b]);
    keys.receive(ourKey([b], 1, 0, 'GCM-AES-128', 1_000), 1_000);
    take();
    expect(keys.timers(true)).toEqual([1_000 + LIFE]);
    expect(keys.timers(false)).toEqual([]);
    keys.stepTransmit(KS, ME.mi, 1_000 + LIFE - 1);
    expect(keys.latest?.tx).toBe(false);
    keys.stepTransmit(KS, ME.mi, 1_000 + LIFE);
    expect(keys.latest?.tx).toBe(true);
  });

  it('an SCI never gets a second RX SA for a key, nor one for a key its current MI does not hold', () => {
    const b = livePeer(7);
    const { table, keys, take } = setup([b]);
    const k = ourKey([b]);
    keys.ensureRxSc(b.sciHex);
    keys.receive(k, 0);
    take();
    keys.deleteRxSc(b.sciHex);
    expect(take()).toEqual(['deleteRxSa 0200000000070001 an0', 'deleteRxSc 0200000000070001']);
    keys.ensureRxSc(b.sciHex);
    expect(take()).toEqual(['createRxSc 0200000000070001']); // the replay window would restart at PN 1
    // b restarts: same SCI, new MI, not among the key's holders.
    table.delete(b.miHex);
    const b2 = livePeer(7, { mi: new Uint8Array(12).fill(0x77), miHex: '777777777777777777777777' });
    table.add(b2);
    const c = livePeer(8);
    table.add(c);
    const k2 = ourKey([b], 2, 1); // still for b's former MI
    keys.ensureRxSc(c.sciHex);
    keys.receive(k2, 10);
    expect(take().filter((a) => a.startsWith('installRxSa'))).toEqual([]);
    // A peer that reports receiving the key holds it; c never had an RX SA for k2.
    c.sakUse = reporting(k2);
    keys.offerTo(c.sciHex);
    expect(take()).toEqual(['installRxSa 0200000000080001 an1 00000002', 'enableRxSa 0200000000080001 an1']);
  });

  it('RETIRE waits the retire time, and up to a life time while a peer still transmits with the old key', () => {
    const b = livePeer(7);
    const { keys, take } = setup([b]);
    const k1 = ourKey([b]);
    keys.receive(k1, 0);
    b.sakUse = reporting(k1);
    keys.stepTransmit(KS, ME.mi, 0);
    keys.stepRetire(0); // no old key: the first key retires to "old" at once
    expect(keys.old).toBe(k1);
    expect(keys.latest).toBeNull();
    const k2 = ourKey([b], 2, 1);
    keys.receive(k2, 1_000);
    b.sakUse = { ...reporting(k2), old: reporting(k1, { tx: true }).latest };
    keys.stepTransmit(KS, ME.mi, 1_000);
    expect(k2.tx).toBe(true);
    expect(k1.tx).toBe(false);
    take();
    keys.stepRetire(1_000 + MKA_SAK_RETIRE_TIME_MS - 1);
    expect(keys.old).toBe(k1);
    keys.stepRetire(1_000 + MKA_SAK_RETIRE_TIME_MS); // b still transmits with k1
    expect(keys.old).toBe(k1);
    keys.stepRetire(1_000 + LIFE);
    expect(keys.old).toBe(k2);
    expect(take()).toEqual(['deleteTxSa an0']);
    expect(k1.sak.every((x) => x === 0)).toBe(true); // zeroed when retired
  });

  it('a participant that is not principal changes nothing on the SecY', () => {
    const b = livePeer(7);
    const { keys, take } = setup([b], false);
    keys.ensureRxSc(b.sciHex);
    keys.receive(ourKey([b]), 0);
    keys.dropKeys('test');
    expect(take()).toEqual([]);
  });
});
