/** Operator request checks (src/manager/requests.ts): every failure names its field and echoes little. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MacsecError } from '../../src/common/errors.js';
import { CipherSuite, ConfidentialityOffset, PortMode, SecurePolicy } from '../../src/control/gen/macsec/v1/types.js';
import type { CreateChannelInput, Endpoint, OpenPortInput, UpdateChannelInput } from '../../src/manager/model.js';
import { checkChannelRef, checkCreateChannel, checkOpenPort, checkPortId, checkRekeyTarget, checkUpdateChannel } from '../../src/manager/requests.js';

/** The INVALID_ARGUMENT error `fn` throws. */
function invalid(fn: () => unknown): MacsecError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MacsecError);
    expect((e as MacsecError).code).toBe('invalid_argument');
    return e as MacsecError;
  }
  throw new Error('expected INVALID_ARGUMENT, nothing was thrown');
}

const open = (over: Partial<OpenPortInput> = {}): OpenPortInput => ({
  agentId: 'a1',
  interface: 'eth1',
  mode: PortMode.PORT_MODE_PSK,
  policy: undefined,
  ovsBridge: '',
  radius: undefined,
  ...over,
});
const endpoint = (agentId: string, switchPort: string, over: Partial<Endpoint> = {}): Endpoint => ({
  agentId,
  switchPort,
  vnfId: 'vnf1',
  vnfInterface: 'eth0',
  ...over,
});
const create = (over: Partial<CreateChannelInput> = {}): CreateChannelInput => ({
  name: 'c1',
  endpoints: [endpoint('a1', 'p1'), endpoint('a2', 'p1')],
  psk: undefined,
  waitSecured: false,
  waitTimeoutMs: 0,
  requestId: '',
  ...over,
});

describe('checkOpenPort', () => {
  it('fills in the policy defaults', () => {
    expect(checkOpenPort(open())).toEqual({
      agentId: 'a1',
      interface: 'eth1',
      mode: PortMode.PORT_MODE_PSK,
      policy: {
        cipherSuite: CipherSuite.CIPHER_SUITE_GCM_AES_128,
        keyServerPriority: 16,
        securePolicy: SecurePolicy.SECURE_POLICY_MUST_SECURE,
        replayWindow: 0,
        confidentialityOffset: ConfidentialityOffset.CONFIDENTIALITY_OFFSET_0,
        rekeyPeriodSeconds: 0,
      },
      ovsBridge: '',
      radius: undefined,
    });
  });

  it('names the bad field, checking them in request order', () => {
    expect(invalid(() => checkOpenPort(open({ agentId: '' }))).message).toBe('agent_id: is required');
    expect(invalid(() => checkOpenPort(open({ agentId: 'bad id', interface: '' }))).message).toMatch(/^agent_id: /);
    expect(invalid(() => checkOpenPort(open({ interface: 'a/b' }))).message).toMatch(/^interface: "a\/b" is not a valid interface name/);
    expect(invalid(() => checkOpenPort(open({ mode: PortMode.PORT_MODE_UNSPECIFIED }))).message).toMatch(/^mode: is required/);
    expect(invalid(() => checkOpenPort(open({ ovsBridge: 'br 0' }))).message).toMatch(/^ovs_bridge: /);
    const radius = { servers: ['10.0.0.1:1812'], sharedSecretRef: 's1', nasIdentifier: '' };
    expect(invalid(() => checkOpenPort(open({ radius }))).message).toBe('radius: is only allowed with PORT_MODE_EAP_RADIUS');
    expect(checkOpenPort(open({ mode: PortMode.PORT_MODE_EAP_RADIUS, radius })).radius).toEqual(radius);
  });
});

describe('checkOpenPort: confidentiality offset', () => {
  const offset = (confidentialityOffset: ConfidentialityOffset) =>
    open({ policy: { cipherSuite: 0, securePolicy: 0, replayWindow: 0, rekeyPeriodSeconds: 0, confidentialityOffset } });
  it('accepts 0, NONE (integrity only) and unspecified (0)', () => {
    expect(checkOpenPort(offset(ConfidentialityOffset.CONFIDENTIALITY_OFFSET_0)).policy.confidentialityOffset).toBe(
      ConfidentialityOffset.CONFIDENTIALITY_OFFSET_0,
    );
    expect(checkOpenPort(offset(ConfidentialityOffset.CONFIDENTIALITY_OFFSET_NONE)).policy.confidentialityOffset).toBe(
      ConfidentialityOffset.CONFIDENTIALITY_OFFSET_NONE,
    );
    expect(checkOpenPort(offset(ConfidentialityOffset.CONFIDENTIALITY_OFFSET_UNSPECIFIED)).policy.confidentialityOffset).toBe(
      ConfidentialityOffset.CONFIDENTIALITY_OFFSET_0,
    );
  });
  it('refuses 30 and 50, which the Linux SecY does not implement', () => {
    expect(invalid(() => checkOpenPort(offset(ConfidentialityOffset.CONFIDENTIALITY_OFFSET_30))).message).toBe(
      'policy.confidentiality_offset: 30 is not supported by the Linux MACsec driver (offset 0 or none only)',
    );
    expect(invalid(() => checkOpenPort(offset(ConfidentialityOffset.CONFIDENTIALITY_OFFSET_50))).message).toBe(
      'policy.confidentiality_offset: 50 is not supported by the Linux MACsec driver (offset 0 or none only)',
    );
  });
});

describe('checkPortId', () => {
  it('accepts <agent_id>/<interface> and nothing else', () => {
    expect(checkPortId('port_id', 'a1/eth1')).toBe('a1/eth1');
    expect(invalid(() => checkPortId('port_id', '')).message).toBe('port_id: is required');
    for (const bad of ['a1', 'a1/', '/eth1', 'a1/eth1/x'])
      expect(invalid(() => checkPortId('port_id', bad)).message).toMatch(/^port_id: .* is not <agent_id>\/<interface>$/);
    expect(invalid(() => checkPortId('port_id', 'a 1/eth1')).message).toMatch(/^port_id: .* is not an agent id/);
  });
});

describe('checkChannelRef', () => {
  it('takes ids and names, refuses other text', () => {
    expect(checkChannelRef('ch-0123abcd')).toBe('ch-0123abcd');
    expect(invalid(() => checkChannelRef('')).message).toBe('channel_id: is required');
    expect(invalid(() => checkChannelRef('../x')).message).toMatch(/^channel_id: .* is not a channel id or name$/);
  });
});

describe('checkCreateChannel', () => {
  it('keeps only the endpoint fields and parses a given key', () => {
    const withExtra = { ...endpoint('a1', 'p1'), extra: 'dropped' } as Endpoint;
    const spec = checkCreateChannel(create({ endpoints: [withExtra], psk: { cakHex: '00'.repeat(16), cknHex: 'ab:cd' } }));
    expect(spec.endpoints).toEqual([endpoint('a1', 'p1')]);
    expect(Buffer.from(spec.cak!).toString('hex')).toBe('00'.repeat(16));
    expect(Buffer.from(spec.ckn!).toString('hex')).toBe('abcd');
    expect(checkCreateChannel(create()).cak).toBeUndefined();
  });

  it('names the bad field', () => {
    expect(invalid(() => checkCreateChannel(create({ name: '' }))).message).toBe('name: is required');
    expect(invalid(() => checkCreateChannel(create({ requestId: 'has space' }))).message).toMatch(/^request_id: must match/);
    expect(invalid(() => checkCreateChannel(create({ endpoints: [] }))).message).toBe('endpoints: at least one endpoint is required');
    const many = Array.from({ length: 65 }, (_, i) => endpoint('a1', `p${i}`));
    expect(invalid(() => checkCreateChannel(create({ endpoints: many }))).message).toBe('endpoints: at most 64 endpoints');
    expect(checkCreateChannel(create({ endpoints: many.slice(0, 64) })).endpoints).toHaveLength(64);
    const twice = [endpoint('a1', 'p1'), endpoint('a2', 'p1'), endpoint('a1', 'p1', { vnfId: 'vnf2' })];
    expect(invalid(() => checkCreateChannel(create({ endpoints: twice }))).message).toBe("endpoints[2].switch_port: port 'a1/p1' appears twice");
    expect(invalid(() => checkCreateChannel(create({ endpoints: [endpoint('a1', 'p1', { vnfId: '' })] }))).message).toBe('endpoints[0].vnf_id: is required');
    // A CAK is 16 or 32 bytes (128- or 256-bit suites).
    expect(invalid(() => checkCreateChannel(create({ psk: { cakHex: '00'.repeat(24), cknHex: '01' } }))).message).toMatch(/^psk\.cak_hex: /);
  });

  it('never echoes more than a short prefix of a bad value', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 200, maxLength: 5000 }), (junk) => {
        const name = `-${junk}`; // never a valid name
        const e = invalid(() => checkCreateChannel(create({ name })));
        expect(e.message.startsWith('name: ')).toBe(true);
        expect(e.message.length).toBeLessThan(300);
      }),
    );
  });
});

describe('checkUpdateChannel', () => {
  const update = (over: Partial<UpdateChannelInput> = {}): UpdateChannelInput => ({
    channelId: 'c1',
    addEndpoints: [],
    removePortIds: [],
    waitSecured: false,
    waitTimeoutMs: 0,
    ...over,
  });

  it('keeps only the endpoint fields of the additions and the removals as given', () => {
    const extra = { ...endpoint('a3', 'p1'), junk: 1 } as Endpoint;
    expect(checkUpdateChannel(update({ addEndpoints: [extra], removePortIds: ['a1/p1'] }))).toEqual({
      channelId: 'c1',
      add: [endpoint('a3', 'p1')],
      remove: ['a1/p1'],
      waitSecured: false,
      waitTimeoutMs: 0,
    });
  });

  it('names the bad field', () => {
    const cases: Array<[Partial<UpdateChannelInput>, string | RegExp]> = [
      [{ channelId: '' }, 'channel_id: is required'],
      [{ channelId: 'no good' }, /^channel_id: 'no good' is not a channel id or name/],
      [{}, 'add_endpoints: nothing to change: give add_endpoints, remove_port_ids or both'],
      [{ addEndpoints: [endpoint('a1', 'p1', { vnfInterface: 'a/b' })] }, /^add_endpoints\[0\]\.vnf_interface: /],
      [{ addEndpoints: [endpoint('a1', 'p1'), endpoint('a1', 'p1')] }, "add_endpoints[1].switch_port: port 'a1/p1' appears twice"],
      [{ addEndpoints: Array.from({ length: 65 }, (_, i) => endpoint('a1', `p${i}`)) }, 'add_endpoints: at most 64 endpoints'],
      [{ removePortIds: ['a1'] }, /^remove_port_ids\[0\]: 'a1' is not <agent_id>\/<interface>/],
      [{ removePortIds: ['a1/p1', 'a1/p1'] }, "remove_port_ids[1]: port 'a1/p1' appears twice"],
      [{ removePortIds: Array.from({ length: 65 }, (_, i) => `a1/p${i}`) }, 'remove_port_ids: at most 64 port ids'],
      [
        { addEndpoints: [endpoint('a1', 'p1')], removePortIds: ['a1/p1'] },
        "remove_port_ids[0]: port 'a1/p1' is also in add_endpoints; a port is either added or removed",
      ],
    ];
    for (const [over, msg] of cases) {
      const m = invalid(() => checkUpdateChannel(update(over))).message;
      if (typeof msg === 'string') expect(m).toBe(msg);
      else expect(m).toMatch(msg);
    }
  });
});

describe('checkRekeyTarget', () => {
  it('wants exactly one of channel and port', () => {
    expect(checkRekeyTarget({ channelId: 'c1', portId: '' })).toEqual({ channelId: 'c1' });
    expect(checkRekeyTarget({ channelId: '', portId: 'a1/p1' })).toEqual({ portId: 'a1/p1' });
    for (const both of [
      { channelId: '', portId: '' },
      { channelId: 'c1', portId: 'a1/p1' },
    ])
      expect(invalid(() => checkRekeyTarget(both)).message).toBe('channel_id: exactly one of channel_id or port_id is required');
  });
});
