/**
 * Three manager replicas on a real three-member etcd 3.4 cluster, with simulated agents each
 * connected to one replica: a call made at any replica reaches the agent through the replica
 * owning its stream and returns once that agent acknowledged (create at replica 1, SECURED seen
 * at replica 2, rekey through replica 3); kill -9 of a replica moves its agents within 5 s, their
 * sessions running on; one etcd member down is invisible, two down (no quorum) make writes fail
 * with UNAVAILABLE naming etcd while reads answer, and everything resumes when quorum is back.
 * WatchEvents shows every replica's events in one order at each, resumable at any with one
 * since_seq; restarting every replica keeps the desired state and tears nothing down.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/managed/agent.js';
import { ChannelState, type Event, EventType } from '../../src/control/gen/macsec/v1/manager.js';
import { PortMode } from '../../src/control/gen/macsec/v1/types.js';
import { MemoryHub } from '../../src/link/memory.js';
import { Keyring } from '../../src/manager/store/keyring.js';
import { type EtcdCluster, startEtcdCluster } from '../support/etcd.js';
import { makePki, operator, simAgent, spawnManager, type TestPki, waitFor, type ManagerProcess, watch } from '../support/harness.js';

const ep = (agentId: string, switchPort: string, vnfId: string) => ({ agentId, switchPort, vnfId, vnfInterface: 'eth0' });

let pki: TestPki;
let etcd: EtcdCluster;
let dir: string;
let keyFile: string;
beforeAll(async () => {
  pki = makePki(['b1', 'b2']);
  etcd = await startEtcdCluster(3);
  dir = mkdtempSync(join(tmpdir(), 'macsec-replicas-'));
  keyFile = join(dir, 'store.keys');
  writeFileSync(keyFile, `${Keyring.newKeyLine('k1')}\n`, { mode: 0o600 });
}, 40_000);
afterAll(async () => {
  await etcd?.stop();
  pki.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('manager replicas on a three-member etcd cluster', () => {
  it('calls at any replica reach agents at the others; kill -9 of a replica; etcd member and quorum loss', async () => {
    const store = ['--store-key-file', keyFile, '--etcd-prefix', '/replicas/', '--replica-ttl-s', '2'];
    const r: ManagerProcess[] = [];
    r.push(await spawnManager(pki, etcd.storeSpec, 0, [...store, '--id', 'r1']));
    for (const id of ['r2', 'r3']) r.push(await spawnManager(pki, etcd.storeSpec, 0, [...store, '--id', id, '--no-init']));
    const addr = (i: number) => `127.0.0.1:${r[i]!.port}`;
    const hub = new MemoryHub();
    // a1, a2 on replica 1 (then 3), b1, b2 on replica 2 (then 3)
    const agents: Agent[] = [
      ...['a1', 'a2'].map((id) => simAgent(pki, id, r[0]!.port, { hub, managerAddress: `${addr(0)},${addr(2)}` })),
      ...['b1', 'b2'].map((id) => simAgent(pki, id, r[1]!.port, { hub, managerAddress: `${addr(1)},${addr(2)}` })),
    ];
    const at = r.map((m) => operator(pki, 'alice', m.port));
    const w2 = watch(at[1]!);
    const w3 = watch(at[2]!);
    const seen = (w: { events: Event[] }) => w.events.map((e) => `${e.seq} ${EventType[e.type]} ${e.agentId} ${e.portId} ${e.channelId} ${e.message}`);
    try {
      await waitFor(async () => (await at[2]!.listAgents({ connectedOnly: true })).agents.length === 4, 'replica 3 sees all four agents connected');
      expect((await at[2]!.getAgent('a1')).connected).toBe(true);

      // Ports opened at replica 3, which serves none of the agents, all at once: each call is
      // answered once its agent acknowledged (not later writes for the other agents).
      await Promise.all(
        ['a1', 'a2', 'b1', 'b2'].map(async (a) => {
          const p = await at[2]!.openPort({ agentId: a, interface: 'eth1', mode: PortMode.PORT_MODE_PSK });
          expect(p.id).toBe(`${a}/eth1`);
          expect(agents.find((x) => x.id === a)!.ports.has(`${a}/eth1`), `${a} runs the port when OpenPort returns`).toBe(true);
        }),
      );

      // Concurrent calls at replica 3 for agents of replicas 1 and 2, committed in different
      // transactions: each waits for what its own agent is sent, not for the revisions of the
      // others' changes (which that agent never acknowledges). Port closes are guarded by the
      // channels' key: two at once may be refused with ABORTED, to retry.
      const retried = async (f: () => Promise<unknown>) => {
        for (;;) {
          try {
            return await f();
          } catch (e) {
            if ((e as { code?: string }).code !== 'aborted') throw e;
          }
        }
      };
      await Promise.all(
        agents.map(async (ag) => {
          for (let i = 0; i < 5; i++) {
            await retried(() => at[2]!.openPort({ agentId: ag.id, interface: 'eth2', mode: PortMode.PORT_MODE_PSK }));
            expect(ag.ports.has(`${ag.id}/eth2`)).toBe(true);
            await retried(() => at[2]!.closePort({ portId: `${ag.id}/eth2` }));
            expect(ag.ports.has(`${ag.id}/eth2`)).toBe(false);
          }
        }),
      );

      // Created at replica 1 across an agent of replica 1 and one of replica 2, secured when it returns.
      const created = await at[0]!.createSecureChannel({
        name: 'ab',
        endpoints: [ep('a1', 'eth1', 'v1'), ep('b1', 'eth1', 'v2')],
        waitSecured: true,
        waitTimeoutMs: 15_000,
      });
      expect(created.channel?.state).toBe(ChannelState.CHANNEL_STATE_SECURED);
      await waitFor(async () => (await at[1]!.getSecureChannel('ab')).state === ChannelState.CHANNEL_STATE_SECURED, 'SECURED seen at replica 2');

      // Rekey through replica 3: the command reaches the key server through its owner.
      const before = Math.max(...(await at[2]!.getSecureChannel('ab')).endpointStatus.map((e) => e.status?.keyNumber ?? 0));
      const rk = await at[2]!.forceRekey({ channelId: created.channel!.id });
      expect(rk.results.some((x) => x.ok && x.keyServer)).toBe(true);
      await waitFor(
        async () => (await at[1]!.getSecureChannel('ab')).endpointStatus.every((e) => (e.status?.keyNumber ?? 0) > before),
        'the new key in use, seen at replica 2',
      );

      // Two replicas create the same channel at once with different endpoints: exactly one wins.
      const race = await Promise.allSettled([
        at[0]!.createSecureChannel({ name: 'race', endpoints: [ep('a2', 'eth1', 'v3'), ep('b2', 'eth1', 'v4')] }),
        at[1]!.createSecureChannel({ name: 'race', endpoints: [ep('b2', 'eth1', 'v4'), ep('a2', 'eth1', 'v3')] }),
      ]);
      expect(race.filter((x) => x.status === 'fulfilled')).toHaveLength(1);
      const lost = race.find((x) => x.status === 'rejected') as PromiseRejectedResult;
      expect(['aborted', 'already_exists', 'failed_precondition']).toContain((lost.reason as { code: string }).code);
      await waitFor(async () => (await at[2]!.listSecureChannels()).channels.filter((c) => c.name === 'race').length === 1, 'one race channel');
      expect((await at[2]!.listSecureChannels()).channels.map((c) => c.name).sort()).toEqual(['ab', 'race']);
      await waitFor(async () => (await at[2]!.getSecureChannel('race')).state === ChannelState.CHANNEL_STATE_SECURED, 'race channel secured');

      // One event order at every replica: the events raised at each of the three, the same seqs at replicas 2 and 3.
      await waitFor(
        () => w2.events.some((e) => e.type === EventType.EVENT_TYPE_CHANNEL_CREATED && e.message.includes('race')) && seen(w2).join() === seen(w3).join(),
        'replicas 2 and 3 show the same events',
      );
      const types = new Set(w2.events.map((e) => e.type));
      for (const t of [EventType.EVENT_TYPE_AGENT_UP, EventType.EVENT_TYPE_PORT_OPENED, EventType.EVENT_TYPE_CHANNEL_CREATED])
        expect(types.has(t), EventType[t]).toBe(true);
      expect(
        w2.events
          .filter((e) => e.type === EventType.EVENT_TYPE_AGENT_UP)
          .map((e) => e.agentId)
          .sort(),
      ).toEqual(['a1', 'a2', 'b1', 'b2']);
      for (let i = 1; i < w2.events.length; i++) expect(w2.events[i]!.seq).toBeGreaterThan(w2.events[i - 1]!.seq);
      // ... resumable with the same since_seq at another replica
      const k = Math.floor(w2.events.length / 2);
      const w1 = watch(at[0]!, w2.events[k]!.seq);
      await waitFor(() => w1.events.length >= w2.events.length - k - 1, 'replica 1 replays after since_seq');
      expect(seen(w1)).toEqual(seen(w2).slice(k + 1, k + 1 + w1.events.length));
      w1.close();

      // kill -9 of replica 1: its agents are at replica 3 within 5 s, sessions running on.
      const runtimes = new Map(agents.flatMap((a) => [...a.ports].map(([id, p]) => [id, p] as const)));
      const keys = async (i: number) =>
        (await at[i]!.listPorts()).ports.map((p) => [p.id, p.status?.keyNumber, p.status?.runtimeId]).sort((x, y) => String(x[0]).localeCompare(String(y[0])));
      const keysBefore = await keys(1);
      const t0 = Date.now();
      await r[0]!.kill('SIGKILL');
      await waitFor(
        async () => {
          const v = await at[1]!.listAgents({ connectedOnly: true });
          return v.agents.length === 4 && v.agents.filter((a) => a.id.startsWith('a')).every((a) => a.connectedSinceMs > t0);
        },
        'a1, a2 bound to replica 3, seen at replica 2',
        15_000,
        50,
      );
      const moved = Date.now() - t0;
      console.log(`agents of the killed replica bound to another ${moved} ms after kill -9`);
      expect(moved).toBeLessThan(5_000);
      for (const [id, p] of runtimes) expect(agents.find((a) => id.startsWith(`${a.id}/`))!.ports.get(id), `${id} kept its session`).toBe(p);
      await waitFor(async () => (await at[1]!.getSecureChannel('ab')).state === ChannelState.CHANNEL_STATE_SECURED, 'ab secured at replica 2');
      expect(await keys(1)).toEqual(keysBefore);
      // WatchEvents: for each moved agent, down then up, after the kill
      for (const a of ['a1', 'a2']) {
        await waitFor(
          () => w2.events.some((e) => e.agentId === a && e.type === EventType.EVENT_TYPE_AGENT_UP && e.timeMs >= t0),
          `${a} up again in the events`,
        );
        const after = w2.events.filter(
          (e) => e.agentId === a && e.timeMs >= t0 && [EventType.EVENT_TYPE_AGENT_DOWN, EventType.EVENT_TYPE_AGENT_UP].includes(e.type),
        );
        expect(
          after.map((e) => EventType[e.type]),
          `${a}: ${after.map((e) => e.message).join(' | ')}`,
        ).toEqual(['EVENT_TYPE_AGENT_DOWN', 'EVENT_TYPE_AGENT_UP']);
      }
      expect(seen(w3).slice(0, w2.events.length)).toEqual(seen(w2).slice(0, w3.events.length));
      // operator calls keep working at the survivors, for agents at either
      await at[1]!.openPort({ agentId: 'a1', interface: 'eth2', mode: PortMode.PORT_MODE_PSK });
      expect(agents[0]!.ports.has('a1/eth2')).toBe(true);

      // One etcd member down: no operator-visible error.
      await etcd.kill(0);
      await at[1]!.closePort({ portId: 'a1/eth2' });
      expect(agents[0]!.ports.has('a1/eth2')).toBe(false);
      // Two down: no quorum. Writes fail with UNAVAILABLE naming etcd; reads answer from the view.
      await etcd.kill(1);
      const t1 = Date.now();
      const err = await at[2]!.openPort({ agentId: 'b1', interface: 'eth2', mode: PortMode.PORT_MODE_PSK }).then(
        () => undefined,
        (e: { code: string; message: string }) => e,
      );
      expect(err?.code).toBe('unavailable');
      expect(err?.message).toMatch(/etcd/);
      expect(Date.now() - t1).toBeLessThan(15_000);
      // ... and the next write fails at once, while the store is reconnecting
      const t2 = Date.now();
      const again = await at[2]!.openPort({ agentId: 'b2', interface: 'eth2', mode: PortMode.PORT_MODE_PSK }).then(
        () => undefined,
        (e: { code: string; message: string }) => e,
      );
      expect(again?.code).toBe('unavailable');
      expect(again?.message).toMatch(/etcd/);
      expect(Date.now() - t2).toBeLessThan(2_000);
      expect((await at[2]!.listPorts()).ports.length).toBe(4);
      for (const [id, p] of runtimes) expect(agents.find((a) => id.startsWith(`${a.id}/`))!.ports.get(id), `${id} kept its session without quorum`).toBe(p);
      // Quorum back: writes work again without a restart.
      etcd.restart(0);
      etcd.restart(1);
      await waitFor(
        async () =>
          at[2]!.openPort({ agentId: 'b1', interface: 'eth2', mode: PortMode.PORT_MODE_PSK }).then(
            () => true,
            () => false,
          ),
        'writes again once quorum is back',
        30_000,
        500,
      );
      expect(agents[2]!.ports.has('b1/eth2')).toBe(true);

      // Restart every replica (all down at once, then up on the same addresses): desired state intact, nothing torn down.
      await waitFor(async () => (await at[1]!.getSecureChannel('ab')).state === ChannelState.CHANNEL_STATE_SECURED, 'ab secured before the restart');
      const channelsBefore = (await at[1]!.listSecureChannels()).channels.map((c) => [c.id, c.name, c.endpoints.length]);
      const portsBefore = await keys(1);
      const runtimesBefore = new Map(agents.flatMap((a) => [...a.ports].map(([id, p]) => [id, p] as const)));
      const lastSeq = w2.events[w2.events.length - 1]!.seq;
      w2.close();
      w3.close();
      for (const c of at) c.close();
      await Promise.all(r.slice(1).map((m) => m.kill('SIGTERM')));
      for (const [i, id] of ['r1', 'r2', 'r3'].entries()) r[i] = await spawnManager(pki, etcd.storeSpec, r[i]!.port, [...store, '--id', id, '--no-init']);
      at.splice(0, at.length, ...r.map((m) => operator(pki, 'alice', m.port)));
      await waitFor(async () => (await at[0]!.listAgents({ connectedOnly: true })).agents.length === 4, 'all four agents back after the restart', 20_000);
      expect((await at[0]!.listSecureChannels()).channels.map((c) => [c.id, c.name, c.endpoints.length])).toEqual(channelsBefore);
      await waitFor(async () => (await at[2]!.getSecureChannel('ab')).state === ChannelState.CHANNEL_STATE_SECURED, 'ab secured after the restart');
      await waitFor(async () => JSON.stringify(await keys(0)) === JSON.stringify(portsBefore), 'same ports, key numbers and runtime ids after the restart');
      for (const [id, p] of runtimesBefore)
        expect(agents.find((a) => id.startsWith(`${a.id}/`))!.ports.get(id), `${id} kept its session over the restart`).toBe(p);
      // the event log outlived every replica: resumed after the last seq seen before
      const w4 = watch(at[2]!, lastSeq);
      await waitFor(() => w4.events.some((e) => e.type === EventType.EVENT_TYPE_AGENT_UP), 'events after the restart');
      expect(w4.events.every((e) => e.seq > lastSeq)).toBe(true);
      w4.close();
    } finally {
      w2.close();
      w3.close();
      for (const c of at) c.close();
      await Promise.all(agents.map((a) => a.kill()));
      for (const m of r) await m.kill();
    }
  }, 180_000);
});
