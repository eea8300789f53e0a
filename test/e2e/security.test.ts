/**
 * mTLS and authorization: every refusal carries the right gRPC status and changes nothing.
 * TLS-level refusals (no certificate, foreign CA, expired) never reach a handler: the handshake
 * fails, so the client sees UNAVAILABLE (no HTTP/2 session exists to carry any other status).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentials, status } from '@grpc/grpc-js';
import { ManagerApi } from '../../src/control/client.js';
import { clientCredentials } from '../../src/control/tls.js';
import { AgentServiceClient, type ManagerMessage } from '../../src/control/gen/macsec/v1/agent.js';
import { PortMode } from '../../src/control/gen/macsec/v1/types.js';
import type { Agent } from '../../src/agent/managed/agent.js';
import { makePki, operator, rpcError, simAgent, startManager, waitFor, type RunningManager, type TestPki } from '../support/harness.js';

describe('security', () => {
  let pki: TestPki;
  let m: RunningManager;
  let admin: ManagerApi;
  const agents: Agent[] = [];

  const snapshot = () =>
    JSON.stringify({
      agents: m.store.listAgents().map((a) => ({ ...a, lastSeenMs: 0 })),
      ports: m.store.listPorts(),
      channels: m.store.listChannels().map((c) => ({ ...c, cak: Buffer.from(c.cak).toString('hex') })),
      connected: m.manager.connectedAgentIds().sort(),
    });

  beforeAll(async () => {
    pki = makePki();
    m = await startManager(pki);
    admin = operator(pki, 'alice', m.port);
    agents.push(simAgent(pki, 'a1', m.port), simAgent(pki, 'a2', m.port));
    await waitFor(() => m.manager.connectedAgentIds().length === 2, 'agents');
    await admin.openPort({ agentId: 'a1', interface: 'eth1', mode: PortMode.PORT_MODE_PSK });
  });
  afterAll(async () => {
    admin.close();
    for (const a of agents) await a.stop();
    await m.stop();
    pki.cleanup();
  });

  const tlsRefused = async (api: ManagerApi) => {
    const before = snapshot();
    const e1 = await rpcError(api.listAgents());
    const e2 = await rpcError(api.openPort({ agentId: 'a1', interface: 'eth2', mode: PortMode.PORT_MODE_PSK }));
    const e3 = await rpcError(api.closePort({ portId: 'a1/eth1' }));
    api.close();
    for (const e of [e1, e2, e3]) expect(e.code).toBe(status.UNAVAILABLE);
    expect(snapshot()).toBe(before);
  };

  it('refuses a client without a certificate (TLS handshake, UNAVAILABLE)', async () => {
    await tlsRefused(new ManagerApi(`127.0.0.1:${m.port}`, credentials.createSsl(Buffer.from(pki.ca.certPem)), 5000));
  });

  it('refuses a certificate from another CA', async () => {
    await tlsRefused(operator(pki, 'mallory', m.port));
  });

  it('refuses an expired certificate', async () => {
    await tlsRefused(operator(pki, 'old', m.port));
  });

  it('refuses an agent certificate on the operator API (PERMISSION_DENIED)', async () => {
    const api = operator(pki, 'a1', m.port);
    const before = snapshot();
    const e1 = await rpcError(api.listAgents());
    expect(e1.code).toBe(status.PERMISSION_DENIED);
    expect(e1.details).toMatch(/agent:a1 may not call the operator API/);
    const e2 = await rpcError(api.openPort({ agentId: 'a1', interface: 'eth2', mode: PortMode.PORT_MODE_PSK }));
    expect(e2.code).toBe(status.PERMISSION_DENIED);
    const e3 = await rpcError(api.closePort({ portId: 'a1/eth1' }));
    expect(e3.code).toBe(status.PERMISSION_DENIED);
    const e5 = await rpcError(api.updateSecureChannel({ channelId: 'x', removePortIds: ['a1/eth1'] }));
    expect(e5.code).toBe(status.PERMISSION_DENIED);
    expect(e5.details).toMatch(/agent:a1 may not call the operator API \(UpdateSecureChannel\)/);
    const events: unknown[] = [];
    const e4 = await new Promise<{ code: number }>((resolve) => {
      const s = api.watchEvents({});
      s.on('data', (e) => events.push(e));
      s.on('error', resolve);
    });
    expect(e4.code).toBe(status.PERMISSION_DENIED);
    expect(events).toEqual([]);
    expect(snapshot()).toBe(before);
    api.close();
  });

  it('lets a read-only operator read but not write (PERMISSION_DENIED)', async () => {
    const api = operator(pki, 'bob', m.port);
    expect((await api.listAgents()).agents.map((a) => a.id)).toEqual(['a1', 'a2']);
    expect((await api.listPorts()).ports).toHaveLength(1);
    const before = snapshot();
    const writes = [
      api.openPort({ agentId: 'a2', interface: 'eth1', mode: PortMode.PORT_MODE_PSK }),
      api.closePort({ portId: 'a1/eth1' }),
      api.createSecureChannel({ name: 'x', endpoints: [{ agentId: 'a1', switchPort: 'eth1', vnfId: 'v1', vnfInterface: 'eth0' }] }),
      api.deleteSecureChannel({ channelId: 'x', allowMissing: true }),
      api.updateSecureChannel({ channelId: 'x', removePortIds: ['a1/eth1'] }),
      api.forceRekey({ portId: 'a1/eth1' }),
    ];
    for (const w of writes) {
      const e = await rpcError(w);
      expect(e.code).toBe(status.PERMISSION_DENIED);
      expect(e.details).toMatch(/operator:read-only:bob is read-only/);
    }
    expect(snapshot()).toBe(before);
    api.close();
  });

  it('refuses an agent claiming another agent identity, before it binds', async () => {
    const a2Before = await admin.getAgent('a2');
    const before = snapshot();
    // Raw stream: certificate a1, Hello says a2.
    const client = new AgentServiceClient(`127.0.0.1:${m.port}`, clientCredentials(pki.material('a1')), { 'grpc.ssl_target_name_override': 'localhost' });
    const call = client.connect();
    const got: ManagerMessage[] = [];
    call.on('data', (d: ManagerMessage) => got.push(d));
    call.write({ hello: { agentId: 'a2', version: 'evil', capabilities: ['psk'], interfaces: [], running: [], bootId: 'x' } });
    const err = await new Promise<{ code: number; details: string }>((resolve) => call.on('error', resolve));
    expect(err.code).toBe(status.PERMISSION_DENIED);
    expect(err.details).toMatch(/hello.agent_id 'a2' does not match the certificate identity 'a1'/);
    expect(got).toEqual([]); // no Welcome, no desired state (which would carry keys)
    client.close();
    // The full agent with a mismatching id gets the same answer and keeps being refused.
    const impostor = simAgent(pki, 'a2', m.port, {}, 'a1');
    await waitFor(() => impostor.lastError.includes('PERMISSION_DENIED'), 'impostor refused');
    await impostor.stop();
    expect(snapshot()).toBe(before);
    const a2After = await admin.getAgent('a2');
    expect(a2After.connected).toBe(true);
    expect(a2After.connectedSinceMs).toBe(a2Before.connectedSinceMs);
    expect(a2After.version).toBe(a2Before.version);
  });

  it('refuses an agent certificate from another CA (TLS) and operator certificates on the agent API', async () => {
    const before = snapshot();
    const ghost = simAgent(pki, 'a1', m.port, {}, 'ghost');
    await waitFor(() => ghost.lastError.includes('UNAVAILABLE'), 'ghost refused');
    await ghost.stop();
    const client = new AgentServiceClient(`127.0.0.1:${m.port}`, clientCredentials(pki.material('alice')), { 'grpc.ssl_target_name_override': 'localhost' });
    const call = client.connect();
    call.write({ hello: { agentId: 'alice', version: '', capabilities: [], interfaces: [], running: [], bootId: '' } });
    const err = await new Promise<{ code: number; details: string }>((resolve) => call.on('error', resolve));
    expect(err.code).toBe(status.PERMISSION_DENIED);
    expect(err.details).toMatch(/is not an agent/);
    client.close();
    expect(snapshot()).toBe(before);
    expect((await admin.getAgent('a1')).connected).toBe(true);
  });

  it('agents refuse a "manager" whose certificate is not a manager certificate', async () => {
    // An attacker holding agent a2's key and certificate (valid CA, serverAuth, SAN localhost) poses as the manager.
    const evil = await startManager({ ...pki, material: (n: string) => pki.material(n === 'mgr' ? 'a2' : n) } as TestPki);
    const victim = simAgent(pki, 'a1', evil.port);
    await waitFor(() => victim.lastError !== '', 'connection attempt');
    expect(victim.state).not.toBe('connected');
    expect(victim.lastError).toMatch(/UNAVAILABLE/);
    expect(evil.manager.connectedAgentIds()).toEqual([]);
    await victim.stop();
    await evil.stop();
  });
});
