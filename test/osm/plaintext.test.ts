/**
 * Defect: with TLS configured the EE also served unauthenticated plaintext on the same port, and a
 * plaintext caller could run every primitive (force-rekey an operator's channel, create a channel
 * with its own CAK and have ports opened, delete a channel with close_ports, re-point `config`).
 *
 * Now: TLS configured => mutual TLS only. Plaintext only with allowPlaintext (--allow-plaintext),
 * and then an unauthenticated caller may touch only channels this EE created and can neither hand
 * over nor receive key material.
 */
import { status } from '@grpc/grpc-js';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PortMode } from '../../src/control/gen/macsec/v1/types.js';
import { createLogger } from '../../src/common/log.js';
import { eeClient, runPrimitive } from '../support/osm/ee-client.js';
import { findPython, lcm, setup, tlsArgs, type Env } from '../support/osm/fixture.js';

const y = (o: Record<string, unknown>) => stringify(o);
let env: Env;
beforeAll(async () => {
  env = await setup();
  // An operator's channel on two ports the operator opened, not created through any EE.
  const admin = env.admin();
  for (const i of ['op1', 'op2']) await admin.openPort({ agentId: 'nn1', interface: i, mode: PortMode.PORT_MODE_PSK });
  await admin.createSecureChannel({
    name: 'operator-ch',
    endpoints: [
      { agentId: 'nn1', switchPort: 'op1' },
      { agentId: 'nn1', switchPort: 'op2' },
    ],
  });
  admin.client.close();
});
afterAll(async () => env?.close());

const cfg = () => ({
  manager_address: env.managerAddress,
  ca_cert_path: env.files.macsecCa,
  client_cert_path: env.files.opCert,
  client_key_path: env.files.opKey,
});
const writes = () => env.manager.calls.filter((c) => !['GetSecureChannel', 'ListSecureChannels'].includes(c.method)).length;

describe('TLS configured: mutual TLS only', () => {
  it('a plaintext client gets no connection, mTLS works; the LCM-like client passes only over mTLS', async () => {
    const ee = await env.startEe();
    expect(ee.transports).toEqual(['mtls']);
    await expect(runPrimitive(eeClient(ee.port), 'health-check', '', 5000)).rejects.toMatchObject({ code: status.UNAVAILABLE });
    expect((await runPrimitive(eeClient(ee.port, env.lcmCreds()), 'health-check', '')).last!.detailedMessage).toContain('transport mtls');
    const python = findPython();
    const plain = await lcm(python, [
      '--address',
      `localhost:${ee.port}`,
      '--retry-seconds',
      '0',
      'run',
      'force-rekey',
      '--params-json',
      '{"channel_name": "operator-ch"}',
    ]);
    expect(plain.code).toBe(1);
    expect(plain.results[0]!.detailed_message).toMatch(/^gRPC error UNAVAILABLE/);
    const tls = await lcm(python, ['--address', `localhost:${ee.port}`, ...tlsArgs(env.files), 'run', 'health-check']);
    expect(tls.results[0]!.transport).toBe('mtls');
  });

  it('the process serves mTLS only with TLS files, and refuses to start without TLS unless --allow-plaintext', async () => {
    const main = fileURLToPath(new URL('../../src/osm/main.ts', import.meta.url));
    const run = (envv: Record<string, string>, args: string[] = []) =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        const c = execFile(
          process.execPath,
          ['--import', 'tsx', main, '--listen', '127.0.0.1:0', ...args],
          { env: { ...process.env, ...envv }, timeout: 30_000, encoding: 'utf8' },
          (e, out, err) => resolve({ code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, out, err }),
        );
        c.stdout!.on('data', (d: string) => {
          if (d.includes('"listening"')) c.kill('SIGTERM');
        });
      });
    const tlsEnv = { OSM_EE_TLS_CERT: env.files.eeCert, OSM_EE_TLS_KEY: env.files.eeKey, OSM_EE_TLS_CA: env.files.osmCa };
    const withTls = await run(tlsEnv);
    expect(withTls.out).toMatch(/"transports":\["mtls"\]/);
    const none = await run({});
    expect(none.code).not.toBe(0);
    expect(none.err).toContain('refusing to serve unauthenticated plaintext unless --allow-plaintext');
    const missing = await run({ ...tlsEnv, OSM_EE_TLS_CERT: '/nonexistent/tls.crt' });
    expect(missing.code).not.toBe(0);
    expect(missing.out).not.toContain('listening');
    const opted = await run(tlsEnv, ['--allow-plaintext']);
    expect(opted.out).toMatch(/"transports":\["mtls","plaintext"\]/);
    expect(opted.err).toContain('PLAINTEXT ENABLED');
  });
});

describe('--allow-plaintext: unauthenticated callers are confined to what this EE created', () => {
  let lines: string[];
  let plain: ReturnType<typeof eeClient>;
  let mtls: ReturnType<typeof eeClient>;
  beforeAll(async () => {
    lines = [];
    const ee = await env.startEe({ allowPlaintext: true, logger: createLogger({}, { level: 'debug', write: (l) => lines.push(l) }) });
    expect(ee.transports).toEqual(['mtls', 'plaintext']);
    plain = eeClient(ee.port);
    mtls = eeClient(ee.port, env.lcmCreds());
    expect((await runPrimitive(mtls, 'config', y(cfg()))).last!.status).toBe('OK');
  });

  it('warns loudly at start-up', () => {
    expect(lines.some((l) => l.includes('"level":"warn"') && l.includes('PLAINTEXT ENABLED'))).toBe(true);
  });

  it('health-check works over plaintext', async () => {
    expect((await runPrimitive(plain, 'health-check', '')).last!.detailedMessage).toContain('transport plaintext');
  });

  it('force-rekey, channel-status and delete (with close_ports) of a channel it did not create are refused', async () => {
    const n = writes();
    for (const [prim, params] of [
      ['force-rekey', { channel_name: 'operator-ch' }],
      ['channel-status', { channel_name: 'operator-ch' }],
      ['delete-secure-channel', { channel_name: 'operator-ch', close_ports: true }],
      ['delete-secure-channel', { channel_name: 'operator-ch', close_ports: true, agent_id: 'nn1', switch_ports: 'op1,op2' }],
      ['update-secure-channel', { channel_name: 'operator-ch', agent_id: 'nn1', remove_switch_ports: 'op1', close_ports: true }],
    ] as const) {
      const r = await runPrimitive(plain, prim, y(params));
      expect(r.last!.status, prim).toBe('ERROR');
      expect(r.last!.detailedMessage).toMatch(
        /secure channel 'operator-ch' was not created by this execution environment; unauthenticated \(plaintext\) callers/,
      );
    }
    expect(writes()).toBe(n);
    expect(env.manager.channels.has('operator-ch')).toBe(true);
    expect(env.manager.ports.has('nn1/op1')).toBe(true);
  });

  it('create-secure-channel with a caller-supplied CAK, or with RADIUS servers, is refused before the manager is called', async () => {
    const n = env.manager.calls.length;
    const cak = await runPrimitive(
      plain,
      'create-secure-channel',
      y({ channel_name: 'evil', agent_id: 'nn1', switch_ports: 'e1,e2', port_mode: 'psk', psk_cak_hex: '00'.repeat(16), psk_ckn_hex: '11'.repeat(16) }),
    );
    expect(cak.last!.status).toBe('ERROR');
    expect(cak.last!.detailedMessage).toMatch(/psk_cak_hex.*mutual TLS/);
    const radius = await runPrimitive(
      plain,
      'create-secure-channel',
      y({ channel_name: 'evil', agent_id: 'nn1', switch_ports: 'e1', port_mode: 'eap-radius', radius_servers: '10.6.6.6:1812', radius_secret_ref: 'r' }),
    );
    expect(radius.last!.status).toBe('ERROR');
    expect(radius.last!.detailedMessage).toMatch(/eap-radius.*mutual TLS/);
    expect(env.manager.calls.length).toBe(n);
    expect(env.manager.ports.has('nn1/e1')).toBe(false);
  });

  it('config cannot re-point the manager or hand over credentials over plaintext; confirming the same configuration is fine', async () => {
    const other = await runPrimitive(plain, 'config', y({ ...cfg(), manager_address: '10.6.6.6:50051' }));
    expect(other.last!.status).toBe('ERROR');
    const inline = await runPrimitive(
      plain,
      'config',
      y({
        manager_address: env.managerAddress,
        ca_cert: env.pki.macsecCa.certPem,
        client_cert: env.pki.orchestrator.certPem,
        client_key: env.pki.orchestrator.keyPem,
      }),
    );
    expect(inline.last!.status).toBe('ERROR');
    expect(inline.last!.detailedMessage).toMatch(/mutual TLS/);
    const same = await runPrimitive(plain, 'config', y(cfg()));
    expect(same.last!.status, same.last!.detailedMessage).toBe('OK');
    expect(same.last!.detailedMessage).toMatch(/^already configured/);
  });

  it('its own channels: create (ports opened, key generated by the manager), status, rekey, delete with close_ports', async () => {
    const p = { channel_name: 'own', agent_id: 'nn1', switch_ports: 'w1,w2', port_mode: 'psk' };
    const c = await runPrimitive(plain, 'create-secure-channel', y(p));
    expect(c.last!.status, c.last!.detailedMessage).toBe('OK');
    expect(env.manager.ports.has('nn1/w1')).toBe(true);
    expect((await runPrimitive(plain, 'channel-status', y({ channel_name: 'own' }))).last!.status).toBe('OK');
    expect((await runPrimitive(plain, 'force-rekey', y({ channel_name: 'own' }))).last!.status).toBe('OK');
    // Ports it did not open are not closed for a plaintext caller.
    const foreignPorts = await runPrimitive(
      plain,
      'delete-secure-channel',
      y({ channel_name: 'own', close_ports: true, agent_id: 'nn1', switch_ports: 'op1' }),
    );
    expect(foreignPorts.last!.status).toBe('ERROR');
    expect(foreignPorts.last!.detailedMessage).toMatch(/port nn1\/op1 was not opened by this execution environment/);
    // Scale-out and in of its own channel: only with ports it opens itself, closing only those.
    const n = writes();
    const foreignAdd = await runPrimitive(plain, 'update-secure-channel', y({ channel_name: 'own', agent_id: 'nn1', add_switch_ports: 'op1' }));
    expect(foreignAdd.last!.detailedMessage).toMatch(
      /^update-secure-channel: port nn1\/op1 was not opened by this execution environment; unauthenticated \(plaintext\) callers may add only ports it opens/,
    );
    const foreignClose = await runPrimitive(
      plain,
      'update-secure-channel',
      y({ channel_name: 'own', agent_id: 'nn1', add_switch_ports: 'w3', port_mode: 'psk', remove_switch_ports: 'op2', close_ports: true }),
    );
    expect(foreignClose.last!.detailedMessage).toMatch(/^update-secure-channel: port nn1\/op2 was not opened by this execution environment/);
    expect(writes()).toBe(n);
    const out = await runPrimitive(plain, 'update-secure-channel', y({ channel_name: 'own', agent_id: 'nn1', add_switch_ports: 'w3', port_mode: 'psk' }));
    expect(out.last!.status, out.last!.detailedMessage).toBe('OK');
    expect(out.last!.detailedMessage).toMatch(/^updated \(added nn1\/w3\): secure channel 'own' .*nn1\/w3 <-> /);
    expect(env.manager.ports.has('nn1/w3')).toBe(true);
    const inn = await runPrimitive(plain, 'update-secure-channel', y({ channel_name: 'own', agent_id: 'nn1', remove_switch_ports: 'w3', close_ports: true }));
    expect(inn.last!.detailedMessage).toMatch(/^updated \(removed nn1\/w3\): .*; closed ports nn1\/w3$/);
    expect(env.manager.ports.has('nn1/w3')).toBe(false);
    const d = await runPrimitive(plain, 'delete-secure-channel', y({ channel_name: 'own', close_ports: true }));
    expect(d.last).toEqual({ status: 'OK', detailedMessage: "secure channel 'own' deleted; closed ports nn1/w1, nn1/w2" });
    const again = await runPrimitive(plain, 'delete-secure-channel', y({ channel_name: 'own', close_ports: true }));
    expect(again.last!.detailedMessage).toBe("secure channel 'own' did not exist; nothing to delete; no ports to close");
    // A channel that does not exist at all: nothing to refuse, nothing done.
    expect((await runPrimitive(plain, 'delete-secure-channel', y({ channel_name: 'never-was' }))).last!.status).toBe('OK');
  });

  it('over mTLS the same EE still manages everything its certificate allows', async () => {
    const r = await runPrimitive(mtls, 'channel-status', y({ channel_name: 'operator-ch' }));
    expect(r.last!.status).toBe('OK');
  });
});
