/**
 * The orchestrator role (the OSM adapter's certificate): it may read everything but change only
 * what it owns, the ports it opened and the channels it created. Ownership is stored with the
 * object and enforced by the manager, so one network service's adapter cannot delete or rekey
 * another's channel, nor an operator's. Admins may change everything.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import type { ManagerApi } from '../../src/control/client.js';
import { PortMode } from '../../src/control/gen/macsec/v1/types.js';
import type { Agent } from '../../src/agent/managed/agent.js';
import { MemoryHub } from '../../src/link/memory.js';
import { ChannelState } from '../../src/control/gen/macsec/v1/manager.js';
import { makePki, operator, rpcError, simAgent, startManager, waitFor, type RunningManager, type TestPki } from '../support/harness.js';

describe('orchestrator ownership', () => {
  let pki: TestPki;
  let m: RunningManager;
  let admin: ManagerApi;
  let osmA: ManagerApi;
  let osmB: ManagerApi;
  const agents: Agent[] = [];
  const ep = (agentId: string, switchPort: string, vnfId: string) => ({ agentId, switchPort, vnfId, vnfInterface: 'eth0' });

  beforeAll(async () => {
    pki = makePki();
    m = await startManager(pki);
    admin = operator(pki, 'alice', m.port);
    osmA = operator(pki, 'osm-a', m.port);
    osmB = operator(pki, 'osm-b', m.port);
    const hub = new MemoryHub();
    agents.push(simAgent(pki, 'a1', m.port, { hub }), simAgent(pki, 'a2', m.port, { hub }), simAgent(pki, 'a3', m.port, { hub }));
    await waitFor(() => m.manager.connectedAgentIds().length === 3, 'agents');
    // osm-a owns a1/eth1 + a2/eth1 and channel "ns-a"; alice owns a1/eth2 + a2/eth2 and channel "ops".
    for (const a of ['a1', 'a2']) {
      await osmA.openPort({ agentId: a, interface: 'eth1', mode: PortMode.PORT_MODE_PSK });
      await admin.openPort({ agentId: a, interface: 'eth2', mode: PortMode.PORT_MODE_PSK });
    }
    await osmA.createSecureChannel({ name: 'ns-a', endpoints: [ep('a1', 'eth1', 'v1'), ep('a2', 'eth1', 'v2')] });
    await admin.createSecureChannel({ name: 'ops', endpoints: [ep('a1', 'eth2', 'v3'), ep('a2', 'eth2', 'v4')] });
  });
  afterAll(async () => {
    for (const c of [admin, osmA, osmB]) c.close();
    for (const a of agents) await a.stop();
    await m.stop();
    pki.cleanup();
  });

  it('records the owner of ports and channels (stored and shown)', async () => {
    expect((await admin.getSecureChannel('ns-a')).owner).toBe('operator:orchestrator:osm-a');
    expect((await admin.getSecureChannel('ops')).owner).toBe('operator:admin:alice');
    expect((await admin.getPort('a1/eth1')).owner).toBe('operator:orchestrator:osm-a');
    expect(m.store.getChannel('ns-a')!.owner).toBe('operator:orchestrator:osm-a');
    expect(m.store.getPort('a2/eth2')!.owner).toBe('operator:admin:alice');
  });

  it("refuses an orchestrator every write on another's channel or port, changing nothing", async () => {
    const before = JSON.stringify({ ch: m.store.listChannels().map((c) => ({ ...c, cak: Buffer.from(c.cak).toString('hex') })), p: m.store.listPorts() });
    const keyBefore = (await admin.getSecureChannel('ns-a')).endpointStatus.map((e) => e.status?.keyNumber);
    const refusals = [
      () => osmB.deleteSecureChannel({ channelId: 'ns-a' }),
      () => osmB.updateSecureChannel({ channelId: 'ns-a', removePortIds: ['a2/eth1'] }),
      () => osmA.updateSecureChannel({ channelId: 'ops', removePortIds: ['a2/eth2'] }),
      () => osmB.forceRekey({ channelId: 'ns-a' }),
      () => osmB.forceRekey({ portId: 'a1/eth1' }),
      () => osmB.closePort({ portId: 'a1/eth1' }),
      () => osmB.openPort({ agentId: 'a1', interface: 'eth1', mode: PortMode.PORT_MODE_PSK }),
      () => osmB.createSecureChannel({ name: 'ns-a', endpoints: [ep('a1', 'eth1', 'v1'), ep('a2', 'eth1', 'v2')] }),
      () => osmA.deleteSecureChannel({ channelId: 'ops' }),
      () => osmA.forceRekey({ channelId: 'ops' }),
      () => osmA.closePort({ portId: 'a1/eth2' }),
    ];
    for (const r of refusals) {
      const e = await rpcError(r());
      expect(e.code).toBe(status.PERMISSION_DENIED);
      expect(e.details).toMatch(/may only change ports it opened and channels it created/);
    }
    expect(JSON.stringify({ ch: m.store.listChannels().map((c) => ({ ...c, cak: Buffer.from(c.cak).toString('hex') })), p: m.store.listPorts() })).toBe(before);
    expect((await admin.getSecureChannel('ns-a')).endpointStatus.map((e) => e.status?.keyNumber)).toEqual(keyBefore);
  });

  it('refuses a channel of an orchestrator over ports it does not own', async () => {
    await osmB.openPort({ agentId: 'a1', interface: 'eth3', mode: PortMode.PORT_MODE_PSK }).catch(() => {}); // no such interface
    await admin.closePort({ portId: 'a1/eth2', allowMissing: true }).catch(() => {}); // in use: refused, stays
    const e = await rpcError(osmB.createSecureChannel({ name: 'ns-b', endpoints: [ep('a1', 'eth2', 'v1')] }));
    expect(e.code).toBe(status.PERMISSION_DENIED);
    expect(e.details).toMatch(/endpoints\[0\]\.switch_port: port 'a1\/eth2' is owned by operator:admin:alice/);
    expect(m.store.getChannel('ns-b')).toBeUndefined();
  });

  it('an orchestrator may update its own channel only with ports it owns', async () => {
    const members = () => m.store.getChannel('ns-a')!.endpoints.map((x) => `${x.agentId}/${x.switchPort}`);
    const e = await rpcError(osmA.updateSecureChannel({ channelId: 'ns-a', addEndpoints: [ep('a1', 'eth2', 'v5')] }));
    expect(e.code).toBe(status.PERMISSION_DENIED);
    expect(e.details).toMatch(
      /^add_endpoints\[0\]\.switch_port: port 'a1\/eth2' is owned by operator:admin:alice; operator:orchestrator:osm-a may only change/,
    );
    expect(members()).toEqual(['a1/eth1', 'a2/eth1']);
    // Its own port on a third agent: added, then removed again.
    await osmA.openPort({ agentId: 'a3', interface: 'eth1', mode: PortMode.PORT_MODE_PSK });
    const r = await osmA.updateSecureChannel({ channelId: 'ns-a', addEndpoints: [ep('a3', 'eth1', 'v6')] });
    expect(r.addedPortIds).toEqual(['a3/eth1']);
    expect(members()).toEqual(['a1/eth1', 'a2/eth1', 'a3/eth1']);
    expect((await osmA.updateSecureChannel({ channelId: 'ns-a', removePortIds: ['a3/eth1'] })).removedPortIds).toEqual(['a3/eth1']);
    expect(members()).toEqual(['a1/eth1', 'a2/eth1']);
    expect((await osmA.closePort({ portId: 'a3/eth1' })).existed).toBe(true);
  });

  it('lets the owner and admins act; orchestrators still read everything', async () => {
    expect((await osmB.listSecureChannels()).channels.map((c) => c.name)).toEqual(['ns-a', 'ops']);
    await waitFor(async () => (await osmA.getSecureChannel('ns-a')).state === ChannelState.CHANNEL_STATE_SECURED, 'ns-a secured');
    const r = await osmA.forceRekey({ channelId: 'ns-a' });
    expect(r.results.some((x) => x.ok && x.keyServer)).toBe(true);
    expect((await osmA.deleteSecureChannel({ channelId: 'ns-a' })).existed).toBe(true);
    expect((await osmA.closePort({ portId: 'a1/eth1' })).existed).toBe(true);
    // Admin may change an orchestrator's objects (operator override).
    expect((await admin.closePort({ portId: 'a2/eth1' })).existed).toBe(true);
    expect((await admin.deleteSecureChannel({ channelId: 'ops' })).existed).toBe(true);
  });
});
