import { describe, expect, it } from 'vitest';
import { DesiredPort } from '../../../src/control/gen/macsec/v1/agent.js';
import { CipherSuite, ConfidentialityOffset, PortMode } from '../../../src/control/gen/macsec/v1/types.js';
import { silentLogger } from '../../../src/common/log.js';
import { desiredSpec, type SpecContext } from '../../../src/agent/managed/spec.js';

const ctx: SpecContext = { canRunMka: true, macsecName: (i) => `ms-${i}`, log: silentLogger };
const psk = (policy: Partial<NonNullable<DesiredPort['policy']>>) =>
  DesiredPort.fromPartial({
    portId: 'a1/eth1',
    interface: 'eth1',
    mode: PortMode.PORT_MODE_PSK,
    policy,
    psk: { cak: Buffer.alloc(16, 1), ckn: Buffer.alloc(16, 2) },
  });
const secyOf = (policy: Partial<NonNullable<DesiredPort['policy']>>) => {
  const out = desiredSpec(psk(policy), ctx);
  if (!('spec' in out)) throw new Error(JSON.stringify(out));
  return out.spec.secy;
};

describe('managed agent: DesiredPort -> PortSpec', () => {
  it('maps every cipher suite, unspecified to the default GCM-AES-128', () => {
    expect(secyOf({ cipherSuite: CipherSuite.CIPHER_SUITE_UNSPECIFIED }).cipherSuite).toBe('GCM-AES-128');
    expect(secyOf({ cipherSuite: CipherSuite.CIPHER_SUITE_GCM_AES_256 }).cipherSuite).toBe('GCM-AES-256');
    expect(secyOf({ cipherSuite: CipherSuite.CIPHER_SUITE_GCM_AES_XPN_128 }).cipherSuite).toBe('GCM-AES-XPN-128');
    expect(secyOf({ cipherSuite: CipherSuite.CIPHER_SUITE_GCM_AES_XPN_256 }).cipherSuite).toBe('GCM-AES-XPN-256');
  });

  it('maps the confidentiality offset; NONE (integrity only) stays integrity only', () => {
    expect(secyOf({ confidentialityOffset: ConfidentialityOffset.CONFIDENTIALITY_OFFSET_UNSPECIFIED }).confidentialityOffset).toBe(0);
    expect(secyOf({ confidentialityOffset: ConfidentialityOffset.CONFIDENTIALITY_OFFSET_0 }).confidentialityOffset).toBe(0);
    expect(secyOf({ confidentialityOffset: ConfidentialityOffset.CONFIDENTIALITY_OFFSET_NONE }).confidentialityOffset).toBeNull();
  });

  // Offsets 30 and 50 used to be mapped and then refused by the kernel SecY at the first SAK; the
  // Linux macsec driver implements offset 0 only, so such a port fails at once, naming the field.
  it('fails a port that asks for confidentiality offset 30 or 50', () => {
    for (const [o, n] of [
      [ConfidentialityOffset.CONFIDENTIALITY_OFFSET_30, 30],
      [ConfidentialityOffset.CONFIDENTIALITY_OFFSET_50, 50],
    ] as const) {
      expect(desiredSpec(psk({ confidentialityOffset: o }), ctx)).toEqual({
        fail: `policy.confidentiality_offset: ${n} is not supported by the Linux MACsec driver (offset 0 or none only)`,
      });
    }
  });
});
