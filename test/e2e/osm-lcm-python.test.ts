/**
 * The adapter driven by a client that behaves like OSM's LCM, written in Python on Debian's
 * python3-grpcio + python3-yaml (test/support/osm/lcm_client.py). The manager behind the adapter is the
 * in-test ManagerServiceTestDouble (same macsec.v1 API, mTLS and operator authorization).
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findPython, lcm, setup, tlsArgs, type Env } from '../support/osm/fixture.js';

const VNFD = fileURLToPath(new URL('../../deploy/osm/macsec_vnf/macsec_vnfd.yaml', import.meta.url));
const INSTANTIATE = fileURLToPath(new URL('../../deploy/osm/instantiate-params.yaml', import.meta.url));

let env: Env;
let python: string;
let dual: number; // mTLS only (TLS configured)
let mixed: number; // mTLS + plaintext on one port (--allow-plaintext), manager fixed by the deployment
let plainOnly: number; // no TLS material, --allow-plaintext
let enforced: number;

const configParams = () => ({
  manager_address: env.managerAddress,
  ca_cert: env.pki.macsecCa.certPem,
  client_cert: env.pki.orchestrator.certPem,
  client_key: env.pki.orchestrator.keyPem,
  // What a VNFD's config primitive usually carries for LCM; the EE ignores it.
  'ssh-hostname': '10.0.0.5',
});
const channelParams = (name: string) => ({
  channel_name: name,
  agent_id: 'nn1',
  vnf_id: 'vnf1',
  switch_ports: ['vp1', 'vp2'],
  vnf_interfaces: ['eth1', 'eth2'],
  timeout_seconds: 30,
});

beforeAll(async () => {
  python = findPython();
  env = await setup();
  dual = (await env.startEe()).port;
  // A pre-TLS deployment: the manager and the credentials come from the chart (mounted files).
  const defaults = { managerAddress: env.managerAddress, caPath: env.files.macsecCa, certPath: env.files.opCert, keyPath: env.files.opKey };
  mixed = (await env.startEe({ allowPlaintext: true, defaults })).port;
  plainOnly = (await env.startEe({ mtls: false, defaults })).port;
  enforced = (await env.startEe({ allowPlaintext: false })).port;
});
afterAll(async () => env?.close());

const addr = (p: number) => ['--address', `localhost:${p}`];
/** What a VNFD's config names when the chart mounts the credentials (the deployment's own values). */
const mountedConfig = () => ({
  manager_address: env.managerAddress,
  ca_cert_path: env.files.macsecCa,
  client_cert_path: env.files.opCert,
  client_key_path: env.files.opKey,
  'ssh-hostname': '10.0.0.5',
});

describe('LCM-like Python client against the OSM execution environment', () => {
  it('runs the day-1 sequence over mutual TLS and every last reply is OK', async () => {
    const r = await lcm(python, [
      ...addr(dual),
      ...tlsArgs(env.files),
      'day1',
      '--config-json',
      JSON.stringify(configParams()),
      '--channel-json',
      JSON.stringify(channelParams('ns1-vnf1')),
    ]);
    expect(r.code, r.stderr + JSON.stringify(r.results)).toBe(0);
    expect(r.results.map((x) => [x.primitive, x.status, x.transport, x.passed])).toEqual([
      ['config', 'OK', 'mtls', true],
      ['health-check', 'OK', 'mtls', true],
      ['create-secure-channel', 'OK', 'mtls', true],
    ]);
    const [config, health, create] = r.results;
    expect(config!.detailed_message).toMatch(
      /^configured: manager localhost:\d+ as operator:orchestrator:osm \(certificate valid until .+\); manager reachable \(\d+ secure channels?\)$/,
    );
    expect(health!.detailed_message).toContain('transport mtls');
    // PROCESSING first, the final OK only after the manager acknowledged.
    expect(create!.replies![0]).toMatch(/^PROCESSING: creating secure channel 'ns1-vnf1' with 2 endpoints/);
    expect(create!.detailed_message).toMatch(
      /^created: secure channel 'ns1-vnf1' \(id ch-\d+\) is READY; endpoints: nn1\/vp1 <-> vnf1:eth1 AUTHENTICATING, nn1\/vp2 <-> vnf1:eth2 AUTHENTICATING/,
    );
    const call = env.manager.calls.find((c) => c.method === 'CreateSecureChannel');
    expect(call?.principal).toBe('orchestrator:osm');
    expect(env.manager.channels.get('ns1-vnf1')?.endpoints).toEqual([
      { agentId: 'nn1', switchPort: 'vp1', vnfId: 'vnf1', vnfInterface: 'eth1' },
      { agentId: 'nn1', switchPort: 'vp2', vnfId: 'vnf1', vnfInterface: 'eth2' },
    ]);
  });

  it('mTLS only by default: plaintext gets no connection, and plaintext credentials are never accepted', async () => {
    const r = await lcm(python, [...addr(dual), '--retry-seconds', '0', 'run', 'health-check']);
    expect(r.code).toBe(1);
    expect(r.results[0]!.detailed_message).toMatch(/^gRPC error UNAVAILABLE/);
    // With --allow-plaintext, a plaintext config carrying credentials is refused.
    const inline = await lcm(python, [...addr(mixed), 'run', 'config', '--params-json', JSON.stringify(configParams())]);
    expect(inline.code).toBe(1);
    expect(inline.results[0]!.detailed_message).toMatch(
      /^config: parameters ca_cert, client_cert, client_key: unauthenticated \(plaintext\) callers may not hand over credentials/,
    );
  });

  it('--allow-plaintext: day-1 over plaintext with the manager from the deployment, and a repeated day-1 is idempotent', async () => {
    const args = [...addr(mixed), 'day1', '--config-json', JSON.stringify(mountedConfig()), '--channel-json', JSON.stringify(channelParams('ns2-vnf1'))];
    const first = await lcm(python, args);
    expect(first.code, first.stderr + JSON.stringify(first.results)).toBe(0);
    expect(first.results.map((x) => [x.primitive, x.status, x.transport])).toEqual([
      ['config', 'OK', 'plaintext'],
      ['health-check', 'OK', 'plaintext'],
      ['create-secure-channel', 'OK', 'plaintext'],
    ]);
    expect(first.results[1]!.detailed_message).toContain('transport plaintext');
    // LCM retries whole primitives: the same day-1 again changes nothing and still passes.
    const again = await lcm(python, args);
    expect(again.code).toBe(0);
    expect(again.results[0]!.detailed_message).toMatch(/^already configured/);
    expect(first.results[0]!.detailed_message).toMatch(/^configured: manager localhost:\d+ as operator:orchestrator:osm/);
    expect(again.results[2]!.detailed_message).toMatch(/^already present: secure channel 'ns2-vnf1'/);
    expect(env.manager.calls.filter((c) => c.method === 'CreateSecureChannel' && (c.request as { name: string }).name === 'ns2-vnf1')).toHaveLength(2);
  });

  it('falls back from TLS to plaintext like LCM when the EE has no certificate', async () => {
    const r = await lcm(python, [
      ...addr(plainOnly),
      ...tlsArgs(env.files),
      'day1',
      '--config-json',
      JSON.stringify(mountedConfig()),
      '--channel-json',
      JSON.stringify(channelParams('ns3-vnf1')),
    ]);
    expect(r.code, r.stderr + JSON.stringify(r.results)).toBe(0);
    expect(r.results.map((x) => x.transport)).toEqual(['plaintext', 'plaintext', 'plaintext']);
  });

  it('with TLS (enforced, the default), plaintext fails and mTLS passes', async () => {
    const plain = await lcm(python, [...addr(enforced), '--retry-seconds', '0', 'run', 'health-check']);
    expect(plain.code).toBe(1);
    expect(plain.results[0]!.detailed_message).toMatch(/^gRPC error UNAVAILABLE/);
    const tls = await lcm(python, [...addr(enforced), ...tlsArgs(env.files), '--tls-enforce', 'run', 'health-check']);
    expect(tls.code).toBe(0);
    expect(tls.results[0]!.transport).toBe('mtls');
  });

  it('block-style yaml.dump params work too', async () => {
    const r = await lcm(python, [
      ...addr(dual),
      ...tlsArgs(env.files),
      '--block-style',
      'day1',
      '--config-json',
      JSON.stringify(configParams()),
      '--channel-json',
      JSON.stringify(channelParams('ns4-vnf1')),
    ]);
    expect(r.code, JSON.stringify(r.results)).toBe(0);
  });

  it('an unknown primitive name gives a single ERROR reply naming the known ones', async () => {
    const r = await lcm(python, [...addr(dual), ...tlsArgs(env.files), 'run', 'create-secure-chanel', '--params-json', '{"channel_name": "x"}']);
    expect(r.code).toBe(1);
    expect(r.results[0]!.replies).toHaveLength(1);
    expect(r.results[0]!.status).toBe('ERROR');
    expect(r.results[0]!.detailed_message).toBe(
      "unknown primitive 'create-secure-chanel'; this execution environment runs: config, health-check, create-secure-channel, update-secure-channel, channel-status, delete-secure-channel, force-rekey, add-channel-key, retire-channel-key",
    );
  });

  it('malformed YAML params give a single ERROR reply saying where', async () => {
    for (const [name, raw] of [
      ['create-secure-channel', '{channel_name: ns1-vnf1, endpoints: [\n'],
      ['config', 'manager_address: "unterminated\n'],
      ['channel-status', 'a: 1\na: 2\n'],
    ] as const) {
      const r = await lcm(python, [...addr(plainOnly), 'run', name, '--params-raw', raw]);
      expect(r.code).toBe(1);
      expect(r.results[0]!.replies).toHaveLength(1);
      expect(r.results[0]!.status).toBe('ERROR');
      expect(r.results[0]!.detailed_message).toMatch(new RegExp(`^${name}: params is not valid YAML: .+`));
    }
  });

  it('bad parameter values give an ERROR naming the parameter', async () => {
    const bad = { ...channelParams('ns5-vnf1'), switch_ports: ['vp1', 'not an if'] };
    const r = await lcm(python, [...addr(dual), ...tlsArgs(env.files), 'run', 'create-secure-channel', '--params-json', JSON.stringify(bad)]);
    expect(r.code).toBe(1);
    expect(r.results[0]!.detailed_message).toBe(
      `create-secure-channel: parameter 'switch_ports[1]' "not an if" must be an interface name (1-15 characters [A-Za-z0-9_.@-], not starting with . - or @)`,
    );
    const unknownAgent = { ...channelParams('ns6-vnf1'), agent_id: 'unknown-agent' };
    const r2 = await lcm(python, [...addr(dual), ...tlsArgs(env.files), 'run', 'create-secure-channel', '--params-json', JSON.stringify(unknownAgent)]);
    expect(r2.results[0]!.status).toBe('ERROR');
    expect(r2.results[0]!.detailed_message).toBe(
      "create-secure-channel: manager CreateSecureChannel failed: NOT_FOUND: endpoints[0].agent_id: agent 'unknown-agent' is not known",
    );
  });

  it('day-2: channel-status, delete-secure-channel (twice), status of a deleted channel', async () => {
    const st = await lcm(python, [...addr(dual), ...tlsArgs(env.files), 'run', 'channel-status', '--params-json', '{"channel_name": "ns1-vnf1"}']);
    expect(st.code).toBe(0);
    expect(st.results[0]!.detailed_message).toMatch(/^secure channel 'ns1-vnf1' \(id ch-\d+\) is READY/);
    for (const expected of [/^secure channel 'ns1-vnf1' deleted$/, /^secure channel 'ns1-vnf1' did not exist; nothing to delete$/]) {
      const d = await lcm(python, [...addr(dual), ...tlsArgs(env.files), 'run', 'delete-secure-channel', '--params-json', '{"channel_name": "ns1-vnf1"}']);
      expect(d.code).toBe(0);
      expect(d.results[0]!.detailed_message).toMatch(expected);
    }
    const gone = await lcm(python, [...addr(dual), ...tlsArgs(env.files), 'run', 'channel-status', '--params-json', '{"channel_name": "ns1-vnf1"}']);
    expect(gone.code).toBe(1);
    expect(gone.results[0]!.detailed_message).toMatch(/^channel-status: no secure channel 'ns1-vnf1' on the manager/);
  });

  it('GetSshKey answers an empty string by default', async () => {
    const r = await lcm(python, [...addr(dual), ...tlsArgs(env.files), 'ssh-key']);
    expect(r.code).toBe(0);
    expect(r.results[0]).toMatchObject({ ssh_key: '', transport: 'mtls' });
  });

  it("runs the example VNFD's day-1 for both VNFs of the example NS: one shared channel", async () => {
    const inst = parse(readFileSync(INSTANTIATE, 'utf8')) as {
      additionalParamsForVnf: { 'member-vnf-index': string; additionalParams: Record<string, unknown> }[];
    };
    // The VNFD names the operator credentials by their path in the EE pod; here they are in the test dir.
    const pathMap = [
      '--path-map',
      `/etc/macsec-osm-ee/manager/ca.crt=${env.files.macsecCa}`,
      '--path-map',
      `/etc/macsec-osm-ee/manager/tls.crt=${env.files.opCert}`,
      '--path-map',
      `/etc/macsec-osm-ee/manager/tls.key=${env.files.opKey}`,
    ];
    const eeOf: Record<string, number> = { vnf1: (await env.startEe()).port, vnf2: (await env.startEe()).port };
    const outcome: string[] = [];
    for (const v of inst.additionalParamsForVnf) {
      const additional = { ...v.additionalParams, macsec_manager_address: env.managerAddress };
      const r = await lcm(python, [
        ...addr(eeOf[v['member-vnf-index']]!),
        ...tlsArgs(env.files),
        'vnfd-day1',
        '--vnfd',
        VNFD,
        '--additional-params-json',
        JSON.stringify(additional),
        ...pathMap,
      ]);
      expect(r.code, r.stderr + JSON.stringify(r.results)).toBe(0);
      expect(r.results.map((x) => [x.primitive, x.status, x.transport])).toEqual([
        ['config', 'OK', 'mtls'],
        ['health-check', 'OK', 'mtls'],
        ['create-secure-channel', 'OK', 'mtls'],
      ]);
      outcome.push(r.results[2]!.detailed_message!.split(':')[0]!);
    }
    expect(outcome).toEqual(['created', 'already present']);
    expect(env.manager.channels.get('demo')?.endpoints).toEqual([
      { agentId: 'nn1', switchPort: 'vp1', vnfId: 'vnf1', vnfInterface: 'eth1' },
      { agentId: 'nn1', switchPort: 'vp2', vnfId: 'vnf2', vnfInterface: 'eth1' },
    ]);
    // Both EEs opened the same two ports with the same spec (idempotent on the manager).
    expect([...env.manager.ports.keys()].sort()).toEqual(['nn1/vp1', 'nn1/vp2']);
    expect(JSON.parse(env.manager.ports.get('nn1/vp1')!)).toMatchObject({ mode: 2, ovsBridge: 'br-macsec' });
    expect(env.manager.calls.filter((c) => c.method === 'OpenPort')).toHaveLength(4);
    // NS termination: each VNF's terminate-config-primitive; the first deletes, the second finds nothing.
    const term: string[] = [];
    for (const v of inst.additionalParamsForVnf) {
      const r = await lcm(python, [
        ...addr(eeOf[v['member-vnf-index']]!),
        ...tlsArgs(env.files),
        'vnfd-day1',
        '--section',
        'terminate-config-primitive',
        '--vnfd',
        VNFD,
        '--additional-params-json',
        JSON.stringify(v.additionalParams),
      ]);
      expect(r.code, JSON.stringify(r.results)).toBe(0);
      term.push(r.results[0]!.detailed_message!);
    }
    expect(term).toEqual([
      "secure channel 'demo' deleted; closed ports nn1/vp1, nn1/vp2",
      "secure channel 'demo' did not exist; nothing to delete; no ports to close",
    ]);
    expect(env.manager.ports.size).toBe(0);
    expect(dirname(VNFD)).toMatch(/macsec_vnf$/);
  });

  it('reports which stubs it used', async () => {
    const r = await lcm(python, [...addr(dual), ...tlsArgs(env.files), 'run', 'health-check']);
    expect(['grpc_tools', 'hand-written descriptor']).toContain(r.results[0]!.stubs);
  });
});
