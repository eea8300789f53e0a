/**
 * The replicas' shared event log against a real etcd 3.4: one order at every replica, numbers a
 * late reader computes alike, each replica's own events in the order it raised them, pruning.
 */
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Event, EventType } from '../../../src/control/gen/macsec/v1/manager.js';
import { EtcdEventLog } from '../../../src/manager/replicas/etcd-events.js';
import { type EtcdServer, startEtcd } from '../../support/etcd.js';

let etcd: EtcdServer;
let raw: Etcd3;
let n = 0;

const ev = (message: string): Event =>
  Event.fromPartial({ type: EventType.EVENT_TYPE_PORT_OPENED, timeMs: Date.now(), agentId: 'a1', portId: 'a1/eth1', message });
const until = async (f: () => boolean, ms = 5000) => {
  const t0 = Date.now();
  while (!f()) {
    if (Date.now() - t0 > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};
async function follow(prefix: string, id: string): Promise<{ log: EtcdEventLog; got: Event[] }> {
  const log = await EtcdEventLog.start({ client: raw, storePrefix: prefix, id });
  const got = log.backlog(100_000);
  log.onEvent((e) => got.push(e));
  return { log, got };
}

beforeAll(async () => {
  etcd = await startEtcd();
  raw = etcd.client();
}, 30_000);
afterAll(async () => {
  raw?.close();
  await etcd?.stop();
});

describe('EtcdEventLog', () => {
  it('two replicas appending at once: both see one order, each its own events in the order raised', async () => {
    const prefix = `/ev${n++}/`;
    const a = await follow(prefix, 'r1');
    const b = await follow(prefix, 'r2');
    for (let i = 0; i < 250; i++) {
      a.log.append(ev(`a${i}`));
      b.log.append(ev(`b${i}`));
    }
    await until(() => a.got.length === 500 && b.got.length === 500, 10_000);
    const order = (g: Event[]) => g.map((e) => `${e.seq}:${e.message}`);
    expect(order(a.got)).toEqual(order(b.got));
    const seqs = a.got.map((e) => e.seq);
    expect(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!)).toBe(true);
    for (const who of ['a', 'b']) {
      const mine = a.got.filter((e) => e.message.startsWith(who)).map((e) => e.message);
      expect(mine).toEqual(Array.from({ length: 250 }, (_, i) => `${who}${i}`));
    }
    // a replica started later (a restart) numbers every event as the others did
    const c = await follow(prefix, 'r3');
    expect(order(c.got)).toEqual(order(a.got));
    await Promise.all([a.log.close(), b.log.close(), c.log.close()]);
  });

  it('prune keeps the newest entries; a reader after it starts at the oldest kept', async () => {
    const prefix = `/ev${n++}/`;
    const a = await follow(prefix, 'r1');
    for (let i = 0; i < 130; i++) a.log.append(ev(`e${i}`));
    await until(() => a.got.length === 130);
    expect(await a.log.prune(50)).toBe(80);
    expect(await a.log.prune(50)).toBe(0);
    const b = await follow(prefix, 'r2');
    expect(b.got.map((e) => e.message)).toEqual(a.got.slice(80).map((e) => e.message));
    expect(b.got.map((e) => e.seq)).toEqual(a.got.slice(80).map((e) => e.seq));
    await Promise.all([a.log.close(), b.log.close()]);
  });

  it('an undecodable entry is skipped (and the log goes on)', async () => {
    const prefix = `/ev${n++}/`;
    const a = await follow(prefix, 'r1');
    await raw.put(`${prefix.slice(0, -1)}.events/evil/x-0.0`).value('{not json');
    a.log.append(ev('after'));
    await until(() => a.got.some((e) => e.message === 'after'));
    expect(a.got.map((e) => e.message)).toEqual(['after']);
    await a.log.close();
  });
});
