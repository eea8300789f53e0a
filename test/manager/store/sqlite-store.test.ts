/** The store contract on SQLite (a file per test, reopened by path), and CachedStore's indexes against SQLite's own queries. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CachedStore } from '../../../src/manager/store/cached.js';
import { SqliteStore } from '../../../src/manager/store/sqlite.js';
import type { Store } from '../../../src/manager/store/store.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { channel, ep, port, storeContract } from './store-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'sqlite-store-'));
let n = 0;
const sqliteOf = (s: Store) => (s instanceof CachedStore ? s.backing : s) as SqliteStore;
storeContract(
  'SqliteStore',
  async () => new SqliteStore(join(dir, `s${n++}.db`), { create: true }),
  async (s) => new SqliteStore(sqliteOf(s).path),
);

describe('CachedStore indexes', () => {
  it('answer as the backing store does after any sequence of writes (fast-check)', () => {
    const agents = ['a1', 'a2', 'a3'];
    const ifaces = ['eth1', 'eth2'];
    const pid = fc.record({ a: fc.constantFrom(...agents), i: fc.constantFrom(...ifaces) });
    const opArb = fc.oneof(
      fc.record({ t: fc.constant('putPort' as const), p: pid }),
      fc.record({ t: fc.constant('deletePort' as const), p: pid }),
      fc.record({
        t: fc.constant('putChannel' as const),
        id: fc.constantFrom('c1', 'c2', 'c3'),
        eps: fc.uniqueArray(pid, { minLength: 1, maxLength: 3, selector: (x) => `${x.a}/${x.i}` }),
      }),
      fc.record({ t: fc.constant('deleteChannel' as const), id: fc.constantFrom('c1', 'c2', 'c3') }),
    );
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
        const plain = new SqliteStore(':memory:', { create: true });
        const cached = new CachedStore(new SqliteStore(':memory:', { create: true }));
        for (const s of [plain, cached]) {
          for (const o of ops) {
            // the manager's invariant: a port is in at most one channel
            if (o.t === 'putChannel' && o.eps.some((e) => (s.channelOfPort(`${e.a}/${e.i}`)?.id ?? o.id) !== o.id)) continue;
            if (o.t === 'putPort') s.putPort(port(o.p.a, o.p.i));
            else if (o.t === 'deletePort') s.deletePort(`${o.p.a}/${o.p.i}`);
            else if (o.t === 'putChannel')
              s.putChannel(
                channel(
                  o.id,
                  `n-${o.id}`,
                  o.eps.map((e) => ep(e.a, e.i)),
                ),
              );
            else s.deleteChannel(o.id);
          }
        }
        const ids = (xs: { id: string }[]) => xs.map((x) => x.id);
        expect(ids(cached.listPorts())).toEqual(ids(plain.listPorts()));
        expect(ids(cached.listChannels())).toEqual(ids(plain.listChannels()));
        for (const a of agents) {
          expect(ids(cached.listPorts(a))).toEqual(ids(plain.listPorts(a)));
          expect(ids(cached.listChannels(a))).toEqual(ids(plain.listChannels(a)));
          for (const i of ifaces) expect(cached.channelOfPort(`${a}/${i}`)?.id).toBe(plain.channelOfPort(`${a}/${i}`)?.id);
        }
        for (const c of ['c1', 'c2', 'c3']) expect(cached.getChannel(`n-${c}`)?.id).toBe(plain.getChannel(`n-${c}`)?.id);
        plain.close();
        cached.close();
      }),
      { numRuns: 150 },
    );
  });
});
