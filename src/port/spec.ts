/**
 * PortSpec: everything startPort needs to run one port, whichever agent asked for it. The
 * managed agent builds it from the manager's DesiredPort, the standalone agent from its
 * configuration file; from here on a port is the same thing for both.
 */
import type { AdoptedSecy } from '../mka/adopted.js';
import type { CipherSuiteName } from '../mka/constants.js';
import type { CakConfig, KayConfig } from '../mka/kay-types.js';
import type { Secy } from '../mka/secy.js';
import type { EapBackend } from '../eap/backend.js';
import type { EapPeerMethod } from '../eap/eaptls-peer.js';
import type { AuthenticatorPaeConfig } from '../eap/authenticator-pae.js';
import type { SupplicantPaeConfig } from '../eap/supplicant-pae.js';

/** How the kernel (or simulated) SecY is created; the rest comes through SecyActions. */
export interface SecyPolicy {
  cipherSuite: CipherSuiteName;
  /** Octets left in clear; null: integrity only. */
  confidentialityOffset: 0 | 30 | 50 | null;
  /** 0: strict ordering; >0: replay window in packets; null: replay protection off. */
  replayWindow: number | null;
}

/**
 * KaY settings that come neither from the keys nor from the SecY policy nor from the SecY itself
 * (the SCI is the link's MAC and `sciPort`; the MACsec capability is the SecY's).
 */
export type MkaSettings = Omit<KayConfig, 'sci' | 'primary' | 'fallback' | 'cipherSuite' | 'confidentialityOffset' | 'macsecCapability'>;

export interface PskAuth {
  kind: 'psk';
  primary: CakConfig;
  fallback?: CakConfig;
}

export interface EapAuthenticatorAuth {
  kind: 'eap-authenticator';
  /** Built once the port's I/O is open (closed by the port). */
  backend: () => EapBackend;
  pae: Omit<AuthenticatorPaeConfig, 'portMac'>;
}

export interface EapSupplicantAuth {
  kind: 'eap-supplicant';
  /** One EAP method per authentication attempt. */
  method: () => EapPeerMethod;
  pae: Omit<SupplicantPaeConfig, 'ownMac'>;
}

export type PortAuth = PskAuth | EapAuthenticatorAuth | EapSupplicantAuth;
export type PortKind = PortAuth['kind'];

export interface PortSpec {
  /** Port id: log field, and the attachment name of simulated links. */
  name: string;
  /** Parent interface (EAPOL goes here; the macsec link sits on it). */
  interface: string;
  /** Name of the macsec link on `interface`. */
  macsecName: string;
  secy: SecyPolicy;
  mka: MkaSettings;
  auth: PortAuth;
  /**
   * Port identifier of the SCI (the KaY's and the macsec link's). startPort sets it from the
   * agent's SciPorts before it opens the SecY; absent: 1.
   */
  sciPort?: number;
  /**
   * Take over the macsec link (and its SAs) that an earlier run of this port left, if it carries
   * our mark: an agent restart without loss (PSK ports of the standalone agent). Otherwise such
   * a link is deleted and created anew.
   */
  adopt?: boolean;
}

/** The KaY settings of a port before its MAC and CAK are known; the KaY announces no more than `secy` implements. */
export function kaySettings(spec: PortSpec, secy: Pick<Secy, 'macsecCapability'>): Omit<KayConfig, 'sci' | 'primary' | 'fallback'> {
  return {
    ...spec.mka,
    cipherSuite: spec.secy.cipherSuite,
    confidentialityOffset: spec.secy.confidentialityOffset,
    ...(secy.macsecCapability !== undefined ? { macsecCapability: secy.macsecCapability } : {}),
  };
}

/** The KaY configuration of a port once its MAC and CAK are known. */
export function kayConfig(
  spec: PortSpec,
  secy: Pick<Secy, 'macsecCapability'>,
  mac: Uint8Array,
  primary: CakConfig,
  fallback?: CakConfig,
  adopted?: AdoptedSecy,
): KayConfig {
  return { ...kaySettings(spec, secy), sci: { mac, port: spec.sciPort ?? 1 }, primary, ...(fallback ? { fallback } : {}), ...(adopted ? { adopted } : {}) };
}
