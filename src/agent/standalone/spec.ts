/**
 * A standalone port configuration as a PortSpec (src/port/spec.ts): the EAP backend (RADIUS
 * relay or embedded EAP-TLS server) or the EAP-TLS peer, the PAE timers and the MKA settings.
 */
import type { EapBackend } from '../../eap/backend.js';
import type { EapLogger } from '../../eap/decode.js';
import { EapTlsPeer } from '../../eap/eaptls-peer.js';
import type { IdentityPolicy } from '../../eap/identity-policy.js';
import { createEapBackend } from '../../eap/select-backend.js';
import type { PortAuth, PortSpec } from '../../port/spec.js';
import { type AgentPortConfig, isEapPort } from './config.js';
import type { EapAuthenticatorSettings } from './eap-config.js';

export function portSpec(p: AgentPortConfig, eapLog: EapLogger): PortSpec {
  return {
    name: p.name,
    interface: p.interface,
    macsecName: p.macsecName,
    secy: { cipherSuite: p.cipherSuite, confidentialityOffset: p.confidentialityOffset, replayWindow: p.replayWindow },
    mka: {
      priority: p.priority,
      canBeKeyServer: p.canBeKeyServer,
      policy: p.policy,
      helloTimeMs: p.helloTimeMs,
      rekeyPeriodMs: p.rekeyPeriodMs,
      destination: p.destination,
    },
    auth: authOf(p, eapLog),
    // A PSK port restarted over its kernel state takes it over (no loss); EAP ports start clean.
    adopt: !isEapPort(p),
  };
}

function authOf(p: AgentPortConfig, eapLog: EapLogger): PortAuth {
  if (p.mode === 'eap-authenticator') {
    const e = p.eap;
    return {
      kind: 'eap-authenticator',
      backend: () => backendFor(e, eapLog),
      pae: {
        eapolVersion: e.eapolVersion,
        txPeriodMs: e.txPeriodMs,
        retransTimeoutMs: e.retransTimeoutMs,
        maxRetrans: e.maxRetrans,
        serverTimeoutMs: e.serverTimeoutMs,
        quietPeriodMs: e.quietPeriodMs,
        reAuthPeriodMs: e.reAuthPeriodMs,
      },
    };
  }
  if (p.mode === 'eap-supplicant') {
    const e = p.eap;
    return {
      kind: 'eap-supplicant',
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
      pae: { identity: e.identity, eapolVersion: e.eapolVersion, startPeriodMs: e.startPeriodMs, authPeriodMs: e.authPeriodMs, heldPeriodMs: e.heldPeriodMs },
    };
  }
  return { kind: 'psk', primary: { cak: p.cak, ckn: p.ckn }, ...(p.fallback ? { fallback: p.fallback } : {}) };
}

function identityPolicyOf(eap: EapAuthenticatorSettings): IdentityPolicy | undefined {
  const ip = eap.server?.identityPolicy;
  if (!ip) return undefined;
  return { subjectCn: ip.subjectCn, san: ip.san, matchEapIdentity: ip.matchEapIdentity };
}

/** The EAP backend of an authenticator port: RADIUS when servers are configured, else embedded. */
function backendFor(eap: EapAuthenticatorSettings, logger: EapLogger): EapBackend {
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
