/**
 * EAP-TLS ports through the control plane: an agent with the embedded EAP server, a channel whose
 * endpoint names the VNF, and the VNF's 802.1X supplicant (EAP-TLS, our EapMkaPort) on the
 * simulated link. The channel secures only for the VNF the channel names.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { MemoryHub } from '../../src/link/memory.js';
import { RecordingSecy } from '../../src/secy/recording.js';
import type { Agent } from '../../src/agent/managed/agent.js';
import { createCa, issue } from '../../src/pki/pki.js';
import { EapMkaPort } from '../../src/port/eap-mka-port.js';
import { EapTlsPeer } from '../../src/eap/eaptls-peer.js';
import { silentLogger } from '../../src/common/log.js';
import { ChannelState, EventType } from '../../src/control/gen/macsec/v1/manager.js';
import { PortMode, PortState } from '../../src/control/gen/macsec/v1/types.js';
import { makePki, operator, rpcError, simAgent, startManager, waitFor, watch, type RunningManager, type TestPki } from '../support/harness.js';

describe('EAP-TLS authenticator ports (embedded EAP server)', () => {
  let pki: TestPki;
  let m: RunningManager;
  let agent: Agent;
  const hub = new MemoryHub();
  const eapCa = createCa({ commonName: 'VNF CA' });
  const server = issue(eapCa, { kind: 'manager', name: 'eap-server' });
  const vnfs: EapMkaPort[] = [];

  function vnf(name: string, lan: string, mac: number): EapMkaPort {
    const cert = issue(eapCa, { kind: 'agent', name });
    const link = Object.assign(hub.link(lan), { mac: Uint8Array.of(2, 0xee, 0, 0, 0, mac) });
    const p = new EapMkaPort({
      name,
      link,
      secy: new RecordingSecy(),
      role: 'supplicant',
      supplicant: {
        method: () => new EapTlsPeer({ identity: name, ca: eapCa.certPem, cert: cert.certPem, key: cert.keyPem, logger: () => {} }),
        pae: { identity: name, startPeriodMs: 300, heldPeriodMs: 60_000 },
      },
      mka: { helloTimeMs: 300, priority: 64 },
      log: silentLogger,
    });
    vnfs.push(p);
    return p;
  }

  beforeAll(async () => {
    pki = makePki();
    m = await startManager(pki);
    agent = simAgent(pki, 'a1', m.port, {
      hub,
      eap: { embedded: { ca: eapCa.certPem, cert: server.certPem, key: server.keyPem }, pae: { txPeriodMs: 300, quietPeriodMs: 300 } },
    });
    await waitFor(() => m.manager.connectedAgentIds().length === 1, 'agent');
  });
  afterAll(async () => {
    for (const v of vnfs) await v.stop();
    await agent.stop();
    await m.stop();
    pki.cleanup();
  });

  it('advertises eap-embedded (not eap-radius, which needs secrets) and opens the port', async () => {
    const admin = operator(pki, 'alice', m.port);
    expect((await admin.getAgent('a1')).capabilities).toEqual(['eap-embedded', 'psk', 'psk-key-chain']);
    const e = await rpcError(
      admin.openPort({ agentId: 'a1', interface: 'eth2', mode: PortMode.PORT_MODE_EAP_RADIUS, radius: { servers: ['127.0.0.1:1812'], sharedSecretRef: 'r1' } }),
    );
    expect(e.code).toBe(status.FAILED_PRECONDITION);
    const p = await admin.openPort({ agentId: 'a1', interface: 'eth1', mode: PortMode.PORT_MODE_EAP_EMBEDDED, policy: { keyServerPriority: 1 } });
    expect(p.status!.state).toBe(PortState.PORT_STATE_READY);
    expect(p.status!.detail).toMatch(/no secure channel/);
    admin.close();
  });

  it('the VNF named by the channel authenticates with EAP-TLS and the channel secures', async () => {
    const admin = operator(pki, 'alice', m.port);
    const w = watch(admin);
    const r = await admin.createSecureChannel({ name: 'eap', endpoints: [{ agentId: 'a1', switchPort: 'eth1', vnfId: 'vnf-a', vnfInterface: 'eth0' }] });
    expect(r.generatedPsk).toBeUndefined(); // EAP ports derive their CAK from EAP
    expect(r.channel!.state).toBe(ChannelState.CHANNEL_STATE_READY);
    await vnf('vnf-a', 'lan-eth1', 1).start();
    const c = await waitFor(async () => {
      const x = await admin.getSecureChannel('eap');
      return x.state === ChannelState.CHANNEL_STATE_SECURED ? x : undefined;
    }, 'EAP channel secured');
    const st = c.endpointStatus[0]!.status!;
    expect(st.detail).toBe('secured; supplicant vnf-a');
    expect(st.livePeers).toHaveLength(1);
    expect(st.keyServer).toBe(true);
    await waitFor(() => w.events.some((e) => e.type === EventType.EVENT_TYPE_PORT_AUTHENTICATED && e.attributes.identity === 'vnf-a'), 'PORT_AUTHENTICATED');
    const rk = await admin.forceRekey({ channelId: 'eap' });
    expect(rk.results[0]!.ok).toBe(true);
    w.close();
    admin.close();
  });

  it('a VNF the channel does not name is refused', async () => {
    const admin = operator(pki, 'alice', m.port);
    await admin.openPort({ agentId: 'a1', interface: 'eth2', mode: PortMode.PORT_MODE_EAP_EMBEDDED });
    await admin.createSecureChannel({ name: 'eap2', endpoints: [{ agentId: 'a1', switchPort: 'eth2', vnfId: 'vnf-b', vnfInterface: 'eth0' }] });
    const intruder = vnf('vnf-x', 'lan-eth2', 2);
    await intruder.start();
    await waitFor(() => intruder.status().failures >= 1 || /not authorized/.test(agent.ports.get('a1/eth2')!.status().detail), 'rejection');
    await new Promise((r) => setTimeout(r, 500));
    const c = await admin.getSecureChannel('eap2');
    expect(c.state).not.toBe(ChannelState.CHANNEL_STATE_SECURED);
    expect(c.endpointStatus[0]!.status!.state).not.toBe(PortState.PORT_STATE_SECURED);
    expect(intruder.status().authorized).toBe(false);
    admin.close();
  });
});
