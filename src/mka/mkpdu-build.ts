/**
 * Our MKPDU (802.1X-2010 11.11): the Basic Parameter Set and the parameter sets a participant
 * decided on, in the order wpa_supplicant and the standard use. Pure apart from the ICV.
 */
import { ALGORITHM_AGILITY_8021X_2010 } from './constants.js';
import { encodeMkpdu } from './mkpdu.js';
import type { ResolvedConfig } from './participant-env.js';
import type { Peer } from './peers.js';
import type { DistributedSakParamSet, MemberId, ParamSet, SakUseParamSet, XpnParamSet } from './types.js';

export interface OutgoingMkpdu {
  ckn: Uint8Array;
  mi: Uint8Array;
  mn: number;
  /** Key Server flag: set unless we decided another participant is (or will be) the key server. */
  keyServer: boolean;
  live: readonly Peer[];
  /** Potential peers and members relayed from live peers' lists. */
  potential: readonly MemberId[];
  /** Octet 2 of the Live Peer List (XPN: the key server's SSCI). */
  keyServerSsci: number;
  sakUse: SakUseParamSet | null;
  distributedSak: DistributedSakParamSet | null;
  /** Sent only together with a SAK Use. */
  xpn: XpnParamSet | null;
}

export function buildMkpdu(cfg: ResolvedConfig, m: OutgoingMkpdu, ick: Uint8Array): Uint8Array {
  const sets: ParamSet[] = [];
  const ids = (ps: readonly MemberId[]) => ps.map((p) => ({ mi: p.mi, mn: p.mn }));
  if (m.live.length > 0) sets.push({ type: 'livePeers', keyServerSsci: m.keyServerSsci, peers: ids(m.live) });
  if (m.potential.length > 0) sets.push({ type: 'potentialPeers', keyServerSsci: 0, peers: ids(m.potential) });
  if (m.sakUse) sets.push(m.sakUse);
  if (m.distributedSak) sets.push(m.distributedSak);
  if (m.sakUse && m.xpn) sets.push(m.xpn);
  return encodeMkpdu(
    {
      dst: cfg.destination,
      src: cfg.sci.mac,
      eapolVersion: cfg.eapolVersion,
      basic: {
        type: 'basic',
        version: cfg.mkaVersion,
        priority: cfg.priority,
        keyServer: m.keyServer && cfg.canBeKeyServer,
        macsecDesired: true,
        macsecCapability: cfg.macsecCapability,
        sci: cfg.sci,
        actor: { mi: m.mi, mn: m.mn },
        algorithmAgility: ALGORITHM_AGILITY_8021X_2010,
        ckn: m.ckn,
      },
      sets,
      icvIndicator: false,
    },
    ick,
  );
}
