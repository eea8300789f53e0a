/** Protocol constants of IEEE 802.1X-2010/2020 MKA and IEEE 802.1AE cipher suites. */

export const ETHERTYPE_EAPOL = 0x888e;
export const EAPOL_TYPE_MKA = 5;
/** PAE group address (nearest non-TPMR bridge), the default MKPDU destination. */
export const PAE_GROUP_ADDRESS = Uint8Array.of(0x01, 0x80, 0xc2, 0x00, 0x00, 0x03);

/** Algorithm Agility value of the IEEE 802.1X-2010 key derivation suite (AES-CMAC). */
export const ALGORITHM_AGILITY_8021X_2010 = 0x0080c201;

export const ICV_LEN = 16;
export const MI_LEN = 12;
export const CKN_MAX_LEN = 32;

/** Parameter set type codes (802.1X-2010 Table 11-7, 802.1X-2020). */
export const PS_BASIC = 0; // (never carried as a type octet; the Basic set comes first)
export const PS_LIVE_PEERS = 1;
export const PS_POTENTIAL_PEERS = 2;
export const PS_SAK_USE = 3;
export const PS_DISTRIBUTED_SAK = 4;
export const PS_DISTRIBUTED_CAK = 5;
export const PS_KMD = 6;
export const PS_ANNOUNCEMENT = 7;
export const PS_XPN = 8;
export const PS_ICV_INDICATOR = 255;

/** Announcement TLV types (802.1X-2010 Table 11-8). */
export const TLV_ACCESS_INFORMATION = 111;
export const TLV_MACSEC_CIPHER_SUITES = 112;
export const TLV_KMD = 113;
export const TLV_NID = 114;

/** Timers (802.1X-2010 Table 9-3), milliseconds. */
export const MKA_HELLO_TIME_MS = 2000;
export const MKA_BOUNDED_HELLO_TIME_MS = 500;
export const MKA_LIFE_TIME_MS = 6000;
export const MKA_SAK_RETIRE_TIME_MS = 3000;
/** Longest in-service suspension of a peer we honour (802.1Xbx "MKA Suspension Time", seconds). */
export const MKA_SUSPENSION_LIMIT_MS = 120_000;

export const CIPHER_SUITES = {
  'GCM-AES-128': { id: 0x0080c20001000001n, keyLen: 16, xpn: false },
  'GCM-AES-256': { id: 0x0080c20001000002n, keyLen: 32, xpn: false },
  'GCM-AES-XPN-128': { id: 0x0080c20001000003n, keyLen: 16, xpn: true },
  'GCM-AES-XPN-256': { id: 0x0080c20001000004n, keyLen: 32, xpn: true },
} as const;

export type CipherSuiteName = keyof typeof CIPHER_SUITES;

/** The 802.1AE-2006 identifier for GCM-AES-128, still sent by some peers. */
export const LEGACY_GCM_AES_128_ID = 0x0080020001000001n;

export const DEFAULT_CIPHER_SUITE: CipherSuiteName = 'GCM-AES-128';

/** Maps any accepted identifier (including the legacy one) to our suite name. */
export function cipherSuiteById(id: bigint): CipherSuiteName | undefined {
  if (id === LEGACY_GCM_AES_128_ID) return 'GCM-AES-128';
  for (const [name, cs] of Object.entries(CIPHER_SUITES)) if (cs.id === id) return name as CipherSuiteName;
  return undefined;
}

/** Confidentiality offset in octets for a Distributed SAK code (0 = integrity only). */
export const CONF_OFFSET_BY_CODE: Readonly<Record<number, number | null>> = { 0: null, 1: 0, 2: 30, 3: 50 };
