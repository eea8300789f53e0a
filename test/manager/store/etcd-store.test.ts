/**
 * EtcdStore against a real etcd 3.4: the store contract, then what only a shared store has —
 * sealed values, a view that follows other writers, guarded writes (no lost update), reserved
 * event numbers, and what happens when etcd stops answering.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CachedStore } from '../../../src/manager/store/cached.js';
import { EtcdStore, etcdEndpoints, type EtcdStoreOptions } from '../../../src/manager/store/etcd.js';
import { Keyring } from '../../../src/manager/store/keyring.js';
import type { Store, StoreChange } from '../../../src/manager/store/store.js';
import { createCa, issue, writePair } from '../../../src/pki/pki.js';
import { type EtcdServer, startEtcd } from '../../support/etcd.js';
import { chained, channel, ep, port, storeContract } from './store-contract.js';

let etcd: EtcdServer;
let raw: Etcd3;
const KEYS = Keyring.newKeyLine('k1');
let n = 0;
const prefixOf = new WeakMap<Store, string>();
const opts = (prefix: string, extra: Partial<EtcdStoreOptions> = {}): EtcdStoreOptions => ({
  endpoints: [etcd.endpoint],
  prefix,
  keyring: Keyring.parse(KEYS),
  ...extra,
});
async function fresh(extra: Partial<EtcdStoreOptions> = {}): Promise<EtcdStore> {
  const prefix = `/t${n++}/`;
  const s = await EtcdStore.open(opts(prefix, { create: true, ...extra }));
  prefixOf.set(s, prefix);
  return s;
}
const backingOf = (s: Store) => (s instanceof CachedStore ? s.backing : s);
const until = async (f: () => boolean, ms = 5000) => {
  const t0 = Date.now();
  while (!f()) {
    if (Date.now() - t0 > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

beforeAll(async () => {
  etcd = await startEtcd();
  raw = etcd.client();
}, 30_000);
afterAll(async () => {
  await etcd?.stop();
});

storeContract(
  'EtcdStore',
  () => fresh(),
  async (s) => {
    const prefix = prefixOf.get(backingOf(s))!;
    return EtcdStore.open(opts(prefix));
  },
);

describe('EtcdStore', () => {
  it('parses --store etcd:// and etcds:// endpoint lists, naming the bad one', () => {
    expect(etcdEndpoints('etcd://10.0.0.1:2379,etcd-1.example:2379')).toEqual(['http://10.0.0.1:2379', 'http://etcd-1.example:2379']);
    expect(etcdEndpoints('etcds://[fd00::1]:2379')).toEqual(['https://[fd00::1]:2379']);
    expect(() => etcdEndpoints('etcd://a:1,b')).toThrow('endpoint 2 is not host:port');
    expect(() => etcdEndpoints('http://a:1')).toThrow('--store: expected etcd://');
  });

  it('refuses a prefix without a store unless asked to create one, and keeps its identity', async () => {
    await expect(EtcdStore.open(opts('/empty/'))).rejects.toThrow(/holds no manager store.*--init-db/);
    const a = await EtcdStore.open(opts('/made/', { create: true }));
    const b = await EtcdStore.open(opts('/made/', { create: true }));
    expect(a.storeId).toMatch(/^[0-9a-f-]{36}$/);
    expect(b.storeId).toBe(a.storeId);
    a.close();
    b.close();
  });

  it('an unreachable etcd is a clear start-up error, in bounded time', async () => {
    const t0 = Date.now();
    await expect(EtcdStore.open({ endpoints: ['http://127.0.0.1:9'], keyring: Keyring.parse(KEYS), create: true, timeoutMs: 1000 })).rejects.toThrow(
      /etcd at http:\/\/127\.0\.0\.1:9: .*timed out|etcd at http:\/\/127\.0\.0\.1:9/,
    );
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('keeps CAKs sealed in etcd: no key material in clear, a moved or altered value does not open', async () => {
    const s = await fresh();
    const c = chained(channel('ch-1', 'web'));
    s.putChannel(c);
    s.putChannel(channel('ch-2', 'db', [ep('a5'), ep('a6')]));
    await s.flush();
    const p = prefixOf.get(s)!;
    const all = await raw.getAll().prefix(p).buffers();
    const blob = Buffer.concat(Object.values(all));
    for (const k of [c.cak, c.nextKeys![0]!.cak]) {
      expect(blob.includes(Buffer.from(k))).toBe(false);
      expect(blob.toString().includes(Buffer.from(k).toString('hex'))).toBe(false);
      expect(blob.toString().includes(Buffer.from(k).toString('base64'))).toBe(false);
    }
    expect(all[`${p}channels/ch-1`]!.toString()).toMatch(/^s1\.k1\./);
    // A running replica: ch-2's value copied over ch-1's key, then ch-2's value altered. Neither
    // opens; the replica keeps the last good records (it never takes a record it cannot read for a
    // deleted one) and refuses channel writes until it can read them again.
    const t = await EtcdStore.open(opts(p));
    await raw.put(`${p}channels/ch-1`).value(all[`${p}channels/ch-2`]!);
    const altered = all[`${p}channels/ch-2`]!.toString();
    await raw.put(`${p}channels/ch-2`).value(altered.slice(0, -6) + (altered.endsWith('AAAA==') ? 'BBBB==' : 'AAAA=='));
    const refused = () => {
      try {
        t.deleteChannel('none');
        return false;
      } catch (e) {
        return /channel writes are refused/.test((e as Error).message);
      }
    };
    await until(refused);
    expect(t.getChannel('ch-1')?.name).toBe('web');
    expect(t.getChannel('ch-2')?.name).toBe('db');
    // A replica that starts on them refuses to run on a partial desired state.
    await expect(EtcdStore.open(opts(p))).rejects.toThrow(/channels\/ch-1, channels\/ch-2 do not decode .*refusing to run on a partial desired state/);
    s.close();
    t.close();
  });

  it('opens values sealed under an older key after a rotation, re-seals them on open and on write', async () => {
    const s = await fresh();
    s.putChannel(channel('ch-1', 'web'));
    await s.flush();
    const p = prefixOf.get(s)!;
    s.close();
    const rotated = Keyring.parse(`${Keyring.newKeyLine('k2')}\n${KEYS}`);
    const t = await EtcdStore.open({ ...opts(p), keyring: rotated });
    expect(t.getChannel('ch-1')?.cak).toEqual(channel('ch-1', 'web').cak);
    expect((await raw.get(`${p}channels/ch-1`).string())!).toMatch(/^s1\.k2\./); // re-sealed when it opened
    t.setChannelEndpoints('ch-1', [ep('a7'), ep('a8')]);
    await t.flush();
    expect((await raw.get(`${p}channels/ch-1`).string())!).toMatch(/^s1\.k2\./);
    await expect(EtcdStore.open({ ...opts(p), keyring: Keyring.parse(Keyring.newKeyLine('k9')) })).rejects.toThrow(/do not decode/);
    t.close();
  });

  it("follows another writer's changes through the watch, and tells CachedStore's listeners", async () => {
    const a = await fresh();
    const b = new CachedStore(await EtcdStore.open(opts(prefixOf.get(a)!)));
    const seen: StoreChange[] = [];
    b.onChange((c) => seen.push(c));
    a.putPort(port('a1', 'eth1'));
    a.putChannel(channel('ch-1', 'web'));
    await a.flush();
    await until(() => b.channelOfPort('a1/eth1')?.id === 'ch-1' && !!b.getPort('a1/eth1'));
    expect(b.listPorts('a1').map((p) => p.id)).toEqual(['a1/eth1']);
    a.deleteChannel('ch-1');
    a.deletePort('a1/eth1');
    await a.flush();
    await until(() => !b.getChannel('web') && !b.getPort('a1/eth1'));
    expect(b.channelOfPort('a1/eth1')).toBeUndefined();
    expect(seen).toEqual(
      expect.arrayContaining([
        { kind: 'port', id: 'a1/eth1' },
        { kind: 'channel', id: 'ch-1' },
      ]),
    );
    a.close();
    b.close();
  });

  it('a view read afresh and one that followed the watch have the same revision, whatever else etcd holds (acks compare them)', async () => {
    const a = await fresh();
    const follower = await EtcdStore.open(opts(prefixOf.get(a)!));
    a.putPort(port('a1', 'eth1'));
    a.putPort(port('a1', 'eth2'));
    await a.flush();
    a.deletePort('a1/eth2'); // the last change is a deletion: no key carries its revision
    await a.flush();
    // writes elsewhere in etcd (other prefixes: the replicas' records, the event log) move etcd's revision
    for (let i = 0; i < 3; i++) await raw.put(`${prefixOf.get(a)!.slice(0, -1)}.live/x${i}`).value('y');
    await until(() => follower.revision() === a.revision() && !follower.getPort('a1/eth2'));
    const late = await EtcdStore.open(opts(prefixOf.get(a)!));
    expect(late.revision()).toBe(a.revision());
    expect(late.revision()).toBe(follower.revision());
    a.close();
    follower.close();
    late.close();
  });

  it("each agent's revision is that of the newest change to its own desired state, alike at every replica", async () => {
    const a = await fresh();
    const follower = await EtcdStore.open(opts(prefixOf.get(a)!));
    for (const x of ['a1', 'a2', 'a3']) a.putPort(port(x, 'eth1'));
    await a.flush();
    const r0 = a.revisionFor('a3');
    a.putChannel(channel('ch-1', 'web')); // a1 and a2, not a3
    await a.flush();
    const r1 = a.revisionFor('a1');
    expect(r1).toBeGreaterThan(r0);
    expect(a.revisionFor('a2')).toBe(r1);
    expect(a.revisionFor('a3')).toBe(r0); // a3 is sent nothing: an ack of it must not be awaited at r1
    a.setChannelEndpoints('ch-1', [ep('a1'), ep('a3')]); // a2 leaves, a3 joins: both change
    await a.flush();
    const r2 = a.revisionFor('a3');
    expect(a.revisionFor('a2')).toBe(r2);
    expect(a.revisionFor('a1')).toBe(r2);
    a.deletePort('a2/eth1');
    await a.flush();
    const r3 = a.revisionFor('a2');
    expect(r3).toBeGreaterThan(r2);
    await until(() => follower.revisionFor('a2') === r3);
    for (const x of ['a1', 'a2', 'a3']) expect(follower.revisionFor(x), x).toBe(a.revisionFor(x));
    const late = await EtcdStore.open(opts(prefixOf.get(a)!));
    // read afresh: the same, but for a deletion no key remembers (a2's port): never above the truth
    expect(late.revisionFor('a1')).toBe(r2);
    expect(late.revisionFor('a3')).toBe(r2);
    expect(late.revisionFor('a2')).toBeLessThanOrEqual(r3);
    a.close();
    follower.close();
    late.close();
  });

  it('two writers on one channel set: the later guarded write is refused (aborted), none is lost, and the views agree again', async () => {
    const a = await fresh();
    const b = await EtcdStore.open(opts(prefixOf.get(a)!));
    for (let round = 0; round < 10; round++) {
      // both take the same port into a channel of their own, neither having seen the other's
      a.putChannel(channel(`a-${round}`, `a-${round}`, [ep('x', `p${round}`), ep('y')]));
      b.putChannel(channel(`b-${round}`, `b-${round}`, [ep('x', `p${round}`), ep('z')]));
      const [ra, rb] = await Promise.allSettled([a.flush(), b.flush()]);
      const ok = [ra, rb].filter((r) => r.status === 'fulfilled').length;
      const aborted = [ra, rb].filter((r) => r.status === 'rejected' && /changed concurrently/.test(String((r as PromiseRejectedResult).reason)));
      expect(ok + aborted.length).toBe(2);
      expect(ok).toBeGreaterThanOrEqual(1);
      const survivors = await raw
        .getAll()
        .prefix(`${prefixOf.get(a)!}channels/`)
        .keys();
      const inEtcd = survivors.filter((k) => k.endsWith(`-${round}`)).length;
      expect(inEtcd).toBe(ok); // exactly the acknowledged writes are durable
      await until(() => a.listChannels().length === b.listChannels().length && a.channelOfPort(`x/p${round}`)?.id === b.channelOfPort(`x/p${round}`)?.id);
    }
    a.close();
    b.close();
  });

  it('closing a port and putting it into a channel at two replicas at once: one of them is refused', async () => {
    const a = await fresh();
    const b = await EtcdStore.open(opts(prefixOf.get(a)!));
    for (let round = 0; round < 5; round++) {
      const pid = `x/p${round}`;
      a.putPort(port('x', `p${round}`));
      await a.flush();
      await until(() => !!b.getPort(pid));
      a.deletePort(pid);
      b.putChannel(channel(`c-${round}`, `c-${round}`, [ep('x', `p${round}`), ep('y')]));
      const [ra, rb] = await Promise.allSettled([a.flush(), b.flush()]);
      expect([ra, rb].filter((r) => r.status === 'fulfilled').length).toBe(1);
      const p = prefixOf.get(a)!;
      const portLeft = (await raw.get(`${p}ports/${pid}`).string()) !== null;
      const channelMade = (await raw.get(`${p}channels/c-${round}`).string()) !== null;
      expect(portLeft).toBe(channelMade); // never a channel on a closed port
    }
    a.close();
    b.close();
  });

  it('hands out disjoint event numbers to two replicas', async () => {
    const a = await fresh();
    const b = await EtcdStore.open(opts(prefixOf.get(a)!));
    const got = new Set<number>();
    for (let i = 0; i < 30; i++) {
      for (const s of [a, b]) {
        let first = 0;
        // a replica out of reserved numbers says so (the next block is on its way): wait for it
        await until(() => {
          try {
            first = s.reserveSeq(1000);
            return true;
          } catch {
            return false;
          }
        });
        for (let k = first; k < first + 1000; k += 250) {
          expect(got.has(k)).toBe(false);
          got.add(k);
        }
      }
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setTimeout(r, 5));
    }
    a.close();
    b.close();
  });

  it('a paused etcd: writes fail with unavailable within the call bound, and the store recovers after', async () => {
    const s = await fresh({ timeoutMs: 800 });
    s.putPort(port('a1', 'eth1'));
    await s.flush();
    etcd.pause();
    try {
      s.putPort(port('a1', 'eth2'));
      await expect(s.flush()).rejects.toThrow(/timed out/);
    } finally {
      etcd.resume();
    }
    // A write that timed out may still have landed (etcd ran it after SIGCONT): the view is
    // reloaded and then says what etcd has, either way.
    const p = prefixOf.get(s)!;
    const readEtcd = async () => (await raw.getAll().prefix(`${p}ports/`).keys()).map((x) => x.slice(p.length + 6)).sort();
    let inEtcd: string[] = [];
    const deadline = Date.now() + 10_000;
    for (;;) {
      inEtcd = await readEtcd();
      if (inEtcd.length > 0 && JSON.stringify(s.listPorts().map((x) => x.id)) === JSON.stringify(inEtcd)) break;
      if (Date.now() > deadline) throw new Error(`view ${s.listPorts().map((x) => x.id)} never matched etcd ${inEtcd}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await until(() => {
      try {
        s.putPort(port('a1', 'eth3'));
        return true;
      } catch {
        return false;
      }
    }, 10_000);
    await s.flush();
    expect(s.listPorts().map((x) => x.id)).toEqual([...inEtcd, 'a1/eth3'].sort());
    s.close();
  });
});

describe('EtcdStore over TLS (etcds://)', () => {
  it('connects with the CA and a client certificate; etcd refuses a client without one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'etcd-tls-'));
    const ca = createCa();
    const caFile = join(dir, 'ca.crt');
    writeFileSync(caFile, ca.certPem);
    const srv = writePair(dir, 'etcd', issue(ca, { kind: 'manager', name: 'etcd' }));
    const cli = writePair(dir, 'mgr', issue(ca, { kind: 'manager', name: 'mgr' }));
    const e = await startEtcd({ cert: srv.cert, key: srv.key, clientCa: caFile });
    try {
      const endpoints = etcdEndpoints(e.storeSpec);
      expect(endpoints[0]).toMatch(/^https:/);
      const tls = { ca: readFileSync(caFile), cert: readFileSync(cli.cert), key: readFileSync(cli.key) };
      const s = await EtcdStore.open({ endpoints, keyring: Keyring.parse(KEYS), create: true, tls });
      s.putPort(port('a1', 'eth1'));
      await s.flush();
      const t = await EtcdStore.open({ endpoints, keyring: Keyring.parse(KEYS), tls });
      expect(t.getPort('a1/eth1')).toEqual(port('a1', 'eth1'));
      s.close();
      t.close();
      await expect(EtcdStore.open({ endpoints, keyring: Keyring.parse(KEYS), tls: { ca: tls.ca }, timeoutMs: 2000 })).rejects.toThrow(/^etcd at https:/);
      await expect(EtcdStore.open({ endpoints, keyring: Keyring.parse(KEYS) })).rejects.toThrow(/--etcd-ca: required for etcds:/);
    } finally {
      await e.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
