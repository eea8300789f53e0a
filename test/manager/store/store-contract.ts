/**
 * What every Store does, whatever its backend: run by sqlite-store.test.ts and etcd-store.test.ts
 * (each store also behind CachedStore, the manager's indexed view).
 */
import { describe, expect, it } from 'vitest';
import { PortMode } from '../../../src/control/gen/macsec/v1/types.js';
import { CachedStore } from '../../../src/manager/store/cached.js';
import type { Store, StoredAgent, StoredChannel, StoredPort } from '../../../src/manager/store/store.js';

export const agent = (id: string): StoredAgent => ({
  id,
  version: '1',
  capabilities: ['psk'],
  interfaces: [{ name: 'eth1', mac: '' }],
  firstSeenMs: 1,
  lastSeenMs: 2,
});
export const port = (agentId: string, iface: string): StoredPort => ({
  id: `${agentId}/${iface}`,
  agentId,
  interface: iface,
  mode: PortMode.PORT_MODE_PSK,
  policy: { cipherSuite: 1, keyServerPriority: 16, securePolicy: 1, replayWindow: 0, confidentialityOffset: 0, rekeyPeriodSeconds: 0 },
  ovsBridge: '',
  radius: undefined,
  createdMs: 3,
  owner: 'operator:admin:alice',
});
export const ep = (agentId: string, switchPort = 'eth1') => ({ agentId, switchPort, vnfId: `v-${agentId}`, vnfInterface: 'eth0' });
export const channel = (id: string, name: string, endpoints = [ep('a1'), ep('a2')]): StoredChannel => ({
  id,
  name,
  endpoints,
  cak: new Uint8Array(16).fill(7),
  ckn: new Uint8Array(16).fill(9),
  keyId: `k-${id}`,
  createdMs: 1,
  owner: 'operator:admin:alice',
  requestId: 'r1',
  generatedPsk: true,
  committed: true,
});
export const chained = (c: StoredChannel): StoredChannel => ({
  ...c,
  currentKey: { keyId: 'k2', startMs: 10, lifetimeS: 3600, createdMs: 9, requestId: 'add-2' },
  nextKeys: [{ cak: new Uint8Array(32).fill(1), ckn: new Uint8Array(8).fill(2), keyId: 'k3', startMs: 20, lifetimeS: 0, createdMs: 11, requestId: '' }],
});

/** `open` gives an empty store; `reopen` a second handle on the same data (after flush). */
export function storeContract(name: string, open: () => Promise<Store>, reopen: (s: Store) => Promise<Store>): void {
  for (const cached of [false, true]) {
    const mk = async () => (cached ? new CachedStore(await open()) : await open());
    describe(`${name}${cached ? ' behind CachedStore' : ''}`, () => {
      it('keeps agents, ports and channels (key chains included) across a reopen', async () => {
        const s = await mk();
        s.putAgent(agent('a2'));
        s.putAgent(agent('a1'));
        for (const p of [port('a1', 'eth1'), port('a2', 'eth1'), port('a1', 'eth0')]) s.putPort(p);
        s.putChannel(chained(channel('ch-1', 'web')));
        s.putChannel(channel('ch-2', 'db', [ep('a1', 'eth0'), ep('a3')]));
        await s.flush();
        for (const t of [s, await reopen(s)]) {
          expect(t.storeId).toBe(s.storeId);
          expect(t.listAgents().map((a) => a.id)).toEqual(['a1', 'a2']);
          expect(t.getAgent('a1')).toEqual(agent('a1'));
          expect(t.listPorts().map((p) => p.id)).toEqual(['a1/eth0', 'a1/eth1', 'a2/eth1']);
          expect(t.listPorts('a1').map((p) => p.id)).toEqual(['a1/eth0', 'a1/eth1']);
          expect(t.getPort('a2/eth1')).toEqual(port('a2', 'eth1'));
          expect(t.getChannel('web')).toEqual(chained(channel('ch-1', 'web')));
          expect(t.getChannel('ch-2')?.name).toBe('db');
          expect(t.listChannels().map((c) => c.name)).toEqual(['db', 'web']);
          expect(t.listChannels('a2').map((c) => c.name)).toEqual(['web']);
          expect(t.listChannels('a3').map((c) => c.name)).toEqual(['db']);
          expect(t.channelOfPort('a1/eth0')?.id).toBe('ch-2');
          expect(t.channelOfPort('a1/eth1')?.id).toBe('ch-1');
          expect(t.channelOfPort('a2/eth9')).toBeUndefined();
        }
        s.close();
      });

      it('deletes, and moves a port between channels', async () => {
        const s = await mk();
        s.putPort(port('a1', 'eth1'));
        s.putChannel(channel('ch-1', 'web'));
        expect(s.deletePort('a1/eth1')).toBe(true);
        expect(s.deletePort('a1/eth1')).toBe(false);
        expect(s.setChannelEndpoints('ch-1', [ep('a2'), ep('a3')])).toBe(true);
        expect(s.channelOfPort('a1/eth1')).toBeUndefined();
        s.putChannel(channel('ch-3', 'app', [ep('a1'), ep('a4')]));
        expect(s.channelOfPort('a1/eth1')?.id).toBe('ch-3');
        expect(s.deleteChannel('ch-1')).toBe(true);
        expect(s.deleteChannel('ch-1')).toBe(false);
        await s.flush();
        const t = await reopen(s);
        expect(t.listPorts()).toEqual([]);
        expect(t.listChannels().map((c) => c.id)).toEqual(['ch-3']);
        expect(t.listChannels('a2')).toEqual([]);
        s.close();
      });

      it('rolls a transaction back as a whole when it throws', async () => {
        const s = await mk();
        s.putChannel(channel('ch-1', 'web'));
        expect(() =>
          s.transaction(() => {
            s.putPort(port('a1', 'eth1'));
            s.setChannelEndpoints('ch-1', [ep('a5'), ep('a6')]);
            throw new Error('boom');
          }),
        ).toThrow('boom');
        expect(s.getPort('a1/eth1')).toBeUndefined();
        expect(s.getChannel('ch-1')?.endpoints).toEqual([ep('a1'), ep('a2')]);
        expect(s.channelOfPort('a1/eth1')?.id).toBe('ch-1');
        await s.flush();
        const t = await reopen(s);
        expect(t.getPort('a1/eth1')).toBeUndefined();
        expect(t.getChannel('ch-1')?.endpoints).toEqual([ep('a1'), ep('a2')]);
        s.close();
      });

      it('reserves increasing, disjoint event sequence numbers', async () => {
        const s = await mk();
        const a = s.reserveSeq(1000);
        const b = s.reserveSeq(1000);
        expect(b).toBeGreaterThanOrEqual(a + 1000);
        s.close();
      });
    });
  }
}
