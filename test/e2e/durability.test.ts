/**
 * Durability of the desired state: a manager never tears down sessions because its store is new
 * or missing, a full disk never crashes it or strands an agent, and the one-time generated PSK of
 * CreateSecureChannel survives a manager crash between storing and acknowledging.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server, status } from '@grpc/grpc-js';
import { AgentServiceClient, AgentServiceService, type DesiredState, type ManagerMessage } from '../../src/control/gen/macsec/v1/agent.js';
import { ChannelState } from '../../src/control/gen/macsec/v1/manager.js';
import { PortMode } from '../../src/control/gen/macsec/v1/types.js';
import { clientCredentials, serverCredentials } from '../../src/control/tls.js';
import { MemoryHub } from '../../src/link/memory.js';
import type { Agent } from '../../src/agent/managed/agent.js';
import { SqliteStore, StoreMissingError } from '../../src/manager/store/sqlite.js';
import { makePki, operator, rpcError, simAgent, spawnManager, startManager, waitFor, type TestPki } from '../support/harness.js';

const ep = (agentId: string, switchPort: string, vnfId: string) => ({ agentId, switchPort, vnfId, vnfInterface: 'eth0' });

let pki: TestPki;
let dir: string;
beforeAll(() => {
  pki = makePki();
  dir = mkdtempSync(join(tmpdir(), 'macsec-durability-'));
});
afterAll(() => {
  pki.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('a missing store is an error, never an empty desired state', () => {
  it('SqliteStore refuses a missing or uninitialised file unless asked to create one', () => {
    expect(() => new SqliteStore(join(dir, 'nope.db'))).toThrow(StoreMissingError);
    writeFileSync(join(dir, 'empty.db'), '');
    expect(() => new SqliteStore(join(dir, 'empty.db'))).toThrow(/--init-db/);
    const made = new SqliteStore(join(dir, 'made.db'), { create: true });
    const id = made.storeId;
    made.close();
    const again = new SqliteStore(join(dir, 'made.db'));
    expect(again.storeId).toBe(id); // identity is stable across opens
    again.close();
  });

  it('macsec-manager exits with a message naming --init-db and never listens', async () => {
    const err = await spawnManager(pki, join(dir, 'missing.db'), 0, ['--no-init']).then(
      () => '',
      (e: Error) => e.message,
    );
    expect(err).toMatch(/manager exited 1/);
    expect(err).toMatch(/store '.*missing\.db' does not exist or is not an initialised manager store/);
    expect(err).toMatch(/--init-db/);
  });
});

describe('a manager with another store keeps the running ports (orphaned) until an operator acts', () => {
  it('keeps sessions of another store running, lists them, adopts and closes on request only', async () => {
    const hub = new MemoryHub();
    const m1 = await startManager(pki, join(dir, 'store1.db'));
    const port = m1.port;
    const agents: Agent[] = [simAgent(pki, 'a1', port, { hub }), simAgent(pki, 'a2', port, { hub })];
    let admin = operator(pki, 'alice', port);
    await waitFor(() => m1.manager.connectedAgentIds().length === 2, 'agents on m1');
    for (const a of ['a1', 'a2']) await admin.openPort({ agentId: a, interface: 'eth1', mode: PortMode.PORT_MODE_PSK });
    await admin.openPort({ agentId: 'a1', interface: 'eth2', mode: PortMode.PORT_MODE_EAP_EMBEDDED }).catch(() => {}); // not offered by sim agents
    await admin.openPort({ agentId: 'a1', interface: 'eth2', mode: PortMode.PORT_MODE_PSK });
    await admin.createSecureChannel({ name: 'c', endpoints: [ep('a1', 'eth1', 'v1'), ep('a2', 'eth1', 'v2')], waitSecured: true, waitTimeoutMs: 15_000 });
    expect((await admin.getSecureChannel('c')).state).toBe(ChannelState.CHANNEL_STATE_SECURED);
    const runtimes = new Map([...agents].flatMap((a) => [...a.ports].map(([id, p]) => [id, p] as const)));
    expect([...runtimes.keys()].sort()).toEqual(['a1/eth1', 'a1/eth2', 'a2/eth1']);
    const store1 = m1.store.storeId;
    const connects = agents.map((a) => a.connects);
    admin.close();
    await m1.stop();

    // The operator starts a manager on a NEW store on the same address.
    const m2 = await startManager(pki, join(dir, 'store2.db'), { port });
    admin = operator(pki, 'alice', port);
    expect(m2.store.storeId).not.toBe(store1);
    await waitFor(() => agents.every((a, i) => a.state === 'connected' && a.connects > connects[i]!), 'agents on m2');
    await new Promise((r) => setTimeout(r, 500)); // let a desired state that would stop ports arrive
    for (const [id, p] of runtimes) expect(agents.find((a) => id.startsWith(`${a.id}/`))!.ports.get(id), id).toBe(p);
    const orphans = await admin.listOrphanedPorts();
    expect(orphans.storeId).toBe(m2.store.storeId);
    expect(orphans.ports.map((o) => `${o.portId}@${o.storeId}`).sort()).toEqual([`a1/eth1@${store1}`, `a1/eth2@${store1}`, `a2/eth1@${store1}`]);
    expect((await admin.listPorts()).ports).toEqual([]);

    // Adopting (OpenPort with the same configuration) keeps the session: same runtime.
    await admin.openPort({ agentId: 'a1', interface: 'eth2', mode: PortMode.PORT_MODE_PSK });
    expect(agents[0]!.ports.get('a1/eth2')).toBe(runtimes.get('a1/eth2'));
    expect((await admin.listOrphanedPorts()).ports.map((o) => o.portId).sort()).toEqual(['a1/eth1', 'a2/eth1']);

    // Orchestrators may not release orphans; an admin may.
    const osm = operator(pki, 'osm-a', port);
    expect((await rpcError(osm.closePort({ portId: 'a2/eth1' }))).code).toBe(status.PERMISSION_DENIED);
    osm.close();
    expect((await admin.closePort({ portId: 'a2/eth1' })).existed).toBe(true);
    await waitFor(() => !agents[1]!.ports.has('a2/eth1'), 'a2/eth1 stopped after ClosePort');
    expect(agents[0]!.ports.get('a1/eth1')).toBe(runtimes.get('a1/eth1'));

    // Restarting m2 on its own store: the remaining orphan is still an orphan, still running.
    admin.close();
    await m2.stop();
    const m3 = await startManager(pki, join(dir, 'store2.db'), { port });
    admin = operator(pki, 'alice', port);
    await waitFor(() => m3.manager.connectedAgentIds().length === 2, 'agents on m3');
    await new Promise((r) => setTimeout(r, 500));
    expect(agents[0]!.ports.get('a1/eth1')).toBe(runtimes.get('a1/eth1'));
    expect(agents[0]!.ports.get('a1/eth2')).toBe(runtimes.get('a1/eth2'));
    expect((await admin.listOrphanedPorts()).ports.map((o) => o.portId)).toEqual(['a1/eth1']);
    admin.close();
    for (const a of agents) await a.stop();
    await m3.stop();
  });
});

describe('disk full', () => {
  it('answers INTERNAL, survives agent disconnects, and recovers by itself when space returns', async () => {
    const mnt = join(dir, 'tmpfs');
    mkdirSync(mnt);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
    } catch (e) {
      throw new Error(`this test needs to mount a small tmpfs (run as root): ${(e as Error).message}`);
    }
    const mgr = await spawnManager(pki, join(mnt, 'm.db'));
    const hub = new MemoryHub();
    let a1 = simAgent(pki, 'a1', mgr.port, { hub });
    let a2 = simAgent(pki, 'a2', mgr.port, { hub });
    const admin = operator(pki, 'alice', mgr.port);
    try {
      await waitFor(async () => (await admin.listAgents()).agents.filter((a) => a.connected).length === 2, 'agents');
      await admin.openPort({ agentId: 'a1', interface: 'eth1', mode: PortMode.PORT_MODE_PSK });
      // Fill the file system.
      try {
        execFileSync('dd', ['if=/dev/zero', `of=${join(mnt, 'fill')}`, 'bs=64k'], { stdio: 'ignore' });
      } catch {
        /* dd stops with ENOSPC: that is the point */
      }
      const full = await rpcError(admin.openPort({ agentId: 'a2', interface: 'eth1', mode: PortMode.PORT_MODE_PSK }));
      expect(full.code).toBe(status.INTERNAL);
      expect(full.details).toMatch(/full/);
      // Agents come and go while the disk is full: the manager must stay up.
      await a2.kill();
      await a1.kill();
      await new Promise((r) => setTimeout(r, 500));
      expect(mgr.proc.exitCode).toBeNull();
      a1 = simAgent(pki, 'a1', mgr.port, { hub });
      a2 = simAgent(pki, 'a2', mgr.port, { hub });
      await new Promise((r) => setTimeout(r, 1500));
      expect(mgr.proc.exitCode).toBeNull();
      // Space returns: agents bind by themselves and writes work again.
      rmSync(join(mnt, 'fill'));
      await waitFor(async () => (await admin.listAgents()).agents.filter((a) => a.connected).length === 2, 'agents bound after space returned', 20_000);
      await admin.openPort({ agentId: 'a2', interface: 'eth1', mode: PortMode.PORT_MODE_PSK });
      await waitFor(() => a1.ports.has('a1/eth1') && a2.ports.has('a2/eth1'), 'ports running');
    } finally {
      admin.close();
      await a1.stop();
      await a2.stop();
      await mgr.kill();
      execFileSync('umount', ['-l', mnt]);
    }
  });

  it('an agent whose manager never answers Hello retries instead of waiting forever, waiting longer each round', async () => {
    const server = new Server();
    let streams = 0;
    server.addService(AgentServiceService, {
      connect: () => {
        streams++; // takes the stream, never binds it
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', serverCredentials(pki.material('mgr')), (e, p) => (e ? reject(e) : resolve(p))),
    );
    const a = simAgent(pki, 'a1', port, { welcomeTimeoutMs: 300 });
    const errors = new Set<string>();
    await waitFor(
      () => {
        if (a.lastError) errors.add(a.lastError);
        return streams >= 4;
      },
      'agent retried',
      15_000,
      20,
    );
    // an overloaded manager is given more time each round (no retry storm): 300, 600, 1,200 ms
    expect([...errors].slice(0, 3)).toEqual(['no Welcome within 300 ms', 'no Welcome within 600 ms', 'no Welcome within 1200 ms']);
    await a.stop();
    server.forceShutdown();
  });
});

describe('CreateSecureChannel across a manager crash', () => {
  /** A raw agent (certificate a1) that acknowledges desired states until told to stall. */
  function rawAgent(port: number) {
    const client = new AgentServiceClient(`127.0.0.1:${port}`, clientCredentials(pki.material('a1')), { 'grpc.ssl_target_name_override': 'localhost' });
    const call = client.connect();
    const st = { stall: false, desired: [] as DesiredState[], welcomed: false };
    call.on('data', (d: ManagerMessage) => {
      if (d.welcome) st.welcomed = true;
      if (!d.desired) return;
      st.desired.push(d.desired);
      if (!st.stall) call.write({ ack: { revision: d.desired.revision, ports: [] } });
    });
    call.on('error', () => {});
    call.write({
      hello: {
        agentId: 'a1',
        version: 't',
        capabilities: ['psk'],
        interfaces: [
          { name: 'eth1', mac: '' },
          { name: 'eth2', mac: '' },
        ],
        running: [],
        bootId: 'raw',
      },
    });
    return { st, close: () => (call.cancel(), client.close()) };
  }

  it('a retry with the same request_id returns the generated PSK; an uncommitted create without one is rolled back', async () => {
    const db = join(dir, 'crash.db');
    let mgr = await spawnManager(pki, db);
    const port = mgr.port;
    let agent = rawAgent(port);
    let admin = operator(pki, 'alice', port);
    await waitFor(() => agent.st.welcomed, 'raw agent bound');
    for (const i of ['eth1', 'eth2']) await admin.openPort({ agentId: 'a1', interface: i, mode: PortMode.PORT_MODE_PSK });

    const crashDuringCreate = async (name: string, requestId: string) => {
      agent.st.stall = true;
      const pushed = agent.st.desired.length;
      const failed = rpcError(admin.createSecureChannel({ name, endpoints: [ep('a1', 'eth1', 'v1'), ep('a1', 'eth2', 'v2')], requestId }));
      await waitFor(() => agent.st.desired.length > pushed, 'channel pushed to the agent');
      await mgr.kill('SIGKILL');
      expect((await failed).code).toBe(status.UNAVAILABLE);
      const sent = agent.st.desired.at(-1)!.ports.find((p) => p.portId === 'a1/eth1')!.psk!;
      agent.close();
      admin.close();
      mgr = await spawnManager(pki, db, port);
      agent = rawAgent(port);
      admin = operator(pki, 'alice', port);
      await waitFor(() => agent.st.welcomed, 'raw agent bound again');
      return Buffer.from(sent.cak).toString('hex');
    };

    const cakSent = await crashDuringCreate('with-id', 'osm-op-42');
    const retry = await admin.createSecureChannel({ name: 'with-id', endpoints: [ep('a1', 'eth1', 'v1'), ep('a1', 'eth2', 'v2')], requestId: 'osm-op-42' });
    expect(retry.created).toBe(true);
    expect(retry.generatedPsk?.cakHex).toBe(cakSent);
    const again = await admin.createSecureChannel({ name: 'with-id', endpoints: [ep('a1', 'eth1', 'v1'), ep('a1', 'eth2', 'v2')], requestId: 'osm-op-42' });
    expect(again.generatedPsk?.cakHex).toBe(cakSent);
    const other = await admin.createSecureChannel({ name: 'with-id', endpoints: [ep('a1', 'eth1', 'v1'), ep('a1', 'eth2', 'v2')] });
    expect(other.created).toBe(false);
    expect(other.generatedPsk).toBeUndefined(); // only the creating call (its request id) sees the key
    await admin.deleteSecureChannel({ channelId: 'with-id' });

    await crashDuringCreate('no-id', '');
    expect((await rpcError(admin.getSecureChannel('no-id'))).code).toBe(status.NOT_FOUND);
    const bad = await rpcError(admin.createSecureChannel({ name: 'x', endpoints: [ep('a1', 'eth1', 'v1')], requestId: 'a b'.repeat(100) }));
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.details).toMatch(/^request_id: must match/);
    expect(bad.details).not.toMatch(/a ba b/);
    agent.close();
    admin.close();
    await mgr.kill();
  });
});
