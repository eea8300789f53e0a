/** Runs an EAP-TLS exchange between a backend session and a peer method, with no EAPOL in between. */
import type { BackendStep, EapBackendSession } from '../../../src/eap/backend.js';
import { EapCode, encodeEap, encodeIdentityResponse } from '../../../src/eap/eap.js';
import type { EapPeerMethod, PeerStep } from '../../../src/eap/eaptls-peer.js';

export interface DirectResult {
  server: BackendStep;
  peer: PeerStep;
  rounds: number;
}

export async function runDirect(session: EapBackendSession, peer: EapPeerMethod, identity: string): Promise<DirectResult> {
  let step = await session.handle(encodeIdentityResponse(7, identity));
  for (let rounds = 1; rounds < 200; rounds++) {
    if (step.kind === 'request') {
      const ps = await peer.handle(step.eap);
      if (ps.kind !== 'response') return { server: step, peer: ps, rounds };
      step = await session.handle(ps.eap);
      continue;
    }
    if (step.kind === 'discard') throw new Error(`server discarded: ${step.reason}`);
    const final = step.kind === 'success' ? step.eap : (step.eap ?? encodeEap({ code: EapCode.Failure, id: 0 }));
    const ps = await peer.handle(final);
    return { server: step, peer: ps, rounds };
  }
  throw new Error('too many rounds');
}
