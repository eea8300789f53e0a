/** MKPDU fixtures shared by the MKA tests: a sample ICK and the MKPDU of a made-up peer. */
import { ALGORITHM_AGILITY_8021X_2010, PAE_GROUP_ADDRESS } from '../../src/mka/constants.js';
import { fromHex } from '../../src/common/hex.js';
import type { BasicParamSet, Mkpdu, ParamSet } from '../../src/mka/types.js';

/** An ICK for codec tests that need no CAK behind it. */
export const SAMPLE_ICK = fromHex('8f1c5cb1c8ed2e5f047906e0473aad4d');

/** The Basic Parameter Set fields a test has to choose; the rest default (see peerMkpdu). */
export type PeerBasic = Pick<BasicParamSet, 'sci' | 'actor' | 'ckn'> & Partial<BasicParamSet>;

/**
 * An MKPDU as a plain peer sends it: MKA version 2, priority 16, Key Server flag set, MACsec
 * desired with capability 3 and the 802.1X-2010 algorithm agility, from the SCI's MAC to the PAE
 * group address, EAPOL version 3, no ICV Indicator. `over` replaces header fields.
 */
export function peerMkpdu(basic: PeerBasic, sets: ParamSet[] = [], over: Partial<Omit<Mkpdu, 'basic' | 'sets'>> = {}): Mkpdu {
  return {
    dst: PAE_GROUP_ADDRESS,
    src: Uint8Array.from(basic.sci.mac),
    eapolVersion: 3,
    basic: {
      type: 'basic',
      version: 2,
      priority: 16,
      keyServer: true,
      macsecDesired: true,
      macsecCapability: 3,
      algorithmAgility: ALGORITHM_AGILITY_8021X_2010,
      ...basic,
    },
    sets,
    icvIndicator: false,
    ...over,
  };
}
