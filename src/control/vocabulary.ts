/**
 * The operator vocabulary of the API's enums, one table each: the names macsecctl flags and OSM
 * parameters accept (`gcm-aes-256`, `eap-radius`, `30`), the API values, and what the agent
 * programs (the MKA cipher suite name, the offset in octets). Lookups are Maps, so a name such as
 * "constructor" is unknown rather than an inherited property.
 */
import type { CipherSuiteName } from '../mka/constants.js';
import { CipherSuite, ConfidentialityOffset, PortMode } from './gen/macsec/v1/types.js';

const SUITES: readonly (readonly [name: string, api: CipherSuite, mka: CipherSuiteName])[] = [
  ['gcm-aes-128', CipherSuite.CIPHER_SUITE_GCM_AES_128, 'GCM-AES-128'],
  ['gcm-aes-256', CipherSuite.CIPHER_SUITE_GCM_AES_256, 'GCM-AES-256'],
  ['gcm-aes-xpn-128', CipherSuite.CIPHER_SUITE_GCM_AES_XPN_128, 'GCM-AES-XPN-128'],
  ['gcm-aes-xpn-256', CipherSuite.CIPHER_SUITE_GCM_AES_XPN_256, 'GCM-AES-XPN-256'],
];
const OFFSETS: readonly (readonly [name: string, api: ConfidentialityOffset, octets: 0 | 30 | 50 | null])[] = [
  ['0', ConfidentialityOffset.CONFIDENTIALITY_OFFSET_0, 0],
  ['30', ConfidentialityOffset.CONFIDENTIALITY_OFFSET_30, 30],
  ['50', ConfidentialityOffset.CONFIDENTIALITY_OFFSET_50, 50],
  ['none', ConfidentialityOffset.CONFIDENTIALITY_OFFSET_NONE, null],
];
const MODES: readonly (readonly [name: string, api: PortMode])[] = [
  ['psk', PortMode.PORT_MODE_PSK],
  ['eap-radius', PortMode.PORT_MODE_EAP_RADIUS],
  ['eap-embedded', PortMode.PORT_MODE_EAP_EMBEDDED],
];

export const CIPHER_SUITE_NAMES: readonly string[] = SUITES.map(([n]) => n);
export const OFFSET_NAMES: readonly string[] = OFFSETS.map(([n]) => n);
export const PORT_MODE_NAMES: readonly string[] = MODES.map(([n]) => n);

const suiteByName = new Map(SUITES.map(([n, api]) => [n, api]));
const mkaSuiteOf = new Map(SUITES.map(([, api, mka]) => [api, mka]));
const offsetByName = new Map(OFFSETS.map(([n, api]) => [n, api]));
const octetsOf = new Map(OFFSETS.map(([, api, o]) => [api, o]));
const modeByName = new Map(MODES.map(([n, api]) => [n, api]));

/** `gcm-aes-256` (any case) -> the API value; undefined if unknown. */
export const cipherSuiteNamed = (name: string): CipherSuite | undefined => suiteByName.get(name.toLowerCase());
/** The MKA name of an API cipher suite (undefined for UNSPECIFIED or unknown values). */
export const mkaCipherSuite = (c: CipherSuite): CipherSuiteName | undefined => mkaSuiteOf.get(c);
/** `30` or `none` -> the API value. */
export const offsetNamed = (name: string): ConfidentialityOffset | undefined => offsetByName.get(name.toLowerCase());
/** Octets left in the clear (null: integrity only); undefined for UNSPECIFIED or unknown values. */
export const offsetOctets = (o: ConfidentialityOffset): 0 | 30 | 50 | null | undefined => octetsOf.get(o);
/** `eap-radius` (any case) -> the API value. */
export const portModeNamed = (name: string): PortMode | undefined => modeByName.get(name.toLowerCase());

/**
 * Agent capability: the agent applies a PSK channel's key chain (DesiredPort.psk_keys) to the
 * running port, each next key added to its KaY at its start time (make before break).
 */
export const KEY_CHAIN_CAPABILITY = 'psk-key-chain';
