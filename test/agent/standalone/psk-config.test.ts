import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, validateConfig } from '../../../src/agent/standalone/config.js';

const CAK = '135bd758b0ee5c11c55ff6ab19fdb199';
const CKN = '96437a93ccf10d9dfe347846cce52c7d';

function problems(raw: unknown): string[] {
  try {
    validateConfig(raw);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

describe('PSK agent configuration', () => {
  it('applies sane defaults', () => {
    const c = validateConfig({ ports: [{ interface: 'veth0', cak: CAK, ckn: CKN }] });
    expect(c.ports[0]).toMatchObject({
      name: 'veth0',
      macsecName: 'msveth0',
      cipherSuite: 'GCM-AES-128',
      priority: 16,
      canBeKeyServer: true,
      policy: 'must-secure',
      replayWindow: 0,
      confidentialityOffset: 0,
      rekeyPeriodMs: 0,
      helloTimeMs: 2000,
    });
    expect(Buffer.from(c.ports[0]!.destination).toString('hex')).toBe('0180c2000003');
  });

  it('keyServer: never keeps the port from ever being key server; other values are refused by name', () => {
    expect(validateConfig({ ports: [{ interface: 'veth0', cak: CAK, ckn: CKN, keyServer: 'never' }] }).ports[0]!.canBeKeyServer).toBe(false);
    expect(problems({ ports: [{ interface: 'veth0', cak: CAK, ckn: CKN, keyServer: 'no' }] }).join('\n')).toMatch(/ports\[0\]\.keyServer/);
  });

  it('reads every field, from YAML', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pskcfg-'));
    const path = join(dir, 'agent.yaml');
    writeFileSync(
      path,
      `logLevel: debug
ports:
  - name: uplink
    interface: eth1
    macsecName: macsec7
    cak: ${CAK}${CAK}
    ckn: "${CKN}"
    fallback: { cak: ${CAK}, ckn: "01" }
    cipherSuite: GCM-AES-XPN-256
    priority: 0
    policy: should-secure
    replayWindow: 64
    confidentialityOffset: integrity-only
    rekeyPeriodSeconds: 30
    helloTimeMs: 500
    destination: "02:00:00:00:00:02"
`,
    );
    const c = loadConfig(path);
    expect(c.logLevel).toBe('debug');
    expect(c.ports[0]).toMatchObject({
      name: 'uplink',
      macsecName: 'macsec7',
      cipherSuite: 'GCM-AES-XPN-256',
      priority: 0,
      policy: 'should-secure',
      replayWindow: 64,
      confidentialityOffset: null,
      rekeyPeriodMs: 30000,
      helloTimeMs: 500,
    });
    const port = c.ports[0]!;
    if (port.mode !== 'psk') throw new Error(`expected a PSK port, got ${port.mode}`);
    expect(port.cak.length).toBe(32);
    expect(port.fallback!.ckn).toEqual(Uint8Array.of(1));
  });

  it('confidentiality offsets 30 and 50 are refused: the Linux SecY implements offset 0 only', () => {
    const port = (confidentialityOffset: unknown, iface = 'veth0') => ({ interface: iface, cak: CAK, ckn: CKN, confidentialityOffset });
    expect(problems({ ports: [port(30), port(50, 'veth1')] })).toEqual([
      'ports[0].confidentialityOffset: 30 is not supported by the Linux MACsec driver (offset 0 or "integrity-only" only)',
      'ports[1].confidentialityOffset: 50 is not supported by the Linux MACsec driver (offset 0 or "integrity-only" only)',
    ]);
    expect(validateConfig({ ports: [port(0)] }).ports[0]!.confidentialityOffset).toBe(0);
    expect(validateConfig({ ports: [port('integrity-only')] }).ports[0]!.confidentialityOffset).toBeNull();
    expect(validateConfig({ ports: [port(null)] }).ports[0]!.confidentialityOffset).toBeNull();
  });

  it('names every bad field at once', () => {
    const p = problems({
      ports: [
        {
          interface: 'this-name-is-far-too-long',
          cak: 'xyz',
          ckn: '',
          cipherSuite: 'AES-CBC',
          priority: 300,
          policy: 'maybe',
          confidentialityOffset: 20,
          destination: 'nope',
          extra: 1,
        },
        { interface: 'veth0', cak: CAK, ckn: CKN, fallback: { cak: CAK } },
      ],
    });
    expect(p).toEqual(
      expect.arrayContaining([
        'ports[0].interface: required, an interface name (1-15 characters [A-Za-z0-9_.@-], not starting with . - or @)',
        'ports[0].cak: must be 32 or 64 hex digits (a 128- or 256-bit CAK)',
        'ports[0].ckn: must be 2 to 64 hex digits (a 1..32-octet CKN)',
        'ports[0].cipherSuite: must be one of GCM-AES-128, GCM-AES-256, GCM-AES-XPN-128, GCM-AES-XPN-256',
        'ports[0].priority: must be an integer from 0 to 255',
        'ports[0].policy: must be one of must-secure, should-secure',
        'ports[0].confidentialityOffset: must be 0 or "integrity-only"',
        'ports[0].destination: must be a MAC address like 01:80:c2:00:00:03',
        expect.stringMatching(/^ports\[0\]\.extra: unknown field/),
        'ports[1].fallback.ckn: required, 2 to 64 hex digits (a 1..32-octet CKN)',
      ]),
    );
  });

  it('rejects an empty or duplicated port list and unreadable files, never printing keys', () => {
    expect(problems({})).toContain('ports: must be a non-empty list');
    expect(
      problems({
        ports: [
          { interface: 'a', cak: CAK, ckn: CKN },
          { interface: 'a', cak: CAK, ckn: CKN },
        ],
      }),
    ).toContain('ports[1].interface: a is configured twice');
    expect(() => loadConfig('/nonexistent/agent.yaml')).toThrow(/cannot read \(ENOENT\)/);
    const dir = mkdtempSync(join(tmpdir(), 'pskcfg-'));
    writeFileSync(join(dir, 'bad.yaml'), 'ports: [ {interface: a, cak: ');
    expect(() => loadConfig(join(dir, 'bad.yaml'))).toThrow(/not valid YAML\/JSON/);
    const msg = problems({ ports: [{ interface: 'a', cak: CAK.slice(2), ckn: CKN }] }).join('\n');
    expect(msg).not.toContain(CAK.slice(2));
  });
});
