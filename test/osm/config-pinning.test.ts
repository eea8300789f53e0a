/**
 * Defect: `config` could be re-run by any caller and re-pointed the EE at another manager and CA;
 * an attacker-run manager then received the CAK of the next create-secure-channel.
 *
 * Now the manager endpoint and its CA come from the deployment or are set once by an authenticated
 * LCM: a second config with another endpoint or CA fails with a clear error, the same values are
 * an idempotent OK, and the next create still goes to the real manager.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, issue } from '../../src/pki/pki.js';
import { eeClient, runPrimitive } from '../support/osm/ee-client.js';
import { setup, type Env } from '../support/osm/fixture.js';
import { ManagerServiceTestDouble } from '../support/osm/manager-double.js';

const y = (o: Record<string, unknown>) => stringify(o);
let env: Env;
let evil: ManagerServiceTestDouble;
let evilAddress: string;
let evilCa: ReturnType<typeof createCa>;
let evilOp: ReturnType<typeof issue>;
beforeAll(async () => {
  env = await setup();
  // An attacker's manager with its own CA, and an orchestrator certificate from that CA.
  evilCa = createCa({ commonName: 'attacker CA' });
  evil = new ManagerServiceTestDouble();
  evilAddress = `localhost:${await evil.start({ ca: evilCa, server: issue(evilCa, { kind: 'manager', name: 'manager' }) })}`;
  evilOp = issue(evilCa, { kind: 'orchestrator', name: 'osm' });
});
afterAll(async () => {
  evil?.stop();
  await env?.close();
});

const good = () => ({
  manager_address: env.managerAddress,
  ca_cert: env.pki.macsecCa.certPem,
  client_cert: env.pki.orchestrator.certPem,
  client_key: env.pki.orchestrator.keyPem,
});
const attacker = () => ({ manager_address: evilAddress, ca_cert: evilCa.certPem, client_cert: evilOp.certPem, client_key: evilOp.keyPem });
const cak = 'a1'.repeat(16);
const ckn = 'b2'.repeat(16);

describe('config is set once', () => {
  it('a second config with another manager and CA fails (even over mTLS); the CAK still goes to the configured manager', async () => {
    const ee = await env.startEe();
    const c = eeClient(ee.port, env.lcmCreds());
    expect((await runPrimitive(c, 'config', y(good()))).last!.status).toBe('OK');
    const again = await runPrimitive(c, 'config', y(good()));
    expect(again.last!.status).toBe('OK');
    expect(again.last!.detailedMessage).toMatch(/^already configured: manager localhost:\d+ as operator:orchestrator:osm/);
    const r = await runPrimitive(c, 'config', y(attacker()));
    expect(r.last).toEqual({
      status: 'ERROR',
      detailedMessage: `config: manager_address: this EE is already configured for manager ${env.managerAddress}; config may not re-point it (redeploy the EE to use another manager)`,
    });
    const caOnly = await runPrimitive(c, 'config', y({ ...good(), ca_cert: evilCa.certPem, client_cert: evilOp.certPem, client_key: evilOp.keyPem }));
    expect(caOnly.last!.detailedMessage).toMatch(/^config: ca_cert: this EE is already configured for manager .* with another CA; config may not re-point it/);
    expect(evil.calls).toEqual([]);
    const create = await runPrimitive(
      c,
      'create-secure-channel',
      y({ channel_name: 'after', agent_id: 'nn1', switch_ports: 'vp1', psk_cak_hex: cak, psk_ckn_hex: ckn }),
    );
    expect(create.last!.status, create.last!.detailedMessage).toBe('OK');
    expect(evil.calls).toEqual([]);
    expect((env.manager.calls.at(-1)!.request as { psk: { cakHex: string } }).psk.cakHex).toBe(cak);
  });

  it('the manager fixed by the deployment cannot be replaced by config, and survives a stored config that says otherwise', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'osm-ee-pin-'));
    try {
      const defaults = { managerAddress: env.managerAddress, caPath: env.files.macsecCa, certPath: env.files.opCert, keyPath: env.files.opKey };
      const ee = await env.startEe({ defaults, stateDir });
      const c = eeClient(ee.port, env.lcmCreds());
      const r = await runPrimitive(c, 'config', y({ manager_address: evilAddress }));
      expect(r.last!.status).toBe('ERROR');
      expect(r.last!.detailedMessage).toBe(
        `config: manager_address is fixed by this EE's deployment configuration (deployment: ${env.managerAddress}); config may not change it`,
      );
      const ca = await runPrimitive(c, 'config', y({ ca_cert: evilCa.certPem, client_cert: evilOp.certPem, client_key: evilOp.keyPem }));
      expect(ca.last!.detailedMessage).toMatch(/^config: ca_cert is fixed by this EE's deployment configuration/);
      // The same CA given inline (e.g. by a VNFD) is the same configuration.
      expect((await runPrimitive(c, 'config', y({ ca_cert: env.pki.macsecCa.certPem }))).last!.status).toBe('OK');
      expect(evil.calls).toEqual([]);
      await ee.close();
      // A stored configuration naming another manager (an older deployment) is dropped at start.
      const other = await env.startEe({ stateDir, defaults: { ...defaults, managerAddress: '127.0.0.1:9' } });
      const h = await runPrimitive(eeClient(other.port, env.lcmCreds()), 'health-check', '');
      expect(h.last!.detailedMessage).toMatch(/manager not configured yet$/);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it('the client certificate may be rotated to one with the same identity, not swapped for another identity', async () => {
    const ee = await env.startEe();
    const c = eeClient(ee.port, env.lcmCreds());
    expect((await runPrimitive(c, 'config', y(good()))).last!.status).toBe('OK');
    const rotated = issue(env.pki.macsecCa, { kind: 'orchestrator', name: 'osm' });
    const r = await runPrimitive(c, 'config', y({ ...good(), client_cert: rotated.certPem, client_key: rotated.keyPem }));
    expect(r.last!.status, r.last!.detailedMessage).toBe('OK');
    expect(r.last!.detailedMessage).toMatch(/^configured: /);
    const swap = await runPrimitive(
      c,
      'config',
      y({ ...good(), client_cert: env.pki.otherOrchestrator.certPem, client_key: env.pki.otherOrchestrator.keyPem }),
    );
    expect(swap.last!.detailedMessage).toBe(
      `config: client_cert: this EE is already configured for manager ${env.managerAddress} as operator:orchestrator:osm; config may only replace the certificate by one with the same identity`,
    );
  });
});
