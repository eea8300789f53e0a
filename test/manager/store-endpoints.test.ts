/** Store.setChannelEndpoints (SQLite and the write-through cache): only the membership changes, atomically. */
import { describe, expect, it } from 'vitest';
import { CachedStore } from '../../src/manager/store/cached.js';
import { SqliteStore } from '../../src/manager/store/sqlite.js';
import type { StoredChannel } from '../../src/manager/store/store.js';

const ep = (agentId: string) => ({ agentId, switchPort: 'eth1', vnfId: `v-${agentId}`, vnfInterface: 'eth0' });
const channel = (): StoredChannel => ({
  id: 'ch-1',
  name: 'web',
  endpoints: [ep('a1'), ep('a2')],
  cak: new Uint8Array(16).fill(7),
  ckn: new Uint8Array(16).fill(9),
  keyId: 'k1',
  createdMs: 1,
  owner: 'operator:admin:alice',
  requestId: 'r1',
  generatedPsk: true,
  committed: true,
});

describe('setChannelEndpoints', () => {
  it('replaces the endpoints and nothing else, in the backing store and the cache', () => {
    const backing = new SqliteStore(':memory:', { create: true });
    const s = new CachedStore(backing);
    s.putChannel(channel());
    const seen = s.getChannel('web')!;
    expect(s.setChannelEndpoints('ch-1', [ep('a1'), ep('a3')])).toBe(true);
    const want = { ...channel(), endpoints: [ep('a1'), ep('a3')] };
    expect(s.getChannel('web')).toEqual(want);
    expect(backing.getChannel('ch-1')).toEqual(want);
    expect(seen.endpoints).toEqual([ep('a1'), ep('a2')]); // an object read before is not changed under its reader
    expect(s.setChannelEndpoints('ch-nope', [])).toBe(false);
    s.close();
  });

  it('rolls back with the transaction it is part of', () => {
    const s = new CachedStore(new SqliteStore(':memory:', { create: true }));
    s.putChannel(channel());
    expect(() =>
      s.transaction(() => {
        s.setChannelEndpoints('ch-1', [ep('a3'), ep('a4')]);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(s.getChannel('web')!.endpoints).toEqual([ep('a1'), ep('a2')]);
    expect(s.backing.getChannel('web')!.endpoints).toEqual([ep('a1'), ep('a2')]);
    s.close();
  });
});
