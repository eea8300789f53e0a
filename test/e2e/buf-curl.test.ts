/**
 * A grpcurl-style client we did not write (buf curl from @bufbuild/buf) lists the services by
 * server reflection and calls methods over mTLS, on the manager and on an agent's local endpoint.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { serverCredentials } from '../../src/control/tls.js';
import { startAgentServer } from '../../src/agent/managed/server.js';
import { PortMode } from '../../src/control/gen/macsec/v1/types.js';
import type { Agent } from '../../src/agent/managed/agent.js';
import { ROOT, makePki, operator, simAgent, startManager, waitFor, type RunningManager, type TestPki } from '../support/harness.js';

const run = promisify(execFile);
const BUF = join(ROOT, 'node_modules', '.bin', 'buf');

describe('buf curl over mTLS with server reflection', () => {
  let pki: TestPki;
  let m: RunningManager;
  let agent: Agent;
  let agentSrv: Awaited<ReturnType<typeof startAgentServer>>;

  const curl = async (user: string, url: string, ...args: string[]) => {
    const f = pki.files(user);
    try {
      const r = await run(BUF, ['curl', '--protocol', 'grpc', '--cacert', f.ca, '--cert', f.cert, '--key', f.key, ...args, url], { timeout: 30_000 });
      return { code: 0, out: r.stdout, err: r.stderr };
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      return { code: x.code, out: x.stdout, err: x.stderr };
    }
  };

  beforeAll(async () => {
    pki = makePki();
    m = await startManager(pki);
    agent = simAgent(pki, 'a1', m.port);
    await waitFor(() => m.manager.connectedAgentIds().length === 1, 'agent');
    const admin = operator(pki, 'alice', m.port);
    await admin.openPort({ agentId: 'a1', interface: 'eth1', mode: PortMode.PORT_MODE_PSK });
    admin.close();
    agentSrv = await startAgentServer(serverCredentials(pki.material('a1')), '127.0.0.1:0');
  });
  afterAll(async () => {
    agentSrv.close();
    await agent.stop();
    await m.stop();
    pki.cleanup();
  });

  it('lists the manager services by reflection', async () => {
    const r = await curl('alice', `https://localhost:${m.port}`, '--list-services');
    expect(r.code, r.err).toBe(0);
    const services = r.out.trim().split('\n').sort();
    expect(services).toEqual(expect.arrayContaining(['grpc.health.v1.Health', 'macsec.v1.AgentService', 'macsec.v1.ManagerService']));
    const methods = await curl('bob', `https://localhost:${m.port}`, '--list-methods');
    expect(methods.out).toContain('macsec.v1.ManagerService/CreateSecureChannel');
  });

  it('calls operator methods with the JSON mapping, roles enforced', async () => {
    const r = await curl('bob', `https://localhost:${m.port}/macsec.v1.ManagerService/ListPorts`, '--data', '{}');
    expect(r.code, r.err).toBe(0);
    const body = JSON.parse(r.out);
    expect(body.ports[0]).toMatchObject({ id: 'a1/eth1', agentId: 'a1', mode: 'PORT_MODE_PSK', status: { state: 'PORT_STATE_READY' } });
    const denied = await curl('bob', `https://localhost:${m.port}/macsec.v1.ManagerService/ClosePort`, '--data', '{"portId":"a1/eth1"}');
    expect(denied.code).not.toBe(0);
    expect(denied.err).toMatch(/permission_denied/i);
    expect(m.store.getPort('a1/eth1')).toBeDefined();
    const notFound = await curl('alice', `https://localhost:${m.port}/macsec.v1.ManagerService/GetAgent`, '--data', '{"agentId":"zz"}');
    expect(notFound.err).toMatch(/not_found/i);
    expect(notFound.err).toContain("agent_id: agent 'zz' is not known");
  });

  it('answers the standard health check', async () => {
    const r = await curl('alice', `https://localhost:${m.port}/grpc.health.v1.Health/Check`, '--data', '{"service":"macsec.v1.ManagerService"}');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ status: 'SERVING' });
    const all = await curl('alice', `https://localhost:${m.port}/grpc.health.v1.Health/Check`, '--data', '{}');
    expect(JSON.parse(all.out)).toEqual({ status: 'SERVING' });
  });

  it('serves reflection and health on the agent too', async () => {
    const r = await curl('alice', `https://localhost:${agentSrv.port}`, '--list-services');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('grpc.health.v1.Health');
    const h = await curl('alice', `https://localhost:${agentSrv.port}/grpc.health.v1.Health/Check`, '--data', '{"service":"macsec.v1.Agent"}');
    expect(JSON.parse(h.out)).toEqual({ status: 'SERVING' });
  });

  it('is refused without a client certificate', async () => {
    const f = pki.files('alice');
    let failed = false;
    let out = '';
    try {
      out = (await run(BUF, ['curl', '--protocol', 'grpc', '--cacert', f.ca, '--list-services', `https://localhost:${m.port}`], { timeout: 30_000 })).stdout;
    } catch (e) {
      failed = true;
      out = (e as { stdout: string }).stdout;
    }
    // The TLS handshake fails ("certificate required" alert, or the connection is cut while buf writes).
    expect(failed).toBe(true);
    expect(out).not.toContain('macsec.v1');
  });
});
