/**
 * The OSM adapter in front of the REAL manager (src/manager/main.ts as a child process, SQLite)
 * with two simulated agents (real KaY, simulated SecY, in-memory LAN) from the control-plane test
 * harness. The LCM-like Python client runs day-1 (config -> health-check -> create-secure-channel,
 * the EE opening the PSK authenticator ports itself), then day-2 (status until SECURED, rekey,
 * delete with the ports closed) over mTLS. The EE acts with an orchestrator certificate: the
 * manager refuses its writes to a channel an administrator created, and the EE says so naming it.
 */
import { credentials } from '@grpc/grpc-js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryHub } from '../../src/link/memory.js';
import type { Agent as SimAgent } from '../../src/agent/managed/agent.js';
import { ChannelState } from '../../src/control/gen/macsec/v1/manager.js';
import { PortMode } from '../../src/control/gen/macsec/v1/types.js';
import { createCa, issue } from '../../src/pki/pki.js';
import { startEeServer, type EeServer } from '../../src/osm/server.js';
import { makePki, operator, simAgent, spawnManager, waitFor, type ManagerProcess, type TestPki } from '../support/harness.js';
import { eeClient, runPrimitive } from '../support/osm/ee-client.js';
import { findPython, lcm, quietLogger, writePki } from '../support/osm/fixture.js';
import { makeTestPki } from '../support/osm/manager-double.js';

let pki: TestPki;
let dir: string;
let mgr: ManagerProcess;
let ee: EeServer;
let python: string;
let osmFiles: ReturnType<typeof writePki>;
const hub = new MemoryHub();
const agents: SimAgent[] = [];

beforeAll(async () => {
  python = findPython();
  pki = makePki();
  dir = mkdtempSync(join(tmpdir(), 'osm-real-mgr-'));
  mgr = await spawnManager(pki, join(dir, 'manager.db'));
  for (const id of ['a1', 'a2', 'a3']) agents.push(simAgent(pki, id, mgr.port, { hub }));
  const admin = operator(pki, 'alice', mgr.port);
  await waitFor(async () => ((await admin.listAgents({ connectedOnly: true })).agents.length === 3 ? true : undefined), 'three agents');
  // A channel of the fabric administrator, on ports the administrator opened.
  for (const a of ['a1', 'a2']) await admin.openPort({ agentId: a, interface: 'eth2', mode: PortMode.PORT_MODE_PSK });
  await admin.createSecureChannel({
    name: 'admin-ch',
    endpoints: [
      { agentId: 'a1', switchPort: 'eth2', vnfId: 'vnf-x', vnfInterface: 'eth1' },
      { agentId: 'a2', switchPort: 'eth2', vnfId: 'vnf-y', vnfInterface: 'eth1' },
    ],
  });
  admin.close();
  // OSM's side: its own CA for LCM <-> EE.
  const osm = makeTestPki();
  osmFiles = writePki(osm);
  ee = await startEeServer({
    host: '127.0.0.1',
    port: 0,
    tls: { ca: Buffer.from(osm.osmCa.certPem), cert: Buffer.from(osm.eeServer.certPem), key: Buffer.from(osm.eeServer.keyPem) },
    stateDir: join(dir, 'ee-state'),
    logger: quietLogger,
    operations: false,
  });
}, 60_000);

afterAll(async () => {
  await ee?.close();
  for (const a of agents) await a.stop().catch(() => {});
  await mgr?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (osmFiles) rmSync(osmFiles.dir, { recursive: true, force: true });
  pki?.cleanup();
});

const tls = () => ['--ca', osmFiles.osmCa, '--cert', osmFiles.lcmCert, '--key', osmFiles.lcmKey];
const addr = () => ['--address', `localhost:${ee.port}`];
const credentialsFor = () =>
  credentials.createSsl(Buffer.from(readFileSync(osmFiles.osmCa)), Buffer.from(readFileSync(osmFiles.lcmKey)), Buffer.from(readFileSync(osmFiles.lcmCert)));

describe('OSM adapter with the real manager', () => {
  it('day-1 over mTLS: config, health-check, create-secure-channel (ports opened by the EE) -> OK after the manager acknowledged', async () => {
    const f = pki.files('osm-a');
    const config = {
      manager_address: `127.0.0.1:${mgr.port}`,
      manager_server_name: 'localhost',
      ca_cert_path: f.ca,
      client_cert_path: f.cert,
      client_key_path: f.key,
    };
    const channel = {
      channel_name: 'osm-demo',
      endpoints: [
        { agent_id: 'a1', switch_port: 'eth1', vnf_id: 'vnf1', vnf_interface: 'eth0' },
        { agent_id: 'a2', switch_port: 'eth1', vnf_id: 'vnf2', vnf_interface: 'eth0' },
      ],
      port_mode: 'psk',
      timeout_seconds: 30,
    };
    const r = await lcm(python, [...addr(), ...tls(), 'day1', '--config-json', JSON.stringify(config), '--channel-json', JSON.stringify(channel)], 90_000);
    expect(r.code, r.stderr + JSON.stringify(r.results, null, 1)).toBe(0);
    expect(r.results.map((x) => [x.primitive, x.status, x.transport])).toEqual([
      ['config', 'OK', 'mtls'],
      ['health-check', 'OK', 'mtls'],
      ['create-secure-channel', 'OK', 'mtls'],
    ]);
    const create = r.results[2]!;
    expect(create.replies!.filter((x) => /^PROCESSING: authenticator port a[12]\/eth1 open/.test(x))).toHaveLength(2);
    expect(create.detailed_message).toMatch(
      /^created: secure channel 'osm-demo' \(id \S+\) is (READY|SECURED); endpoints: a1\/eth1 <-> vnf1:eth0 \w+, a2\/eth1 <-> vnf2:eth0 \w+; the manager generated a PSK, kept in .* \(not shown\)$/,
    );
  }, 120_000);

  it('plaintext gets no connection; day-1 again over mTLS is idempotent on the real manager', async () => {
    const plain = await lcm(python, [...addr(), '--retry-seconds', '0', 'run', 'health-check']);
    expect(plain.results[0]!.detailed_message).toMatch(/^gRPC error UNAVAILABLE/);
    const f = pki.files('osm-a');
    const config = {
      manager_address: `127.0.0.1:${mgr.port}`,
      manager_server_name: 'localhost',
      ca_cert_path: f.ca,
      client_cert_path: f.cert,
      client_key_path: f.key,
    };
    const channel = {
      channel_name: 'osm-demo',
      endpoints: [
        { agent_id: 'a1', switch_port: 'eth1', vnf_id: 'vnf1', vnf_interface: 'eth0' },
        { agent_id: 'a2', switch_port: 'eth1', vnf_id: 'vnf2', vnf_interface: 'eth0' },
      ],
      port_mode: 'psk',
    };
    const r = await lcm(python, [...addr(), ...tls(), 'day1', '--config-json', JSON.stringify(config), '--channel-json', JSON.stringify(channel)], 90_000);
    expect(r.code, JSON.stringify(r.results, null, 1)).toBe(0);
    expect(r.results.map((x) => x.transport)).toEqual(['mtls', 'mtls', 'mtls']);
    expect(r.results[0]!.detailed_message).toMatch(/^already configured/);
    // The same definition is the same request (request_id): the manager answers as the first time.
    expect(r.results[2]!.detailed_message).toMatch(/^created: secure channel 'osm-demo' \(id ch-[0-9a-f]+\) is SECURED/);
    const admin = operator(pki, 'alice', mgr.port);
    expect((await admin.listSecureChannels()).channels.filter((c) => c.name === 'osm-demo')).toHaveLength(1);
    admin.close();
  }, 120_000);

  it("the administrator's channel: rekey and delete through the EE are refused by the manager, naming the channel", async () => {
    const c = eeClient(ee.port, credentialsFor());
    const rk = await runPrimitive(c, 'force-rekey', 'channel_name: admin-ch\n');
    expect(rk.last!.status).toBe('ERROR');
    expect(rk.last!.detailedMessage).toBe(
      "force-rekey: the manager refused ForceRekey of secure channel 'admin-ch' (PERMISSION_DENIED: secure channel 'admin-ch' is owned by operator:admin:alice; " +
        'operator:orchestrator:osm-a may only change ports it opened and channels it created); this execution environment acts as operator:orchestrator:osm-a ' +
        'and may change only the channels and ports it created',
    );
    const del = await runPrimitive(c, 'delete-secure-channel', 'channel_name: admin-ch\nclose_ports: true\n');
    expect(del.last!.detailedMessage).toMatch(
      /^delete-secure-channel: the manager refused DeleteSecureChannel of secure channel 'admin-ch' \(PERMISSION_DENIED: /,
    );
    const admin = operator(pki, 'alice', mgr.port);
    try {
      expect((await admin.getSecureChannel('admin-ch')).name).toBe('admin-ch');
      expect((await admin.listPorts()).ports.map((p) => p.id).filter((id) => id.endsWith('/eth2'))).toEqual(['a1/eth2', 'a2/eth2']);
    } finally {
      admin.close();
    }
  });

  it('day-2 scale-out and scale-in: update-secure-channel adds and removes an endpoint, the others keep their sessions', async () => {
    const admin = operator(pki, 'alice', mgr.port);
    const c = eeClient(ee.port, credentialsFor());
    try {
      const sessions = async () => {
        const ch = await admin.getSecureChannel('osm-demo');
        return Object.fromEntries(ch.endpointStatus.filter((e) => e.portId !== 'a3/eth1').map((e) => [e.portId, e.status!.runtimeId]));
      };
      await waitFor(async () => (await admin.getSecureChannel('osm-demo')).state === ChannelState.CHANNEL_STATE_SECURED, 'osm-demo secured');
      const before = await sessions();
      expect(Object.keys(before)).toEqual(['a1/eth1', 'a2/eth1']);
      // As LCM sends a day-2 action: every parameter the VNFD declares, the unset ones with their defaults.
      const declared = { add_switch_ports: '', add_vnf_interfaces: '', remove_endpoints: '', remove_switch_ports: '', close_ports: false };
      const out = {
        ...declared,
        channel_name: 'osm-demo',
        add_endpoints: [{ agent_id: 'a3', switch_port: 'eth1', vnf_id: 'vnf3', vnf_interface: 'eth0' }],
        port_mode: 'psk',
        wait_secured: true,
        wait_timeout_seconds: 30,
      };
      const r = await lcm(python, [...addr(), ...tls(), 'run', 'update-secure-channel', '--params-json', JSON.stringify(out)], 60_000);
      expect(r.code, JSON.stringify(r.results)).toBe(0);
      expect(r.results[0]!.replies!.some((x) => /^PROCESSING: authenticator port a3\/eth1 open/.test(x))).toBe(true);
      expect(r.results[0]!.detailed_message).toMatch(
        /^updated \(added a3\/eth1\): secure channel 'osm-demo' \(id ch-[0-9a-f]+\) is SECURED; endpoints: a1\/eth1 <-> vnf1:eth0 SECURED, a2\/eth1 <-> vnf2:eth0 SECURED, a3\/eth1 <-> vnf3:eth0 SECURED$/,
      );
      expect(await sessions()).toEqual(before);
      // LCM's retry of the same action: nothing left to do.
      const again = await runPrimitive(c, 'update-secure-channel', stringify(out));
      expect(again.last!.status).toBe('OK');
      expect(again.last!.detailedMessage).toMatch(/^already up to date: secure channel 'osm-demo' .* is SECURED; .*; already endpoints: a3\/eth1$/);

      // Refusals and bad requests, each naming what is wrong.
      const bad: Array<[Record<string, unknown>, string | RegExp]> = [
        [{ channel_name: 'osm-demo' }, /^update-secure-channel: nothing to change: give 'add_endpoints'/],
        [
          { channel_name: 'nope', remove_endpoints: [{ agent_id: 'a1', switch_port: 'eth1' }] },
          /^update-secure-channel: no secure channel 'nope' on the manager/,
        ],
        [
          {
            channel_name: 'osm-demo',
            agent_id: 'a1',
            remove_switch_ports: 'eth1',
            add_endpoints: [{ agent_id: 'a2', switch_port: 'eth2', vnf_id: 'v', vnf_interface: 'eth0' }],
          },
          /^update-secure-channel: the manager refused UpdateSecureChannel of secure channel 'osm-demo' \(PERMISSION_DENIED: add_endpoints\[0\]\.switch_port: port 'a2\/eth2' is owned by operator:admin:alice; /,
        ],
        [
          {
            channel_name: 'osm-demo',
            remove_endpoints: [
              { agent_id: 'a1', switch_port: 'eth1' },
              { agent_id: 'a2', switch_port: 'eth1' },
            ],
          },
          "update-secure-channel: manager UpdateSecureChannel failed: FAILED_PRECONDITION: remove_port_ids: secure channel 'osm-demo' would keep 1 endpoint; an update leaves at least 2 (delete the channel with DeleteSecureChannel instead)",
        ],
        [
          { channel_name: 'admin-ch', agent_id: 'a1', remove_switch_ports: 'eth2' },
          /^update-secure-channel: the manager refused UpdateSecureChannel of secure channel 'admin-ch' \(PERMISSION_DENIED: secure channel 'admin-ch' is owned by operator:admin:alice; /,
        ],
      ];
      for (const [params, msg] of bad) {
        const e = await runPrimitive(c, 'update-secure-channel', stringify(params));
        expect(e.last!.status, e.last!.detailedMessage).toBe('ERROR');
        if (typeof msg === 'string') expect(e.last!.detailedMessage).toBe(msg);
        else expect(e.last!.detailedMessage).toMatch(msg);
      }
      expect((await admin.getSecureChannel('osm-demo')).endpoints.map((e) => `${e.agentId}/${e.switchPort}`)).toEqual(['a1/eth1', 'a2/eth1', 'a3/eth1']);

      // Scale-in (flat form), the port closed after it left the channel; then the retry.
      const rm = { channel_name: 'osm-demo', agent_id: 'a3', remove_switch_ports: 'eth1', close_ports: true };
      const r2 = await runPrimitive(c, 'update-secure-channel', stringify(rm));
      expect(r2.last!.status, r2.last!.detailedMessage).toBe('OK');
      expect(r2.last!.detailedMessage).toMatch(
        /^updated \(removed a3\/eth1\): secure channel 'osm-demo' .* endpoints: a1\/eth1 <-> vnf1:eth0 \w+, a2\/eth1 <-> vnf2:eth0 \w+; closed ports a3\/eth1$/,
      );
      expect((await admin.listPorts('a3')).ports).toEqual([]);
      const r3 = await runPrimitive(c, 'update-secure-channel', stringify(rm));
      expect(r3.last!.detailedMessage).toMatch(/^already up to date: .*; not endpoints \(nothing to remove\): a3\/eth1; no ports to close$/);
      await waitFor(async () => (await admin.getSecureChannel('osm-demo')).state === ChannelState.CHANNEL_STATE_SECURED, 'osm-demo secured on two');
      expect(await sessions()).toEqual(before);
    } finally {
      c.close();
      admin.close();
    }
  }, 120_000);

  it('day-2: channel-status waits for SECURED, force-rekey, delete with ports closed', async () => {
    const st = await lcm(
      python,
      [...addr(), ...tls(), 'run', 'channel-status', '--params-json', JSON.stringify({ channel_name: 'osm-demo', expect_state: 'SECURED', wait_seconds: 30 })],
      60_000,
    );
    expect(st.code, JSON.stringify(st.results)).toBe(0);
    expect(st.results[0]!.detailed_message).toMatch(
      /^secure channel 'osm-demo' .* is SECURED; endpoints: a1\/eth1 <-> vnf1:eth0 SECURED, a2\/eth1 <-> vnf2:eth0 SECURED$/,
    );
    const rk = await lcm(python, [...addr(), ...tls(), 'run', 'force-rekey', '--params-json', JSON.stringify({ channel_name: 'osm-demo' })], 60_000);
    expect(rk.code, JSON.stringify(rk.results)).toBe(0);
    expect(rk.results[0]!.detailed_message).toMatch(/^rekeyed secure channel 'osm-demo': a1\/eth1 .*, a2\/eth1 /);
    const del = await lcm(
      python,
      [...addr(), ...tls(), 'run', 'delete-secure-channel', '--params-json', JSON.stringify({ channel_name: 'osm-demo', close_ports: true })],
      60_000,
    );
    expect(del.code, JSON.stringify(del.results)).toBe(0);
    expect(del.results[0]!.detailed_message).toBe("secure channel 'osm-demo' deleted; closed ports a1/eth1, a2/eth1");
    const admin = operator(pki, 'alice', mgr.port);
    try {
      expect((await admin.listSecureChannels()).channels.map((c) => c.name)).toEqual(['admin-ch']);
      expect((await admin.listPorts()).ports.map((p) => p.id).sort()).toEqual(['a1/eth2', 'a2/eth2']);
    } finally {
      admin.close();
    }
  }, 120_000);

  it('an operator certificate from another CA is refused by config before dialing', async () => {
    const other = createCa();
    const mallory = issue(other, { kind: 'orchestrator', name: 'mallory' });
    const r = await lcm(python, [
      ...addr(),
      ...tls(),
      'run',
      'config',
      '--params-json',
      JSON.stringify({
        manager_address: `127.0.0.1:${mgr.port}`,
        manager_server_name: 'localhost',
        ca_cert: pki.ca.certPem,
        client_cert: mallory.certPem,
        client_key: mallory.keyPem,
      }),
    ]);
    expect(r.code).toBe(1);
    expect(r.results[0]!.detailed_message).toBe('config: client_cert is not signed by ca_cert');
  });
});
