/**
 * Open vSwitch attachment over OVSDB, against a private ovsdb-server (no ovs-vswitchd, no kernel
 * datapath: only the database is touched, in a temp dir). ovs-vsctl is used here only to check.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OvsdbClient } from '../../src/agent/managed/ovs.js';
import { MemoryHub } from '../../src/link/memory.js';
import type { Agent } from '../../src/agent/managed/agent.js';
import { PortMode, PortState } from '../../src/control/gen/macsec/v1/types.js';
import { ChannelState as CS } from '../../src/control/gen/macsec/v1/manager.js';
import { makePki, operator, simAgent, startManager, waitFor, type RunningManager, type TestPki } from '../support/harness.js';

const SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';
const haveOvs = existsSync('/usr/sbin/ovsdb-server') && existsSync(SCHEMA);

describe('Open vSwitch attachment (OVSDB JSON-RPC)', () => {
  let dir: string;
  let sock: string;
  let server: ChildProcess;
  const vsctl = (...args: string[]) => execFileSync('ovs-vsctl', [`--db=unix:${sock}`, '--no-wait', ...args], { encoding: 'utf8' }).trim();

  beforeAll(async () => {
    // A missing real peer is a failure, never a skip.
    if (!haveOvs) throw new Error('Open vSwitch (apt openvswitch-switch) is required; run scripts/setup.sh');
    dir = mkdtempSync(join(tmpdir(), 'macsec-ovs-'));
    sock = join(dir, 'db.sock');
    execFileSync('ovsdb-tool', ['create', join(dir, 'conf.db'), SCHEMA]);
    server = spawn(
      'ovsdb-server',
      [
        join(dir, 'conf.db'),
        `--remote=punix:${sock}`,
        `--unixctl=${join(dir, 'ctl')}`,
        `--pidfile=${join(dir, 'pid')}`,
        '--no-chdir',
        `--log-file=${join(dir, 'log')}`,
      ],
      { stdio: 'ignore' },
    );
    await waitFor(() => existsSync(sock), 'ovsdb socket');
    vsctl('init');
    vsctl('add-br', 'br-nfv');
  });
  afterAll(() => {
    server?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('adds and removes ports idempotently', async () => {
    const ovs = new OvsdbClient(sock);
    await ovs.addPort('br-nfv', 'macsec7');
    await ovs.addPort('br-nfv', 'macsec7');
    expect(vsctl('list-ports', 'br-nfv')).toBe('macsec7');
    expect(await ovs.listPorts('br-nfv')).toEqual(['macsec7']);
    await expect(ovs.addPort('br-missing', 'x')).rejects.toThrow(/bridge 'br-missing' does not exist/);
    await ovs.delPort('br-nfv', 'macsec7');
    await ovs.delPort('br-nfv', 'macsec7');
    expect(vsctl('list-ports', 'br-nfv')).toBe('');
    expect(vsctl('--if-exists', 'get', 'Interface', 'macsec7', 'name')).toBe(''); // garbage-collected
    ovs.close();
  });

  describe('agents attach secured ports to the bridge and detach them', () => {
    let pki: TestPki;
    let m: RunningManager;
    const agents: Agent[] = [];
    beforeAll(async () => {
      pki = makePki();
      m = await startManager(pki);
      const hub = new MemoryHub();
      for (const id of ['a1', 'a2']) agents.push(simAgent(pki, id, m.port, { hub, ovs: new OvsdbClient(sock) }));
      await waitFor(() => m.manager.connectedAgentIds().length === 2, 'agents');
    });
    afterAll(async () => {
      for (const a of agents) await a.stop();
      await m.stop();
      pki.cleanup();
    });

    it('attach on secured, detach on channel delete and port close', async () => {
      const admin = operator(pki, 'alice', m.port);
      for (const a of ['a1', 'a2']) await admin.openPort({ agentId: a, interface: 'eth1', mode: PortMode.PORT_MODE_PSK, ovsBridge: 'br-nfv' });
      expect(vsctl('list-ports', 'br-nfv')).toBe(''); // not secured yet: nothing attached
      const r = await admin.createSecureChannel({
        name: 'ovs',
        endpoints: ['a1', 'a2'].map((a) => ({ agentId: a, switchPort: 'eth1', vnfId: `v-${a}`, vnfInterface: 'eth0' })),
        waitSecured: true,
      });
      expect(r.channel!.state).toBe(CS.CHANNEL_STATE_SECURED);
      const ifnames = agents.map((a) => a.ports.get(`${a.id}/eth1`)!.status().macsecInterface).sort();
      await waitFor(() => vsctl('list-ports', 'br-nfv') === ifnames.join('\n'), 'both macsec interfaces on br-nfv');
      await waitFor(
        async () => (await admin.listPorts()).ports.every((p) => p.status!.ovsAttached && p.status!.state === PortState.PORT_STATE_SECURED),
        'status shows attached',
      );
      await admin.deleteSecureChannel({ channelId: 'ovs' });
      expect(vsctl('list-ports', 'br-nfv')).toBe('');
      for (const a of ['a1', 'a2']) await admin.closePort({ portId: `${a}/eth1` });
      expect(vsctl('list-ports', 'br-nfv')).toBe('');
      admin.close();
    });
  });
});
