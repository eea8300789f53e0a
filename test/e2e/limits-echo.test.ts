/**
 * Request input is echoed in status messages and log lines only as a short prefix
 * (`…(N chars)`): a 1 MB invalid field yields a short status and short log lines, whoever sends it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status, type ServiceError } from '@grpc/grpc-js';
import { clientCredentials, serverCredentials } from '../../src/control/tls.js';
import { createLogger } from '../../src/common/log.js';
import { echo } from '../../src/common/errors.js';
import { AgentServiceClient, type ManagerMessage } from '../../src/control/gen/macsec/v1/agent.js';
import { PortMode } from '../../src/control/gen/macsec/v1/types.js';
import type { Event } from '../../src/control/gen/macsec/v1/manager.js';
import { Manager } from '../../src/manager/manager.js';
import { SqliteStore } from '../../src/manager/store/sqlite.js';
import { startManagerServer, type ManagerServer } from '../../src/manager/server.js';
import type { Agent } from '../../src/agent/managed/agent.js';
import { makePki, operator, rpcError, simAgent, waitFor, type TestPki } from '../support/harness.js';

const MB = 1024 * 1024;
const big = (c: string) => c.repeat(MB);

describe('echoed request input is bounded', () => {
  let pki: TestPki;
  let store: SqliteStore;
  let manager: Manager;
  let srv: ManagerServer;
  let agent: Agent;
  const lines: string[] = [];

  beforeAll(async () => {
    pki = makePki();
    const log = createLogger({ component: 'manager' }, { level: 'debug', write: (l) => lines.push(l) });
    store = new SqliteStore(':memory:', { create: true });
    manager = new Manager(store, { id: 'mgr', ackTimeoutMs: 5000, log });
    srv = await startManagerServer(manager, serverCredentials(pki.material('mgr')), '127.0.0.1:0', log);
    agent = simAgent(pki, 'a1', srv.port);
    await waitFor(() => manager.connectedAgentIds().includes('a1'), 'agent');
  });
  afterAll(async () => {
    await agent.stop();
    srv.forceShutdown();
    store.close();
    pki.cleanup();
  });

  it('echo() keeps a short prefix and says how long the value was', () => {
    expect(echo('eth0')).toBe('"eth0"');
    const e = echo(big('x'));
    expect(e.length).toBeLessThan(100);
    expect(e).toContain(`…(${MB} chars)`);
    // Escapes count against the bound, and control characters never reach a log line raw.
    const ctl = echo('\u0000\n'.repeat(1000));
    expect(ctl.length).toBeLessThan(100);
    expect(ctl.includes('\u0000') || ctl.includes('\n')).toBe(false);
  });

  it('a 1 MB invalid field gives a short status on every operator method and short log lines', { timeout: 60_000 }, async () => {
    const bob = operator(pki, 'bob', srv.port);
    const alice = operator(pki, 'alice', srv.port);
    const ep = { agentId: 'a1', switchPort: 'eth1', vnfId: 'v', vnfInterface: 'eth0' };
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['GetAgent', () => bob.getAgent(big('q'))],
      ['GetPort no slash', () => bob.getPort(big('y'))],
      ['GetPort bad interface', () => bob.getPort(`a1/${big('z')}`)],
      ['GetSecureChannel', () => bob.getSecureChannel(big('c'))],
      ['ListPorts', () => bob.listPorts(big('l'))],
      ['OpenPort interface', () => alice.openPort({ agentId: 'a1', interface: big('i'), mode: PortMode.PORT_MODE_PSK })],
      ['OpenPort agent', () => alice.openPort({ agentId: big('a'), interface: 'eth1', mode: PortMode.PORT_MODE_PSK })],
      ['OpenPort radius', () => alice.openPort({ agentId: 'a1', interface: 'eth1', mode: PortMode.PORT_MODE_EAP_RADIUS, radius: { servers: [big('s')] } })],
      ['ClosePort', () => alice.closePort({ portId: big('p') })],
      ['CreateSecureChannel name', () => alice.createSecureChannel({ name: big('n'), endpoints: [ep] })],
      ['CreateSecureChannel vnf', () => alice.createSecureChannel({ name: 'ok', endpoints: [{ ...ep, vnfId: big('v') }] })],
      ['CreateSecureChannel psk', () => alice.createSecureChannel({ name: 'ok', endpoints: [ep], psk: { cakHex: big('g'), cknHex: 'aa' } })],
      ['DeleteSecureChannel', () => alice.deleteSecureChannel({ channelId: big('d') })],
      ['UpdateSecureChannel channel', () => alice.updateSecureChannel({ channelId: big('u'), removePortIds: ['a1/eth1'] })],
      ['UpdateSecureChannel add', () => alice.updateSecureChannel({ channelId: 'ok', addEndpoints: [{ ...ep, vnfId: big('v') }] })],
      ['UpdateSecureChannel remove', () => alice.updateSecureChannel({ channelId: 'ok', removePortIds: [`a1/${big('x')}`] })],
      ['ForceRekey', () => alice.forceRekey({ portId: big('r') })],
    ];
    for (const [what, call] of calls) {
      const e = await rpcError(call());
      expect(e.code, what).toBe(status.INVALID_ARGUMENT);
      expect(e.details.length, `${what}: ${e.details.slice(0, 200)}`).toBeLessThan(300);
    }
    const w = bob.watchEvents({ agentId: big('w') });
    const we = await new Promise<ServiceError>((resolve) => {
      w.on('data', (_e: Event) => {});
      w.on('error', resolve);
    });
    expect(we.code).toBe(status.INVALID_ARGUMENT);
    expect(we.details.length).toBeLessThan(300);
    bob.close();
    alice.close();
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l.length, l.slice(0, 200)).toBeLessThan(2000);
  });

  it('an agent stream with a 1 MB Hello id gets a short PERMISSION_DENIED and logs short lines', { timeout: 30_000 }, async () => {
    const before = lines.length;
    const c = new AgentServiceClient(`127.0.0.1:${srv.port}`, clientCredentials(pki.material('a2'), 'manager'), {
      'grpc.ssl_target_name_override': 'localhost',
      'grpc.default_authority': 'localhost',
    });
    const call = c.connect();
    const err = await new Promise<ServiceError>((resolve) => {
      call.on('data', (_m: ManagerMessage) => {});
      call.on('error', resolve);
      call.write({ hello: { agentId: big('h'), version: '1', capabilities: [], interfaces: [], running: [], bootId: 'b' } });
    });
    c.close();
    expect(err.code).toBe(status.PERMISSION_DENIED);
    expect(err.details.length).toBeLessThan(300);
    await waitFor(() => lines.length > before, 'refusal logged');
    for (const l of lines.slice(before)) expect(l.length, l.slice(0, 200)).toBeLessThan(2000);
  });

  it('log lines are bounded even for fields that nobody clipped', () => {
    const out: string[] = [];
    const log = createLogger({}, { write: (l) => out.push(l) });
    log.info('x', {
      s: big('s'),
      list: Array.from({ length: 100_000 }, (_, i) => `item${i}`),
      obj: Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, 'v'])),
    });
    expect(out[0]!.length).toBeLessThan(10_000);
    expect(out[0]).toContain('chars)');
  });
});
