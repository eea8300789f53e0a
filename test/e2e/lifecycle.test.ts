/**
 * End to end in one process tree: a manager (child process, SQLite; then two replicas on etcd,
 * the same suite) and three agents (real KaY, simulated SecY, in-memory LAN). Create a channel, see it secured, force a rekey, restart the
 * manager (kill -9) and see everything come back without a session being torn down, kill an agent
 * and see events and status reflect it, delete the channel.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { MemoryHub } from '../../src/link/memory.js';
import type { Agent as SimAgent } from '../../src/agent/managed/agent.js';
import { ChannelState, EventType, type SecureChannel } from '../../src/control/gen/macsec/v1/manager.js';
import { PortMode, PortState } from '../../src/control/gen/macsec/v1/types.js';
import type { ManagerApi } from '../../src/control/client.js';
import { type Deployment, deployments } from '../support/deployment.js';
import { makePki, operator, rpcError, simAgent, waitFor, watch, type TestPki } from '../support/harness.js';

describe.each(deployments)('control plane end to end (%s + 3 simulated agents)', (_kind, deploy) => {
  let pki: TestPki;
  let d: Deployment;
  let admin: ManagerApi;
  const hub = new MemoryHub();
  const agents = new Map<string, SimAgent>();
  let channel: SecureChannel;

  beforeAll(async () => {
    pki = makePki();
    d = await deploy(pki);
    admin = operator(pki, 'alice', d.port);
    for (const [i, id] of ['a1', 'a2', 'a3'].entries()) agents.set(id, simAgent(pki, id, d.port, { hub, managerAddress: d.agentAddress(i) }));
  }, 60_000);

  afterAll(async () => {
    admin?.close();
    for (const a of agents.values()) await a.stop().catch(() => {});
    await d?.stop();
    pki?.cleanup();
  });

  it('sees three connected agents', async () => {
    const r = await waitFor(async () => {
      const l = await admin.listAgents({ connectedOnly: true });
      return l.agents.length === 3 ? l : undefined;
    }, 'three agents');
    expect(r.agents.map((a) => a.id)).toEqual(['a1', 'a2', 'a3']);
    const a1 = await admin.getAgent('a1');
    expect(a1.capabilities).toContain('psk');
    expect(a1.interfaces.map((i) => i.name)).toEqual(['eth1', 'eth2']);
    expect(a1.connectedSinceMs).toBeGreaterThan(0);
  });

  it('opens a PSK authenticator port on each agent (returns when the agent is ready)', async () => {
    for (const [i, id] of ['a1', 'a2', 'a3'].entries()) {
      const p = await admin.openPort({ agentId: id, interface: 'eth1', mode: PortMode.PORT_MODE_PSK, policy: { keyServerPriority: 10 + i }, ovsBridge: '' });
      expect(p.id).toBe(`${id}/eth1`);
      expect(p.status!.state).toBe(PortState.PORT_STATE_READY);
    }
  });

  it('creates a secure channel: returns when every authenticator is ready, then reports secured', async () => {
    const w = watch(admin);
    const r = await admin.createSecureChannel({
      name: 'vnf-chain',
      endpoints: ['a1', 'a2', 'a3'].map((a, i) => ({ agentId: a, switchPort: 'eth1', vnfId: `vnf${i + 1}`, vnfInterface: 'eth0' })),
      waitSecured: false,
    });
    expect(r.created).toBe(true);
    expect(r.generatedPsk?.cakHex).toMatch(/^[0-9a-f]{32}$/);
    expect([ChannelState.CHANNEL_STATE_READY, ChannelState.CHANNEL_STATE_SECURED]).toContain(r.channel!.state);
    for (const e of r.channel!.endpointStatus) expect([PortState.PORT_STATE_AUTHENTICATING, PortState.PORT_STATE_SECURED]).toContain(e.status!.state);
    channel = await waitFor(async () => {
      const c = await admin.getSecureChannel(r.channel!.id);
      return c.state === ChannelState.CHANNEL_STATE_SECURED ? c : undefined;
    }, 'channel secured');
    for (const e of channel.endpointStatus) {
      expect(e.status!.state).toBe(PortState.PORT_STATE_SECURED);
      expect(e.status!.livePeers).toHaveLength(2);
    }
    expect(channel.endpointStatus.filter((e) => e.status!.keyServer)).toHaveLength(1);
    expect(channel.endpointStatus.find((e) => e.status!.keyServer)!.portId).toBe('a1/eth1'); // lowest priority value wins
    await waitFor(() => w.events.some((e) => e.type === EventType.EVENT_TYPE_CHANNEL_SECURED && e.channelId === channel.id), 'CHANNEL_SECURED event');
    expect(w.events.some((e) => e.type === EventType.EVENT_TYPE_CHANNEL_CREATED)).toBe(true);
    // each port's owner tells its PORT_SECURED once (replicas: not necessarily before CHANNEL_SECURED)
    await waitFor(() => w.events.filter((e) => e.type === EventType.EVENT_TYPE_PORT_SECURED).length >= 3, 'PORT_SECURED of every port');
    expect(w.events.filter((e) => e.type === EventType.EVENT_TYPE_PORT_SECURED)).toHaveLength(3);
    // The generated key is never echoed again.
    expect(JSON.stringify(channel)).not.toContain(r.generatedPsk!.cakHex);
    // Idempotent by name.
    const again = await admin.createSecureChannel({ name: 'vnf-chain', endpoints: channel.endpoints });
    expect(again.created).toBe(false);
    expect(again.generatedPsk).toBeUndefined();
    expect(again.channel!.id).toBe(channel.id);
    w.close();
  });

  it('forces a rekey: the key server distributes a new SAK that every endpoint installs', async () => {
    const w = watch(admin);
    const before = channel.endpointStatus[0]!.status!.keyNumber;
    const r = await admin.forceRekey({ channelId: channel.id });
    expect(r.results.find((x) => x.keyServer)?.ok).toBe(true);
    channel = await waitFor(async () => {
      const c = await admin.getSecureChannel(channel.id);
      const kns = new Set(c.endpointStatus.map((e) => e.status!.keyNumber));
      const ok =
        c.state === ChannelState.CHANNEL_STATE_SECURED && kns.size === 1 && [...kns][0]! > before && c.endpointStatus.every((e) => e.status!.rekeys >= 1);
      return ok ? c : undefined;
    }, 'every endpoint on the new key');
    await waitFor(() => w.events.some((e) => e.type === EventType.EVENT_TYPE_PORT_REKEYED), 'PORT_REKEYED event');
    w.close();
  });

  it('survives a kill -9 and restart of every manager process: state comes back, no session is torn down', async () => {
    const runtimeIds = new Map(channel.endpointStatus.map((e) => [e.portId, e.status!.runtimeId]));
    const kn = channel.endpointStatus[0]!.status!.keyNumber;
    admin.close();
    await d.kill();
    await waitFor(() => [...agents.values()].every((a) => a.state !== 'connected'), 'agents notice the manager is gone');
    // Sessions keep running on the agents while the manager is away.
    await new Promise((r) => setTimeout(r, 500));
    for (const a of agents.values()) expect(a.ports.get(`${a.id}/eth1`)!.status().state).toBe(PortState.PORT_STATE_SECURED);

    await d.restart();
    admin = operator(pki, 'alice', d.port);
    await waitFor(async () => (await admin.listAgents({ connectedOnly: true })).agents.length === 3, 'agents reconnect');
    const c = await waitFor(async () => {
      const x = await admin.getSecureChannel('vnf-chain');
      return x.state === ChannelState.CHANNEL_STATE_SECURED ? x : undefined;
    }, 'channel secured after restart');
    expect(c.id).toBe(channel.id);
    expect(c.ckn).toBe(channel.ckn);
    expect(c.endpoints).toEqual(channel.endpoints);
    for (const e of c.endpointStatus) {
      expect(e.status!.runtimeId).toBe(runtimeIds.get(e.portId)); // same MKA session
      expect(e.status!.keyNumber).toBe(kn); // no rekey caused by the restart
    }
    const ports = await admin.listPorts();
    expect(ports.ports.map((p) => p.id)).toEqual(['a1/eth1', 'a2/eth1', 'a3/eth1']);
    channel = c;
  });

  it('reflects a killed agent in events and status', async () => {
    const w = watch(admin);
    await agents.get('a3')!.kill();
    await waitFor(() => w.events.some((e) => e.type === EventType.EVENT_TYPE_AGENT_DOWN && e.agentId === 'a3'), 'AGENT_DOWN a3');
    const a3 = await admin.getAgent('a3');
    expect(a3.connected).toBe(false);
    const c = await admin.getSecureChannel(channel.id);
    expect(c.state).toBe(ChannelState.CHANNEL_STATE_DEGRADED);
    const e3 = c.endpointStatus.find((e) => e.portId === 'a3/eth1')!;
    expect(e3.agentConnected).toBe(false);
    expect(e3.status!.state).toBe(PortState.PORT_STATE_AGENT_DISCONNECTED);
    await waitFor(() => w.events.some((e) => e.type === EventType.EVENT_TYPE_CHANNEL_DEGRADED && e.channelId === channel.id), 'CHANNEL_DEGRADED');
    // The surviving agents' KaYs lose the peer after the MKA life time.
    await waitFor(() => w.events.filter((e) => e.type === EventType.EVENT_TYPE_PEER_LOST).length >= 2, 'PEER_LOST from a1 and a2');
    await waitFor(async () => {
      const x = await admin.getSecureChannel(channel.id);
      return x.endpointStatus.filter((e) => e.agentConnected).every((e) => e.status!.livePeers.length === 1);
    }, 'a1 and a2 see one live peer');
    w.close();
  });

  it('a restarted agent gets its desired state back and the channel re-secures', async () => {
    const w = watch(admin);
    const a3 = simAgent(pki, 'a3', d.port, { hub, managerAddress: d.agentAddress(2) });
    agents.set('a3', a3);
    await waitFor(() => w.events.some((e) => e.type === EventType.EVENT_TYPE_AGENT_UP && e.agentId === 'a3'), 'AGENT_UP a3');
    const c = await waitFor(async () => {
      const x = await admin.getSecureChannel(channel.id);
      return x.state === ChannelState.CHANNEL_STATE_SECURED ? x : undefined;
    }, 'channel secured again');
    expect(c.endpointStatus.every((e) => e.status!.livePeers.length === 2)).toBe(true);
    expect(a3.ports.get('a3/eth1')!.status().state).toBe(PortState.PORT_STATE_SECURED);
    w.close();
  });

  it('deletes the channel: ports go back to ready, the channel is gone', async () => {
    const w = watch(admin);
    const r = await admin.deleteSecureChannel({ channelId: channel.id });
    expect(r.existed).toBe(true);
    const e = await rpcError(admin.getSecureChannel(channel.id));
    expect(e.code).toBe(status.NOT_FOUND);
    for (const id of ['a1', 'a2']) {
      const p = await admin.getPort(`${id}/eth1`);
      expect(p.channelId).toBe('');
      expect(p.status!.state).toBe(PortState.PORT_STATE_READY);
      expect(agents.get(id)!.ports.get(`${id}/eth1`)!.status().state).toBe(PortState.PORT_STATE_READY);
    }
    await waitFor(() => w.events.some((x) => x.type === EventType.EVENT_TYPE_CHANNEL_DELETED), 'CHANNEL_DELETED');
    w.close();
  });
});
