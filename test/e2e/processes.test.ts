/**
 * The documented way to run things: manager and two agents as separate processes (src/manager/main.ts, src/agent/managed/main.ts),
 * the agents' ports on a simulated LAN through the UDP loopback relay, driven with macsecctl.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { UdpRelay } from '../../src/link/udp.js';
import { backoffDelay } from '../../src/agent/managed/agent.js';
import { ChannelState } from '../../src/control/gen/macsec/v1/manager.js';
import { makePki, operator, spawnAgentProcess, spawnManager, waitFor, type ManagerProcess, type TestPki } from '../support/harness.js';

const httpGet = (port: number) =>
  new Promise<string>((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve(b));
    })
      .on('error', reject)
      .end();
  });

describe('manager and agents as processes over the UDP LAN relay', () => {
  let pki: TestPki;
  let dir: string;
  let mgr: ManagerProcess;
  const relay = new UdpRelay();
  const agents: Array<{ proc: ChildProcess; metricsPort: number }> = [];

  beforeAll(async () => {
    pki = makePki();
    dir = mkdtempSync(join(tmpdir(), 'macsec-proc-'));
    await relay.start();
    mgr = await spawnManager(pki, join(dir, 'm.db'));
    for (const id of ['a1', 'a2'])
      agents.push(await spawnAgentProcess(pki, id, mgr.port, relay.port, ['--hello-ms', '300', '--life-ms', '1200', '--metrics', '127.0.0.1:0']));
  });
  afterAll(async () => {
    for (const a of agents) a.proc.kill('SIGTERM');
    await mgr?.kill('SIGTERM');
    relay.close();
    rmSync(dir, { recursive: true, force: true });
    pki.cleanup();
  });

  it('secures a channel between two agent processes', async () => {
    const admin = operator(pki, 'alice', mgr.port);
    await waitFor(async () => (await admin.listAgents({ connectedOnly: true })).agents.length === 2, 'agents connected');
    for (const a of ['a1', 'a2']) await admin.openPort({ agentId: a, interface: 'eth1', mode: 3 });
    const r = await admin.createSecureChannel(
      {
        name: 'p',
        endpoints: ['a1', 'a2'].map((a) => ({ agentId: a, switchPort: 'eth1', vnfId: a, vnfInterface: 'eth0' })),
        waitSecured: true,
        waitTimeoutMs: 20_000,
      },
      30_000,
    );
    expect(r.channel!.state).toBe(ChannelState.CHANNEL_STATE_SECURED);
    const m = await httpGet(agents[0]!.metricsPort);
    expect(m).toMatch(/macsec_port_secured\{agent="a1",port="eth1",channel="ch-[0-9a-f]+"\} 1/);
    // metrics on the manager process too
    const mm = await httpGet(mgr.metricsPort);
    expect(mm).toMatch(/macsec_channel_secured\{channel="ch-[0-9a-f]+",name="p"\} 1/);
    admin.close();
  });

  it('backoff grows exponentially with jitter and is capped', () => {
    const o = { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0.2 };
    expect([0, 1, 2, 3, 4, 10].map((n) => backoffDelay(n, o, () => 0.5))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoffDelay(0, o, () => 0)).toBe(80);
    expect(backoffDelay(0, o, () => 1)).toBe(120);
  });
});
