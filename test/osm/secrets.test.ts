/**
 * Defect: a malformed psk_cak_hex (e.g. "00:11:...:ff", a format the manager accepts) was echoed
 * in the ERROR reply (which LCM stores as detailed-status) and in the EE's log. No reply or log
 * line may carry a secret: the field and the rule are named, never the value. Other caller values
 * are echoed as a short prefix at most.
 */
import { status } from '@grpc/grpc-js';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/common/log.js';
import { ECHO_MAX } from '../../src/osm/params.js';
import { eeClient, runPrimitive } from '../support/osm/ee-client.js';
import { setup, type Env } from '../support/osm/fixture.js';

const y = (o: Record<string, unknown>) => stringify(o);
let env: Env;
let c: ReturnType<typeof eeClient>;
const lines: string[] = [];
beforeAll(async () => {
  env = await setup();
  const ee = await env.startEe({ logger: createLogger({}, { level: 'debug', write: (l) => lines.push(l) }) });
  c = eeClient(ee.port, env.lcmCreds());
  const cfg = {
    manager_address: env.managerAddress,
    ca_cert: env.pki.macsecCa.certPem,
    client_cert: env.pki.orchestrator.certPem,
    client_key: env.pki.orchestrator.keyPem,
  };
  expect((await runPrimitive(c, 'config', y(cfg))).last!.status).toBe('OK');
});
afterAll(async () => env?.close());

const octets = 'de:ad:be:ef:01:23:45:67:89:ab:cd:ef:fe:dc:ba:98';
const hexOf = (s: string) => s.replace(/:/g, '');
const base = { channel_name: 'k', agent_id: 'nn1', switch_ports: 'vp1' };

function expectNowhere(secret: string, replies: { detailedMessage: string }[]) {
  const forms = [secret, hexOf(secret), hexOf(secret).toUpperCase(), secret.slice(0, 20), hexOf(secret).slice(0, 16)];
  for (const f of forms) {
    for (const r of replies) expect(r.detailedMessage, 'reply').not.toContain(f);
    for (const l of lines) expect(l, 'log line').not.toContain(f);
  }
}

describe('secrets never appear in replies or logs', () => {
  it('a malformed psk_cak_hex is named with its rule, not echoed', async () => {
    const bad = `${octets}:zz`;
    const r = await runPrimitive(c, 'create-secure-channel', y({ ...base, psk_cak_hex: bad, psk_ckn_hex: 'ab'.repeat(16) }));
    expect(r.last).toEqual({
      status: 'ERROR',
      detailedMessage:
        "create-secure-channel: parameter 'psk_cak_hex' must be 16 or 32 octets in hex (separators space, : or - allowed) (the value is secret and not shown)",
    });
    const short = await runPrimitive(c, 'create-secure-channel', y({ ...base, psk_cak_hex: octets.slice(0, 23), psk_ckn_hex: 'ab'.repeat(16) }));
    expect(short.last!.detailedMessage).toMatch(/^create-secure-channel: parameter 'psk_cak_hex' must be 16 or 32 octets/);
    const ckn = await runPrimitive(c, 'create-secure-channel', y({ ...base, psk_cak_hex: octets, psk_ckn_hex: 'not-hex-ckn-value' }));
    expect(ckn.last!.detailedMessage).toMatch(/^create-secure-channel: parameter 'psk_ckn_hex' must be 1 to 32 octets .*not shown\)$/);
    expectNowhere(bad, [...r.replies, ...short.replies, ...ckn.replies]);
    expect(env.manager.calls.filter((x) => x.method === 'CreateSecureChannel')).toHaveLength(0);
  });

  it("the manager's separated format is accepted and passed on as plain hex", async () => {
    const r = await runPrimitive(c, 'create-secure-channel', y({ ...base, psk_cak_hex: octets, psk_ckn_hex: octets.toUpperCase() }));
    expect(r.last!.status, r.last!.detailedMessage).toBe('OK');
    expect((env.manager.calls.at(-1)!.request as { psk: { cakHex: string } }).psk.cakHex).toBe(hexOf(octets));
    expectNowhere(octets, r.replies);
  });

  it('a manager message quoting the key is scrubbed before it reaches the reply or the log', async () => {
    env.manager.failNext = { code: status.INVALID_ARGUMENT, message: `psk.cak_hex: ${hexOf(octets)} (${octets.toUpperCase()}) is weak`, count: 1 };
    const r = await runPrimitive(c, 'create-secure-channel', y({ ...base, channel_name: 'k2', psk_cak_hex: octets, psk_ckn_hex: 'ab'.repeat(16) }));
    expect(r.last!.status).toBe('ERROR');
    expect(r.last!.detailedMessage).toBe(
      'create-secure-channel: manager CreateSecureChannel failed: INVALID_ARGUMENT: psk.cak_hex: [redacted] ([redacted]) is weak',
    );
    expectNowhere(octets, r.replies);
  });

  it('YAML errors do not quote the offending token', async () => {
    const r = await runPrimitive(c, 'create-secure-channel', `{psk_cak_hex: a}}${hexOf(octets)}\n`);
    expect(r.last!.status).toBe('ERROR');
    expect(r.last!.detailedMessage).toMatch(/^create-secure-channel: params is not valid YAML: /);
    expectNowhere(octets, r.replies);
  });

  it('unbounded caller input is echoed as a short prefix only', async () => {
    const long = 'x'.repeat(10_000);
    const cases: [string, string][] = [
      [long, ''],
      ['create-secure-channel', y({ ...base, channel_name: long })],
      ['create-secure-channel', y({ ...base, switch_ports: `${long},vp1` })],
      ['channel-status', y({ channel_name: 'k', wait_seconds: long })],
      ['health-check', y({ check_manager: long })],
      ['health-check', y(Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`${long}${i}`, 1])))],
      ['create-secure-channel', y({ channel_name: 'k', endpoints: [{ agent_id: 'nn1', switch_port: 'vp1', [long]: 1 }] })],
      ['config', y({ manager_address: env.managerAddress, ca_cert_path: `/${long}`, client_cert_path: '/a', client_key_path: '/b' })],
    ];
    for (const [name, params] of cases) {
      const r = await runPrimitive(c, name, params);
      for (const rep of r.replies) expect(rep.detailedMessage.length, `${name.slice(0, 30)}: ${rep.detailedMessage.slice(0, 200)}`).toBeLessThan(1200);
      for (const rep of r.replies) expect(rep.detailedMessage).not.toContain('x'.repeat(ECHO_MAX + 1));
    }
    for (const l of lines) expect(l).not.toContain('x'.repeat(ECHO_MAX + 1));
  });
});
