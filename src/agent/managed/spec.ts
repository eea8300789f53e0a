/**
 * The manager's DesiredPort as a PortSpec (src/port/spec.ts), or why the port does not run:
 * `ready` when there is nothing to secure yet (no CAK, no admitted VNF), `fail` when this agent
 * cannot run it.
 */
import { DesiredPort, type PskChainKey } from '../../control/gen/macsec/v1/agent.js';
import { PortMode, SecurePolicy } from '../../control/gen/macsec/v1/types.js';
import { mkaCipherSuite, offsetOctets } from '../../control/vocabulary.js';
import type { Logger } from '../../common/log.js';
import type { EapBackend } from '../../eap/backend.js';
import { EapTlsServer } from '../../eap/eaptls-server.js';
import { createEapBackend } from '../../eap/select-backend.js';
import { DEFAULT_CIPHER_SUITE } from '../../mka/constants.js';
import { unsupportedConfidentialityOffset } from '../../mka/secy.js';
import type { MkaSettings, PortAuth, PortSpec, SecyPolicy } from '../../port/spec.js';

export interface EapAgentSettings {
  /** Embedded EAP-TLS server: CA for supplicant certificates, server certificate and key (PEM). */
  embedded?: { ca: string; cert: string; key: string };
  /** RADIUS shared secrets by name (DesiredPort.radius.shared_secret_ref). Secret. */
  radiusSecrets?: Record<string, string>;
  /** PAE timer overrides (tests). */
  pae?: { txPeriodMs?: number; quietPeriodMs?: number; reAuthPeriodMs?: number };
}

export interface SpecContext {
  /** False: this agent build runs no KaY. */
  canRunMka: boolean;
  eap?: EapAgentSettings;
  /** Test/lab knobs for MKA timers. */
  mka?: { helloTimeMs?: number; lifeTimeMs?: number };
  macsecName(iface: string): string;
  log: Logger;
}

export type SpecOutcome = { spec: PortSpec } | { ready: string } | { fail: string };

export const isEapMode = (d: DesiredPort): boolean => d.mode === PortMode.PORT_MODE_EAP_RADIUS || d.mode === PortMode.PORT_MODE_EAP_EMBEDDED;

export function desiredSpec(d: DesiredPort, ctx: SpecContext): SpecOutcome {
  const auth = isEapMode(d) ? eapAuth(d, ctx) : pskAuth(d, ctx);
  if (!('kind' in auth)) return auth;
  const pol = d.policy!;
  // Managed ports always had replay protection on, with the desired window (0: strict).
  const offset = offsetOctets(pol.confidentialityOffset);
  const offsetProblem = unsupportedConfidentialityOffset(offset ?? 0);
  if (offsetProblem) return { fail: `policy.confidentiality_offset: ${offsetProblem}` };
  const secy: SecyPolicy = {
    cipherSuite: mkaCipherSuite(pol.cipherSuite) ?? DEFAULT_CIPHER_SUITE,
    // unspecified: offset 0 (everything after the SecTAG encrypted); null (NONE): integrity only
    confidentialityOffset: offset === undefined ? 0 : offset,
    replayWindow: pol.replayWindow,
  };
  const mka: MkaSettings = {
    priority: pol.keyServerPriority ?? 16,
    policy: pol.securePolicy === SecurePolicy.SECURE_POLICY_SHOULD_SECURE ? 'should-secure' : 'must-secure',
    ...(pol.rekeyPeriodSeconds ? { rekeyPeriodMs: pol.rekeyPeriodSeconds * 1000 } : {}),
    ...(ctx.mka?.helloTimeMs ? { helloTimeMs: ctx.mka.helloTimeMs } : {}),
    ...(ctx.mka?.lifeTimeMs ? { lifeTimeMs: ctx.mka.lifeTimeMs } : {}),
  };
  // A PSK port restarted over the kernel state of an earlier run takes it over (no loss).
  return { spec: { name: d.portId, interface: d.interface, macsecName: ctx.macsecName(d.interface), secy, mka, auth, adopt: auth.kind === 'psk' } };
}

function pskAuth(d: DesiredPort, ctx: SpecContext): PortAuth | { ready: string } | { fail: string } {
  if (d.mode !== PortMode.PORT_MODE_PSK) return { fail: `unknown mode ${d.mode}` };
  if (!d.psk || d.psk.cak.length === 0) return { ready: 'authenticator ready; no secure channel (no CAK) yet' };
  if (!ctx.canRunMka) return { fail: 'MKA (KaY) is not available in this agent build' };
  return { kind: 'psk', primary: { cak: new Uint8Array(d.psk.cak), ckn: new Uint8Array(d.psk.ckn) } };
}

/**
 * 802.1X authenticator: the embedded EAP-TLS server or a RADIUS relay. Only inside a secure
 * channel, and only for the channel endpoint's VNF id (the supplicant certificate's CN, or the
 * RADIUS server's decision); outside a channel nobody is admitted.
 */
function eapAuth(d: DesiredPort, ctx: SpecContext): PortAuth | { ready: string } | { fail: string } {
  const embedded = d.mode === PortMode.PORT_MODE_EAP_EMBEDDED;
  const eap = ctx.eap;
  if (embedded ? !eap?.embedded : !eap?.radiusSecrets) return { fail: `${PortMode[d.mode]} is not configured on this agent` };
  if (!ctx.canRunMka) return { fail: 'MKA (KaY) is not available in this agent build' };
  if (!d.channelId) return { ready: 'authenticator ready; no secure channel (no admitted VNF) yet' };
  let backend: () => EapBackend;
  if (embedded) {
    const allowed = d.allowedVnfIds.map((v) => v.replace(/\*/g, ''));
    backend = () =>
      new EapTlsServer({
        ...eap!.embedded!,
        identityPolicy: { subjectCn: allowed },
        logger: (level, msg, fields) => ctx.log[level](`eap: ${msg}`, fields),
      });
  } else {
    const r = d.radius!;
    const secret = eap!.radiusSecrets![r.sharedSecretRef];
    if (!secret) return { fail: `RADIUS shared secret '${r.sharedSecretRef}' is not configured on this agent` };
    const servers = r.servers.map((hp) => {
      const i = hp.lastIndexOf(':');
      return { host: hp.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(hp.slice(i + 1)), secret };
    });
    backend = () => createEapBackend({ radius: { servers, ...(r.nasIdentifier ? { nasIdentifier: r.nasIdentifier } : {}) } });
  }
  return { kind: 'eap-authenticator', backend, pae: { ...(eap!.pae ?? {}) } };
}

/**
 * The PSK key chain of a desired port: psk_keys, or psk alone (a channel with one key, or a
 * manager without key chains). The first key runs from the start; the others from their start.
 */
export function keyChain(d: DesiredPort): PskChainKey[] {
  if (d.pskKeys.length) return d.pskKeys;
  return d.psk?.cak.length ? [{ cak: d.psk.cak, ckn: d.psk.ckn, startTimeMs: 0, lifetimeSeconds: 0 }] : [];
}

/** Two desired ports that differ at most in their PSK key chain (and hence their fingerprint). */
export function sameExceptKeys(a: DesiredPort, b: DesiredPort): boolean {
  const rest = (d: DesiredPort) => JSON.stringify(DesiredPort.toJSON({ ...d, psk: undefined, pskKeys: [], fingerprint: '' }));
  return rest(a) === rest(b);
}
