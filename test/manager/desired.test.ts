/** Desired state and port fingerprints (src/manager/desired.ts): pure, so checked without agents. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PortMode, type PortPolicy, PortState } from '../../src/control/gen/macsec/v1/types.js';
import { normalizePolicy } from '../../src/control/validate.js';
import { channelOfPort, desiredFor, desiredState, portFingerprint, type Orphan } from '../../src/manager/desired.js';
import { emptyStatus } from '../../src/manager/model.js';
import type { StoredChannel, StoredPort } from '../../src/manager/store/store.js';

/** The defaults OpenPort fills in. */
const policy = (): PortPolicy => normalizePolicy('policy', undefined);

const port = (agentId: string, iface: string, mode = PortMode.PORT_MODE_PSK, over: Partial<StoredPort> = {}): StoredPort => ({
  id: `${agentId}/${iface}`,
  agentId,
  interface: iface,
  mode,
  policy: policy(),
  ovsBridge: '',
  radius: undefined,
  createdMs: 1,
  owner: '',
  ...over,
});

const channel = (id: string, endpoints: Array<[agent: string, port: string, vnf: string]>, over: Partial<StoredChannel> = {}): StoredChannel => ({
  id,
  name: id,
  endpoints: endpoints.map(([agentId, switchPort, vnfId]) => ({ agentId, switchPort, vnfId, vnfInterface: 'eth0' })),
  cak: new Uint8Array(16).fill(0xaa),
  ckn: new Uint8Array(16).fill(0xbb),
  keyId: 'k1',
  createdMs: 1,
  owner: '',
  requestId: '',
  generatedPsk: true,
  committed: true,
  ...over,
});

const shuffled = <T>(xs: readonly T[]) => fc.shuffledSubarray([...xs], { minLength: xs.length, maxLength: xs.length });

describe('desiredFor', () => {
  const ports = [port('a1', 'p1'), port('a1', 'p2', PortMode.PORT_MODE_EAP_EMBEDDED), port('a1', 'p3'), port('a2', 'p1')];
  const channels = [
    channel('ch-1', [
      ['a1', 'p1', 'vnf1'],
      ['a2', 'p1', 'vnf2'],
    ]),
    channel('ch-2', [['a1', 'p2', 'vnf3']]),
  ];

  it("gives an agent its own ports only, with its channel's key on PSK ports alone", () => {
    const d = desiredFor('a1', ports, channels);
    expect(d.map((p) => p.portId)).toEqual(['a1/p1', 'a1/p2', 'a1/p3']);
    const [psk, eap, free] = d;
    expect(psk).toMatchObject({ channelId: 'ch-1', allowedVnfIds: ['vnf1'], keepAsIs: false, mode: PortMode.PORT_MODE_PSK });
    expect(Buffer.from(psk!.psk!.cak)).toEqual(Buffer.from(channels[0]!.cak));
    expect(Buffer.from(psk!.psk!.ckn)).toEqual(Buffer.from(channels[0]!.ckn));
    // EAP ports derive their CAK from EAP: the channel key is never sent for them.
    expect(eap).toMatchObject({ channelId: 'ch-2', allowedVnfIds: ['vnf3'], psk: undefined });
    expect(free).toMatchObject({ channelId: '', allowedVnfIds: [], psk: undefined });
    for (const p of d) expect(p.fingerprint).toMatch(/^[0-9a-f]{32}$/);
  });

  it('does not depend on the order the channels are listed in', () => {
    const expected = desiredFor('a1', ports, channels);
    fc.assert(
      fc.property(shuffled(channels), (cs) => {
        expect(desiredFor('a1', ports, cs)).toEqual(expected);
      }),
    );
  });

  it('finds the channel of a port, or none', () => {
    expect(channelOfPort(channels, 'a2/p1')?.id).toBe('ch-1');
    expect(channelOfPort(channels, 'a1/p3')).toBeUndefined();
  });
});

describe('portFingerprint', () => {
  const p = port('a1', 'p1');
  const ch = channel('ch-1', [['a1', 'p1', 'vnf1']]);

  it('is stable under reordering of the configuration keys and ignores owner and creation time', () => {
    const base = portFingerprint(p, ch, ['vnf1']);
    fc.assert(
      fc.property(shuffled(Object.entries(p.policy)), fc.string(), fc.nat(), (entries, owner, createdMs) => {
        const reordered: StoredPort = { ...p, policy: Object.fromEntries(entries) as unknown as PortPolicy, owner, createdMs };
        expect(portFingerprint(reordered, ch, ['vnf1'])).toBe(base);
      }),
    );
  });

  it('changes with the key id, the channel, the VNFs and the configuration, but never with the key bytes', () => {
    const base = portFingerprint(p, ch, ['vnf1']);
    expect(portFingerprint(p, { ...ch, keyId: 'k2' }, ['vnf1'])).not.toBe(base);
    expect(portFingerprint(p, { ...ch, id: 'ch-2' }, ['vnf1'])).not.toBe(base);
    expect(portFingerprint(p, undefined, [])).not.toBe(base);
    expect(portFingerprint(p, ch, ['vnf2'])).not.toBe(base);
    expect(portFingerprint({ ...p, ovsBridge: 'br0' }, ch, ['vnf1'])).not.toBe(base);
    expect(portFingerprint({ ...p, policy: { ...p.policy, keyServerPriority: 1 } }, ch, ['vnf1'])).not.toBe(base);
    // Agents report fingerprints back: they must reveal nothing of the CAK.
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 32 }), (cak) => {
        expect(portFingerprint(p, { ...ch, cak }, ['vnf1'])).toBe(base);
      }),
    );
  });
});

describe('desiredState', () => {
  it("pins the agent's orphans as they run and leaves other agents' alone", () => {
    const orphans = new Map<string, Orphan>([
      ['a1/old', { agentId: 'a1', storeId: 's0', fingerprint: 'f'.repeat(32), status: emptyStatus(PortState.PORT_STATE_SECURED) }],
      ['a2/old', { agentId: 'a2', storeId: 's0', fingerprint: 'e'.repeat(32), status: emptyStatus(PortState.PORT_STATE_SECURED) }],
    ]);
    const ds = desiredState('a1', 7, [port('a1', 'p1')], [], orphans);
    expect(ds.revision).toBe(7);
    expect(ds.ports.map((p) => [p.portId, p.keepAsIs])).toEqual([
      ['a1/p1', false],
      ['a1/old', true],
    ]);
    expect(ds.ports[1]).toEqual({
      portId: 'a1/old',
      interface: 'old',
      mode: PortMode.PORT_MODE_UNSPECIFIED,
      policy: undefined,
      ovsBridge: '',
      radius: undefined,
      channelId: '',
      psk: undefined,
      allowedVnfIds: [],
      fingerprint: 'f'.repeat(32),
      keepAsIs: true,
      pskKeys: [],
    });
  });
});
