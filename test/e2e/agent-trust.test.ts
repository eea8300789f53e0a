/**
 * What an agent reports is trusted only about its own ports (identity from its certificate):
 * a compromised agent cannot mark another agent's port FAILED, forge events for it, or inject
 * lines into the manager's /metrics. Such reports are dropped, counted and logged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentServiceClient, type ManagerMessage } from '../../src/control/gen/macsec/v1/agent.js';
import { EventType } from '../../src/control/gen/macsec/v1/manager.js';
import { PortMode, PortState, PortStatus } from '../../src/control/gen/macsec/v1/types.js';
import { clientCredentials } from '../../src/control/tls.js';
import type { ManagerApi } from '../../src/control/client.js';
import type { Agent } from '../../src/agent/managed/agent.js';
import { MemoryHub } from '../../src/link/memory.js';
import { emptyStatus } from '../../src/manager/model.js';
import { renderManagerMetrics } from '../../src/manager/metrics.js';
import { makePki, operator, simAgent, startManager, waitFor, watch, type RunningManager, type TestPki } from '../support/harness.js';

// One exposition-format 0.0.4 line: a comment (HELP/TYPE) or `name{labels} value`.
const SAMPLE_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? -?[0-9.eE+-]+$/;
const COMMENT_RE = /^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*$/;

describe('agent reports are limited to the agent’s own ports', () => {
  let pki: TestPki;
  let m: RunningManager;
  let admin: ManagerApi;
  let a1: Agent;

  beforeAll(async () => {
    pki = makePki();
    m = await startManager(pki);
    admin = operator(pki, 'alice', m.port);
    a1 = simAgent(pki, 'a1', m.port, { hub: new MemoryHub() });
    await waitFor(() => m.manager.connectedAgentIds().includes('a1'), 'a1');
    await admin.openPort({ agentId: 'a1', interface: 'eth1', mode: PortMode.PORT_MODE_PSK });
  });
  afterAll(async () => {
    admin.close();
    await a1.stop();
    await m.stop();
    pki.cleanup();
  });

  /** A raw agent stream with a2's certificate that binds properly and then lies. */
  async function rogueA2() {
    const client = new AgentServiceClient(`127.0.0.1:${m.port}`, clientCredentials(pki.material('a2')), { 'grpc.ssl_target_name_override': 'localhost' });
    const call = client.connect();
    const got: ManagerMessage[] = [];
    call.on('data', (d: ManagerMessage) => {
      got.push(d);
      if (d.desired) call.write({ ack: { revision: d.desired.revision, ports: [] } });
    });
    call.on('error', () => {});
    return { client, call, got };
  }

  it('drops a Hello listing another agent’s port, a status and an event for it', async () => {
    const ev = watch(admin);
    const before = (await admin.getPort('a1/eth1')).status!;
    const dropsBefore = [...m.manager.droppedReports.values()].reduce((a, b) => a + b, 0);
    const { client, call, got } = await rogueA2();
    const forged = PortStatus.fromPartial({ ...emptyStatus(PortState.PORT_STATE_FAILED, 'forged by a2'), keyNumber: 99 });
    call.write({
      hello: {
        agentId: 'a2',
        version: 'evil',
        capabilities: ['psk'],
        interfaces: [{ name: 'eth1', mac: '' }],
        running: [{ portId: 'a1/eth1', fingerprint: 'x', status: forged, storeId: m.store.storeId }],
        bootId: 'b',
      },
    });
    await waitFor(() => got.some((g) => g.welcome), 'rogue bound');
    call.write({ status: { portId: 'a1/eth1', status: forged } });
    call.write({ ack: { revision: 1, ports: [{ portId: 'a1/eth1', status: forged }] } });
    call.write({ event: { portId: 'a1/eth1', kind: 'error', message: 'forged error on a1', attributes: {}, timeMs: 0 } });
    call.write({ event: { portId: 'a1/eth1', kind: 'peerLost', message: 'forged peer loss', attributes: {}, timeMs: 0 } });
    await waitFor(
      () => [...m.manager.droppedReports.values()].reduce((a, b) => a + b, 0) >= dropsBefore + 5,
      `drops counted (${JSON.stringify([...m.manager.droppedReports])})`,
      5000,
    );
    const after = (await admin.getPort('a1/eth1')).status!;
    expect(after.state).toBe(before.state);
    expect(after.state).not.toBe(PortState.PORT_STATE_FAILED);
    expect(after.detail).not.toMatch(/forged/);
    expect(after.keyNumber).not.toBe(99);
    expect(ev.events.filter((e) => e.portId === 'a1/eth1' && /forged/.test(e.message))).toEqual([]);
    expect(ev.events.some((e) => e.type === EventType.EVENT_TYPE_ERROR && e.agentId === 'a2')).toBe(false);
    expect(m.manager.droppedReports.get('hello_foreign_port')).toBeGreaterThanOrEqual(1);
    expect(m.manager.droppedReports.get('event_foreign_port')).toBeGreaterThanOrEqual(2);
    expect(renderManagerMetrics(m.manager)).toMatch(/macsec_manager_agent_reports_dropped_total\{reason="status_foreign_port"\} [1-9]/);
    ev.close();
    call.end();
    client.close();
  });

  it('never lets an agent-reported counter name write its own /metrics line', async () => {
    const { client, call, got } = await rogueA2();
    call.write({ hello: { agentId: 'a2', version: 'evil', capabilities: ['psk'], interfaces: [{ name: 'eth1', mac: '' }], running: [], bootId: 'c' } });
    await waitFor(() => got.some((g) => g.welcome), 'rogue bound');
    const evil = 'x 1\nmacsec_channel_secured{channel="ch-forged"} 1\n# HELP y';
    const st = PortStatus.fromPartial({
      ...emptyStatus(PortState.PORT_STATE_SECURED),
      counters: [
        { name: evil, value: 1 },
        { name: 'ok_counter', value: 7 },
      ],
    });
    await admin.openPort({ agentId: 'a2', interface: 'eth1', mode: PortMode.PORT_MODE_PSK });
    call.write({ status: { portId: 'a2/eth1', status: st } });
    await waitFor(() => (m.manager.droppedReports.get('counter_name_invalid') ?? 0) >= 1, 'bad counter counted');
    const text = renderManagerMetrics(m.manager);
    expect(text).not.toMatch(/ch-forged/);
    expect(text).toMatch(/macsec_port_ok_counter\{agent="a2",port="eth1",channel=""\} 7/);
    for (const line of text.trimEnd().split('\n')) expect(SAMPLE_RE.test(line) || COMMENT_RE.test(line), line).toBe(true);
    // Its own port, but a 1 MB event message: published cut to 1 KiB.
    const ev = watch(admin);
    call.write({ event: { portId: 'a2/eth1', kind: 'error', message: 'y'.repeat(1 << 20), attributes: { big: 'z'.repeat(10_000) }, timeMs: 0 } });
    const got2 = await waitFor(() => ev.events.find((e) => e.portId === 'a2/eth1' && e.message.startsWith('yyy')), 'event published');
    expect(got2.message.length).toBe(1024);
    expect(got2.attributes.big).toHaveLength(256);
    ev.close();
    call.end();
    client.close();
  });
});
