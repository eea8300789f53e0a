/** What the adapter tells LCM: channel descriptions, refusals, secrets scrubbed from messages. */
import { type ChannelState, channelStateToJSON, type SecureChannel } from '../control/gen/macsec/v1/manager.js';
import { portStateToJSON } from '../control/gen/macsec/v1/types.js';
import { MacsecError } from '../common/errors.js';

/** A request outside what this adapter may do (plaintext caller, or a resource it does not own). */
export class ScopeError extends MacsecError {
  constructor(message: string) {
    super('permission_denied', message);
  }
}

export const UNAUTH = 'unauthenticated (plaintext) callers';

export function stateName(s: ChannelState): string {
  return channelStateToJSON(s).replace(/^CHANNEL_STATE_/, '');
}

export function describeChannel(ch: SecureChannel): string {
  const eps = ch.endpointStatus.length
    ? ch.endpointStatus.map((s) => {
        const e = s.endpoint;
        const where = e ? `${e.agentId}/${e.switchPort} <-> ${e.vnfId || '?'}:${e.vnfInterface || '?'}` : s.portId;
        const st = s.status ? portStateToJSON(s.status.state).replace(/^PORT_STATE_/, '') : 'UNKNOWN';
        return `${where} ${st}${s.agentConnected ? '' : ' (agent disconnected)'}`;
      })
    : ch.endpoints.map((e) => `${e.agentId}/${e.switchPort} <-> ${e.vnfId || '?'}:${e.vnfInterface || '?'}`);
  return `secure channel '${ch.name}' (id ${ch.id}) is ${stateName(ch.state)}; endpoints: ${eps.join(', ') || 'none'}`;
}

/** Removes every given secret (and its hex variants) from a message. */
export function scrub(message: string, secrets: string[]): string {
  let m = message;
  for (const sec of secrets) {
    if (sec.length < 8) continue;
    const clean = sec.replace(/[\s:-]/g, '');
    for (const v of new Set([sec, clean, clean.toLowerCase(), clean.toUpperCase()])) {
      if (v.length >= 8) m = m.split(v).join('[redacted]');
    }
    // Also the separated forms the manager accepts (00:11:..., 00-11-...).
    const pairs = clean.match(/../g);
    if (pairs) for (const sep of [':', '-', ' ']) for (const v of [pairs.join(sep), pairs.join(sep).toUpperCase()]) m = m.split(v).join('[redacted]');
  }
  return m;
}
