/** macsecctl pki: private keys are always mode 0600, and replacing an existing key needs --force. */
import { describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandRegistry } from '../../src/cli/command.js';
import { registerControlCommands } from '../../src/cli/commands/control.js';

async function ctl(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await registerControlCommands(new CommandRegistry('macsecctl')).run(argv, { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const mode = (f: string) => statSync(f).mode & 0o777;

describe('macsecctl pki key files', () => {
  it('pki issue refuses to replace a key without --force, and writes 0600 over an existing 0644 file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'macsec-pki-files-'));
    try {
      expect((await ctl('pki', 'init', '--dir', dir)).code).toBe(0);
      expect((await ctl('pki', 'issue', 'admin', 'alice', '--dir', dir)).code).toBe(0);
      const key = join(dir, 'admin-alice.key');
      expect(mode(key)).toBe(0o600);

      chmodSync(key, 0o644);
      const before = readFileSync(key, 'utf8');
      const refused = await ctl('pki', 'issue', 'admin', 'alice', '--dir', dir);
      expect(refused.code).toBe(1);
      expect(refused.err).toMatch(/admin-alice\.key exists.*--force/);
      expect(readFileSync(key, 'utf8')).toBe(before);

      expect((await ctl('pki', 'issue', 'admin', 'alice', '--dir', dir, '--force')).code).toBe(0);
      expect(readFileSync(key, 'utf8')).not.toBe(before);
      expect(mode(key)).toBe(0o600);

      // A key file somebody else created world-readable: replaced with --force, and 0600.
      const other = join(dir, 'agent-n1.key');
      writeFileSync(other, 'placeholder', { mode: 0o644 });
      chmodSync(other, 0o644);
      expect((await ctl('pki', 'issue', 'agent', 'n1', '--dir', dir)).code).toBe(1);
      expect((await ctl('pki', 'issue', 'agent', 'n1', '--dir', dir, '--force')).code).toBe(0);
      expect(mode(other)).toBe(0o600);
      expect(readFileSync(other, 'utf8')).toMatch(/BEGIN PRIVATE KEY/);

      // pki init --force over a loosened CA key.
      chmodSync(join(dir, 'ca.key'), 0o644);
      expect((await ctl('pki', 'init', '--dir', dir, '--force')).code).toBe(0);
      expect(mode(join(dir, 'ca.key'))).toBe(0o600);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keys are 0600 whatever the umask', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'macsec-pki-umask-'));
    const old = process.umask(0);
    try {
      expect((await ctl('pki', 'init', '--dir', dir)).code).toBe(0);
      expect((await ctl('pki', 'issue', 'read-only', 'bob', '--dir', dir)).code).toBe(0);
      expect(mode(join(dir, 'ca.key'))).toBe(0o600);
      expect(mode(join(dir, 'read-only-bob.key'))).toBe(0o600);
      expect(mode(join(dir, 'read-only-bob.crt'))).toBe(0o644);
    } finally {
      process.umask(old);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
