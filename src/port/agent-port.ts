/**
 * Builds an EapMkaPort for the standalone agent from a validated port configuration
 * (mode eap-authenticator or eap-supplicant): the kernel macsec link, the EAPOL link (pcap on
 * the parent interface), the EAP backend (RADIUS relay or embedded EAP-TLS server) or the
 * EAP-TLS peer, and the MKA settings.
 */
import type { Logger } from '../common/log.js';
import type { EapPortConfig } from '../agent/psk/config.js';
import type { EapBackend } from '../eap/backend.js';
import { EapTlsPeer } from '../eap/eaptls-peer.js';
import { createEapBackend } from '../eap/select-backend.js';
import type { IdentityPolicy } from '../eap/identity-policy.js';
import type { EapLogger } from '../eap/decode.js';
import type { KernelSecy } from '../netlink/kernel-secy.js';
import { openPortIo } from './port-io.js';
import type { KayCounters } from '../mka/kay-types.js';
import { EapMkaPort, type EapMkaPortStatus, type MkaSettings } from './eap-mka-port.js';
import type { EapAuthenticatorSettings } from './config.js';

export interface EapAgentPortStatus extends EapMkaPortStatus {
  mode: EapPortConfig['mode'];
  interface: string;
  macsec: string;
  counters: KayCounters | null;
}

export interface RunningEapPort {
  cfg: EapPortConfig;
  port: EapMkaPort;
  secy: KernelSecy;
  status(): EapAgentPortStatus;
  forceRekey(): void;
  /** Stops MKA and the PAE, deletes the macsec link. */
  stop(): Promise<void>;
}

export function mkaSettings(p: EapPortConfig): MkaSettings {
  return {
    priority: p.priority,
    cipherSuite: p.cipherSuite,
    policy: p.policy,
    confidentialityOffset: p.confidentialityOffset,
    helloTimeMs: p.helloTimeMs,
    rekeyPeriodMs: p.rekeyPeriodMs,
    destination: p.destination,
  };
}

export function identityPolicyOf(eap: EapAuthenticatorSettings): IdentityPolicy | undefined {
  const ip = eap.server?.identityPolicy;
  if (!ip) return undefined;
  return { subjectCn: ip.subjectCn, san: ip.san, matchEapIdentity: ip.matchEapIdentity };
}

/** The EAP backend of an authenticator port: RADIUS when servers are configured, else embedded. */
export function backendFor(eap: EapAuthenticatorSettings, logger: EapLogger): EapBackend {
  const policy = identityPolicyOf(eap);
  return createEapBackend({
    ...(eap.radius
      ? {
          radius: {
            servers: eap.radius.servers,
            timeoutMs: eap.radius.timeoutMs,
            attempts: eap.radius.attempts,
            nasIdentifier: eap.radius.nasIdentifier,
            requireKeyName: eap.radius.requireKeyName,
          },
        }
      : {}),
    ...(eap.server
      ? {
          embedded: {
            ca: eap.server.ca.pem,
            cert: eap.server.cert.pem,
            key: eap.server.key.pem,
            ...(eap.server.crl ? { crl: eap.server.crl.pem } : {}),
            minVersion: eap.tlsMinVersion,
            maxVersion: eap.tlsMaxVersion,
            fragmentSize: eap.fragmentSize,
            ...(policy ? { identityPolicy: policy } : {}),
          },
        }
      : {}),
    logger,
  });
}

export async function startEapAgentPort(p: EapPortConfig, parentLog: Logger, onChange: () => void): Promise<RunningEapPort> {
  const log = parentLog.child({ port: p.name, mode: p.mode });
  const { secy, link } = await openPortIo(p, log);
  const eapLog: EapLogger = (level, msg, fields) => log[level](`eap: ${msg}`, fields);
  let port: EapMkaPort | undefined;
  try {
    if (p.mode === 'eap-authenticator') {
      const e = p.eap;
      port = new EapMkaPort({
        name: p.name,
        link,
        secy,
        role: 'authenticator',
        authenticator: {
          backend: backendFor(e, eapLog),
          pae: {
            eapolVersion: e.eapolVersion,
            txPeriodMs: e.txPeriodMs,
            retransTimeoutMs: e.retransTimeoutMs,
            maxRetrans: e.maxRetrans,
            serverTimeoutMs: e.serverTimeoutMs,
            quietPeriodMs: e.quietPeriodMs,
            reAuthPeriodMs: e.reAuthPeriodMs,
          },
        },
        mka: mkaSettings(p),
        log,
      });
      log.info('802.1X authenticator', {
        backend: e.radius ? 'radius' : 'embedded-eap-tls',
        ...(e.radius ? { radiusServers: e.radius.servers.map((s) => `${s.host}:${s.port}`) } : { tls: `${e.tlsMinVersion}..${e.tlsMaxVersion}` }),
        reauthPeriodS: e.reAuthPeriodMs / 1000,
      });
    } else {
      const e = p.eap;
      port = new EapMkaPort({
        name: p.name,
        link,
        secy,
        role: 'supplicant',
        supplicant: {
          method: () =>
            new EapTlsPeer({
              identity: e.identity,
              ca: e.ca.pem,
              cert: e.cert.pem,
              key: e.key.pem,
              minVersion: e.tlsMinVersion,
              maxVersion: e.tlsMaxVersion,
              fragmentSize: e.fragmentSize,
              ...(e.serverName ? { serverName: e.serverName } : {}),
              logger: eapLog,
            }),
          pae: {
            identity: e.identity,
            eapolVersion: e.eapolVersion,
            startPeriodMs: e.startPeriodMs,
            authPeriodMs: e.authPeriodMs,
            heldPeriodMs: e.heldPeriodMs,
          },
        },
        mka: mkaSettings(p),
        log,
      });
      log.info('802.1X supplicant (EAP-TLS)', { identity: e.identity, tls: `${e.tlsMinVersion}..${e.tlsMaxVersion}` });
    }
    port.on('change', onChange);
    await port.start();
  } catch (err) {
    if (port)
      await port.stop().catch(() => undefined); // closes the link and the backend
    else link.close();
    await secy.close();
    throw err;
  }
  const started = port;
  log.info('port started', { interface: p.interface, macsec: p.macsecName, cipherSuite: p.cipherSuite, priority: p.priority, policy: p.policy });
  return {
    cfg: p,
    secy,
    port: started,
    status: () => ({ ...started.status(), mode: p.mode, interface: p.interface, macsec: p.macsecName, counters: started.counters() }),
    forceRekey: () => started.forceRekey(),
    stop: async () => {
      if (p.mode === 'eap-supplicant') started.logoff();
      await started.stop();
      await secy.close();
    },
  };
}
