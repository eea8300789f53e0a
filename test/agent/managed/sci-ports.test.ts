/**
 * The managed agent's ports share one SciPorts: two desired ports on interfaces with the same MAC
 * (VLAN sub-interfaces of one NIC) get SCI ports 1 and 2, and secure with a third participant.
 */
import { credentials } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { Agent } from '../../../src/agent/managed/agent.js';
import { silentLogger } from '../../../src/common/log.js';
import { DesiredPort } from '../../../src/control/gen/macsec/v1/agent.js';
import { PortMode, PortState } from '../../../src/control/gen/macsec/v1/types.js';
import { MemoryHub } from '../../../src/link/memory.js';
import { defaultKayFactory } from '../../../src/port/driver.js';
import { RecordingSecy } from '../../../src/secy/recording.js';

const cak = Buffer.from('135bd758b0ee5c11c55ff6ab19fdb199', 'hex');
const ckn = Buffer.from('96437a93ccf10d9dfe347846cce52c7d', 'hex');

function agent(id: string, hub: MemoryHub, macOf: (iface: string) => Uint8Array, secyPorts: Map<string, number | undefined>): Agent {
  return new Agent({
    id,
    managerAddress: '127.0.0.1:1', // never dialled: the test calls reconcile() itself
    credentials: credentials.createInsecure(),
    interfaces: [],
    log: silentLogger,
    kayFactory: defaultKayFactory,
    secyFactory: (spec) => {
      secyPorts.set(`${id}/${spec.interface}`, spec.sciPort);
      return { secy: new RecordingSecy(), ifname: `ms-${spec.interface}` };
    },
    linkFactory: hub.factory(),
    lanOf: () => 'lan', // one segment for all three ports
    macOf,
    mka: { helloTimeMs: 200 },
  });
}

const desired = (agentId: string, iface: string) =>
  DesiredPort.fromPartial({
    portId: `${agentId}/${iface}`,
    interface: iface,
    mode: PortMode.PORT_MODE_PSK,
    policy: { keyServerPriority: 16 },
    channelId: 'ch-1',
    psk: { cak, ckn },
    fingerprint: `${agentId}/${iface}`,
  });

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('managed agent: SCI port identifiers', () => {
  it('two ports with one MAC get SCI ports 1 and 2 and a key server is elected with a third participant', async () => {
    const hub = new MemoryHub();
    const secyPorts = new Map<string, number | undefined>();
    const a = agent('a', hub, () => Uint8Array.of(2, 0, 0, 0, 0, 0xa), secyPorts);
    const c = agent('c', hub, () => Uint8Array.of(2, 0, 0, 0, 0, 0xc), secyPorts);
    try {
      await a.reconcile({ revision: 1, ports: [desired('a', 'eth1.10'), desired('a', 'eth1.20')] });
      await c.reconcile({ revision: 1, ports: [desired('c', 'eth1')] });
      const ports = () => [...a.ports.values(), ...c.ports.values()];
      await until('all secured', () => ports().every((p) => p.status().state === PortState.PORT_STATE_SECURED));
      expect(Object.fromEntries(secyPorts)).toEqual({ 'a/eth1.10': 1, 'a/eth1.20': 2, 'c/eth1': 1 });
      const live = (id: string) =>
        ports()
          .find((p) => p.id === id)!
          .status()
          .livePeers.map((l) => l.sci)
          .sort();
      expect(live('c/eth1')).toEqual(['02000000000a0001', '02000000000a0002']);
      expect(live('a/eth1.10')).toEqual(['02000000000a0002', '02000000000c0001']);
      expect(
        ports()
          .filter((p) => p.status().keyServer)
          .map((p) => p.id),
      ).toEqual(['a/eth1.10']);

      // A replaced port gives its identifier back; the new runtime of eth1.20 gets 2 again.
      await a.reconcile({ revision: 2, ports: [desired('a', 'eth1.10'), { ...desired('a', 'eth1.20'), fingerprint: 'changed' }] });
      expect(secyPorts.get('a/eth1.20')).toBe(2);
    } finally {
      await a.stop();
      await c.stop();
    }
  });
});
