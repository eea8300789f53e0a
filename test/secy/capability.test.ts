/**
 * What each SecY can do (its MACsec capability, 802.1X-2020 10.7.7 / Table 11-6): the port code
 * hands it to the KaY, so the KaY never announces more than the data plane implements.
 */
import { describe, expect, it } from 'vitest';
import { LINUX_MACSEC_CAPABILITY, unsupportedConfidentialityOffset } from '../../src/mka/secy.js';
import { KernelSecy } from '../../src/netlink/kernel-secy.js';
import type { MacsecGenl } from '../../src/netlink/macsec-genl.js';
import type { LinkInfo, Rtnl } from '../../src/netlink/rtnl.js';
import { SessionSecy } from '../../src/port/session-secy.js';
import { RecordingSecy } from '../../src/secy/recording.js';
import { SimulatedSecy } from '../../src/secy/simulated.js';

describe('SecY MACsec capability', () => {
  it('the Linux SecY implements confidentiality offset 0 only: capability 2', () => {
    const link = { index: 7, name: 'ms0', mac: new Uint8Array(6) } as unknown as LinkInfo;
    const secy = new KernelSecy({} as Rtnl, {} as MacsecGenl, link, link, {}, false);
    expect(secy.macsecCapability).toBe(2);
  });

  it('the simulated SecYs implement every offset (3) unless told otherwise', () => {
    expect(new RecordingSecy().macsecCapability).toBe(3);
    expect(new SimulatedSecy().macsecCapability).toBe(3);
    expect(new RecordingSecy({ macsecCapability: 1 }).macsecCapability).toBe(1);
    expect(new SimulatedSecy({ macsecCapability: 2 }).macsecCapability).toBe(2);
  });

  it("a session's view of the port's SecY has the port SecY's capability", () => {
    expect(new SessionSecy(new RecordingSecy({ macsecCapability: 2 })).macsecCapability).toBe(2);
    expect(new SessionSecy(new RecordingSecy()).macsecCapability).toBe(3);
  });
});

describe('the confidentiality offsets the Linux SecY implements (the one configuration check)', () => {
  it('0 and integrity only are fine, 30 and 50 are named', () => {
    expect(unsupportedConfidentialityOffset(0)).toBeUndefined();
    expect(unsupportedConfidentialityOffset(null)).toBeUndefined();
    expect(unsupportedConfidentialityOffset(30)).toBe('30 is not supported by the Linux MACsec driver (offset 0 or none only)');
    expect(unsupportedConfidentialityOffset(50, '"integrity-only"')).toBe('50 is not supported by the Linux MACsec driver (offset 0 or "integrity-only" only)');
  });

  it('matches what the Linux SecY announces', () => {
    expect(LINUX_MACSEC_CAPABILITY).toBe(2);
    const link = { index: 7, name: 'ms0', mac: new Uint8Array(6) } as unknown as LinkInfo;
    expect(new KernelSecy({} as Rtnl, {} as MacsecGenl, link, link, {}, false).macsecCapability).toBe(LINUX_MACSEC_CAPABILITY);
  });
});
