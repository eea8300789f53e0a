/** Prometheus metrics (manager and agent) and JSON logs that never carry key material. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { MemoryHub } from '../../src/link/memory.js';
import type { Agent } from '../../src/agent/managed/agent.js';
import { renderAgentMetrics } from '../../src/agent/managed/server.js';
import { createLogger } from '../../src/common/log.js';
import { serveMetrics } from '../../src/control/metrics.js';
import { renderManagerMetrics } from '../../src/manager/metrics.js';
import { PortMode } from '../../src/control/gen/macsec/v1/types.js';
import { makePki, operator, simAgent, startManager, waitFor, type RunningManager, type TestPki } from '../support/harness.js';

const CAK = '00112233445566778899aabbccddeeff';
const CKN = 'cafe0001';

function get(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
    })
      .on('error', reject)
      .end();
  });
}

function value(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.split(' ').pop());
  }
  return undefined;
}

describe('metrics and logs', () => {
  let pki: TestPki;
  let m: RunningManager;
  const hub = new MemoryHub();
  const agents: Agent[] = [];
  const lines: string[] = [];
  let channelId = '';

  beforeAll(async () => {
    pki = makePki();
    const log = createLogger({}, { level: 'debug', write: (l) => lines.push(l) });
    m = await startManager(pki, ':memory:', { log });
    for (const id of ['a1', 'a2']) agents.push(simAgent(pki, id, m.port, { hub, log }));
    await waitFor(() => m.manager.connectedAgentIds().length === 2, 'agents');
    const admin = operator(pki, 'alice', m.port);
    for (const a of ['a1', 'a2'])
      await admin.openPort({ agentId: a, interface: 'eth1', mode: PortMode.PORT_MODE_PSK, policy: { keyServerPriority: a === 'a1' ? 1 : 2 } });
    const r = await admin.createSecureChannel({
      name: 'm',
      endpoints: ['a1', 'a2'].map((a) => ({ agentId: a, switchPort: 'eth1', vnfId: a, vnfInterface: 'eth0' })),
      psk: { cakHex: CAK, cknHex: CKN },
      waitSecured: true,
    });
    channelId = r.channel!.id;
    // One tampered MKPDU on the LAN: a valid frame with the key server priority changed.
    const tap = hub.link('lan-eth1');
    const frame = await new Promise<Uint8Array>((resolve) => tap.onFrame(resolve));
    const bad = Uint8Array.from(frame);
    bad[19] = bad[19]! ^ 0x01;
    tap.send(bad);
    await admin.forceRekey({ channelId });
    admin.close();
    await new Promise((r) => setTimeout(r, 700)); // a status interval
  });
  afterAll(async () => {
    for (const a of agents) await a.stop();
    await m.stop();
    pki.cleanup();
  });

  it('manager /metrics: per-port MKA state, peers, rekeys, MKPDUs, ICV failures, SA counters', async () => {
    const srv = await serveMetrics(() => renderManagerMetrics(m.manager));
    try {
      const r = await get(srv.port, '/metrics');
      expect(r.status).toBe(200);
      expect(r.type).toContain('text/plain; version=0.0.4');
      const t = r.body;
      expect(t).toContain('# TYPE macsec_port_mkpdus_sent_total counter');
      const l1 = { agent: 'a1', port: 'eth1', channel: channelId };
      expect(value(t, 'macsec_agent_connected', { agent: 'a1' })).toBe(1);
      expect(value(t, 'macsec_channel_secured', { channel: channelId })).toBe(1);
      expect(value(t, 'macsec_port_secured', l1)).toBe(1);
      expect(value(t, 'macsec_port_state', { ...l1, state: 'secured' })).toBe(1);
      expect(value(t, 'macsec_port_state', { ...l1, state: 'ready' })).toBe(0);
      expect(value(t, 'macsec_port_live_peers', l1)).toBe(1);
      expect(value(t, 'macsec_port_key_server', l1)).toBe(1);
      expect(value(t, 'macsec_port_rekeys_total', l1)).toBeGreaterThanOrEqual(1);
      expect(value(t, 'macsec_port_mkpdus_sent_total', l1)).toBeGreaterThan(0);
      expect(value(t, 'macsec_port_mkpdus_received_total', l1)).toBeGreaterThan(0);
      const icv = ['a1', 'a2'].map((a) => value(t, 'macsec_port_icv_failures_total', { agent: a }) ?? 0);
      expect(icv.reduce((x, y) => x + y)).toBeGreaterThanOrEqual(1);
      const dropped = ['a1', 'a2'].map((a) => value(t, 'macsec_port_mkpdus_dropped_total', { agent: a }) ?? 0);
      expect(dropped.reduce((x, y) => x + y)).toBeGreaterThanOrEqual(1);
      expect(value(t, 'macsec_port_secy_tx_sas', l1)).toBeGreaterThanOrEqual(1);
      expect(value(t, 'macsec_port_secy_rx_sas', l1)).toBeGreaterThanOrEqual(1);
      expect((await get(srv.port, '/nope')).status).toBe(404);
    } finally {
      await srv.close();
    }
  });

  it('agent metrics', () => {
    const t = renderAgentMetrics(agents[1]!);
    expect(value(t, 'macsec_agent_manager_connected', { agent: 'a2' })).toBe(1);
    expect(value(t, 'macsec_port_secured', { agent: 'a2', port: 'eth1' })).toBe(1);
    expect(value(t, 'macsec_port_key_server', { agent: 'a2', port: 'eth1' })).toBe(0);
  });

  it('logs are JSON lines and never contain the CAK', () => {
    expect(lines.length).toBeGreaterThan(5);
    for (const l of lines) {
      const j = JSON.parse(l);
      expect(typeof j.msg).toBe('string');
      expect(l.toLowerCase()).not.toContain(CAK);
    }
    expect(lines.some((l) => JSON.parse(l).msg === 'agent bound')).toBe(true);
    const events = m.manager.events.replay({});
    expect(JSON.stringify(events)).not.toContain(CAK);
  });
});
