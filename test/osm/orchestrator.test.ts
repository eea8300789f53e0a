/**
 * Defect: the EE acted with a fabric-wide admin certificate and accepted any channel name, so one
 * NS's EE could delete or rekey any channel. Now it must be given an orchestrator certificate
 * (the manager limits its writes to what it created) and reports the manager's PERMISSION_DENIED
 * as an ERROR naming the channel or port. (The real manager: test/e2e/osm-real-manager.test.ts.)
 */
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eeClient, runPrimitive } from '../support/osm/ee-client.js';
import { setup, type Env } from '../support/osm/fixture.js';

const y = (o: Record<string, unknown>) => stringify(o);
let env: Env;
beforeAll(async () => {
  env = await setup();
});
afterAll(async () => env?.close());

describe('the EE acts as an orchestrator', () => {
  it('refuses an admin certificate in config, naming the role to use', async () => {
    const ee = await env.startEe();
    const r = await runPrimitive(
      eeClient(ee.port, env.lcmCreds()),
      'config',
      y({
        manager_address: env.managerAddress,
        ca_cert: env.pki.macsecCa.certPem,
        client_cert: env.pki.operatorAdmin.certPem,
        client_key: env.pki.operatorAdmin.keyPem,
      }),
    );
    expect(r.last).toEqual({
      status: 'ERROR',
      detailedMessage:
        'config: client_cert is a fabric administrator certificate (operator:admin:osm-admin), which may change every channel and port; ' +
        'give this execution environment an orchestrator certificate (urn:macsec:operator:orchestrator:<name>, `macsecctl pki issue orchestrator <name>`)',
    });
  });

  it("another NS's channel: rekey, delete and re-create are ERRORs naming the channel; its own channel works", async () => {
    // NS 2's EE creates its channel (ports opened by it).
    const ns2 = eeClient((await env.startEe()).port, env.lcmCreds());
    const cfg = (cert: string, key: string) =>
      y({ manager_address: env.managerAddress, ca_cert: env.pki.macsecCa.certPem, client_cert: cert, client_key: key });
    expect((await runPrimitive(ns2, 'config', cfg(env.pki.otherOrchestrator.certPem, env.pki.otherOrchestrator.keyPem))).last!.status).toBe('OK');
    const theirs = { channel_name: 'ns2-ch', agent_id: 'nn2', switch_ports: 'x1,x2', port_mode: 'psk' };
    expect((await runPrimitive(ns2, 'create-secure-channel', y(theirs))).last!.status).toBe('OK');

    const ns1 = eeClient((await env.startEe()).port, env.lcmCreds());
    expect((await runPrimitive(ns1, 'config', cfg(env.pki.orchestrator.certPem, env.pki.orchestrator.keyPem))).last!.status).toBe('OK');
    const denied = (what: string, method: string, owner = 'operator:orchestrator:other-ns') =>
      new RegExp(
        `the manager refused ${method} of ${what.replace(/[/]/g, '\\/')} \\(PERMISSION_DENIED: .*is owned by ${owner}; operator:orchestrator:osm may only change ports it opened and channels it created\\); ` +
          'this execution environment acts as operator:orchestrator:osm and may change only the channels and ports it created$',
      );
    const rk = await runPrimitive(ns1, 'force-rekey', y({ channel_name: 'ns2-ch' }));
    expect(rk.last!.status).toBe('ERROR');
    expect(rk.last!.detailedMessage).toMatch(/^force-rekey: /);
    expect(rk.last!.detailedMessage).toMatch(denied("secure channel 'ns2-ch'", 'ForceRekey'));
    const del = await runPrimitive(ns1, 'delete-secure-channel', y({ channel_name: 'ns2-ch', close_ports: true }));
    expect(del.last!.detailedMessage).toMatch(denied("secure channel 'ns2-ch'", 'DeleteSecureChannel'));
    const open = await runPrimitive(ns1, 'create-secure-channel', y({ ...theirs, channel_name: 'steal' }));
    expect(open.last!.detailedMessage).toMatch(denied('port nn2/x1', 'OpenPort'));
    expect(env.manager.channels.has('ns2-ch')).toBe(true);
    expect(env.manager.ports.has('nn2/x1')).toBe(true);
    // Reads stay possible; its own channel is fully manageable.
    expect((await runPrimitive(ns1, 'channel-status', y({ channel_name: 'ns2-ch' }))).last!.status).toBe('OK');
    const mine = { channel_name: 'ns1-ch', agent_id: 'nn1', switch_ports: 'm1', port_mode: 'psk' };
    expect((await runPrimitive(ns1, 'create-secure-channel', y(mine))).last!.status).toBe('OK');
    expect((await runPrimitive(ns1, 'force-rekey', y({ channel_name: 'ns1-ch' }))).last!.status).toBe('OK');
    expect((await runPrimitive(ns1, 'delete-secure-channel', y({ channel_name: 'ns1-ch', close_ports: true }))).last!.detailedMessage).toBe(
      "secure channel 'ns1-ch' deleted; closed ports nn1/m1",
    );
    const principals = new Set(env.manager.calls.map((c) => c.principal));
    expect(principals.has('admin:osm-admin')).toBe(false);
  });
});
