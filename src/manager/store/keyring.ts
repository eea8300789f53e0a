/**
 * Encryption at rest for what a shared store (etcd) keeps in clear: AES-256-GCM under keys the
 * manager replicas hold in a key file, never in the store. The file has one key per line,
 * `ID:BASE64` (32 random bytes; ID [A-Za-z0-9_-]{1,32}); `#` starts a comment. The first key
 * seals, every key opens: to rotate, put a new key first on every replica (restart them), and
 * the store re-seals each value under it on its next write (see docs/etcd-store.md).
 *
 * A sealed value is `s1.ID.BASE64(nonce ‖ ciphertext ‖ tag)`, the nonce 12 random bytes; the
 * store key the value sits under is the additional data, so a value copied to another key (a
 * channel's record under another channel's id) does not open.
 */
import { gcm } from '@noble/ciphers/aes.js';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { MacsecError } from '../../common/errors.js';

const ID_RE = /^[A-Za-z0-9_-]{1,32}$/;
const PREFIX = 's1.';

export class Keyring {
  private constructor(
    private readonly keys: Map<string, Uint8Array>,
    readonly activeId: string,
  ) {}

  /** From the text of a key file; errors name the line, never echo key material. */
  static parse(text: string, source = 'key file'): Keyring {
    const keys = new Map<string, Uint8Array>();
    let active = '';
    text.split('\n').forEach((raw, i) => {
      const line = raw.replace(/#.*/, '').trim();
      if (!line) return;
      const at = `${source} line ${i + 1}`;
      const c = line.indexOf(':');
      const id = c > 0 ? line.slice(0, c) : '';
      if (!ID_RE.test(id)) throw new MacsecError('config_invalid', `${at}: expected ID:BASE64 with ID [A-Za-z0-9_-]{1,32}`);
      const key = Buffer.from(line.slice(c + 1), 'base64');
      if (key.length !== 32) throw new MacsecError('config_invalid', `${at}: key '${id}' must be 32 bytes in base64 (got ${key.length})`);
      if (keys.has(id)) throw new MacsecError('config_invalid', `${at}: key id '${id}' appears twice`);
      keys.set(id, new Uint8Array(key));
      key.fill(0);
      active ||= id;
    });
    if (!active) throw new MacsecError('config_invalid', `${source}: no key (one line ID:BASE64 of 32 random bytes)`);
    return new Keyring(keys, active);
  }

  /** Reads a key file; it must not be readable by others (it opens every CAK in the store). */
  static load(path: string): Keyring {
    let text: string;
    try {
      if (statSync(path).mode & 0o077) throw new MacsecError('config_invalid', `--store-key-file: '${path}' is readable by group or others (chmod 600 it)`);
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if (e instanceof MacsecError) throw e;
      throw new MacsecError('config_invalid', `--store-key-file: cannot read '${path}': ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    return Keyring.parse(text, `--store-key-file '${path}'`);
  }

  /** A new key file line (for set-up scripts and tests). */
  static newKeyLine(id: string): string {
    if (!ID_RE.test(id)) throw new MacsecError('invalid_argument', 'key id: [A-Za-z0-9_-]{1,32}');
    return `${id}:${randomBytes(32).toString('base64')}`;
  }

  seal(aad: string, plaintext: Uint8Array): string {
    const nonce = randomBytes(12);
    const ct = gcm(this.keys.get(this.activeId)!, nonce, Buffer.from(aad)).encrypt(plaintext);
    return `${PREFIX}${this.activeId}.${Buffer.concat([nonce, ct]).toString('base64')}`;
  }

  /** The key id a sealed value was sealed with ('' when it is not a sealed value). */
  static keyIdOf(sealed: string): string {
    return sealed.startsWith(PREFIX) ? sealed.slice(PREFIX.length, sealed.indexOf('.', PREFIX.length)) : '';
  }

  open(aad: string, sealed: string): Uint8Array {
    const id = Keyring.keyIdOf(sealed);
    if (!id) throw new MacsecError('internal', `store value under '${aad}' is not sealed`);
    const key = this.keys.get(id);
    if (!key) throw new MacsecError('config_invalid', `store value under '${aad}' is sealed with key '${id}', which --store-key-file does not have`);
    const raw = Buffer.from(sealed.slice(PREFIX.length + id.length + 1), 'base64');
    try {
      return gcm(key, raw.subarray(0, 12), Buffer.from(aad)).decrypt(raw.subarray(12));
    } catch {
      throw new MacsecError('internal', `store value under '${aad}' does not open with key '${id}' (altered, or moved from another key)`);
    }
  }

  /** Zeroes the keys (on close). */
  wipe(): void {
    for (const k of this.keys.values()) k.fill(0);
  }
}
