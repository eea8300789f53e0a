/** The macsec-osm-ee entry point as a process, configured through the environment like the Helm chart does. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findPython, lcm, setup, tlsArgs, type Env } from '../support/osm/fixture.js';
import { buildDescriptorSet, DESCRIPTOR_SETS } from '../../scripts/gen-descriptors.js';
import { EE_DESCRIPTOR_SET_B64 } from '../../src/osm/gen/descriptors.js';

const BUF = fileURLToPath(new URL('../../node_modules/.bin/buf', import.meta.url));
const buf = (args: string[]) =>
  new Promise<string>((resolve, reject) =>
    execFile(
      BUF,
      ['curl', '--protocol', 'grpc', '--cacert', env.files.osmCa, '--cert', env.files.lcmCert, '--key', env.files.lcmKey, ...args],
      { timeout: 30_000, encoding: 'utf8' },
      (e, out, err) => (e ? reject(new Error(err || e.message)) : resolve(out)),
    ),
  );

const MAIN = fileURLToPath(new URL('../../src/osm/main.ts', import.meta.url));
let env: Env;
let child: ChildProcess;
let port: number;
let stateDir: string;
let stderr = '';

beforeAll(async () => {
  env = await setup();
  stateDir = mkdtempSync(join(tmpdir(), 'osm-ee-main-'));
  child = spawn(process.execPath, ['--import', 'tsx', MAIN, '--listen', '127.0.0.1:0'], {
    env: {
      ...process.env,
      OSM_EE_TLS_CERT: env.files.eeCert,
      OSM_EE_TLS_KEY: env.files.eeKey,
      OSM_EE_TLS_CA: env.files.osmCa,
      OSM_EE_STATE_DIR: stateDir,
      OSM_EE_SSH_KEY: 'generate',
      MACSEC_MANAGER_ADDRESS: env.managerAddress,
      MACSEC_MANAGER_CA: env.files.macsecCa,
      MACSEC_MANAGER_CERT: env.files.opCert,
      MACSEC_MANAGER_KEY: env.files.opKey,
      MACSEC_LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /\{"listening":(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`macsec-osm-ee exited ${code}: ${stderr}`)));
  });
});
afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  await env?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

describe('macsec-osm-ee process', () => {
  it('serves the day-1 sequence over mTLS (only) with manager defaults from the environment', async () => {
    const python = findPython();
    const ch = JSON.stringify({ channel_name: 'proc-ch', agent_id: 'nn1', switch_ports: ['vp1'], vnf_interfaces: ['eth1'], vnf_id: 'vnf1' });
    const tls = await lcm(python, ['--address', `localhost:${port}`, ...tlsArgs(env.files), 'day1', '--config-json', '{}', '--channel-json', ch]);
    expect(tls.code, JSON.stringify(tls.results) + stderr).toBe(0);
    expect(tls.results.map((r) => r.transport)).toEqual(['mtls', 'mtls', 'mtls']);
    const again = await lcm(python, ['--address', `localhost:${port}`, ...tlsArgs(env.files), 'day1', '--config-json', '{}', '--channel-json', ch]);
    expect(again.code).toBe(0);
    expect(again.results[2]!.detailed_message).toMatch(/^already present/);
    const plain = await lcm(python, ['--address', `localhost:${port}`, '--retry-seconds', '0', 'run', 'health-check']);
    expect(plain.results[0]!.detailed_message).toMatch(/^gRPC error UNAVAILABLE/);
    const key = await lcm(python, ['--address', `localhost:${port}`, ...tlsArgs(env.files), 'ssh-key']);
    expect(key.results[0]!.ssh_key).toMatch(/^ssh-ed25519 /);
  });

  it('serves reflection and grpc health (buf curl, no proto files)', async () => {
    const methods = (await buf(['--list-methods', `https://127.0.0.1:${port}`])).trim().split('\n');
    expect(methods).toEqual([
      'grpc.health.v1.Health/Check',
      'grpc.health.v1.Health/List',
      'grpc.health.v1.Health/Watch',
      'osm_ee.FrontendExecutor/GetSshKey',
      'osm_ee.FrontendExecutor/RunPrimitive',
    ]);
    expect(JSON.parse(await buf([`https://127.0.0.1:${port}/grpc.health.v1.Health/Check`]))).toEqual({ status: 'SERVING' });
    const r = JSON.parse(await buf(['-d', '{"id":"1","name":"nope","params":""}', `https://127.0.0.1:${port}/osm_ee.FrontendExecutor/RunPrimitive`])) as {
      status: string;
    };
    expect(r.status).toBe('ERROR');
  });

  it('the embedded descriptor set is what buf builds from proto/ (regenerate: npm run proto:gen)', () => {
    const ee = DESCRIPTOR_SETS.find((d) => d.name === 'EE_DESCRIPTOR_SET_B64')!;
    expect(buildDescriptorSet(ee.files).toString('base64')).toBe(EE_DESCRIPTOR_SET_B64);
  });

  it('logs JSON lines without key material', () => {
    const lines = stderr.split('\n').filter((l) => l.trim());
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
    expect(stderr).toContain('"msg":"listening"');
    expect(stderr).not.toContain('PRIVATE KEY');
    expect(stderr).not.toContain(env.pki.operatorAdmin.keyPem.split('\n')[1]!);
  });
});
