/** The OSM execution environment through a TypeScript gRPC client: primitives, errors, TLS. */
import { credentials, status } from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, issue } from '../../src/pki/pki.js';
import { openSshEd25519, resolveSshPublicKey } from '../../src/osm/ssh-key.js';
import { eeClient, getSshKey, runPrimitive } from '../support/osm/ee-client.js';
import { setup, type Env } from '../support/osm/fixture.js';

let env: Env;
beforeAll(async () => {
  env = await setup({ createDelayMs: 300, secureAfterMs: 700, generatePsk: true });
});
afterAll(async () => env?.close());

const y = (o: Record<string, unknown>) => stringify(o);
const cfgInline = () => ({
  manager_address: env.managerAddress,
  ca_cert: env.pki.macsecCa.certPem,
  client_cert: env.pki.orchestrator.certPem,
  client_key: env.pki.orchestrator.keyPem,
});
const cfgPaths = () => ({
  manager_address: env.managerAddress,
  ca_cert_path: env.files.macsecCa,
  client_cert_path: env.files.opCert,
  client_key_path: env.files.opKey,
});

/** An EE (mutual TLS only) and an LCM client for it. */
async function plainEe(extra: Parameters<Env['startEe']>[0] = {}) {
  const ee = await env.startEe(extra);
  return { ee, c: eeClient(ee.port, env.lcmCreds()) };
}

describe('config', () => {
  it('refuses bad configurations with clear messages, and create before config', async () => {
    const { c } = await plainEe();
    const cases: [Record<string, unknown>, string | RegExp][] = [
      [{}, "config: parameter 'manager_address' (host:port of the MACsec manager) is required"],
      [{ manager_address: 'no-port' }, `config: parameter 'manager_address' "no-port" must match host:port`],
      [{ manager_address: 'm:1' }, 'config: missing manager credentials: ca_cert, client_cert, client_key (PEM text, or <name>_path to a file)'],
      [{ ...cfgInline(), ca_cert: 'not pem' }, "config: parameter 'ca_cert' must be PEM text (use 'ca_cert_path' for a file)"],
      [{ ...cfgInline(), ca_cert: createCa().certPem }, 'config: client_cert is not signed by ca_cert'],
      [{ ...cfgInline(), client_key: env.pki.operatorReadOnly.keyPem }, 'config: client_key does not match client_cert'],
      [
        { ...cfgInline(), client_cert: env.pki.agent.certPem, client_key: env.pki.agent.keyPem },
        'config: client_cert must carry an orchestrator identity (urn:macsec:operator:orchestrator:<name>), got agent:nn1',
      ],
      [{ ...cfgPaths(), client_key_path: '/nonexistent/key.pem' }, 'config: client_key: cannot read /nonexistent/key.pem: ENOENT'],
      [{ ...cfgInline(), ca_cert_path: env.files.macsecCa }, "config: give either 'ca_cert' or 'ca_cert_path', not both"],
    ];
    for (const [params, msg] of cases) {
      const r = await runPrimitive(c, 'config', y(params));
      expect(r.replies).toHaveLength(1);
      expect(r.last!.status).toBe('ERROR');
      if (typeof msg === 'string') expect(r.last!.detailedMessage).toBe(msg);
      else expect(r.last!.detailedMessage).toMatch(msg);
    }
    const r = await runPrimitive(c, 'create-secure-channel', y({ channel_name: 'x', agent_id: 'nn1', switch_ports: 'vp1' }));
    expect(r.last).toEqual({
      status: 'ERROR',
      detailedMessage: 'create-secure-channel: not configured: run the config primitive first (manager_address and credentials)',
    });
  });

  it('an expired operator certificate is refused', async () => {
    const { c } = await plainEe();
    const old = issue(env.pki.macsecCa, {
      kind: 'orchestrator',
      name: 'old',
      notBefore: new Date(Date.now() - 10 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    const r = await runPrimitive(c, 'config', y({ ...cfgInline(), client_cert: old.certPem, client_key: old.keyPem }));
    expect(r.last!.status).toBe('ERROR');
    expect(r.last!.detailedMessage).toMatch(/^config: client_cert expired on /);
  });

  it('an unreachable manager fails config after the retry budget, with PROCESSING on the way', async () => {
    const { c } = await plainEe();
    const r = await runPrimitive(c, 'config', y({ ...cfgInline(), manager_address: '127.0.0.1:1', manager_retry_seconds: 1 }));
    expect(r.last!.status).toBe('ERROR');
    expect(r.last!.detailedMessage).toMatch(/^config: manager ListSecureChannels failed: UNAVAILABLE: /);
    expect(r.replies.slice(0, -1).every((x) => x.status === 'PROCESSING' && /retrying/.test(x.detailedMessage))).toBe(true);
    // check_manager: false stores it without dialing.
    const r2 = await runPrimitive(c, 'config', y({ ...cfgInline(), manager_address: '127.0.0.1:1', check_manager: false }));
    expect(r2.last!.status).toBe('OK');
  });

  it('credentials from files, and the configuration survives an EE restart (state dir, mode 0600)', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'osm-ee-state-'));
    try {
      const a = await plainEe({ stateDir });
      expect((await runPrimitive(a.c, 'config', y(cfgPaths()))).last!.status).toBe('OK');
      expect(statSync(join(stateDir, 'config.json')).mode & 0o777).toBe(0o600);
      a.c.close();
      await a.ee.close();
      const b = await plainEe({ stateDir });
      const h = await runPrimitive(b.c, 'health-check', '');
      expect(h.last!.detailedMessage).toMatch(/manager localhost:\d+ configured$/);
      const cr = await runPrimitive(b.c, 'create-secure-channel', y({ channel_name: 'restart-ch', agent_id: 'nn1', switch_ports: 'vp9' }));
      expect(cr.last!.status).toBe('OK');
      // The manager generated a PSK: kept in the state dir, never in a reply.
      expect(cr.last!.detailedMessage).toContain(`kept in ${join(stateDir, 'psk', 'restart-ch.json')} (not shown)`);
      const psk = JSON.parse(readFileSync(join(stateDir, 'psk', 'restart-ch.json'), 'utf8')) as { cak_hex: string };
      for (const rep of cr.replies) expect(rep.detailedMessage).not.toContain(psk.cak_hex);
      const del = await runPrimitive(b.c, 'delete-secure-channel', y({ channel_name: 'restart-ch' }));
      expect(del.last!.status).toBe('OK');
      expect(existsSync(join(stateDir, 'psk', 'restart-ch.json'))).toBe(false);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it('defaults from the chart (mounted operator certificate) make config need no parameters', async () => {
    const { c } = await plainEe({
      defaults: { managerAddress: env.managerAddress, caPath: env.files.macsecCa, certPath: env.files.opCert, keyPath: env.files.opKey },
    });
    const r = await runPrimitive(c, 'config', '');
    expect(r.last!.status).toBe('OK');
  });
});

describe('secure channel primitives', () => {
  let c: ReturnType<typeof eeClient>;
  beforeAll(async () => {
    ({ c } = await plainEe({ progressIntervalMs: 100 }));
    expect((await runPrimitive(c, 'config', y(cfgInline()))).last!.status).toBe('OK');
  });

  it('create streams PROCESSING while the manager works and OK only after it acknowledged', async () => {
    const before = Date.now();
    const r = await runPrimitive(
      c,
      'create-secure-channel',
      y({
        channel_name: 'hb',
        endpoints: [
          { agent_id: 'nn1', switch_port: 'vp1', vnf_id: 'v1', vnf_interface: 'eth1' },
          { agent_id: 'nn2', switch_port: 'vp2', vnf_id: 'v2', vnf_interface: 'eth1' },
        ],
      }),
    );
    expect(Date.now() - before).toBeGreaterThanOrEqual(300);
    expect(r.replies.slice(0, -1).every((x) => x.status === 'PROCESSING')).toBe(true);
    expect(r.replies.some((x) => /still waiting/.test(x.detailedMessage))).toBe(true);
    expect(r.last!.status).toBe('OK');
    expect(r.last!.detailedMessage).toMatch(
      /^created: secure channel 'hb' .* is READY; endpoints: nn1\/vp1 <-> v1:eth1 AUTHENTICATING, nn2\/vp2 <-> v2:eth1 AUTHENTICATING/,
    );
  });

  it('an LCM retry while the first create is running joins it: one manager call, both OK', async () => {
    const n0 = env.manager.calls.filter((x) => x.method === 'CreateSecureChannel').length;
    const p = y({ channel_name: 'dup', agent_id: 'nn1', switch_ports: 'vp3,vp4', vnf_interfaces: 'eth1,eth2', vnf_id: 'v3' });
    const [a, b] = await Promise.all([runPrimitive(c, 'create-secure-channel', p), runPrimitive(c, 'create-secure-channel', p)]);
    expect(a.last!.status).toBe('OK');
    expect(b.last!.status).toBe('OK');
    expect(b.last!.detailedMessage).toBe(a.last!.detailedMessage);
    expect(env.manager.calls.filter((x) => x.method === 'CreateSecureChannel').length - n0).toBe(1);
  });

  it('transient manager failures are retried inside the primitive', async () => {
    env.manager.failNext = { code: status.UNAVAILABLE, message: 'manager restarting', count: 2 };
    const r = await runPrimitive(c, 'create-secure-channel', y({ channel_name: 'retry', agent_id: 'nn1', switch_ports: 'vp5' }));
    expect(r.last!.status).toBe('OK');
    expect(r.replies.filter((x) => /manager not reachable yet \(manager restarting\); retrying/.test(x.detailedMessage))).toHaveLength(2);
  });

  it('manager refusals are ERRORs carrying the manager status and field', async () => {
    env.manager.failNext = { code: status.INVALID_ARGUMENT, message: 'endpoints[0].switch_port: no open port vp6 on agent nn1', count: 1 };
    const r = await runPrimitive(c, 'create-secure-channel', y({ channel_name: 'bad', agent_id: 'nn1', switch_ports: 'vp6' }));
    expect(r.last).toEqual({
      status: 'ERROR',
      detailedMessage: 'create-secure-channel: manager CreateSecureChannel failed: INVALID_ARGUMENT: endpoints[0].switch_port: no open port vp6 on agent nn1',
    });
    const conflict = await runPrimitive(c, 'create-secure-channel', y({ channel_name: 'retry', agent_id: 'nn1', switch_ports: 'vp7' }));
    expect(conflict.last!.detailedMessage).toMatch(/ALREADY_EXISTS: name: channel 'retry' exists with other endpoints/);
  });

  it('wait_secured and channel-status expect_state wait for SECURED', async () => {
    const r = await runPrimitive(c, 'create-secure-channel', y({ channel_name: 'sec', agent_id: 'nn1', switch_ports: 'vp8', wait_secured: true }));
    // The test double answers READY at once; with wait_secured the EE insists on SECURED.
    expect(r.last!.status).toBe('ERROR');
    expect(r.last!.detailedMessage).toMatch(/channel is READY, expected SECURED/);
    const now = await runPrimitive(c, 'channel-status', y({ channel_name: 'sec', expect_state: 'SECURED' }));
    expect(now.last!.status).toBe('ERROR');
    expect(now.last!.detailedMessage).toMatch(/^channel-status: secure channel 'sec' .* is READY; .*; expected SECURED$/);
    const waited = await runPrimitive(c, 'channel-status', y({ channel_name: 'sec', expect_state: 'secured', wait_seconds: 5 }));
    expect(waited.last!.status).toBe('OK');
    expect(waited.last!.detailedMessage).toMatch(/is SECURED; endpoints: nn1\/vp8 <-> \?:\? SECURED/);
  });

  it('port_mode opens the authenticator ports first (idempotently); close_ports closes them after the channel', async () => {
    const params = y({
      channel_name: 'withports',
      agent_id: 'nn1',
      switch_ports: 'vq1,vq2',
      port_mode: 'psk',
      ovs_bridge: 'br0',
      key_server_priority: 7,
      cipher_suite: 'gcm-aes-256',
    });
    const r = await runPrimitive(c, 'create-secure-channel', params);
    expect(r.last!.status, r.last!.detailedMessage).toBe('OK');
    expect(r.replies.filter((x) => /^authenticator port nn1\/vq[12] open \(READY\)$/.test(x.detailedMessage))).toHaveLength(2);
    expect(JSON.parse(env.manager.ports.get('nn1/vq1')!)).toMatchObject({ mode: 3, ovsBridge: 'br0', policy: { keyServerPriority: 7, cipherSuite: 2 } });
    expect((await runPrimitive(c, 'create-secure-channel', params)).last!.detailedMessage).toMatch(/^already present/);
    const bad = await runPrimitive(c, 'create-secure-channel', y({ channel_name: 'withports2', agent_id: 'nn1', switch_ports: 'vq3', ovs_bridge: 'br0' }));
    expect(bad.last!.detailedMessage).toBe("create-secure-channel: parameter ovs_bridge needs 'port_mode' (the EE opens ports only when port_mode is given)");
    const d = await runPrimitive(c, 'delete-secure-channel', y({ channel_name: 'withports', close_ports: true }));
    expect(d.last!.detailedMessage).toBe("secure channel 'withports' deleted; closed ports nn1/vq1, nn1/vq2");
    expect(env.manager.ports.has('nn1/vq1')).toBe(false);
    const d2 = await runPrimitive(c, 'delete-secure-channel', y({ channel_name: 'withports', close_ports: true }));
    expect(d2.last!.detailedMessage).toBe("secure channel 'withports' did not exist; nothing to delete; no ports to close");
  });

  it('force-rekey reports per port', async () => {
    const r = await runPrimitive(c, 'force-rekey', y({ channel_name: 'hb' }));
    expect(r.last).toEqual({ status: 'OK', detailedMessage: "rekeyed secure channel 'hb': nn1/vp1 key number 2 (key server), nn2/vp2 key number 2" });
  });

  it('a read-only operator certificate configures but cannot create', async () => {
    const { c: ro } = await plainEe();
    expect(
      (await runPrimitive(ro, 'config', y({ ...cfgInline(), client_cert: env.pki.operatorReadOnly.certPem, client_key: env.pki.operatorReadOnly.keyPem })))
        .last!.status,
    ).toBe('OK');
    const r = await runPrimitive(ro, 'create-secure-channel', y({ channel_name: 'ro', agent_id: 'nn1', switch_ports: 'vp1' }));
    expect(r.last!.detailedMessage).toMatch(
      /^create-secure-channel: the manager refused CreateSecureChannel of secure channel 'ro' \(PERMISSION_DENIED: operator:read-only:osm-ro is read-only/,
    );
  });

  it('unknown endpoint fields and mismatched lists are refused before calling the manager', async () => {
    const a = await runPrimitive(c, 'create-secure-channel', y({ channel_name: 'e', endpoints: '[{agent_id: nn1, switch_port: vp1, vnf_iface: eth1}]' }));
    expect(a.last!.detailedMessage).toBe(
      'create-secure-channel: endpoints[0] has unknown fields: vnf_iface (known: agent_id, switch_port, vnf_id, vnf_interface)',
    );
    const b = await runPrimitive(c, 'create-secure-channel', y({ channel_name: 'e', agent_id: 'nn1', switch_ports: 'vp1,vp2', vnf_interfaces: 'eth1' }));
    expect(b.last!.detailedMessage).toBe("create-secure-channel: parameter 'vnf_interfaces' lists 1 interfaces for 2 switch ports");
    const d = await runPrimitive(c, 'create-secure-channel', y({ channel_name: 'bad name!', agent_id: 'nn1', switch_ports: 'vp1' }));
    expect(d.last!.detailedMessage).toBe(`create-secure-channel: parameter 'channel_name' "bad name!" must match [A-Za-z0-9][A-Za-z0-9._-]{0,62}`);
    // the manager's rules exactly: names it would refuse are refused here, before calling it
    for (const [k, v] of [
      ['channel_name', '.hidden'],
      ['channel_name', '-x'],
      ['agent_id', '-nn1'],
    ] as const) {
      const r = await runPrimitive(c, 'create-secure-channel', y({ channel_name: 'e', agent_id: 'nn1', switch_ports: 'vp1', [k]: v }));
      expect(r.last!.detailedMessage, `${k}=${v}`).toMatch(new RegExp(`^create-secure-channel: parameter '${k}' "${v.replace('.', '\\.')}" must match`));
    }
    const e = await runPrimitive(c, 'create-secure-channel', y({ channel_name: 'e', agent_id: 'nn1', switch_ports: '-vp1' }));
    expect(e.last!.detailedMessage).toMatch(/^create-secure-channel: parameter 'switch_ports\[0\]' "-vp1" must be an interface name/);
  });

  it('params that are not a mapping are an ERROR, empty params are fine', async () => {
    expect((await runPrimitive(c, 'channel-status', '- a\n- b\n')).last!.detailedMessage).toBe(
      'channel-status: params must be a YAML mapping of parameter names to values, got a list',
    );
    expect((await runPrimitive(c, 'health-check', '{}\n')).last!.status).toBe('OK');
    expect((await runPrimitive(c, 'health-check', '')).last!.status).toBe('OK');
  });
});

describe('transport', () => {
  it('mTLS refuses clients without a certificate or with one from another CA, and plaintext', async () => {
    const ee = await env.startEe();
    const osmCa = Buffer.from(env.pki.osmCa.certPem);
    const noCert = eeClient(ee.port, credentials.createSsl(osmCa));
    await expect(runPrimitive(noCert, 'health-check', '', 5000)).rejects.toMatchObject({ code: status.UNAVAILABLE });
    const other = issue(createCa(), { kind: 'admin', name: 'mallory' });
    const foreign = eeClient(ee.port, credentials.createSsl(osmCa, Buffer.from(other.keyPem), Buffer.from(other.certPem)));
    await expect(runPrimitive(foreign, 'health-check', '', 5000)).rejects.toMatchObject({ code: status.UNAVAILABLE });
    const good = eeClient(ee.port, credentials.createSsl(osmCa, Buffer.from(env.pki.lcmClient.keyPem), Buffer.from(env.pki.lcmClient.certPem)));
    expect((await runPrimitive(good, 'health-check', '')).last!.detailedMessage).toContain('transport mtls');
    await expect(runPrimitive(eeClient(ee.port), 'health-check', '', 5000)).rejects.toMatchObject({ code: status.UNAVAILABLE });
  });

  it('a client that goes away mid-primitive does not break the EE, and the work completes', async () => {
    const { ee, c } = await plainEe();
    await runPrimitive(c, 'config', y(cfgInline()));
    const call = c.runPrimitive({ id: 'x', name: 'create-secure-channel', params: y({ channel_name: 'gone', agent_id: 'nn1', switch_ports: 'vp1' }) });
    call.on('error', () => {});
    await new Promise((r) => setTimeout(r, 50));
    call.cancel();
    await new Promise((r) => setTimeout(r, 500));
    expect(env.manager.channels.has('gone')).toBe(true);
    const again = await runPrimitive(
      eeClient(ee.port, env.lcmCreds()),
      'create-secure-channel',
      y({ channel_name: 'gone', agent_id: 'nn1', switch_ports: 'vp1' }),
    );
    expect(again.last!.detailedMessage).toMatch(/^already present/);
  });
});

describe('GetSshKey', () => {
  it('answers a configured or generated OpenSSH public key', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'osm-ee-ssh-'));
    try {
      const key = resolveSshPublicKey({ mode: 'generate', stateDir });
      expect(key).toMatch(/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43} macsec-osm-ee$/);
      expect(resolveSshPublicKey({ mode: 'generate', stateDir })).toBe(key);
      expect(statSync(join(stateDir, 'ssh_ed25519.pem')).mode & 0o777).toBe(0o600);
      const { c } = await plainEe({ sshPublicKey: key });
      expect(await getSshKey(c)).toBe(key);
      // The blob decodes to string "ssh-ed25519" + string(32-octet key).
      const blob = Buffer.from(key.split(' ')[1]!, 'base64');
      expect(blob.length).toBe(4 + 11 + 4 + 32);
      expect(blob.subarray(4, 15).toString()).toBe('ssh-ed25519');
      // And OpenSSH itself accepts it, where installed.
      const keygen = ['/usr/bin/ssh-keygen', '/bin/ssh-keygen'].find((f) => existsSync(f));
      if (keygen) {
        writeFileSync(join(stateDir, 'k.pub'), key + '\n');
        expect(execFileSync(keygen, ['-l', '-f', join(stateDir, 'k.pub')], { encoding: 'utf8' })).toMatch(/^256 SHA256:\S+ macsec-osm-ee \(ED25519\)/);
      }
      expect(openSshEd25519).toBeTypeOf('function');
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
