/** macsecctl: the PKI helper end to end, and every operator command against a live manager. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { CommandRegistry } from '../../src/cli/command.js';
import { registerControlCommands } from '../../src/cli/commands/control.js';
import { principalOfCert } from '../../src/pki/identity.js';
import { loadTls } from '../../src/control/tls.js';
import type { Agent } from '../../src/agent/managed/agent.js';
import { MemoryHub } from '../../src/link/memory.js';
import { simAgent, startManager, waitFor, type RunningManager, type TestPki } from '../support/harness.js';

async function ctl(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await registerControlCommands(new CommandRegistry('macsecctl')).run(argv, { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('macsecctl pki', () => {
  it('creates a CA and issues manager, agent, admin and read-only certificates', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'macsec-cli-pki-'));
    try {
      expect((await ctl('pki', 'init', '--dir', dir)).code).toBe(0);
      expect((await ctl('pki', 'init', '--dir', dir)).code).toBe(1); // refuses to overwrite
      expect((await ctl('pki', 'issue', 'manager', 'mgr', '--dir', dir, '--dns', 'manager.example', '--ip', '10.0.0.1')).code).toBe(0);
      expect((await ctl('pki', 'issue', 'agent', 'node-1', '--dir', dir)).code).toBe(0);
      expect((await ctl('pki', 'issue', 'admin', 'alice', '--dir', dir)).code).toBe(0);
      expect((await ctl('pki', 'issue', 'read-only', 'bob', '--dir', dir)).code).toBe(0);
      expect((await ctl('pki', 'issue', 'wizard', 'x', '--dir', dir)).code).toBe(2);
      const ca = new X509Certificate(readFileSync(join(dir, 'ca.crt')));
      expect(ca.ca).toBe(true);
      const expect_ = {
        manager: { kind: 'manager', name: 'mgr' },
        'agent-node-1': { kind: 'agent', id: 'node-1' },
        'admin-alice': { kind: 'operator', role: 'admin', name: 'alice' },
        'read-only-bob': { kind: 'operator', role: 'read-only', name: 'bob' },
      };
      for (const [base, principal] of Object.entries(expect_)) {
        const c = new X509Certificate(readFileSync(join(dir, `${base}.crt`)));
        expect(c.verify(ca.publicKey)).toBe(true);
        expect(c.checkIssued(ca)).toBe(true);
        expect(principalOfCert(c.raw)).toEqual(principal);
        expect(statSync(join(dir, `${base}.key`)).mode & 0o077).toBe(0);
      }
      const m = new X509Certificate(readFileSync(join(dir, 'manager.crt')));
      expect(m.subjectAltName).toContain('DNS:manager.example');
      expect(m.checkIP('10.0.0.1')).toBe('10.0.0.1');
      const show = await ctl('pki', 'show', join(dir, 'agent-node-1.crt'), '--json');
      expect(JSON.parse(show.out).subjectAltName).toContain('URI:urn:macsec:agent:node-1');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('macsecctl operator commands', () => {
  let dir: string;
  let m: RunningManager;
  const agents: Agent[] = [];
  let conn: string[];
  let pki: TestPki;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'macsec-cli-'));
    await ctl('pki', 'init', '--dir', dir);
    await ctl('pki', 'issue', 'manager', 'mgr', '--dir', dir);
    for (const a of ['a1', 'a2']) await ctl('pki', 'issue', 'agent', a, '--dir', dir);
    await ctl('pki', 'issue', 'admin', 'alice', '--dir', dir);
    await ctl('pki', 'issue', 'read-only', 'bob', '--dir', dir);
    const files = (n: string) => ({ ca: join(dir, 'ca.crt'), cert: join(dir, `${n}.crt`), key: join(dir, `${n}.key`) });
    pki = { dir, material: (n: string) => loadTls(files(n === 'mgr' ? 'manager' : `agent-${n}`)), files } as unknown as TestPki;
    m = await startManager(pki);
    const hub = new MemoryHub();
    for (const a of ['a1', 'a2']) agents.push(simAgent(pki, a, m.port, { hub }));
    await waitFor(() => m.manager.connectedAgentIds().length === 2, 'agents');
    conn = ['--server', `127.0.0.1:${m.port}`, '--pki-dir', dir, '--user', 'admin-alice'];
  });
  afterAll(async () => {
    for (const a of agents) await a.stop();
    await m.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs every operator call, with tables and --json', async () => {
    let r = await ctl('agents', 'list', ...conn);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^AGENT\s+VERSION\s+CONNECTED/);
    expect(r.out).toMatch(/a1\s+0\.1\.0\s+yes/);
    r = await ctl('agents', 'get', 'a2', ...conn, '--json');
    expect(JSON.parse(r.out)).toMatchObject({ id: 'a2', connected: true });
    for (const a of ['a1', 'a2']) {
      r = await ctl('ports', 'open', a, 'eth1', '--mode', 'psk', '--priority', a === 'a1' ? '5' : '9', '--cipher', 'gcm-aes-256', ...conn);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toContain(`${a}/eth1`);
    }
    r = await ctl('ports', 'list', ...conn, '--json');
    expect(JSON.parse(r.out).ports.map((p: { id: string; policy: { cipherSuite: string } }) => [p.id, p.policy.cipherSuite])).toEqual([
      ['a1/eth1', 'CIPHER_SUITE_GCM_AES_256'],
      ['a2/eth1', 'CIPHER_SUITE_GCM_AES_256'],
    ]);
    const create = ['channels', 'create', 'web', '--endpoint', 'a1:eth1:vnf-a:eth0', '--endpoint', 'a2:eth1:vnf-b:eth0', '--request-id', 'op-1'];
    r = await ctl(...create, '--wait-secured', ...conn);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/created: channel web \(ch-[0-9a-f]+\)\s+state secured/);
    const cak = /CAK ([0-9a-f]{32})/.exec(r.out)?.[1];
    expect(cak).toBeDefined();
    r = await ctl(...create, ...conn); // the same request again: the same answer, key included
    expect(r.out).toContain(`CAK ${cak}`);
    r = await ctl('ports', 'orphans', ...conn);
    expect(r.out).toBe(`this manager's store: ${m.store.storeId}\nno orphaned ports`);
    r = await ctl('channels', 'get', 'web', ...conn, '--json');
    const ch = JSON.parse(r.out);
    expect(ch.state).toBe('CHANNEL_STATE_SECURED');
    r = await ctl('channels', 'list', ...conn);
    expect(r.out).toMatch(/web\s+secured\s+2/);
    r = await ctl('rekey', '--channel', 'web', ...conn);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/a1\/eth1\s+yes\s+yes/);
    r = await ctl('ports', 'get', 'a1/eth1', ...conn);
    expect(r.out).toMatch(/mkpdus sent\/received\/dropped: \d+\/\d+\/\d+/);
    r = await ctl('events', '--count', '3', '--json', ...conn);
    const evs = r.out.split('\n').map((l) => JSON.parse(l));
    expect(evs).toHaveLength(3);
    expect(evs[0].type).toBe('EVENT_TYPE_AGENT_UP');
    // Scale out and in: a1/eth2 joins, then leaves; a1/eth1 and a2/eth1 keep their sessions.
    const runtimeIds = ch.endpointStatus.map((e: { status: { runtimeId: string } }) => e.status.runtimeId);
    expect((await ctl('ports', 'open', 'a1', 'eth2', '--mode', 'psk', ...conn)).code).toBe(0);
    r = await ctl('channels', 'update', 'web', '--add', 'a1:eth2:vnf-c:eth1', ...conn);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^updated \(added a1\/eth2\): channel web \(ch-[0-9a-f]+\)/);
    expect(r.out).toMatch(/a1\/eth2\s+vnf-c\s+eth1\s+up/);
    expect(r.out).not.toContain(cak!);
    r = await ctl('channels', 'update', 'web', '--remove', 'a1/eth2', '--json', ...conn);
    expect(r.code, r.err).toBe(0);
    const upd = JSON.parse(r.out);
    expect(upd.removedPortIds).toEqual(['a1/eth2']);
    expect(upd.channel.endpoints.map((e: { switchPort: string; agentId: string }) => `${e.agentId}/${e.switchPort}`)).toEqual(['a1/eth1', 'a2/eth1']);
    expect(upd.channel.endpointStatus.map((e: { status: { runtimeId: string } }) => e.status.runtimeId)).toEqual(runtimeIds);
    r = await ctl('channels', 'update', 'web', '--remove', 'a2/eth2', ...conn);
    expect(r.code).toBe(1);
    expect(r.err).toBe("error: FAILED_PRECONDITION: remove_port_ids[0]: port 'a2/eth2' is not an endpoint of secure channel 'web'");
    r = await ctl('channels', 'update', 'web', ...conn);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/give at least one --add or --remove/);
    r = await ctl('channels', 'update', 'web', '--add', 'a1:eth2', ...conn);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--add 'a1:eth2' is not agent:switch-port:vnf-id:vnf-interface/);
    expect((await ctl('ports', 'close', 'a1/eth2', ...conn)).code).toBe(0);
    r = await ctl('channels', 'delete', 'web', ...conn);
    expect(r.out).toBe('deleted web');
    r = await ctl('ports', 'close', 'a2/eth1', ...conn);
    expect(r.out).toBe('closed a2/eth1');
  });

  it('reports errors with the gRPC status, and refuses writes for read-only users', async () => {
    let r = await ctl('agents', 'get', 'nobody', ...conn);
    expect(r.code).toBe(1);
    expect(r.err).toBe("error: NOT_FOUND: agent_id: agent 'nobody' is not known");
    const ro = ['--server', `127.0.0.1:${m.port}`, '--pki-dir', dir, '--user', 'read-only-bob'];
    r = await ctl('ports', 'list', ...ro);
    expect(r.code).toBe(0);
    r = await ctl('ports', 'open', 'a1', 'eth2', '--mode', 'psk', ...ro, '--json');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.err).error.code).toBe('PERMISSION_DENIED');
    r = await ctl('channels', 'create', 'x', '--endpoint', 'bad', ...conn);
    expect(r.code).toBe(2);
  });
});
