/**
 * The key chain primitives (src/osm/key-primitives.ts) within the EE's scope rules, against the
 * manager test double: an unauthenticated (plaintext) caller may not change the keys of a channel
 * this EE did not create, and nothing reaches the manager then; parameters are checked before
 * any call. (The primitives against the real manager: test/e2e/key-chain.test.ts.)
 */
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PortMode } from '../../src/control/gen/macsec/v1/types.js';
import { eeClient, runPrimitive } from '../support/osm/ee-client.js';
import { setup, type Env } from '../support/osm/fixture.js';

const y = (o: Record<string, unknown>) => stringify(o);
let env: Env;
let plain: ReturnType<typeof eeClient>;
let mtls: ReturnType<typeof eeClient>;

beforeAll(async () => {
  env = await setup();
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
  const ee = await env.startEe({ allowPlaintext: true });
  plain = eeClient(ee.port);
  mtls = eeClient(ee.port, env.lcmCreds());
  const cfg = { manager_address: env.managerAddress, ca_cert_path: env.files.macsecCa, client_cert_path: env.files.opCert, client_key_path: env.files.opKey };
  expect((await runPrimitive(mtls, 'config', y(cfg))).last!.status).toBe('OK');
});
afterAll(async () => env?.close());

describe('key chain primitives: scope and parameters', () => {
  it('a plaintext caller may not change the keys of a channel this EE did not create; nothing reaches the manager', async () => {
    const before = env.manager.calls.length;
    for (const [prim, params] of [
      ['add-channel-key', { channel_name: 'operator-ch' }],
      ['retire-channel-key', { channel_name: 'operator-ch' }],
      ['retire-channel-key', { channel_name: 'operator-ch', ckn: 'aabb', force: true }],
    ] as const) {
      const r = await runPrimitive(plain, prim, y(params));
      expect(r.last).toEqual({
        status: 'ERROR',
        detailedMessage: `${prim}: secure channel 'operator-ch' was not created by this execution environment; unauthenticated (plaintext) callers may change the keys of only channels it created`,
      });
    }
    expect(env.manager.calls.length).toBe(before);
  });

  it('checks its parameters before calling the manager', async () => {
    const before = env.manager.calls.length;
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['add-channel-key', {}, "add-channel-key: parameter 'channel_name' is required"],
      ['add-channel-key', { channel_name: 'c', start_in_seconds: -1 }, "add-channel-key: parameter 'start_in_seconds' must be >= 0, got -1"],
      [
        'add-channel-key',
        { channel_name: 'c', start_time: 'tomorrow' },
        `add-channel-key: parameter 'start_time' "tomorrow" must match an ISO 8601 time with zone, e.g. 2030-01-31T12:00:00Z`,
      ],
      [
        'add-channel-key',
        { channel_name: 'c', lifetime_seconds: 315_360_001 },
        "add-channel-key: parameter 'lifetime_seconds' must be <= 315360000, got 315360001",
      ],
      [
        'add-channel-key',
        { channel_name: 'c', request_id: 'a b' },
        `add-channel-key: parameter 'request_id' "a b" must match 1-128 characters [A-Za-z0-9._:-]`,
      ],
      ['retire-channel-key', { channel_name: 'c', wait_seconds: 4000 }, "retire-channel-key: parameter 'wait_seconds' must be <= 3600, got 4000"],
      ['retire-channel-key', { channel_name: 'c', ckn: 'abc' }, `retire-channel-key: parameter 'ckn' "abc" must match 1 to 32 octets in hex`],
    ];
    for (const [prim, params, msg] of cases) expect((await runPrimitive(mtls, prim, y(params))).last).toEqual({ status: 'ERROR', detailedMessage: msg });
    expect(env.manager.calls.length).toBe(before);
  });
});
