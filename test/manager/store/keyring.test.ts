/** The store key ring: key file parsing (errors name the line, never echo a key), sealing bound to the store key. */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Keyring } from '../../../src/manager/store/keyring.js';

const b64 = (n: number, fill = 1) => Buffer.alloc(n, fill).toString('base64');

describe('Keyring', () => {
  it('parses ID:BASE64 lines, comments and blank lines; the first key seals', () => {
    const r = Keyring.parse(`# keys\n\nnew-1:${b64(32, 2)}  # current\nold_0:${b64(32, 3)}\n`);
    expect(r.activeId).toBe('new-1');
    expect(Keyring.keyIdOf(r.seal('/x', new Uint8Array([1])))).toBe('new-1');
  });

  it('rejects a bad file with the line at fault, never the key material', () => {
    const secret = b64(31, 7);
    const bad = [
      [`k1:${secret}`, /line 1: key 'k1' must be 32 bytes in base64 \(got 31\)/],
      [`\n${b64(32)}`, /line 2: expected ID:BASE64/],
      [`k 1:${b64(32)}`, /line 1: expected ID:BASE64/],
      [`k1:${b64(32)}\nk1:${b64(32, 2)}`, /line 2: key id 'k1' appears twice/],
      ['# nothing', /no key/],
    ] as const;
    for (const [text, re] of bad) {
      let msg = '';
      try {
        Keyring.parse(text);
      } catch (e) {
        msg = (e as Error).message;
      }
      expect(msg).toMatch(re);
      expect(msg).not.toContain(secret);
      expect(msg).not.toContain(b64(32));
    }
  });

  it('refuses a key file readable by group or others', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyring-'));
    const f = join(dir, 'k');
    writeFileSync(f, `k1:${b64(32)}\n`);
    chmodSync(f, 0o640);
    expect(() => Keyring.load(f)).toThrow(/readable by group or others/);
    chmodSync(f, 0o600);
    expect(Keyring.load(f).activeId).toBe('k1');
    expect(() => Keyring.load(join(dir, 'missing'))).toThrow(/cannot read .*ENOENT/);
  });

  it('opens what it sealed, under the same store key only; a tampered value or a missing key is an error', () => {
    const r = Keyring.parse(Keyring.newKeyLine('a'));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.string({ minLength: 1, maxLength: 40 }), (pt, key) => {
        const s = r.seal(key, pt);
        expect(r.open(key, s)).toEqual(pt);
        expect(() => r.open(`${key}x`, s)).toThrow(/does not open/);
      }),
      { numRuns: 200 },
    );
    const s = r.seal('/k', new Uint8Array(16).fill(9));
    const flipped = s.slice(0, -3) + (s.at(-3) === 'A' ? 'B' : 'A') + s.slice(-2);
    expect(() => r.open('/k', flipped)).toThrow(/does not open/);
    expect(() => Keyring.parse(Keyring.newKeyLine('b')).open('/k', s)).toThrow(/sealed with key 'a', which --store-key-file does not have/);
    expect(() => r.open('/k', 'plain')).toThrow(/not sealed/);
    // two seals of one value differ (random nonce)
    expect(r.seal('/k', new Uint8Array(4))).not.toBe(r.seal('/k', new Uint8Array(4)));
  });
});
