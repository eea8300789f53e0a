/**
 * Managers on a real etcd 3.4: the desired state survives a manager restart (sessions keep
 * running: same store identity, same fingerprints), a second manager process on the same prefix
 * sees what the first one wrote and the first follows what the second wrote (down to the agents
 * connected to it), and start-up errors of an etcd configuration name the option.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/managed/agent.js';
import { ChannelState } from '../../src/control/gen/macsec/v1/manager.js';
import { PortMode } from '../../src/control/gen/macsec/v1/types.js';
import { MemoryHub } from '../../src/link/memory.js';
import { Keyring } from '../../src/manager/store/keyring.js';
import { type EtcdServer, startEtcd } from '../support/etcd.js';
import { makePki, operator, simAgent, spawnManager, type TestPki, waitFor } from '../support/harness.js';

const ep = (agentId: string, switchPort: string, vnfId: string) => ({ agentId, switchPort, vnfId, vnfInterface: 'eth0' });

let pki: TestPki;
let etcd: EtcdServer;
let dir: string;
let keyFile: string;
beforeAll(async () => {
  pki = makePki();
  etcd = await startEtcd();
  dir = mkdtempSync(join(tmpdir(), 'macsec-etcd-e2e-'));
  keyFile = join(dir, 'store.keys');
  writeFileSync(keyFile, `${Keyring.newKeyLine('k1')}\n`, { mode: 0o600 });
}, 30_000);
afterAll(async () => {
  await etcd?.stop();
  pki.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('managers on etcd', () => {
  it('a restarted manager keeps the state and the running sessions; a second manager sees the same state', async () => {
    const store = ['--store-key-file', keyFile, '--etcd-prefix', '/e2e/'];
    let m1 = await spawnManager(pki, etcd.storeSpec, 0, store);
    const port = m1.port;
    const hub = new MemoryHub();
    const agents: Agent[] = [simAgent(pki, 'a1', port, { hub }), simAgent(pki, 'a2', port, { hub })];
    let admin = operator(pki, 'alice', port);
    try {
      await waitFor(async () => (await admin.listAgents()).agents.filter((a) => a.connected).length === 2, 'agents connected');
      for (const a of ['a1', 'a2']) await admin.openPort({ agentId: a, interface: 'eth1', mode: PortMode.PORT_MODE_PSK });
      const created = await admin.createSecureChannel({
        name: 'web',
        endpoints: [ep('a1', 'eth1', 'v1'), ep('a2', 'eth1', 'v2')],
        waitSecured: true,
        waitTimeoutMs: 15_000,
      });
      expect(created.channel?.state).toBe(ChannelState.CHANNEL_STATE_SECURED);
      const cak = Buffer.from(created.generatedPsk!.cakHex, 'hex');
      const raw = etcd.client();
      const values = Buffer.concat(Object.values(await raw.getAll().prefix('/e2e/').buffers()));
      expect(values.includes(cak) || values.toString().includes(cak.toString('hex'))).toBe(false);

      // A second manager process on the same prefix: the same ports and channel, without any agent.
      const m2 = await spawnManager(pki, etcd.storeSpec, 0, store);
      const other = operator(pki, 'alice', m2.port);
      expect((await other.listPorts()).ports.map((p) => p.id)).toEqual(['a1/eth1', 'a2/eth1']);
      expect((await other.getSecureChannel('web')).id).toBe(created.channel!.id);
      // ... and what it writes, the first follows through its watch, down to the agent connected to it
      await admin.openPort({ agentId: 'a1', interface: 'eth2', mode: PortMode.PORT_MODE_PSK });
      await waitFor(async () => (await other.listPorts('a1')).ports.length === 2, 'the port opened at m1, seen at m2');
      expect(agents[0]!.ports.has('a1/eth2')).toBe(true);
      expect(await other.closePort({ portId: 'a1/eth2' })).toBeTruthy();
      await waitFor(async () => (await admin.listPorts('a1')).ports.length === 1, 'the port closed at m2, gone at m1');
      await waitFor(() => !agents[0]!.ports.has('a1/eth2'), 'the agent on m1 stopped the port closed at m2');
      other.close();
      await m2.kill('SIGTERM');

      // SIGKILL the first manager and start a new one on the same address and etcd prefix.
      const runtimes = new Map(agents.flatMap((a) => [...a.ports].map(([id, p]) => [id, p] as const)));
      const connects = agents.map((a) => a.connects);
      admin.close();
      await m1.kill('SIGKILL');
      m1 = await spawnManager(pki, etcd.storeSpec, port, store);
      admin = operator(pki, 'alice', port);
      await waitFor(() => agents.every((a, i) => a.state === 'connected' && a.connects > connects[i]!), 'agents back');
      await waitFor(async () => (await admin.getSecureChannel('web')).state === ChannelState.CHANNEL_STATE_SECURED, 'channel secured again');
      for (const [id, p] of runtimes) expect(agents.find((a) => id.startsWith(`${a.id}/`))!.ports.get(id), `${id} kept its session`).toBe(p);
      expect((await admin.listOrphanedPorts()).ports).toEqual([]);
    } finally {
      admin.close();
      await Promise.all(agents.map((a) => a.kill()));
      await m1.kill('SIGTERM');
    }
  }, 90_000);

  it('kill -9 of the replica the agents are on: they move to the other replica, their sessions running on', async () => {
    const store = ['--store-key-file', keyFile, '--etcd-prefix', '/failover/'];
    const m1 = await spawnManager(pki, etcd.storeSpec, 0, store);
    const m2 = await spawnManager(pki, etcd.storeSpec, 0, store);
    const managerAddress = `127.0.0.1:${m1.port},127.0.0.1:${m2.port}`;
    const hub = new MemoryHub();
    const agents = ['a1', 'a2'].map((id) => simAgent(pki, id, m1.port, { hub, managerAddress }));
    const at1 = operator(pki, 'alice', m1.port);
    const at2 = operator(pki, 'alice', m2.port);
    try {
      await waitFor(async () => (await at1.listAgents({ connectedOnly: true })).agents.length === 2, 'agents on replica 1');
      for (const a of ['a1', 'a2']) await at1.openPort({ agentId: a, interface: 'eth1', mode: PortMode.PORT_MODE_PSK });
      await at1.createSecureChannel({ name: 'fo', endpoints: [ep('a1', 'eth1', 'v1'), ep('a2', 'eth1', 'v2')], waitSecured: true, waitTimeoutMs: 15_000 });
      const runtimes = new Map(agents.flatMap((a) => [...a.ports].map(([id, p]) => [id, p] as const)));
      const keyNumbers = (await at1.listPorts()).ports.map((p) => [p.id, p.status?.keyNumber, p.status?.runtimeId]);
      const t0 = Date.now();
      await m1.kill('SIGKILL');
      await waitFor(async () => (await at2.listAgents({ connectedOnly: true })).agents.length === 2, 'agents on replica 2', 15_000, 50);
      console.log(`agents bound to the other replica ${Date.now() - t0} ms after kill -9`);
      await waitFor(async () => (await at2.getSecureChannel('fo')).state === ChannelState.CHANNEL_STATE_SECURED, 'secured at replica 2');
      for (const [id, p] of runtimes) expect(agents.find((a) => id.startsWith(`${a.id}/`))!.ports.get(id), `${id} kept its session`).toBe(p);
      // the same sessions (runtime ids) and the same SAKs (key numbers): nothing was torn down or re-keyed
      expect((await at2.listPorts()).ports.map((p) => [p.id, p.status?.keyNumber, p.status?.runtimeId])).toEqual(keyNumbers);
      expect((await at2.listOrphanedPorts()).ports).toEqual([]);
    } finally {
      at1.close();
      at2.close();
      await Promise.all(agents.map((a) => a.kill()));
      await m1.kill();
      await m2.kill('SIGTERM');
    }
  }, 90_000);

  it('start-up errors name the option: no key file, a key file others can read, an empty prefix without --init-db', async () => {
    const err = (extra: string[], spec = etcd.storeSpec) =>
      spawnManager(pki, spec, 0, extra).then(
        async (m) => {
          await m.kill();
          return '';
        },
        (e: Error) => e.message,
      );
    expect(await err([])).toMatch(/--store-key-file is required with an etcd store/);
    const loose = join(dir, 'loose.keys');
    writeFileSync(loose, `${Keyring.newKeyLine('k1')}\n`);
    chmodSync(loose, 0o644);
    expect(await err(['--store-key-file', loose])).toMatch(/--store-key-file: '.*loose\.keys' is readable by group or others/);
    expect(await err(['--store-key-file', keyFile, '--etcd-prefix', '/never-made/', '--no-init'])).toMatch(/holds no manager store.*--init-db/);
    expect(await err(['--store-key-file', keyFile], 'etcd://127.0.0.1')).toMatch(/--store: endpoint 1 is not host:port/);
  }, 60_000);
});
