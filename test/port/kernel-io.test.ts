/** openKernelSecy on the host: netlink is mocked, only what it asks the kernel for is checked. */
import { describe, expect, it, vi } from 'vitest';

const created: { parent: string; opts: Record<string, unknown> }[] = [];
vi.mock('../../src/netlink/kernel-secy.js', () => ({
  createMacsecPort: vi.fn(async (parent: string, opts: Record<string, unknown>) => {
    created.push({ parent, opts });
    return { close: async () => undefined };
  }),
}));
vi.mock('../../src/netlink/rtnl.js', () => ({
  Rtnl: { open: () => ({ listLinks: async () => [], deleteLink: async () => undefined, close: () => undefined }) },
}));

const { openKernelSecy } = await import('../../src/port/kernel-io.js');
const { silentLogger } = await import('../../src/common/log.js');

const spec = {
  name: 'p',
  interface: 'eth1.20',
  macsecName: 'ms1',
  secy: { cipherSuite: 'GCM-AES-128' as const, confidentialityOffset: 0 as const, replayWindow: 0 },
  mka: {},
  auth: { kind: 'psk' as const, primary: { cak: new Uint8Array(16), ckn: new Uint8Array(1) } },
};

describe('openKernelSecy', () => {
  it('creates the macsec link with the SCI port identifier of the spec (the KaY uses the same)', async () => {
    await openKernelSecy({ ...spec, sciPort: 2 }, silentLogger);
    await openKernelSecy(spec, silentLogger);
    expect(created.map((c) => [c.parent, c.opts.name, c.opts.port])).toEqual([
      ['eth1.20', 'ms1', 2],
      ['eth1.20', 'ms1', 1],
    ]);
  });
});
