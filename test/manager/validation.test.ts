/** Bad requests: INVALID_ARGUMENT / NOT_FOUND / FAILED_PRECONDITION with a message naming the field; nothing changes. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status, type ServiceError } from '@grpc/grpc-js';
import type { ManagerApi } from '../../src/control/client.js';
import { CipherSuite, PortMode } from '../../src/control/gen/macsec/v1/types.js';
import type { Agent } from '../../src/agent/managed/agent.js';
import { makePki, operator, rpcError, simAgent, startManager, waitFor, type RunningManager, type TestPki } from '../support/harness.js';

describe('request validation', () => {
  let pki: TestPki;
  let m: RunningManager;
  let admin: ManagerApi;
  let agent: Agent;
  const snapshot = () => JSON.stringify({ p: m.store.listPorts(), c: m.store.listChannels().map((c) => c.id) });

  beforeAll(async () => {
    pki = makePki();
    m = await startManager(pki);
    admin = operator(pki, 'alice', m.port);
    agent = simAgent(pki, 'a1', m.port);
    await waitFor(() => m.manager.connectedAgentIds().length === 1, 'agent');
    await admin.openPort({ agentId: 'a1', interface: 'eth1', mode: PortMode.PORT_MODE_PSK });
  });
  afterAll(async () => {
    admin.close();
    await agent.stop();
    await m.stop();
    pki.cleanup();
  });

  const expectErr = async (p: Promise<unknown>, code: status, field: RegExp) => {
    const before = snapshot();
    const e: ServiceError = await rpcError(p);
    expect(status[e.code], e.details).toBe(status[code]);
    expect(e.details).toMatch(field);
    expect(snapshot()).toBe(before);
  };
  const psk = PortMode.PORT_MODE_PSK;
  const ep = (o: Record<string, string> = {}) => ({ agentId: 'a1', switchPort: 'eth1', vnfId: 'vnf1', vnfInterface: 'eth0', ...o });

  it('agents: unknown and malformed ids', async () => {
    await expectErr(admin.getAgent('nobody'), status.NOT_FOUND, /^agent_id: agent 'nobody' is not known/);
    await expectErr(admin.getAgent('bad id'), status.INVALID_ARGUMENT, /^agent_id: /);
    await expectErr(admin.getAgent(''), status.INVALID_ARGUMENT, /^agent_id: is required/);
  });

  it('OpenPort: unknown agent, bad interface names, missing mode', async () => {
    await expectErr(admin.openPort({ agentId: 'nobody', interface: 'eth1', mode: psk }), status.NOT_FOUND, /^agent_id: agent 'nobody' is not known/);
    await expectErr(
      admin.openPort({ agentId: 'a1', interface: 'eth0;reboot', mode: psk }),
      status.INVALID_ARGUMENT,
      /^interface: "eth0;reboot" is not a valid interface name/,
    );
    await expectErr(admin.openPort({ agentId: 'a1', interface: 'averyveryverylongname', mode: psk }), status.INVALID_ARGUMENT, /^interface: /);
    await expectErr(admin.openPort({ agentId: 'a1', interface: '../etc', mode: psk }), status.INVALID_ARGUMENT, /^interface: /);
    await expectErr(admin.openPort({ agentId: 'a1', interface: 'eth9', mode: psk }), status.NOT_FOUND, /^interface: agent 'a1' has no interface 'eth9'/);
    await expectErr(admin.openPort({ agentId: 'a1', interface: 'eth2' }), status.INVALID_ARGUMENT, /^mode: is required/);
    await expectErr(admin.openPort({ agentId: 'a1', interface: 'eth2', mode: psk, ovsBridge: 'br 0' }), status.INVALID_ARGUMENT, /^ovs_bridge: /);
    await expectErr(
      admin.openPort({ agentId: 'a1', interface: 'eth2', mode: psk, ovsBridge: 'br0' }),
      status.FAILED_PRECONDITION,
      /^ovs_bridge: agent 'a1' has no Open vSwitch configured/,
    );
  });

  it('OpenPort: invalid policy values name the policy field', async () => {
    const open = (policy: object) => admin.openPort({ agentId: 'a1', interface: 'eth2', mode: psk, policy });
    await expectErr(open({ keyServerPriority: 256 }), status.INVALID_ARGUMENT, /^policy.key_server_priority: 256 is outside 0..255/);
    await expectErr(open({ rekeyPeriodSeconds: 5 }), status.INVALID_ARGUMENT, /^policy.rekey_period_seconds: /);
    await expectErr(open({ cipherSuite: 42 }), status.INVALID_ARGUMENT, /^policy.cipher_suite: unknown cipher suite 42/);
    await expectErr(open({ confidentialityOffset: 9 }), status.INVALID_ARGUMENT, /^policy.confidentiality_offset: /);
    await expectErr(open({ cipherSuite: CipherSuite.CIPHER_SUITE_GCM_AES_XPN_128, replayWindow: 2 ** 31 }), status.INVALID_ARGUMENT, /^policy.replay_window: /);
  });

  it('OpenPort: EAP modes are refused (FAILED_PRECONDITION) by an agent without EAP configuration', async () => {
    await expectErr(admin.openPort({ agentId: 'a1', interface: 'eth2', mode: PortMode.PORT_MODE_EAP_RADIUS }), status.INVALID_ARGUMENT, /^radius.servers: /);
    await expectErr(
      admin.openPort({
        agentId: 'a1',
        interface: 'eth2',
        mode: PortMode.PORT_MODE_EAP_RADIUS,
        radius: { servers: ['10.0.0.1:1812'], sharedSecretRef: 'radius1' },
      }),
      status.FAILED_PRECONDITION,
      /^mode: PORT_MODE_EAP_RADIUS is not available on agent 'a1' \(the agent has no RADIUS shared secrets configured/,
    );
    await expectErr(
      admin.openPort({ agentId: 'a1', interface: 'eth2', mode: PortMode.PORT_MODE_EAP_EMBEDDED }),
      status.FAILED_PRECONDITION,
      /^mode: PORT_MODE_EAP_EMBEDDED is not available on agent 'a1' \(the agent has no embedded EAP-TLS server configured/,
    );
    await expectErr(
      admin.openPort({ agentId: 'a1', interface: 'eth1', mode: psk, policy: { keyServerPriority: 1 } }),
      status.ALREADY_EXISTS,
      /^interface: port 'a1\/eth1' is already open with a different configuration/,
    );
  });

  it('ports: malformed and unknown port ids', async () => {
    await expectErr(admin.getPort('a1-eth1'), status.INVALID_ARGUMENT, /^port_id: 'a1-eth1' is not <agent_id>\/<interface>/);
    await expectErr(admin.getPort('a1/eth2'), status.NOT_FOUND, /^port_id: port 'a1\/eth2' is not open/);
    await expectErr(admin.closePort({ portId: 'a1/eth2' }), status.NOT_FOUND, /^port_id: /);
    expect(await admin.closePort({ portId: 'a1/eth2', allowMissing: true })).toEqual({ existed: false });
  });

  it('CreateSecureChannel: names the bad endpoint field', async () => {
    await expectErr(admin.createSecureChannel({ name: '', endpoints: [ep()] }), status.INVALID_ARGUMENT, /^name: is required/);
    await expectErr(admin.createSecureChannel({ name: 'bad name!', endpoints: [ep()] }), status.INVALID_ARGUMENT, /^name: /);
    await expectErr(admin.createSecureChannel({ name: 'c1', endpoints: [] }), status.INVALID_ARGUMENT, /^endpoints: at least one/);
    await expectErr(
      admin.createSecureChannel({ name: 'c1', endpoints: [ep(), ep({ switchPort: 'eth2', vnfId: 'no good' })] }),
      status.INVALID_ARGUMENT,
      /^endpoints\[1\].vnf_id: /,
    );
    await expectErr(
      admin.createSecureChannel({ name: 'c1', endpoints: [ep({ vnfInterface: 'a/b' })] }),
      status.INVALID_ARGUMENT,
      /^endpoints\[0\].vnf_interface: /,
    );
    await expectErr(
      admin.createSecureChannel({ name: 'c1', endpoints: [ep(), ep()] }),
      status.INVALID_ARGUMENT,
      /^endpoints\[1\].switch_port: port 'a1\/eth1' appears twice/,
    );
    await expectErr(
      admin.createSecureChannel({ name: 'c1', endpoints: [ep({ agentId: 'zz' })] }),
      status.NOT_FOUND,
      /^endpoints\[0\].agent_id: agent 'zz' is not known/,
    );
    await expectErr(
      admin.createSecureChannel({ name: 'c1', endpoints: [ep({ switchPort: 'eth2' })] }),
      status.FAILED_PRECONDITION,
      /^endpoints\[0\].switch_port: no open port 'eth2' on agent 'a1'/,
    );
    await expectErr(
      admin.createSecureChannel({ name: 'c1', endpoints: [ep()], psk: { cakHex: 'abcd', cknHex: '01' } }),
      status.INVALID_ARGUMENT,
      /^psk.cak_hex: must be 16 or 32 octets \(got 2\)/,
    );
    await expectErr(
      admin.createSecureChannel({ name: 'c1', endpoints: [ep()], psk: { cakHex: 'zz'.repeat(16), cknHex: '01' } }),
      status.INVALID_ARGUMENT,
      /^psk.cak_hex: is not a hex string/,
    );
  });

  it('channels and rekey: unknown ids and missing selectors', async () => {
    await expectErr(admin.getSecureChannel('nope'), status.NOT_FOUND, /^channel_id: secure channel 'nope' does not exist/);
    await expectErr(admin.deleteSecureChannel({ channelId: 'nope' }), status.NOT_FOUND, /^channel_id: /);
    expect(await admin.deleteSecureChannel({ channelId: 'nope', allowMissing: true })).toEqual({ existed: false });
    await expectErr(admin.forceRekey({}), status.INVALID_ARGUMENT, /^channel_id: exactly one of channel_id or port_id/);
    await expectErr(admin.forceRekey({ channelId: 'nope' }), status.NOT_FOUND, /^channel_id: /);
    await expectErr(admin.forceRekey({ portId: 'a1/eth1' }), status.FAILED_PRECONDITION, /^port_id: port a1\/eth1 runs no MKA session/);
  });

  it('ClosePort refuses a port that a channel uses', async () => {
    await admin.openPort({ agentId: 'a1', interface: 'eth2', mode: psk });
    const c = await admin.createSecureChannel({ name: 'c2', endpoints: [ep({ switchPort: 'eth2' })] });
    await expectErr(admin.closePort({ portId: 'a1/eth2' }), status.FAILED_PRECONDITION, /^port_id: port 'a1\/eth2' is used by secure channel 'c2'/);
    await admin.deleteSecureChannel({ channelId: c.channel!.id });
    expect(await admin.closePort({ portId: 'a1/eth2' })).toEqual({ existed: true });
  });
});
