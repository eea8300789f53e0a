/** Our EAP-TLS peer + Supplicant PAE against Debian hostapd 2.10 (wired driver, internal EAP server) over a veth pair in two netns. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { makeTestPki, type TestPki } from '../support/pki.js';
import { canUseNetns, createVethLab, type VethLab } from './helpers/netns.js';
import { hexdumpFromLog, startProc } from './helpers/proc.js';

const ROOT = resolve(import.meta.dirname, '../..');
let haveHostapd = true;
try {
  execFileSync('sh', ['-c', 'command -v hostapd']);
} catch {
  haveHostapd = false;
}
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('our EAP-TLS peer <-> hostapd 2.10 (wired, internal EAP server)', () => {
  let pki: TestPki;
  let lab: VethLab;
  beforeAll(() => {
    // A missing real peer is a failure, never a skip.
    if (!haveHostapd || !canUseNetns()) throw new Error('hostapd 2.10 (apt hostapd) and network namespaces (root) are required; run scripts/setup.sh');
    pki = makeTestPki();
    lab = createVethLab();
  });
  afterAll(() => lab?.destroy());

  for (const tls13 of [false, true]) {
    it(`EAP-TLS ${tls13 ? '1.3' : '1.2'} succeeds; MSK equal to hostapd's`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hostapd-'));
      writeFileSync(join(dir, 'eap_users'), '* TLS\n');
      writeFileSync(
        join(dir, 'hostapd.conf'),
        [
          `interface=${lab.ifA}`,
          'driver=wired',
          'ieee8021x=1',
          'eapol_version=2',
          'eap_server=1',
          'use_pae_group_addr=1',
          `eap_user_file=${join(dir, 'eap_users')}`,
          `ca_cert=${pki.ca.certPath}`,
          `server_cert=${pki.server.certPath}`,
          `private_key=${pki.server.keyPath}`,
          'logger_stdout=-1',
          'logger_stdout_level=0',
          ...(tls13 ? ['tls_flags=[ENABLE-TLSv1.3]'] : ['tls_flags=[DISABLE-TLSv1.3]']),
          '',
        ].join('\n'),
      );
      const hostapd = startProc('ip', ['netns', 'exec', lab.nsA, 'hostapd', '-dd', join(dir, 'hostapd.conf')]);
      try {
        await hostapd.waitFor(/ENABLED|Setup of interface done/, 15000);
        const supp = startProc(
          'ip',
          [
            'netns',
            'exec',
            lab.nsB,
            process.execPath,
            '--import',
            'tsx',
            'test/eap/helpers/supplicant-runner.ts',
            JSON.stringify({
              iface: lab.ifB,
              mac: lab.macB,
              identity: 'client1.vnf.example',
              ca: pki.ca.certPath,
              cert: pki.client.certPath,
              key: pki.client.keyPath,
              timeoutMs: 20000,
            }),
          ],
          ROOT,
        );
        const line = await supp.waitFor(/\{"ok".*\}\n/, 30000);
        await supp.stop();
        const r = JSON.parse(line) as { ok: boolean; reason?: string; mskSha256?: string; sessionId?: string; authenticator?: string; logs: string[] };
        if (!r.ok)
          console.log(
            'supplicant:',
            r.reason,
            r.logs.join('\n'),
            '\nhostapd tail:\n',
            hostapd
              .output()
              .slice(-3000)
              .replace(/Derived key.*\n/g, ''),
          );
        expect(r.ok).toBe(true);
        expect(r.authenticator).toBe(lab.macA.replace(/:/g, ''));
        const log = hostapd.output();
        expect(/EAP-Success|CTRL-EVENT-EAP-SUCCESS|authorizing port/.test(log)).toBe(true);
        // hostapd -dd dumps the EAP-TLS MSK and Session-Id; compare without printing them.
        const msk = hexdumpFromLog(log, 'EAP-TLS: Derived key');
        expect(msk).toBeDefined();
        expect(sha(msk!)).toBe(r.mskSha256);
        // hostapd does not log the Session-Id; check its form (0x0D | 64 octets).
        expect(r.sessionId).toMatch(/^0d[0-9a-f]{128}$/);
        if (tls13) expect(/TLSv1\.3/.test(log)).toBe(true);
        else expect(/TLSv1\.3/.test(log)).toBe(false);
      } finally {
        await hostapd.stop();
      }
    });
  }
});
