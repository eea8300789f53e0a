/**
 * Numbers from the Linux UAPI headers the kernel SecY needs: <linux/netlink.h>,
 * <linux/rtnetlink.h>, <linux/if_link.h> (IFLA_MACSEC_*) and <linux/if_macsec.h>
 * (generic netlink family "macsec"). Checked against linux-libc-dev 6.1.
 */

// --- netlink core -----------------------------------------------------------------
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLA_F_NESTED = 0x8000;
export const NLA_TYPE_MASK = 0x3fff;

// --- rtnetlink ----------------------------------------------------------------------
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
/** sizeof(struct ifinfomsg) */
export const IFINFOMSG_LEN = 16;
export const IFF_UP = 0x1;
export const IFF_PROMISC = 0x100;
export const IFF_ALLMULTI = 0x200;

export const IFLA_ADDRESS = 1;
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_LINK = 5;
export const IFLA_LINKINFO = 18;
export const IFLA_IFALIAS = 20;
export const IFLA_INFO_KIND = 1;
export const IFLA_INFO_DATA = 2;

export const IFLA_MACSEC_SCI = 1;
export const IFLA_MACSEC_PORT = 2;
export const IFLA_MACSEC_ICV_LEN = 3;
export const IFLA_MACSEC_CIPHER_SUITE = 4;
export const IFLA_MACSEC_WINDOW = 5;
export const IFLA_MACSEC_ENCODING_SA = 6;
export const IFLA_MACSEC_ENCRYPT = 7;
export const IFLA_MACSEC_PROTECT = 8;
export const IFLA_MACSEC_INC_SCI = 9;
export const IFLA_MACSEC_ES = 10;
export const IFLA_MACSEC_SCB = 11;
export const IFLA_MACSEC_REPLAY_PROTECT = 12;
export const IFLA_MACSEC_VALIDATION = 13;
export const IFLA_MACSEC_OFFLOAD = 15;

export const MACSEC_VALIDATE = { disabled: 0, check: 1, strict: 2 } as const;
export const MACSEC_OFFLOAD = { off: 0, phy: 1, mac: 2 } as const;

// --- generic netlink ----------------------------------------------------------------
export const GENL_HDRLEN = 4;
export const MACSEC_GENL_NAME = 'macsec';
export const MACSEC_GENL_VERSION = 1;
export const MACSEC_KEYID_LEN = 16;
export const MACSEC_SALT_LEN = 12;

export const MACSEC_ATTR_IFINDEX = 1;
export const MACSEC_ATTR_RXSC_CONFIG = 2;
export const MACSEC_ATTR_SA_CONFIG = 3;
export const MACSEC_ATTR_SECY = 4;
export const MACSEC_ATTR_TXSA_LIST = 5;
export const MACSEC_ATTR_RXSC_LIST = 6;
export const MACSEC_ATTR_TXSC_STATS = 7;
export const MACSEC_ATTR_SECY_STATS = 8;
export const MACSEC_ATTR_OFFLOAD = 9;

export const MACSEC_SECY_ATTR_SCI = 1;
export const MACSEC_SECY_ATTR_ENCODING_SA = 2;
export const MACSEC_SECY_ATTR_WINDOW = 3;
export const MACSEC_SECY_ATTR_CIPHER_SUITE = 4;
export const MACSEC_SECY_ATTR_ICV_LEN = 5;
export const MACSEC_SECY_ATTR_PROTECT = 6;
export const MACSEC_SECY_ATTR_REPLAY = 7;
export const MACSEC_SECY_ATTR_OPER = 8;
export const MACSEC_SECY_ATTR_VALIDATE = 9;
export const MACSEC_SECY_ATTR_ENCRYPT = 10;
export const MACSEC_SECY_ATTR_INC_SCI = 11;
export const MACSEC_SECY_ATTR_ES = 12;
export const MACSEC_SECY_ATTR_SCB = 13;

export const MACSEC_RXSC_ATTR_SCI = 1;
export const MACSEC_RXSC_ATTR_ACTIVE = 2;
export const MACSEC_RXSC_ATTR_SA_LIST = 3;
export const MACSEC_RXSC_ATTR_STATS = 4;

export const MACSEC_SA_ATTR_AN = 1;
export const MACSEC_SA_ATTR_ACTIVE = 2;
export const MACSEC_SA_ATTR_PN = 3;
export const MACSEC_SA_ATTR_KEY = 4;
export const MACSEC_SA_ATTR_KEYID = 5;
export const MACSEC_SA_ATTR_STATS = 6;
export const MACSEC_SA_ATTR_SSCI = 8;
export const MACSEC_SA_ATTR_SALT = 9;

export const MACSEC_OFFLOAD_ATTR_TYPE = 1;

export const MACSEC_CMD_GET_TXSC = 0;
export const MACSEC_CMD_ADD_RXSC = 1;
export const MACSEC_CMD_DEL_RXSC = 2;
export const MACSEC_CMD_UPD_RXSC = 3;
export const MACSEC_CMD_ADD_TXSA = 4;
export const MACSEC_CMD_DEL_TXSA = 5;
export const MACSEC_CMD_UPD_TXSA = 6;
export const MACSEC_CMD_ADD_RXSA = 7;
export const MACSEC_CMD_DEL_RXSA = 8;
export const MACSEC_CMD_UPD_RXSA = 9;
export const MACSEC_CMD_UPD_OFFLOAD = 10;

/** enum macsec_rxsc_stats_attr (u64 each), in order from 1. */
export const RXSC_STATS_NAMES = [
  'InOctetsValidated',
  'InOctetsDecrypted',
  'InPktsUnchecked',
  'InPktsDelayed',
  'InPktsOK',
  'InPktsInvalid',
  'InPktsLate',
  'InPktsNotValid',
  'InPktsNotUsingSA',
  'InPktsUnusedSA',
] as const;

/** enum macsec_sa_stats_attr (u32 each), in order from 1. */
export const SA_STATS_NAMES = [
  'InPktsOK',
  'InPktsInvalid',
  'InPktsNotValid',
  'InPktsNotUsingSA',
  'InPktsUnusedSA',
  'OutPktsProtected',
  'OutPktsEncrypted',
] as const;

/** enum macsec_txsc_stats_attr (u64 each). */
export const TXSC_STATS_NAMES = ['OutPktsProtected', 'OutPktsEncrypted', 'OutOctetsProtected', 'OutOctetsEncrypted'] as const;

/** enum macsec_secy_stats_attr (u64 each). */
export const SECY_STATS_NAMES = [
  'OutPktsUntagged',
  'InPktsUntagged',
  'OutPktsTooLong',
  'InPktsNoTag',
  'InPktsBadTag',
  'InPktsUnknownSCI',
  'InPktsNoSCI',
  'InPktsOverrun',
] as const;
