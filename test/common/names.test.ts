import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isIfname, isName, isRequestId } from '../../src/common/names.js';

/** The kernel's dev_valid_name(): what `ip link add` would accept. */
const kernelAccepts = (s: string) => s.length > 0 && s.length < 16 && s !== '.' && s !== '..' && !/[/:\s]/.test(s);

describe('naming rules (one definition for every component)', () => {
  it('every interface name we accept is one the kernel accepts', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 0, maxLength: 20 }), (s) => {
        if (isIfname(s)) expect(kernelAccepts(s)).toBe(true);
      }),
      { numRuns: 5000 },
    );
    for (const ok of ['eth0', 'veth-a.10', 'macsec0', 'br_int', 'p@1', '_x', 'a'.repeat(15)]) expect(isIfname(ok), ok).toBe(true);
    for (const bad of ['', '.', '..', '.x', '-x', '@x', 'a/b', 'a:b', 'a b', 'a'.repeat(16), 'eth0;reboot']) expect(isIfname(bad), bad).toBe(false);
  });

  it('names (agents, VNFs, channels) never start with . or - and fit in a certificate URI', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 0, maxLength: 70 }), (s) => {
        if (!isName(s)) return;
        expect(s.length).toBeGreaterThan(0);
        expect(s.length).toBeLessThanOrEqual(63);
        expect(s[0]).toMatch(/[A-Za-z0-9]/);
        expect(s).not.toMatch(/[:/\s]/);
      }),
      { numRuns: 5000 },
    );
    for (const bad of ['.hidden', '-opt', 'a:b', 'a b', 'a'.repeat(64)]) expect(isName(bad), bad).toBe(false);
    expect(isName('vnf-1.eth0_a')).toBe(true);
  });

  it('request ids allow an orchestrator id with colons, bounded', () => {
    expect(isRequestId('osm:ns-1:vld-2')).toBe(true);
    expect(isRequestId('x'.repeat(129))).toBe(false);
    expect(isRequestId('a b')).toBe(false);
  });
});
