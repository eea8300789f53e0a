/** Agent configuration: modes eap-authenticator / eap-supplicant (the eap: section, src/agent/standalone/eap-config.ts). */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, validateConfig, type EapPortConfig } from '../../../src/agent/standalone/config.js';
import { makeTestPki, type TestPki } from '../../support/pki.js';

function problems(raw: unknown, baseDir?: string): string[] {
  try {
    validateConfig(raw, baseDir ? { baseDir } : {});
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

describe('agent configuration, EAP modes', () => {
  let pki: TestPki;
  beforeAll(() => {
    pki = makeTestPki();
  });

  it('reads an embedded-server authenticator from YAML with relative PEM paths and defaults', () => {
    const path = join(pki.dir, 'agent.yaml');
    writeFileSync(
      path,
      `ports:
  - interface: veth0
    mode: eap-authenticator
    eap:
      caFile: ca.pem
      certFile: server.pem
      keyFile: server.key
      identityPolicy: { subjectCn: ["*.vnf.example"], san: ["DNS:*.vnf.example"], matchEapIdentity: true }
      tlsMaxVersion: "1.2"
      fragmentSize: 500
      reauthPeriodSeconds: 0
  - interface: veth1
    mode: psk
    cak: 135bd758b0ee5c11c55ff6ab19fdb199
    ckn: "01"
`,
    );
    const c = loadConfig(path);
    const p = c.ports[0] as EapPortConfig & { mode: 'eap-authenticator' };
    expect(p).toMatchObject({ mode: 'eap-authenticator', macsecName: 'msveth0', priority: 16, policy: 'must-secure' });
    expect(p.eap).toMatchObject({
      tlsMinVersion: 'TLSv1.2',
      tlsMaxVersion: 'TLSv1.2',
      fragmentSize: 500,
      eapolVersion: 3,
      reAuthPeriodMs: 0,
      quietPeriodMs: 60_000,
      server: { identityPolicy: { subjectCn: ['*.vnf.example'], san: ['DNS:*.vnf.example'], matchEapIdentity: true } },
    });
    expect(p.eap.server!.ca.path).toBe(pki.ca.certPath);
    expect(p.eap.server!.key.pem).toBe(pki.server.key);
    expect(p.eap.radius).toBeUndefined();
    expect(c.ports[1]!.mode).toBe('psk');
  });

  it('reads a RADIUS authenticator (secret or secretFile) and a supplicant', () => {
    const dir = mkdtempSync(join(pki.dir, 'cfg-'));
    writeFileSync(join(dir, 'secret'), 's3cret\n');
    const c = validateConfig(
      {
        ports: [
          {
            interface: 'a',
            mode: 'eap-authenticator',
            eap: {
              radius: {
                servers: [
                  { host: '127.0.0.1', secret: 'x' },
                  { host: '::1', port: 11812, secretFile: 'secret' },
                ],
                timeoutMs: 500,
              },
            },
          },
          {
            interface: 'b',
            mode: 'eap-supplicant',
            eap: { identity: 'client1.vnf.example', caFile: pki.ca.certPath, certFile: pki.client.certPath, keyFile: pki.client.keyPath, tlsMinVersion: '1.3' },
          },
        ],
      },
      { baseDir: dir },
    );
    const a = c.ports[0] as EapPortConfig & { mode: 'eap-authenticator' };
    expect(a.eap.radius).toEqual({
      servers: [
        { host: '127.0.0.1', port: 1812, secret: 'x' },
        { host: '::1', port: 11812, secret: 's3cret' },
      ],
      timeoutMs: 500,
      attempts: 3,
      nasIdentifier: 'nfv-macsec',
      requireKeyName: true,
    });
    const b = c.ports[1] as EapPortConfig & { mode: 'eap-supplicant' };
    expect(b.priority).toBe(32);
    expect(b.eap).toMatchObject({ identity: 'client1.vnf.example', tlsMinVersion: 'TLSv1.3', tlsMaxVersion: 'TLSv1.3', startPeriodMs: 30_000 });
  });

  it('names every bad EAP field at once, never echoing secrets or key files', () => {
    const p = problems({
      ports: [
        {
          interface: 'a',
          mode: 'eap-authenticator',
          cak: '00',
          eap: {
            caFile: '/nonexistent/ca.pem',
            certFile: pki.server.keyPath,
            keyFile: pki.server.certPath,
            identity: 'x',
            tlsMaxVersion: '1.1',
            fragmentSize: 10,
            identityPolicy: { subjectCn: 'x' },
          },
        },
        {
          interface: 'b',
          mode: 'eap-authenticator',
          eap: {
            radius: {
              servers: [
                { host: 'r', secret: '' },
                { port: 0, secret: 'topsecret' },
              ],
            },
            caFile: pki.ca.certPath,
          },
        },
        { interface: 'c', mode: 'eap-supplicant', eap: { radius: {}, caFile: pki.ca.certPath } },
        { interface: 'd', mode: 'eap-supplicant' },
        { interface: 'e', mode: 'dot1x', cak: '135bd758b0ee5c11c55ff6ab19fdb199', ckn: '01' },
        { interface: 'f', cak: '135bd758b0ee5c11c55ff6ab19fdb199', ckn: '01', eap: {} },
      ],
    });
    expect(p).toEqual(
      expect.arrayContaining([
        'ports[0].cak: only for mode psk (mode eap-authenticator derives the CAK/CKN from EAP)',
        'ports[0].eap.identity: only for mode eap-supplicant',
        'ports[0].eap.caFile: cannot read /nonexistent/ca.pem (ENOENT)',
        `ports[0].eap.certFile: ${pki.server.keyPath}: no PEM certificate in it`,
        `ports[0].eap.keyFile: ${pki.server.certPath}: no PEM private key in it`,
        'ports[0].eap.tlsMaxVersion: must be "1.2" or "1.3"',
        'ports[0].eap.fragmentSize: must be an integer from 64 to 65000',
        'ports[0].eap.identityPolicy.subjectCn: must be a list of non-empty patterns (`*` is a wildcard)',
        'ports[1].eap.radius.servers[0].secret: required (or secretFile), the non-empty RADIUS shared secret',
        'ports[1].eap.radius.servers[1].host: required, an IP address or host name',
        'ports[1].eap.radius.servers[1].port: must be an integer from 1 to 65535',
        'ports[1].eap.caFile: applies to the embedded EAP-TLS server only; with radius, configure it in the RADIUS server',
        'ports[2].eap.radius: only for mode eap-authenticator',
        'ports[2].eap.identity: required, the EAP identity (e.g. the certificate CN)',
        'ports[2].eap.certFile: required, the path of a PEM certificate file',
        'ports[2].eap.keyFile: required, the path of a PEM private key file',
        'ports[3].eap: required for mode eap-supplicant: a mapping with identity, caFile, certFile and keyFile',
        'ports[4].mode: must be one of psk, eap-authenticator, eap-supplicant',
        'ports[5].eap: only for modes eap-authenticator and eap-supplicant',
      ]),
    );
    expect(p.join('\n')).not.toContain('topsecret');
    expect(p.join('\n')).not.toContain('PRIVATE KEY');
    expect(problems({ ports: [{ interface: 'a', mode: 'eap-authenticator', eap: {} }] })).toEqual([
      'ports[0].eap.caFile: required, the path of a PEM certificate file',
      'ports[0].eap.certFile: required, the path of a PEM certificate file',
      'ports[0].eap.keyFile: required, the path of a PEM private key file',
    ]);
    expect(problems({ ports: [{ interface: 'a', mode: 'eap-authenticator' }] })[0]).toMatch(/^ports\[0\]\.eap: required for mode eap-authenticator/);
  });
});
