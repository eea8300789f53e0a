/**
 * UpdateSecureChannel (src/manager/channels.ts update) through the operator API against an
 * in-process manager on a file SQLite store and three simulated agents (real KaY, simulated SecY,
 * in-memory LAN). Every desired state an agent receives is recorded: an endpoint that stays must
 * get no push at all, or one in which its port is exactly what it was (same CAK/CKN, fingerprint),
 * and keep its port runtime (same runtime id). Only the added port gets the key material; the
 * removed one loses it. Bad requests change nothing and name the field.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { status, type ServiceError } from '@grpc/grpc-js';
import type { ManagerApi } from '../../src/control/client.js';
import type { DesiredPort, DesiredState } from '../../src/control/gen/macsec/v1/agent.js';
import { ChannelState, EventType } from '../../src/control/gen/macsec/v1/manager.js';
import { PortMode, PortState } from '../../src/control/gen/macsec/v1/types.js';
import type { Agent } from '../../src/agent/managed/agent.js';
import { MemoryHub } from '../../src/link/memory.js';
import { SqliteStore } from '../../src/manager/store/sqlite.js';
import { makePki, operator, rpcError, simAgent, startManager, waitFor, watch, type RunningManager, type TestPki } from '../support/harness.js';

const AGENTS = ['a1', 'a2', 'a3'] as const;
const ep = (agentId: string, switchPort = 'eth1') => ({ agentId, switchPort, vnfId: `vnf-${agentId}-${switchPort}`, vnfInterface: 'eth0' });

describe('UpdateSecureChannel', () => {
  let pki: TestPki;
  let dir: string;
  let m: RunningManager;
  let admin: ManagerApi;
  const hub = new MemoryHub();
  const agents = new Map<string, Agent>();
  /** Every desired state each agent received, in order. */
  const pushes = new Map<string, DesiredState[]>();

  const pushCount = () => Object.fromEntries(AGENTS.map((a) => [a, pushes.get(a)!.length]));
  const pushedSince = (before: Record<string, number>, a: string) => pushes.get(a)!.slice(before[a]);
  const portIn = (d: DesiredState, pid: string): DesiredPort | undefined => d.ports.find((p) => p.portId === pid);
  const running = (pid: string) => agents.get(pid.split('/')[0]!)!.ports.get(pid)!;
  const runtime = (pids: string[]) => Object.fromEntries(pids.map((pid) => [pid, { r: running(pid).runtimeId, f: running(pid).fingerprint }]));
  const key = (name: string) => {
    const c = m.store.getChannel(name)!;
    return { cak: Buffer.from(c.cak).toString('hex'), ckn: Buffer.from(c.ckn).toString('hex') };
  };
  const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : undefined);
  const secured = (name: string, n: number, peers = n - 1) =>
    waitFor(async () => {
      const c = await admin.getSecureChannel(name);
      const ok =
        c.state === ChannelState.CHANNEL_STATE_SECURED && c.endpointStatus.length === n && c.endpointStatus.every((e) => e.status!.livePeers.length === peers);
      return ok ? c : undefined;
    }, `${name} secured on ${n} endpoints with ${peers} live peers each`);

  beforeAll(async () => {
    pki = makePki();
    dir = mkdtempSync(join(tmpdir(), 'macsec-update-'));
    m = await startManager(pki, join(dir, 'manager.db'), { ackTimeoutMs: 2000 });
    admin = operator(pki, 'alice', m.port);
    for (const id of AGENTS) {
      const a = simAgent(pki, id, m.port, { hub });
      const seen: DesiredState[] = [];
      pushes.set(id, seen);
      const original = a.reconcile.bind(a);
      vi.spyOn(a, 'reconcile').mockImplementation((d: DesiredState) => {
        seen.push(structuredClone(d));
        return original(d);
      });
      agents.set(id, a);
    }
    await waitFor(() => m.manager.connectedAgentIds().length === 3, 'three agents');
    for (const [i, id] of AGENTS.entries()) {
      await admin.openPort({ agentId: id, interface: 'eth1', mode: PortMode.PORT_MODE_PSK, policy: { keyServerPriority: 10 + i } });
      await admin.openPort({ agentId: id, interface: 'eth2', mode: PortMode.PORT_MODE_PSK });
    }
    await admin.createSecureChannel({ name: 'web', endpoints: [ep('a1'), ep('a2')], waitSecured: true });
    await secured('web', 2);
  }, 60_000);

  afterAll(async () => {
    admin?.close();
    for (const a of agents.values()) await a.stop().catch(() => {});
    await m?.stop();
    rmSync(dir, { recursive: true, force: true });
    pki?.cleanup();
  });

  it('adds an endpoint: only its agent gets a push, with the channel key; the others keep their sessions', async () => {
    const w = watch(admin);
    const stay = ['a1/eth1', 'a2/eth1'];
    const before = runtime(stay);
    const desiredBefore = { a1: m.manager.desiredFor('a1'), a2: m.manager.desiredFor('a2') };
    const n = pushCount();

    const r = await admin.updateSecureChannel({ channelId: 'web', addEndpoints: [ep('a3')] });
    expect(r.addedPortIds).toEqual(['a3/eth1']);
    expect(r.removedPortIds).toEqual([]);
    expect(r.channel!.endpoints.map((e) => `${e.agentId}/${e.switchPort}`)).toEqual(['a1/eth1', 'a2/eth1', 'a3/eth1']);
    // Answered once the new agent acknowledged: its authenticator is up.
    const e3 = r.channel!.endpointStatus.find((e) => e.portId === 'a3/eth1')!;
    expect([PortState.PORT_STATE_READY, PortState.PORT_STATE_AUTHENTICATING, PortState.PORT_STATE_SECURED]).toContain(e3.status!.state);
    // Keys are never returned.
    expect(JSON.stringify(r)).not.toContain(key('web').cak);

    // The new agent got the channel's key material; a1 and a2 got nothing at all.
    expect(pushedSince(n, 'a1')).toEqual([]);
    expect(pushedSince(n, 'a2')).toEqual([]);
    const to3 = pushedSince(n, 'a3');
    expect(to3).toHaveLength(1);
    const p3 = portIn(to3[0]!, 'a3/eth1')!;
    expect(p3.channelId).toBe(r.channel!.id);
    expect({ cak: hex(p3.psk?.cak), ckn: hex(p3.psk?.ckn) }).toEqual(key('web'));
    expect(p3.allowedVnfIds).toEqual(['vnf-a3-eth1']);
    expect(portIn(to3[0]!, 'a3/eth2')!.channelId).toBe(''); // a3's other port is not in it

    const c = await secured('web', 3);
    expect(c.endpointStatus.filter((e) => stay.includes(e.portId)).map((e) => e.status!.runtimeId)).toEqual(stay.map((p) => before[p]!.r));
    expect(runtime(stay)).toEqual(before); // same port runtimes, same fingerprints
    expect({ a1: m.manager.desiredFor('a1'), a2: m.manager.desiredFor('a2') }).toEqual(desiredBefore);
    expect(pushedSince(n, 'a1')).toEqual([]);
    expect(pushedSince(n, 'a2')).toEqual([]);

    await waitFor(() => w.events.some((e) => e.type === EventType.EVENT_TYPE_CHANNEL_SECURED && /on all 3 endpoints/.test(e.message)), 'CHANNEL_SECURED');
    const up = w.events.filter((e) => e.type === EventType.EVENT_TYPE_CHANNEL_UPDATED);
    expect(up).toHaveLength(1);
    expect(up[0]).toMatchObject({
      channelId: c.id,
      message: 'channel web updated: added a3/eth1 (3 endpoints)',
      attributes: { added: 'a3/eth1', removed: '' },
    });
    // Scaling out is no degradation.
    expect(w.events.some((e) => e.type === EventType.EVENT_TYPE_CHANNEL_DEGRADED)).toBe(false);
    expect(JSON.stringify(w.events)).not.toContain(key('web').cak);
    w.close();
  });

  it('persists the new membership in the store (read back from the file by a second connection)', () => {
    const other = new SqliteStore(join(dir, 'manager.db'));
    try {
      const c = other.getChannel('web')!;
      expect(c.endpoints.map((e) => `${e.agentId}/${e.switchPort}`)).toEqual(['a1/eth1', 'a2/eth1', 'a3/eth1']);
      expect(c.committed).toBe(true);
      expect(Buffer.from(c.cak).toString('hex')).toBe(key('web').cak);
      expect(c.keyId).toBe(m.store.getChannel('web')!.keyId);
    } finally {
      other.close();
    }
  });

  it('on an agent with a port that stays, the push carries that port unchanged, and the removed port loses the key', async () => {
    const n = pushCount();
    const before = runtime(['a1/eth1']);
    const staying = portIn(pushes.get('a1')!.at(-1)!, 'a1/eth1')!;

    const r = await admin.updateSecureChannel({ channelId: 'web', addEndpoints: [ep('a1', 'eth2')] });
    expect(r.addedPortIds).toEqual(['a1/eth2']);
    const [add] = pushedSince(n, 'a1');
    expect(pushedSince(n, 'a1')).toHaveLength(1);
    expect(portIn(add!, 'a1/eth1')).toEqual(staying); // byte for byte: key, fingerprint, everything
    expect(hex(portIn(add!, 'a1/eth2')!.psk?.cak)).toBe(key('web').cak);
    expect(pushedSince(n, 'a2')).toEqual([]);
    expect(pushedSince(n, 'a3')).toEqual([]);

    const n2 = pushCount();
    const r2 = await admin.updateSecureChannel({ channelId: 'web', removePortIds: ['a1/eth2'] });
    expect(r2.removedPortIds).toEqual(['a1/eth2']);
    expect(r2.channel!.endpoints).toHaveLength(3);
    const [rm] = pushedSince(n2, 'a1');
    expect(pushedSince(n2, 'a1')).toHaveLength(1);
    expect(portIn(rm!, 'a1/eth1')).toEqual(staying);
    const gone = portIn(rm!, 'a1/eth2')!;
    expect(gone.channelId).toBe('');
    expect(gone.psk).toBeUndefined();
    expect(gone.allowedVnfIds).toEqual([]);
    expect(runtime(['a1/eth1'])).toEqual(before);
    expect((await admin.getPort('a1/eth2')).channelId).toBe('');
    expect(running('a1/eth2').status().state).toBe(PortState.PORT_STATE_READY);
    await secured('web', 3);
  });

  it('removes an endpoint: its port has the channel removed, the others get no push and keep their sessions', async () => {
    const w = watch(admin);
    const stay = ['a1/eth1', 'a3/eth1'];
    const before = runtime(stay);
    const n = pushCount();

    const r = await admin.updateSecureChannel({ channelId: 'web', removePortIds: ['a2/eth1'] });
    expect(r.removedPortIds).toEqual(['a2/eth1']);
    expect(r.channel!.endpoints.map((e) => `${e.agentId}/${e.switchPort}`)).toEqual(['a1/eth1', 'a3/eth1']);
    expect(pushedSince(n, 'a1')).toEqual([]);
    expect(pushedSince(n, 'a3')).toEqual([]);
    const to2 = pushedSince(n, 'a2');
    expect(to2).toHaveLength(1);
    const p2 = portIn(to2[0]!, 'a2/eth1')!;
    expect(p2.channelId).toBe('');
    expect(p2.psk).toBeUndefined();
    const port = await admin.getPort('a2/eth1');
    expect(port.channelId).toBe('');
    expect(port.status!.state).toBe(PortState.PORT_STATE_READY);

    // The remaining members lose the removed one after the MKA life time and stay secured.
    const c = await secured('web', 2, 1);
    expect(c.endpointStatus.map((e) => e.status!.runtimeId)).toEqual(stay.map((p) => before[p]!.r));
    expect(runtime(stay)).toEqual(before);
    expect(pushedSince(n, 'a1')).toEqual([]);
    expect(pushedSince(n, 'a3')).toEqual([]);
    const updated = await waitFor(
      () => w.events.filter((e) => e.type === EventType.EVENT_TYPE_CHANNEL_UPDATED && e.attributes.removed).at(-1),
      'CHANNEL_UPDATED',
    );
    expect(updated).toMatchObject({
      message: 'channel web updated: removed a2/eth1 (2 endpoints)',
      attributes: { added: '', removed: 'a2/eth1' },
    });
    w.close();
  });

  it('adds and removes in one call, and waits for secured when asked', async () => {
    const before = runtime(['a1/eth1']);
    const r = await admin.updateSecureChannel({
      channelId: 'web',
      addEndpoints: [ep('a2')],
      removePortIds: ['a3/eth1'],
      waitSecured: true,
      waitTimeoutMs: 20_000,
    });
    expect(r.addedPortIds).toEqual(['a2/eth1']);
    expect(r.removedPortIds).toEqual(['a3/eth1']);
    expect(r.channel!.endpoints.map((e) => `${e.agentId}/${e.switchPort}`)).toEqual(['a1/eth1', 'a2/eth1']);
    expect(r.channel!.state).toBe(ChannelState.CHANNEL_STATE_SECURED);
    expect(runtime(['a1/eth1'])).toEqual(before);
    expect((await admin.getPort('a3/eth1')).channelId).toBe('');
  });

  it('refuses bad requests naming the field, changing nothing and pushing nothing', async () => {
    await admin.createSecureChannel({ name: 'other', endpoints: [ep('a3'), ep('a3', 'eth2')] });
    const snapshot = () => JSON.stringify({ c: m.store.listChannels().map((c) => [c.id, c.endpoints]), p: m.store.listPorts() });
    const expectErr = async (p: Promise<unknown>, code: status, details: RegExp) => {
      const before = snapshot();
      const n = pushCount();
      const e: ServiceError = await rpcError(p);
      expect(status[e.code], e.details).toBe(status[code]);
      expect(e.details).toMatch(details);
      expect(snapshot()).toBe(before);
      expect(pushCount()).toEqual(n);
    };
    const u = admin.updateSecureChannel.bind(admin);
    await expectErr(u({ channelId: 'nope', addEndpoints: [ep('a3')] }), status.NOT_FOUND, /^channel_id: secure channel 'nope' does not exist$/);
    await expectErr(u({ channelId: '', addEndpoints: [ep('a3')] }), status.INVALID_ARGUMENT, /^channel_id: is required/);
    await expectErr(u({ channelId: 'web' }), status.INVALID_ARGUMENT, /^add_endpoints: nothing to change/);
    await expectErr(
      u({ channelId: 'web', removePortIds: ['a3/eth1'] }),
      status.FAILED_PRECONDITION,
      /^remove_port_ids\[0\]: port 'a3\/eth1' is not an endpoint of secure channel 'web'$/,
    );
    await expectErr(
      u({ channelId: 'web', removePortIds: ['a3-eth1'] }),
      status.INVALID_ARGUMENT,
      /^remove_port_ids\[0\]: 'a3-eth1' is not <agent_id>\/<interface>/,
    );
    await expectErr(
      u({ channelId: 'web', removePortIds: ['a1/eth1', 'a1/eth1'] }),
      status.INVALID_ARGUMENT,
      /^remove_port_ids\[1\]: port 'a1\/eth1' appears twice/,
    );
    await expectErr(
      u({ channelId: 'web', addEndpoints: [ep('a1')] }),
      status.FAILED_PRECONDITION,
      /^add_endpoints\[0\]\.switch_port: port 'a1\/eth1' is already an endpoint of secure channel 'web'$/,
    );
    await expectErr(
      u({ channelId: 'web', addEndpoints: [ep('a3')] }),
      status.FAILED_PRECONDITION,
      /^add_endpoints\[0\]\.switch_port: port 'a3\/eth1' already belongs to secure channel 'other'$/,
    );
    await expectErr(u({ channelId: 'web', addEndpoints: [ep('zz')] }), status.NOT_FOUND, /^add_endpoints\[0\]\.agent_id: agent 'zz' is not known$/);
    await expectErr(
      u({ channelId: 'web', addEndpoints: [ep('a2', 'eth9')] }),
      status.FAILED_PRECONDITION,
      /^add_endpoints\[0\]\.switch_port: no open port 'eth9' on agent 'a2'/,
    );
    await expectErr(
      u({ channelId: 'web', addEndpoints: [{ ...ep('a2', 'eth2'), vnfId: 'no good' }] }),
      status.INVALID_ARGUMENT,
      /^add_endpoints\[0\]\.vnf_id: /,
    );
    await expectErr(
      u({ channelId: 'web', addEndpoints: [ep('a2', 'eth2')], removePortIds: ['a2/eth2'] }),
      status.INVALID_ARGUMENT,
      /^remove_port_ids\[0\]: port 'a2\/eth2' is also in add_endpoints/,
    );
    await expectErr(
      u({ channelId: 'web', removePortIds: ['a2/eth1'] }),
      status.FAILED_PRECONDITION,
      /^remove_port_ids: secure channel 'web' would keep 1 endpoint; an update leaves at least 2 \(delete the channel with DeleteSecureChannel instead\)$/,
    );
    await expectErr(
      u({ channelId: 'web', removePortIds: ['a1/eth1', 'a2/eth1'], addEndpoints: [ep('a2', 'eth2')] }),
      status.FAILED_PRECONDITION,
      /^remove_port_ids: secure channel 'web' would keep 1 endpoint/,
    );
    await admin.deleteSecureChannel({ channelId: 'other' });
  });

  it('undoes the update when the added agent does not acknowledge it; the other endpoints are untouched', async () => {
    const a3 = agents.get('a3')!;
    const stay = ['a1/eth1', 'a2/eth1'];
    const before = runtime(stay);
    const n = pushCount();
    // a3 sits on the desired state without acknowledging it, longer than the manager's ack timeout.
    const spy = vi.mocked(a3.reconcile);
    const impl = spy.getMockImplementation()!;
    spy.mockImplementationOnce((d) => {
      pushes.get('a3')!.push(structuredClone(d));
      return new Promise<void>((resolve) => setTimeout(resolve, 2500));
    });
    const e = await rpcError(admin.updateSecureChannel({ channelId: 'web', addEndpoints: [ep('a3')] }));
    expect(status[e.code]).toBe('DEADLINE_EXCEEDED');
    expect(e.details).toMatch(/agent 'a3' did not acknowledge desired state/);
    expect(m.store.getChannel('web')!.endpoints.map((x) => `${x.agentId}/${x.switchPort}`)).toEqual(stay);
    expect(pushedSince(n, 'a1')).toEqual([]);
    expect(pushedSince(n, 'a2')).toEqual([]);
    // The rollback reaches a3 once it answers again: its port ends up without the channel.
    spy.mockImplementation(impl);
    await waitFor(() => pushedSince(n, 'a3').length >= 2, 'rollback pushed to a3');
    await waitFor(
      () => running('a3/eth1').status().state === PortState.PORT_STATE_READY && !running('a3/eth1').desired.channelId,
      'a3/eth1 out of the channel',
    );
    const c = await secured('web', 2);
    expect(runtime(stay)).toEqual(before);
    expect(c.endpointStatus.map((x) => x.status!.runtimeId)).toEqual(stay.map((p) => before[p]!.r));
  });
});
